//! Inputs shared by the engine's test files.

use std::io::Write;
use std::path::Path;

/// Writes `n` inserts into `shop.orders`, one document each, with the resume
/// tokens `{_data: "000001"}`, `{_data: "000002"}`, ...
pub fn write_inserts(path: &Path, n: usize) {
    let mut f = std::fs::File::create(path).unwrap();
    for i in 1..=n {
        writeln!(
            f,
            r#"{{"_id":{{"_data":"{i:06}"}},"operationType":"insert","ns":{{"db":"shop","coll":"orders"}},"documentKey":{{"_id":{i}}},"fullDocument":{{"_id":{i}}}}}"#
        )
        .unwrap();
    }
}
