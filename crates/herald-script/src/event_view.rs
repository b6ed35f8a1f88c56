//! The change event as a handler sees it.
//!
//! Converting a whole event to Rhai values costs more than most handlers
//! need, so the handler gets a view of the raw event: `event.fullDocument`
//! is a view of that sub-document, and `event.fullDocument.amount` decodes
//! one number. Nothing is copied until the script reads a leaf. A missing
//! field reads as `()`, as in an object map.
//!
//! Views are read-only; `to_map()` makes a map the script can change.

use crate::values::{raw_document_to_map, raw_to_dynamic};
use bson::raw::{RawBsonRef, RawDocument};
use herald_core::ChangeEvent;
use rhai::{Array, Dynamic, Engine, ImmutableString};
use std::sync::Arc;

/// A document inside a change event, as Rhai sees it (`Document`): the whole
/// event, or one of its sub-documents.
///
/// ```
/// use bson::{doc, RawDocumentBuf};
/// use herald_core::ChangeEvent;
/// use herald_script::event_view::EventView;
/// use std::sync::Arc;
/// let raw = RawDocumentBuf::from_document(&doc! {
///     "_id": { "_data": "01" }, "operationType": "insert",
///     "fullDocument": { "amount": 5 },
/// }).unwrap();
/// let view = EventView::new(Arc::new(ChangeEvent::from_raw(raw).unwrap()));
/// let full = view.get("fullDocument").cast::<EventView>();
/// assert_eq!(full.get("amount").as_int().unwrap(), 5);
/// ```
#[derive(Debug, Clone)]
pub struct EventView {
    event: Arc<ChangeEvent>,
    /// Byte range of this document inside the event's raw BSON.
    start: usize,
    end: usize,
}

impl EventView {
    /// A view of the whole event.
    pub fn new(event: Arc<ChangeEvent>) -> Self {
        let end = event.raw().as_bytes().len();
        Self {
            event,
            start: 0,
            end,
        }
    }

    /// The viewed document, still raw.
    pub fn document(&self) -> &RawDocument {
        RawDocument::from_bytes(&self.event.raw().as_bytes()[self.start..self.end])
            .expect("a view always covers one whole document of a valid event")
    }

    /// One field as a Rhai value: sub-documents stay views, arrays hold views.
    pub fn get(&self, field: &str) -> Dynamic {
        // Every event says whether it is a snapshot's (`event.snapshot`),
        // as herald knows it, whatever a field of that name says.
        if field == "snapshot" && self.start == 0 {
            return Dynamic::from_bool(self.event.is_snapshot());
        }
        match herald_core::raw::get(self.document(), field) {
            Some(value) => self.wrap(value),
            None => Dynamic::UNIT,
        }
    }

    fn wrap(&self, value: RawBsonRef<'_>) -> Dynamic {
        match value {
            RawBsonRef::Document(doc) => Dynamic::from(self.sub_view(doc)),
            RawBsonRef::Array(array) => Dynamic::from_array(
                array
                    .into_iter()
                    .flatten()
                    .map(|element| self.wrap(element))
                    .collect(),
            ),
            other => raw_to_dynamic(other),
        }
    }

    fn sub_view(&self, doc: &RawDocument) -> Self {
        let base = self.event.raw().as_bytes().as_ptr() as usize;
        let start = doc.as_bytes().as_ptr() as usize - base;
        Self {
            event: self.event.clone(),
            start,
            end: start + doc.as_bytes().len(),
        }
    }

    /// True if `new` is what `field` reads as: the same view, arrays
    /// element by element, leaves by value. Compared against the raw bytes,
    /// so nothing is decoded but the leaves.
    fn holds(&self, field: &str, new: &Dynamic) -> bool {
        match herald_core::raw::get(self.document(), field) {
            Some(raw) => self.same_raw(raw, new),
            None => new.is_unit() && new.tag() == 0,
        }
    }

    fn same_raw(&self, raw: RawBsonRef<'_>, new: &Dynamic) -> bool {
        if new.tag() != 0 {
            return false;
        }
        match raw {
            RawBsonRef::Document(doc) => new.read_lock::<EventView>().is_some_and(|view| {
                let expected = self.sub_view(doc);
                Arc::ptr_eq(&view.event, &self.event)
                    && (view.start, view.end) == (expected.start, expected.end)
            }),
            RawBsonRef::Array(array) => new.read_lock::<Array>().is_some_and(|items| {
                let mut items = items.iter();
                for element in array {
                    match (element, items.next()) {
                        (Ok(element), Some(item)) if self.same_raw(element, item) => {}
                        _ => return false,
                    }
                }
                items.next().is_none()
            }),
            leaf => same_value(&raw_to_dynamic(leaf), new),
        }
    }

    fn to_json(&self) -> String {
        match bson::Document::try_from(self.document()) {
            Ok(doc) => herald_core::extjson::to_relaxed(&doc).to_string(),
            Err(e) => format!("<malformed document: {e}>"),
        }
    }
}

/// `require(doc, "a.b.c")`: the value at a dotted path (array elements by
/// number), or an error naming the path when any step is missing or `()`,
/// which fails the event with that message instead of sending `()` on.
fn require(root: Dynamic, path: &str) -> Result<Dynamic, Box<rhai::EvalAltResult>> {
    if path.split('.').any(str::is_empty) {
        return Err(format!("require: {path:?} is not a field path (like \"a.b.c\")").into());
    }
    let mut value = root;
    let mut walked = Vec::new();
    for step in path.split('.') {
        let next = if let Some(view) = value.read_lock::<EventView>() {
            view.get(step)
        } else if let Some(map) = value.read_lock::<rhai::Map>() {
            map.get(step).cloned().unwrap_or(Dynamic::UNIT)
        } else if let Some(array) = value.read_lock::<Array>() {
            step.parse::<usize>()
                .ok()
                .and_then(|i| array.get(i).cloned())
                .unwrap_or(Dynamic::UNIT)
        } else {
            return Err(format!(
                "required field `{path}`: `{}` is a {}, not a document",
                walked.join("."),
                value.type_name()
            )
            .into());
        };
        walked.push(step);
        // A null field is missing too: BSON null reads as `()`.
        if next.is_unit() {
            return Err(format!(
                "required field `{path}` is missing (no `{}`)",
                walked.join(".")
            )
            .into());
        }
        value = next;
    }
    Ok(value)
}

/// True if `new` is the value `current` was: what a view gives out and a
/// method call on it writes back unchanged. Views are the same view of the
/// same event; arrays and maps compare element by element; leaves by value.
fn same_value(current: &Dynamic, new: &Dynamic) -> bool {
    use crate::values::{RhaiDateTime, RhaiObjectId, RhaiTimestamp};
    fn same<T: PartialEq + Clone + 'static>(a: &Dynamic, b: &Dynamic) -> Option<bool> {
        Some(*a.read_lock::<T>()? == *b.read_lock::<T>()?)
    }
    if current.type_id() != new.type_id() || current.tag() != new.tag() {
        return false;
    }
    if current.is_unit() {
        return true;
    }
    if let (Some(a), Some(b)) = (current.read_lock::<Array>(), new.read_lock::<Array>()) {
        return a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| same_value(x, y));
    }
    if let (Some(a), Some(b)) = (
        current.read_lock::<rhai::Map>(),
        new.read_lock::<rhai::Map>(),
    ) {
        return a.len() == b.len()
            && a.iter()
                .all(|(k, x)| b.get(k).is_some_and(|y| same_value(x, y)));
    }
    if let (Some(a), Some(b)) = (
        current.read_lock::<EventView>(),
        new.read_lock::<EventView>(),
    ) {
        return Arc::ptr_eq(&a.event, &b.event) && a.start == b.start && a.end == b.end;
    }
    if let (Ok(a), Ok(b)) = (current.as_float(), new.as_float()) {
        return a.to_bits() == b.to_bits();
    }
    same::<rhai::INT>(current, new)
        .or_else(|| same::<bool>(current, new))
        .or_else(|| same::<ImmutableString>(current, new))
        .or_else(|| same::<char>(current, new))
        .or_else(|| same::<rhai::Blob>(current, new))
        .or_else(|| {
            // Equal decimals may differ in scale (1.5 and 1.500): that is a change.
            let (a, b) = (
                current.read_lock::<rust_decimal::Decimal>()?,
                new.read_lock::<rust_decimal::Decimal>()?,
            );
            Some(*a == *b && a.scale() == b.scale())
        })
        .or_else(|| same::<RhaiObjectId>(current, new))
        .or_else(|| same::<RhaiDateTime>(current, new))
        .or_else(|| same::<RhaiTimestamp>(current, new))
        .unwrap_or(false)
}

/// Fields every change event may have. Reading them goes through a
/// registered getter; any other name goes through Rhai's fallback from a
/// missing getter to the indexer, which works the same but costs more.
const EVENT_FIELDS: [&str; 22] = [
    "_id",
    "operationType",
    "fullDocument",
    "fullDocumentBeforeChange",
    "documentKey",
    "ns",
    "to",
    "db",
    "coll",
    "updateDescription",
    "updatedFields",
    "removedFields",
    "truncatedArrays",
    "disambiguatedPaths",
    "clusterTime",
    "wallTime",
    "txnNumber",
    "lsid",
    "collectionUUID",
    "operationDescription",
    "splitEvent",
    "snapshot",
];

/// Registers direct getters for `fields` (say, every `.name` the rules read),
/// so reading them skips Rhai's getter-miss-then-indexer fallback. The result
/// is the same either way; this is only faster.
pub fn register_fields<'a>(engine: &mut Engine, fields: impl IntoIterator<Item = &'a str>) {
    for field in fields {
        let name: Arc<str> = field.into();
        engine.register_get(field, move |view: &mut EventView| view.get(&name));
    }
}

/// The names read as properties (`.name` not followed by `(`) in a script's text.
///
/// ```
/// let names = herald_script::event_view::property_names("let a = e.amount; e.items.len();");
/// assert_eq!(names, ["amount", "items"]);
/// ```
pub fn property_names(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut names = Vec::new();
    let mut at = 0;
    while let Some(dot) = text[at..].find('.') {
        let start = at + dot + 1;
        let len = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        at = start + len;
        let is_ident = len > 0 && !bytes[start].is_ascii_digit();
        let rest = text[at..].trim_start();
        if is_ident && !rest.starts_with('(') {
            let name = &text[start..at];
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// Registers the `Document` type: field access, `in`, `keys()`, `len()`,
/// `to_map()`, `to_json()`.
pub fn register(engine: &mut Engine) {
    register_fields(engine, EVENT_FIELDS);
    engine
        .register_type_with_name::<EventView>("Document")
        .register_indexer_get(|view: &mut EventView, field: &str| view.get(field))
        .register_indexer_set(
            |view: &mut EventView,
             field: &str,
             value: Dynamic|
             -> Result<(), Box<rhai::EvalAltResult>> {
                // A method call on a field (`doc.items.len()`) writes its
                // receiver back through here: taking back the value given
                // out is fine; changing it is not.
                if view.holds(field, &value) {
                    return Ok(());
                }
                Err(format!(
                    "cannot set `{field}`: event documents are read-only; \
                     `let copy = doc.to_map();` gives a map you can change"
                )
                .into())
            },
        )
        .register_fn(
            "contains",
            |view: &mut EventView, field: ImmutableString| {
                herald_core::raw::get(view.document(), &field).is_some()
            },
        )
        .register_fn("keys", |view: &mut EventView| -> Array {
            view.document()
                .iter()
                .flatten()
                .map(|(k, _)| Dynamic::from(k.to_owned()))
                .collect()
        })
        .register_fn("len", |view: &mut EventView| {
            view.document().iter().flatten().count() as rhai::INT
        })
        .register_fn("to_map", |view: &mut EventView| {
            raw_document_to_map(view.document())
        })
        .register_fn("to_json", |view: &mut EventView| view.to_json())
        .register_fn("require", |view: &mut EventView, path: &str| {
            require(Dynamic::from(view.clone()), path)
        })
        .register_fn("require", |map: &mut rhai::Map, path: &str| {
            require(Dynamic::from_map(map.clone()), path)
        })
        .register_fn("require", |array: &mut Array, path: &str| {
            require(Dynamic::from_array(array.clone()), path)
        })
        .register_fn("to_string", |view: &mut EventView| view.to_json())
        .register_fn("to_debug", |view: &mut EventView| view.to_json());
}
