//! The binary's allocator: mimalloc, under herald's counting allocator.
//!
//! The counting layer bounds a handler call's memory (`[engine]
//! handler_memory_mib`). mimalloc rather than the system allocator: an event
//! is allocated on the reading thread and freed on a worker, and glibc takes
//! a lock on its arena for each such free, which both threads then wait on.
//! It is built without transparent huge pages (`no_thp`), which would count
//! whole 2 MiB pages as resident, and [`tune`] returns freed pages to the
//! system after 10 ms rather than mimalloc's default second, so resident
//! memory follows what herald holds.

use herald_script::alloc::CountingAllocator;
use libmimalloc_sys::{mi_option_set, mi_option_t};
use mimalloc::MiMalloc;

#[global_allocator]
static ALLOCATOR: CountingAllocator<MiMalloc> = CountingAllocator::new(MiMalloc);

/// `mi_option_purge_delay` in mimalloc 3's `mi_option_t` (`mimalloc.h`),
/// which `libmimalloc-sys` does not name.
const PURGE_DELAY: mi_option_t = 15;

/// Milliseconds mimalloc waits before returning freed pages to the system.
const PURGE_DELAY_MS: std::ffi::c_long = 10;

/// Sets mimalloc's options; called first thing in `main`.
pub fn tune() {
    // SAFETY: `mi_option_set` stores an option's value; the purge delay is
    // read at each purge, so setting it once allocation has begun is sound.
    unsafe { mi_option_set(PURGE_DELAY, PURGE_DELAY_MS) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_set_is_the_purge_delay() {
        // mimalloc 3 purges after 1,000 ms unless told otherwise: reading
        // that default at this index (before `tune`) shows the index names
        // the purge delay, should the enum ever move.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: reads an option's value.
            assert_eq!(unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }, 1000);
        }
        tune();
        // SAFETY: reads an option's value.
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) },
            PURGE_DELAY_MS
        );
    }
}
