//! Resource limits of the rule sandbox.
//!
//! Each limit is one constant, used by the sandbox and quoted by the docs, so
//! the two cannot drift. A handler that exceeds one fails that event only.

/// Rhai operations one handler call may run: an endless loop stops here.
pub const MAX_OPERATIONS: u64 = 1_000_000;
/// Nested function calls (recursion depth).
pub const MAX_CALL_LEVELS: usize = 32;
/// Expression nesting depth, at global level and inside functions.
pub const MAX_EXPR_DEPTH: (usize, usize) = (64, 64);
/// Bytes in one string.
pub const MAX_STRING_SIZE: usize = 1 << 20;
/// Elements in one array.
pub const MAX_ARRAY_SIZE: usize = 10_000;
/// Entries in one object map.
pub const MAX_MAP_SIZE: usize = 10_000;
/// Variables alive at once.
pub const MAX_VARIABLES: usize = 1_000;
/// Intents one handler call may record.
pub const MAX_INTENTS: usize = 1_000;
