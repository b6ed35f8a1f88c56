//! Inputs and channels shared by the engine's test files (each file uses some).
#![allow(dead_code)]

use herald_core::Effect;
use herald_engine::effects::{BoxFuture, Channel, EffectError};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Writes `n` inserts into `shop.orders`, document `i` with `total` = 10 × i,
/// with the resume tokens `{_data: "000001"}`, `{_data: "000002"}`, ...
pub fn write_inserts(path: &Path, n: usize) {
    let mut f = std::fs::File::create(path).unwrap();
    for i in 1..=n {
        writeln!(
            f,
            r#"{{"_id":{{"_data":"{i:06}"}},"operationType":"insert","ns":{{"db":"shop","coll":"orders"}},"documentKey":{{"_id":{i}}},"fullDocument":{{"_id":{i},"total":{}}}}}"#,
            i * 10
        )
        .unwrap();
    }
}

/// Writes `rules/NAME.rhai` into `dir`.
pub fn write_rule(dir: &Path, name: &str, body: &str) {
    std::fs::write(dir.join(format!("{name}.rhai")), body).unwrap();
}

/// A counter shared by all documents: correct only with one worker (see `workers`).
pub const STATEFUL_RULE: &str = r#"
const RULE = #{ watch: "shop.orders", on: ["insert"] };
fn handle(event) {
    let seen = get_state("seen");
    if seen == () { seen = 0; }
    set_state("seen", seen + 1);
    notify("sms", #{ n: seen + 1 });
}
"#;

/// A channel that records the idempotency key of every effect it receives.
#[derive(Clone, Default)]
pub struct Keys(pub Arc<Mutex<Vec<String>>>);

impl Channel for Keys {
    fn send<'a>(&'a self, effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
        self.0.lock().unwrap().push(effect.key.to_string());
        Box::pin(async { Ok(()) })
    }
}
