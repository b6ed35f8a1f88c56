//! Fast field lookup in raw BSON.
//!
//! `RawDocument::get` validates every key it passes (UTF-8) and builds each
//! value on the way. Finding one field only needs to compare key bytes and
//! skip values by their length, so that is what [`get`] does; only the field
//! found is decoded. Hot paths use it: routing filters, handler field reads
//! and the event header, several times per event, so each element passed
//! costs a few dozen instructions: the key's end is found a word at a time
//! and the value's size is read straight off its type byte.
//!
//! On a malformed document (an element running past the end, a negative
//! length, an unknown type) the walk stops there and every key not yet found
//! is `None`; keys are compared as bytes, never checked as UTF-8.

mod walk;

pub use walk::{get, get_many};

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
