//! The keys a document produces for an index: a port of the server's B-tree
//! key generator (`btree_key_generator.cpp`).
//!
//! A missing field gives `null`; an array gives one key per element (an empty
//! array gives `undefined`); an array met half-way along a dotted path is
//! walked element by element (non-documents give `null`); a numeric path
//! component (`a.0.b`) picks one element. A compound key may expand only one
//! array (else 171 CannotIndexParallelArrays), and a numeric field name that
//! is both an array position and a sub-document field fails with 16746.

use super::display;
use crate::error::CommandError;
use bson::{Bson, Document};

static NULL: Bson = Bson::Null;
static UNDEFINED: Bson = Bson::Undefined;

/// An element found along a path: its field name (for messages) and its value.
#[derive(Clone, Copy)]
struct Elt<'a> {
    name: &'a str,
    value: &'a Bson,
}

/// What a path component is looked up in.
#[derive(Clone, Copy)]
enum Obj<'a> {
    Doc(&'a Document),
    Arr(&'a [Bson]),
    Empty,
}

/// The position an array field name stands for (`"0"`, `"12"`; not `"01"`).
fn array_position(name: &str) -> Option<usize> {
    let digits = !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit());
    (digits && (name == "0" || !name.starts_with('0')))
        .then(|| name.parse().ok())
        .flatten()
}

impl<'a> Obj<'a> {
    fn get(self, name: &'a str) -> Option<Elt<'a>> {
        let value = match self {
            Obj::Doc(d) => d.get(name)?,
            Obj::Arr(a) => a.get(array_position(name)?)?,
            Obj::Empty => return None,
        };
        Some(Elt { name, value })
    }
}

/// The first component of a dotted path, and the rest (empty if none).
fn split_first(path: &str) -> (&str, &str) {
    path.split_once('.').unwrap_or((path, ""))
}

/// Walks `path` down through documents; stops at the first array (leaving
/// `path` as what follows it) or at the end (leaving `path` empty).
fn element_or_array_along_path<'a>(mut obj: Obj<'a>, path: &mut &'a str) -> Option<Elt<'a>> {
    loop {
        let (part, rest) = split_first(path);
        *path = rest;
        let sub = obj.get(part)?;
        if matches!(sub.value, Bson::Array(_)) || path.is_empty() {
            return Some(sub);
        }
        match sub.value {
            Bson::Document(d) => obj = Obj::Doc(d),
            _ => return None,
        }
    }
}

/// A positional path component (`a.1.b`) resolved once for an array.
#[derive(Clone, Copy, Default)]
struct Positional<'a> {
    /// The element at the position, if the array has it.
    indexed: Option<Elt<'a>>,
    /// The array.
    array: &'a [Bson],
    /// What is left of the path after the positional walk.
    remaining: &'a str,
    /// The element the positional walk reached.
    dotted: Option<Elt<'a>>,
}

fn array_for_message(array: &[Bson]) -> String {
    let as_doc: Document = array
        .iter()
        .enumerate()
        .map(|(i, v)| (i.to_string(), v.clone()))
        .collect();
    let text = display::document(&as_doc);
    const MAX: usize = 1024;
    if text.len() < MAX {
        return text;
    }
    let head_end = (0..=MAX / 3)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    let tail_start = (text.len() - MAX / 3..=text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    format!("{} .......... {}", &text[..head_end], &text[tail_start..])
}

struct Generator<'a> {
    sparse: bool,
    keys: Vec<Vec<&'a Bson>>,
}

impl<'a> Generator<'a> {
    fn next_element(
        obj: Obj<'a>,
        positional: &Positional<'a>,
        field: &mut &'a str,
        nested_array: &mut bool,
    ) -> Result<Option<Elt<'a>>, CommandError> {
        let have_obj_field = obj.get(split_first(field).0).is_some();
        if let (true, Some(indexed)) = (have_obj_field, positional.indexed) {
            return Err(CommandError::location(
                16746,
                format!(
                    "Ambiguous field name found in array (do not use numeric field names in embedded elements in an array), field: '{}' for array: {}",
                    indexed.name,
                    array_for_message(positional.array)
                ),
            ));
        }
        *nested_array = false;
        if have_obj_field {
            return Ok(element_or_array_along_path(obj, field));
        }
        if let Some(indexed) = positional.indexed {
            *nested_array = matches!(indexed.value, Bson::Array(_));
            *field = positional.remaining;
            return Ok(positional.dotted);
        }
        Ok(None)
    }

    fn with_array(
        &mut self,
        names: &mut [&'a str],
        fixed: &mut [&'a Bson],
        obj: Obj<'a>,
        mut not_found: usize,
        positional: &[Positional<'a>],
    ) -> Result<(), CommandError> {
        let mut array: Option<Elt<'a>> = None;
        let mut array_fields = Vec::new();
        let mut may_expand = true;
        for i in 0..names.len() {
            if names[i].is_empty() {
                continue;
            }
            let mut nested = false;
            match Self::next_element(obj, &positional[i], &mut names[i], &mut nested)? {
                None => {
                    fixed[i] = &NULL;
                    names[i] = "";
                    not_found += 1;
                }
                Some(e) if matches!(e.value, Bson::Array(_)) => {
                    array_fields.push(i);
                    match array {
                        None => array = Some(e),
                        Some(a) if !std::ptr::eq(a.value, e.value) => {
                            return Err(CommandError::new(
                                171,
                                "CannotIndexParallelArrays",
                                format!("cannot index parallel arrays [{}] [{}]", e.name, a.name),
                            ));
                        }
                        Some(_) => {}
                    }
                    if nested {
                        may_expand = false;
                    }
                }
                Some(e) => fixed[i] = e.value,
            }
        }
        let Some(array) = array else {
            if !(self.sparse && not_found == names.len()) {
                self.keys.push(fixed.to_vec());
            }
            return Ok(());
        };
        let Bson::Array(items) = array.value else {
            unreachable!("only arrays are kept as the expanded array")
        };
        if items.is_empty() {
            let none = vec![Positional::default(); names.len()];
            return self.element(
                names,
                fixed,
                &UNDEFINED,
                not_found,
                array.value,
                &array_fields,
                true,
                &none,
            );
        }
        let mut sub = vec![Positional::default(); names.len()];
        for i in 0..names.len() {
            if names[i].is_empty() {
                continue;
            }
            let indexed = Obj::Arr(items).get(split_first(names[i]).0);
            if indexed.is_none() {
                continue;
            }
            let mut remaining = names[i];
            let dotted = element_or_array_along_path(Obj::Arr(items), &mut remaining);
            sub[i] = Positional {
                indexed,
                array: items,
                remaining,
                dotted,
            };
        }
        for item in items {
            self.element(
                names,
                fixed,
                item,
                not_found,
                array.value,
                &array_fields,
                may_expand,
                &sub,
            )?;
        }
        Ok(())
    }

    /// The keys for one element of the expanded array (`_getKeysArrEltFixed`).
    #[allow(clippy::too_many_arguments)]
    fn element(
        &mut self,
        names: &[&'a str],
        fixed: &[&'a Bson],
        item: &'a Bson,
        not_found: usize,
        whole_array: &'a Bson,
        array_fields: &[usize],
        may_expand: bool,
        positional: &[Positional<'a>],
    ) -> Result<(), CommandError> {
        let mut names = names.to_vec();
        let mut fixed = fixed.to_vec();
        for &i in array_fields {
            if names[i].is_empty() {
                fixed[i] = if may_expand { item } else { whole_array };
            }
        }
        let obj = match item {
            Bson::Document(d) => Obj::Doc(d),
            _ => Obj::Empty,
        };
        self.with_array(&mut names, &mut fixed, obj, not_found, positional)
    }
}

/// Every key `doc` produces for an index on `paths` (in generation order, not deduplicated).
/// A sparse index skips documents missing every path.
pub fn generate<'a>(
    paths: &'a [String],
    doc: &'a Document,
    sparse: bool,
) -> Result<Vec<Vec<&'a Bson>>, CommandError> {
    let mut generator = Generator {
        sparse,
        keys: Vec::new(),
    };
    let mut names: Vec<&'a str> = paths.iter().map(String::as_str).collect();
    let mut fixed = vec![&NULL; paths.len()];
    let none = vec![Positional::default(); paths.len()];
    generator.with_array(&mut names, &mut fixed, Obj::Doc(doc), 0, &none)?;
    if generator.keys.is_empty() && !sparse {
        generator.keys.push(vec![&NULL; paths.len()]);
    }
    Ok(generator.keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn keys(paths: &[&str], doc: Document) -> Result<Vec<Vec<Bson>>, i32> {
        let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        generate(&paths, &doc, false)
            .map(|ks| {
                ks.into_iter()
                    .map(|k| k.into_iter().cloned().collect())
                    .collect()
            })
            .map_err(|e| e.code)
    }

    #[test]
    fn scalars_missing_fields_and_dotted_paths() {
        assert_eq!(keys(&["a"], doc! {"a": 1}), Ok(vec![vec![Bson::Int32(1)]]));
        assert_eq!(keys(&["a"], doc! {}), Ok(vec![vec![Bson::Null]]));
        assert_eq!(
            keys(&["a.b", "c"], doc! {"a": {"b": "x"}}),
            Ok(vec![vec![Bson::String("x".into()), Bson::Null]])
        );
        assert_eq!(keys(&["a.b"], doc! {"a": 5}), Ok(vec![vec![Bson::Null]]));
    }

    #[test]
    fn arrays_expand_into_one_key_per_element() {
        assert_eq!(
            keys(&["t"], doc! {"t": [1, 2]}),
            Ok(vec![vec![Bson::Int32(1)], vec![Bson::Int32(2)]])
        );
        assert_eq!(
            keys(&["t"], doc! {"t": []}),
            Ok(vec![vec![Bson::Undefined]])
        );
        assert_eq!(
            keys(&["a.b"], doc! {"a": [{"b": 1}, 7, {"c": 2}]}),
            Ok(vec![
                vec![Bson::Int32(1)],
                vec![Bson::Null],
                vec![Bson::Null]
            ])
        );
        assert_eq!(
            keys(&["t"], doc! {"t": [[1, 2]]}),
            Ok(vec![vec![Bson::Array(vec![
                Bson::Int32(1),
                Bson::Int32(2)
            ])]])
        );
        assert_eq!(
            keys(&["a", "b"], doc! {"a": [1, 2], "b": 3}),
            Ok(vec![
                vec![Bson::Int32(1), Bson::Int32(3)],
                vec![Bson::Int32(2), Bson::Int32(3)]
            ])
        );
    }

    #[test]
    fn positional_components_pick_one_element() {
        assert_eq!(
            keys(&["a.1"], doc! {"a": [5, 6]}),
            Ok(vec![vec![Bson::Int32(6)], vec![Bson::Int32(6)]])
        );
        assert_eq!(
            keys(&["a.0.b"], doc! {"a": [{"b": 1}, {"b": 2}]}),
            Ok(vec![vec![Bson::Int32(1)], vec![Bson::Int32(1)]])
        );
    }

    #[test]
    fn parallel_arrays_and_ambiguous_names_fail() {
        assert_eq!(keys(&["a", "b"], doc! {"a": [1], "b": [2]}), Err(171));
        assert_eq!(keys(&["a.0"], doc! {"a": [{"0": 1}]}), Err(16746));
    }
}
