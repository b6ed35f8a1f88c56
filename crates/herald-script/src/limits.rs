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
/// Wall-clock time one handler call may take unless configured (`[engine]
/// handler_timeout_ms`, or `timeout_ms` in `RULE`): a handler doing slow
/// work within the operation count stops here.
pub const DEFAULT_TIMEOUT_MS: u64 = 1_000;
/// Memory one handler call may hold unless configured (`[engine]
/// handler_memory_mib`, or `memory_mib` in `RULE`), in MiB. Enforced when
/// [`crate::alloc::CountingAllocator`] is the global allocator (as in the
/// `herald` binary).
pub const DEFAULT_MEMORY_MIB: u64 = 64;
/// How many operations run between two looks at the clock.
pub const CLOCK_EVERY_OPERATIONS: u64 = 16;
