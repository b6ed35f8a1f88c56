//! The binary's allocator: mimalloc, under herald's counting allocator.
//!
//! The counting layer bounds a handler call's memory (`[engine]
//! handler_memory_mib`). mimalloc rather than the system allocator: an event
//! is allocated on the reading thread and freed on a worker, and in replay
//! profiles glibc spent about 5% of the time waiting on its arena lock for
//! such frees, on both threads. Resident memory is kept close to what herald
//! holds: [`tune`] keeps transparent huge pages out of the process (mimalloc
//! is also built not to ask for them, `no_thp`), which would make whole
//! 2 MiB pages resident, and has freed pages returned to the system after
//! 10 ms rather than mimalloc's default second.

use herald_script::alloc::CountingAllocator;
use libmimalloc_sys::{mi_option_get, mi_option_set_default, mi_option_t};
use mimalloc::MiMalloc;

#[global_allocator]
static ALLOCATOR: CountingAllocator<MiMalloc> = CountingAllocator::new(MiMalloc);

/// `mi_option_purge_delay` in mimalloc 3's `mi_option_t` (`mimalloc.h`),
/// which `libmimalloc-sys` does not name.
const PURGE_DELAY: mi_option_t = 15;

/// mimalloc 3's own purge delay (ms): what [`PURGE_DELAY`] reads unless the
/// environment sets it. Anything else means the index names another option.
const MIMALLOC_PURGE_DELAY_MS: std::ffi::c_long = 1000;

/// Milliseconds herald has mimalloc wait before returning freed pages.
const PURGE_DELAY_MS: std::ffi::c_long = 10;

/// Sets the process's memory options; called first thing in `main`. An
/// operator's `MIMALLOC_PURGE_DELAY` is kept.
pub fn tune() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments and only sets
    // a flag of this process. Failure (an old kernel) leaves THP as it was.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    // Only if the index reads as mimalloc's purge delay: a newer mimalloc
    // whose options moved is left as it is.
    // SAFETY: reads an option's value.
    if unsafe { mi_option_get(PURGE_DELAY) } == MIMALLOC_PURGE_DELAY_MS {
        // SAFETY: sets an option's default, which a value from the
        // environment overrides; the delay is read at each purge, so
        // changing it once allocation has begun is sound.
        unsafe { mi_option_set_default(PURGE_DELAY, PURGE_DELAY_MS) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The environment variables that set the purge delay (the second is its old name).
    const PURGE_DELAY_VARS: [&str; 2] = ["MIMALLOC_PURGE_DELAY", "MIMALLOC_RESET_DELAY"];

    #[test]
    fn the_option_tuned_is_the_purge_delay() {
        if PURGE_DELAY_VARS
            .iter()
            .any(|name| std::env::var_os(name).is_some())
        {
            return;
        }
        // mimalloc 3 purges after 1,000 ms unless told otherwise: reading
        // that default at this index (before `tune`) shows the index names
        // the purge delay, should the enum ever move.
        // SAFETY: reads an option's value.
        assert_eq!(
            unsafe { mi_option_get(PURGE_DELAY) },
            MIMALLOC_PURGE_DELAY_MS
        );
        tune();
        // SAFETY: reads an option's value.
        assert_eq!(unsafe { mi_option_get(PURGE_DELAY) }, PURGE_DELAY_MS);
        #[cfg(target_os = "linux")]
        // SAFETY: reads a flag of this process.
        assert_eq!(
            unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) },
            1
        );
    }
}
