//! Connection strings in logs: never with the password.

/// Replaces the password of a `mongodb://user:password@host` URI with `****`.
///
/// ```
/// use herald_ingest::mongo::uri::redact;
/// assert_eq!(redact("mongodb://ann:s3cret@db:27017/?replicaSet=rs0"), "mongodb://ann:****@db:27017/?replicaSet=rs0");
/// assert_eq!(redact("mongodb://db:27017"), "mongodb://db:27017");
/// ```
pub fn redact(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((credentials, hosts)) => {
            let user = credentials.split(':').next().unwrap_or("");
            let masked = if credentials.contains(':') {
                format!("{user}:****")
            } else {
                user.to_owned()
            };
            format!("{scheme}://{masked}@{hosts}{tail}")
        }
        None => uri.to_owned(),
    }
}
