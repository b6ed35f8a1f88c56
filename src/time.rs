//! Times as the commands print them: RFC 3339 in UTC, with the milliseconds
//! when there are any (`2024-05-03T10:00:00Z`, `2024-05-03T10:00:00.5Z`).

/// `ms` (milliseconds since the Unix epoch) in RFC 3339, UTC; the number
/// itself for a time outside the years 0 to 9999, which RFC 3339 cannot write.
pub fn rfc3339(ms: i64) -> String {
    bson::DateTime::from_millis(ms)
        .try_to_rfc3339_string()
        .unwrap_or_else(|_| ms.to_string())
}
