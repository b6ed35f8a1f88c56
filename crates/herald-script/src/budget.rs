//! The budget of one handler call: a wall-clock deadline, a memory budget,
//! and a flag that cancels it.
//!
//! Rhai counts operations, which bounds loops but not time (one operation
//! may scan a megabyte) nor memory held across many values. The sandbox's
//! progress callback (called before every operation) checks the budget of
//! the call running on its thread, and ends the call with [`Exceeded`] when
//! one is spent. The budget lives in a thread-local because the engine is
//! shared by every rule and thread, while a call runs on one thread.
//!
//! ```
//! use herald_script::budget::CallLimits;
//! use std::time::Duration;
//! let limits = CallLimits { timeout: Duration::from_millis(250), ..CallLimits::default() };
//! assert_eq!(limits.memory, 64 << 20);
//! ```

use crate::limits::{CLOCK_EVERY_OPERATIONS, DEFAULT_MEMORY_MIB, DEFAULT_TIMEOUT_MS};
use rhai::Dynamic;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The limits of one handler call (see [`crate::limits`] for the defaults).
#[derive(Debug, Clone)]
pub struct CallLimits {
    /// The longest the call may run, by the wall clock.
    pub timeout: Duration,
    /// The most memory, in bytes, the call may hold (allocated and not yet
    /// freed); enforced when [`crate::alloc::CountingAllocator`] is installed.
    pub memory: usize,
    /// Set to stop the call at its next operation (shutdown).
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for CallLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
            memory: (DEFAULT_MEMORY_MIB << 20) as usize,
            cancel: None,
        }
    }
}

/// Which limit ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// It ran past its timeout.
    Time(Duration),
    /// It held more memory than its budget (bytes).
    Memory(usize),
    /// herald is shutting down.
    Cancelled,
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exceeded::Time(limit) => write!(
                f,
                "exceeded the time limit of {} ms for one handler call (`timeout_ms` in RULE, or [engine] handler_timeout_ms)",
                limit.as_millis()
            ),
            Exceeded::Memory(limit) => write!(
                f,
                "exceeded the memory limit of {} MiB for one handler call (`memory_mib` in RULE, or [engine] handler_memory_mib)",
                limit >> 20
            ),
            Exceeded::Cancelled => write!(f, "stopped: herald is shutting down"),
        }
    }
}

#[derive(Clone, Copy)]
struct Active {
    deadline: Instant,
    timeout: Duration,
    /// The thread's net allocation when the call began.
    base: isize,
    memory: usize,
}

thread_local! {
    static ACTIVE: Cell<Option<Active>> = const { Cell::new(None) };
    static CANCEL: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
}

/// While alive, the calls on this thread run under a budget; dropping it
/// restores the one before (so a nested call cannot lift an outer limit).
pub(crate) struct Enter {
    previous: Option<Active>,
    previous_cancel: Option<Arc<AtomicBool>>,
}

/// Starts a budget on this thread.
pub(crate) fn enter(limits: &CallLimits) -> Enter {
    let now = Instant::now();
    let mut active = Active {
        deadline: now
            .checked_add(limits.timeout)
            .unwrap_or(now + Duration::from_secs(86_400 * 365)),
        timeout: limits.timeout,
        base: crate::alloc::thread_net(),
        memory: limits.memory,
    };
    // A call within a call keeps the outer one's limits where they are tighter.
    if let Some(outer) = ACTIVE.get() {
        if outer.deadline < active.deadline {
            active.deadline = outer.deadline;
            active.timeout = outer.timeout;
        }
        let used = usize::try_from(active.base.saturating_sub(outer.base)).unwrap_or(0);
        active.memory = active.memory.min(outer.memory.saturating_sub(used));
    }
    Enter {
        previous: ACTIVE.replace(Some(active)),
        previous_cancel: CANCEL.replace(limits.cancel.clone()),
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        ACTIVE.set(self.previous);
        CANCEL.set(self.previous_cancel.take());
    }
}

/// The sandbox's progress callback: `Some` ends the call with that reason.
pub(crate) fn on_progress(operations: u64) -> Option<Dynamic> {
    let mut active = ACTIVE.get()?;
    let net = crate::alloc::thread_net();
    if net < active.base {
        // Freeing memory the call did not allocate (another thread's) must
        // not make room: count from the lowest point instead.
        active.base = net;
        ACTIVE.set(Some(active));
    }
    let held = net.saturating_sub(active.base);
    if held > 0 && held as usize > active.memory {
        return Some(Dynamic::from(Exceeded::Memory(active.memory)));
    }
    if operations.is_multiple_of(CLOCK_EVERY_OPERATIONS) {
        let cancelled =
            CANCEL.with_borrow(|c| c.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)));
        if cancelled {
            return Some(Dynamic::from(Exceeded::Cancelled));
        }
        if Instant::now() >= active.deadline {
            return Some(Dynamic::from(Exceeded::Time(active.timeout)));
        }
    }
    None
}
