//! The allocator that lets herald bound the memory of one handler call.
//!
//! Rhai's limits apply to one value at a time (a string, an array, a map), so
//! a handler holding many large values at once is bounded only by the
//! memory it allocates. [`CountingAllocator`] wraps an allocator (the
//! system's, or a faster one such as mimalloc, which the `herald` binary
//! uses) and counts, per thread, the bytes allocated minus the bytes freed; a handler
//! call reads that count before each operation and stops when it has grown
//! past the call's budget (see [`crate::budget`]).
//!
//! A program installs it once, as its global allocator:
//!
//! ```
//! use herald_script::alloc::CountingAllocator;
//!
//! #[global_allocator]
//! static ALLOCATOR: CountingAllocator = CountingAllocator::new(std::alloc::System);
//! # fn main() { assert!(herald_script::alloc::is_installed()); }
//! ```
//!
//! Without it, a handler's memory is bounded only by the per-value limits
//! of [`crate::limits`]; [`is_installed`] says which is the case.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// Bytes allocated minus bytes freed by this thread, since it started.
    /// Negative when it frees memory another thread allocated.
    static NET: Cell<isize> = const { Cell::new(0) };
}

/// An allocator (`A`, the system's by default) counting each thread's net
/// allocation.
///
/// ```
/// use herald_script::alloc::CountingAllocator;
///
/// static COUNTING: CountingAllocator = CountingAllocator::new(std::alloc::System);
/// # let _ = &COUNTING;
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAllocator<A = System> {
    inner: A,
}

impl<A> CountingAllocator<A> {
    /// Counts the allocations of `inner`.
    pub const fn new(inner: A) -> Self {
        Self { inner }
    }
}

fn add(delta: isize) {
    // `try_with`: a thread being torn down still allocates and frees.
    let _ = NET.try_with(|net| net.set(net.get().wrapping_add(delta)));
}

// SAFETY: every call is forwarded unchanged to the inner allocator; the
// counter is a const-initialised thread-local without a destructor, which
// never allocates.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAllocator<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is the inner allocator's.
        let ptr = unsafe { self.inner.alloc(layout) };
        if !ptr.is_null() {
            add(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is the inner allocator's.
        unsafe { self.inner.dealloc(ptr, layout) };
        add(-(layout.size() as isize));
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is the inner allocator's.
        let ptr = unsafe { self.inner.alloc_zeroed(layout) };
        if !ptr.is_null() {
            add(layout.size() as isize);
        }
        ptr
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is the inner allocator's.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            add(new_size as isize - layout.size() as isize);
        }
        new
    }
}

/// This thread's net allocation in bytes (0 when the allocator is not installed).
pub fn thread_net() -> isize {
    NET.try_with(Cell::get).unwrap_or(0)
}

/// True if [`CountingAllocator`] is this program's global allocator.
pub fn is_installed() -> bool {
    let before = thread_net();
    let probe = std::hint::black_box(vec![0u8; 4096]);
    let counted = thread_net() - before >= 4096;
    drop(probe);
    counted
}
