//! Events too large for one BSON document.
//!
//! As on the server (7.0): an event (after the user's stages) over
//! `BSONObjMaxInternalSize` (16 MiB + 16 KiB) fails the command with 10334
//! `BSONObjectTooLarge`, unless the pipeline ends with
//! `$changeStreamSplitLargeEvent`; then an event over 16 MiB + 8 KiB is
//! returned as fragments `{_id, splitEvent: {fragment, of}, <fields>}`. The
//! event's top-level fields but `_id` are sorted by BSON size, then name, and
//! packed greedily in that order; each fragment's `_id` is the event's token
//! plus the fragment's index.

use super::token::TokenData;
use crate::error::CommandError;
use bson::{Bson, Document, RawDocumentBuf, doc};

/// `BSONObjMaxInternalSize`: larger documents fail to serialise.
pub const MAX_INTERNAL_SIZE: usize = 16 * 1024 * 1024 + 16 * 1024;
/// `kBSONObjMaxChangeEventSize`: the split stage passes events up to this size whole.
pub const MAX_CHANGE_EVENT_SIZE: usize = MAX_INTERNAL_SIZE - 8 * 1024;

/// The BSON size of a document.
pub fn size_of(doc: &Document) -> usize {
    crate::size::document(doc)
}

/// The size of `key: value` as an element of a document.
fn element_size(key: &str, value: Bson) -> usize {
    size_of(&doc! { key: value }) - 5
}

/// 10334 for an event that cannot be serialised, worded as the server's `BSONObj` check.
pub fn too_large(event: &Document, size: usize) -> CommandError {
    let first = event
        .iter()
        .next()
        .map(|(k, v)| format!(" First element: {k}: {}", render(v)))
        .unwrap_or_default();
    CommandError::new(
        10334,
        "BSONObjectTooLarge",
        format!(
            "BSONObj size: {size} (0x{size:X}) is invalid. Size must be between 0 and {MAX_INTERNAL_SIZE}(16MB){first}"
        ),
    )
}

/// A value as the server's `BSONElement::toString` prints it (`{ _data: "..." }`).
fn render(value: &Bson) -> String {
    match value {
        Bson::Document(d) if d.is_empty() => "{}".to_owned(),
        Bson::Document(d) => {
            let fields: Vec<String> = d
                .iter()
                .map(|(k, v)| format!("{k}: {}", render(v)))
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        Bson::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

/// Splits `event` (of BSON size over [`MAX_CHANGE_EVENT_SIZE`]) whose token is `token`.
pub fn fragments(mut event: Document, token: TokenData) -> Result<Vec<Document>, CommandError> {
    // Each field's size as an element, from one serialisation of the event.
    let raw = RawDocumentBuf::from_document(&event)
        .map_err(|e| CommandError::bad_value(e.to_string()))?;
    let mut fields = Vec::with_capacity(event.len());
    for element in raw.iter_elements() {
        let element = element.map_err(|e| CommandError::bad_value(e.to_string()))?;
        if element.key() != "_id" {
            fields.push((
                2 + element.key().len() + element.len(),
                element.key().to_owned(),
            ));
        }
    }
    drop(raw);
    if fields.is_empty() {
        return Err(CommandError::location(
            7182502,
            "Cannot split an empty event or an event containing solely '_id' field",
        ));
    }
    fields.sort();
    // Room is left for the postBatchResumeToken.
    let max = MAX_CHANGE_EVENT_SIZE - size_of(&token.to_document());
    let mut out: Vec<Document> = Vec::new();
    let mut next = fields.iter().peekable();
    while next.peek().is_some() {
        let id = TokenData {
            fragment: Some(out.len() as u32),
            ..token
        }
        .to_document();
        let mut fragment = doc! {
            "_id": id.clone(),
            "splitEvent": { "fragment": out.len() as i32 + 1, "of": 0 },
        };
        // The server measures the fragment with its sort key metadata (`$sortKey: [<token>]`).
        let mut size = size_of(&fragment) + element_size("$sortKey", Bson::Array(vec![id.into()]));
        while let Some((field_size, key)) =
            next.next_if(|(s, _)| fragment.len() == 2 || size + s <= max)
        {
            fragment.insert(key.clone(), event.remove(key).unwrap_or(Bson::Null));
            size += field_size;
        }
        if size > max {
            return Err(CommandError::location(
                7182500,
                format!(
                    "Splitting change event failed: fragment size {size} is greater than maximum allowed fragment size {max}"
                ),
            ));
        }
        out.push(fragment);
    }
    let of = out.len() as i32;
    for fragment in &mut out {
        if let Ok(split) = fragment.get_document_mut("splitEvent") {
            split.insert("of", of);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::Timestamp;

    fn token() -> TokenData {
        TokenData::at(
            Timestamp {
                time: 7,
                increment: 1,
            },
            3,
        )
    }

    #[test]
    fn fields_go_smallest_first_and_each_fragment_fits() {
        let big = |n: usize| "x".repeat(n);
        let event = doc! {
            "_id": token().to_document(),
            "operationType": "update",
            "fullDocumentBeforeChange": { "_id": 1, "s": big(9 << 20) },
            "fullDocument": { "_id": 1, "s": big(9 << 20) },
            "ns": { "db": "d", "coll": "c" },
        };
        let parts = fragments(event, token()).unwrap();
        let keys: Vec<Vec<&str>> = parts
            .iter()
            .map(|f| f.keys().map(String::as_str).collect())
            .collect();
        assert_eq!(
            keys,
            vec![
                vec!["_id", "splitEvent", "operationType", "ns", "fullDocument"],
                vec!["_id", "splitEvent", "fullDocumentBeforeChange"],
            ]
        );
        for (i, part) in parts.iter().enumerate() {
            assert_eq!(
                part.get_document("splitEvent").unwrap(),
                &doc! { "fragment": i as i32 + 1, "of": 2 }
            );
            let id = TokenData::parse(part.get("_id").unwrap()).unwrap();
            assert_eq!(
                id,
                TokenData {
                    fragment: Some(i as u32),
                    ..token()
                }
            );
            assert!(size_of(part) <= MAX_CHANGE_EVENT_SIZE);
        }
    }

    #[test]
    fn element_sizes_add_up_to_the_document() {
        let event = doc! { "a": 1, "bb": "text", "c": { "d": [1, 2] } };
        let raw = RawDocumentBuf::from_document(&event).unwrap();
        let sum: usize = raw
            .iter_elements()
            .map(|e| {
                let e = e.unwrap();
                2 + e.key().len() + e.len()
            })
            .sum();
        assert_eq!(sum + 5, size_of(&event));
    }

    #[test]
    fn a_field_too_large_for_any_fragment_fails() {
        let event =
            doc! { "_id": token().to_document(), "huge": "x".repeat(MAX_CHANGE_EVENT_SIZE) };
        let err = fragments(event, token()).unwrap_err();
        assert_eq!(err.code, 7182500);
        assert!(
            err.message
                .starts_with("Splitting change event failed: fragment size "),
            "{}",
            err.message
        );
    }

    #[test]
    fn too_large_reads_like_the_server() {
        let event = doc! { "_id": token().to_document(), "v": 1 };
        let err = too_large(&event, 18_877_389);
        assert_eq!(
            (err.code, err.code_name.as_str()),
            (10334, "BSONObjectTooLarge")
        );
        assert_eq!(
            err.message,
            format!(
                "BSONObj size: 18877389 (0x1200BCD) is invalid. Size must be between 0 and 16793600(16MB) First element: _id: {{ _data: \"{}\" }}",
                token().to_document().get_str("_data").unwrap()
            )
        );
    }
}
