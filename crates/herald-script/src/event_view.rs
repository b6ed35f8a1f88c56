//! The change event as a handler sees it.
//!
//! Converting a whole event to Rhai values costs more than most handlers
//! need, so the handler gets a view of the raw event: `event.fullDocument`
//! decodes that field (and what is under it) when the script reads it, and
//! nothing else. A missing field reads as `()`, as in an object map.

use crate::values::{raw_document_to_map, raw_to_dynamic};
use herald_core::ChangeEvent;
use rhai::{Dynamic, Engine, ImmutableString};
use std::sync::Arc;

/// A change event inside Rhai: `event.operationType`, `event.fullDocument.amount`, ...
#[derive(Debug, Clone)]
pub struct EventView(pub Arc<ChangeEvent>);

impl EventView {
    fn get(&self, field: &str) -> Dynamic {
        self.0.field(field).map_or(Dynamic::UNIT, raw_to_dynamic)
    }

    fn to_json(&self) -> String {
        match bson::Document::try_from(self.0.raw()) {
            Ok(doc) => herald_core::extjson::to_relaxed(&doc).to_string(),
            Err(e) => format!("<malformed event: {e}>"),
        }
    }
}

/// Registers the `Event` type: field access, `in`, `keys()`, `to_map()`, `to_json()`.
pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<EventView>("Event")
        .register_indexer_get(|e: &mut EventView, field: &str| e.get(field))
        .register_fn("contains", |e: &mut EventView, field: ImmutableString| {
            e.0.field(&field).is_some()
        })
        .register_fn("keys", |e: &mut EventView| -> rhai::Array {
            e.0.raw()
                .iter()
                .flatten()
                .map(|(k, _)| Dynamic::from(k.to_owned()))
                .collect()
        })
        .register_fn("to_map", |e: &mut EventView| raw_document_to_map(e.0.raw()))
        .register_fn("to_json", |e: &mut EventView| e.to_json())
        .register_fn("to_string", |e: &mut EventView| e.to_json())
        .register_fn("to_debug", |e: &mut EventView| e.to_json());
}
