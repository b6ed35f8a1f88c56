//! mongosim through the real `mongodb` driver, over TCP.
//!
//! Every test runs against a fresh mongosim. With `HERALD_TEST_MONGODB_URI`
//! set, the tests that a real replica set can run also run against it
//! (in a database of their own); tests that need mongosim's knobs (a tiny
//! oplog) say so and run only against mongosim.

mod util;

mod change_streams;
mod crud;
mod expressions;
mod faults;
mod images;
mod indexes;
mod large_events;
mod protocol;
mod python;
mod resume;
mod snapshot;
mod transactions;
