//! Injected commit failures, so that tests can check how the engine and the
//! `herald` binary behave when the disk fails mid-run.
//!
//! Only with the cargo feature `fault-injection` (off by default); without
//! it, [`Faults`] is empty and its check compiles to nothing. With it:
//! - `Store::fail_commits_after(n)` makes
//!   every commit after the next `n` successful ones fail;
//! - in debug builds, `Store::open*` and `Store::temporary*` read the environment variable
//!   `HERALD_FAULT_STORE_COMMITS` (a number `N`): if it is set, the store fails
//!   every commit after `N` successful ones, so a test can make the `herald`
//!   binary's commits fail. A value that is not a number is ignored, with a
//!   warning.
//!
//! A failed commit applies nothing and returns the error a failing disk
//! would: `StoreError::Sled(sled::Error::Io(..))`, with a message starting
//! "injected store failure". Only commits with changes count.

use crate::StoreError;

#[cfg(feature = "fault-injection")]
use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

/// The environment variable read at open (with the feature).
#[cfg(feature = "fault-injection")]
const ENV: &str = "HERALD_FAULT_STORE_COMMITS";

/// No fault planned.
#[cfg(feature = "fault-injection")]
const NEVER: u64 = u64::MAX;

/// The commits left before failures start, shared by a store's handles.
#[derive(Debug, Clone)]
pub(crate) struct Faults {
    #[cfg(feature = "fault-injection")]
    left: Arc<AtomicU64>,
    /// Fail one commit only, then succeed again (to test that nothing commits
    /// after a failure because the engine stops, not because the disk does).
    #[cfg(feature = "fault-injection")]
    once: Arc<AtomicBool>,
}

impl Faults {
    /// No faults, unless (with the feature) the environment plans some.
    pub(crate) fn from_env() -> Self {
        #[cfg(feature = "fault-injection")]
        {
            let faults = Self {
                left: Arc::new(AtomicU64::new(NEVER)),
                once: Arc::new(AtomicBool::new(false)),
            };
            // Only debug builds read the variable: a release binary built with
            // the feature (`cargo test --release`) still never fails on purpose.
            let planned = if cfg!(debug_assertions) {
                parse(std::env::var(ENV).ok().as_deref())
            } else {
                None
            };
            if let Some(n) = planned {
                tracing::warn!(
                    commits = n,
                    "{ENV} is set: store commits after these will fail"
                );
                faults.fail_after(n);
            }
            faults
        }
        #[cfg(not(feature = "fault-injection"))]
        Self {}
    }

    /// Fails if a fault is due; counts a successful commit otherwise.
    #[inline]
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        #[cfg(feature = "fault-injection")]
        {
            let counted = self
                .left
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                    (left != 0 && left != NEVER).then(|| left - 1)
                });
            if counted == Err(0) {
                if self.once.load(Ordering::Acquire) {
                    self.left.store(NEVER, Ordering::Release);
                }
                return Err(StoreError::Sled(sled::Error::Io(std::io::Error::other(
                    "injected store failure (fault injection: fail_commits_after or HERALD_FAULT_STORE_COMMITS)",
                ))));
            }
        }
        Ok(())
    }

    /// Every commit after the next `n` fails.
    #[cfg(feature = "fault-injection")]
    pub(crate) fn fail_after(&self, n: u64) {
        self.once.store(false, Ordering::Release);
        self.left.store(n, Ordering::Release);
    }

    /// The one commit after the next `n` fails; later ones succeed.
    #[cfg(feature = "fault-injection")]
    pub(crate) fn fail_once_after(&self, n: u64) {
        self.once.store(true, Ordering::Release);
        self.left.store(n, Ordering::Release);
    }
}

/// The number in the environment variable; `None` (with a warning) if it is
/// set to something else.
#[cfg(feature = "fault-injection")]
fn parse(value: Option<&str>) -> Option<u64> {
    let value = value?;
    match value.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => {
            tracing::warn!(
                value,
                "{ENV} is not a number of commits; no faults injected"
            );
            None
        }
    }
}

#[cfg(all(test, feature = "fault-injection"))]
mod tests {
    use super::*;

    #[test]
    fn the_environment_value_is_a_count_of_commits() {
        assert_eq!(parse(None), None);
        assert_eq!(parse(Some("3")), Some(3));
        assert_eq!(parse(Some(" 0 ")), Some(0));
        assert_eq!(parse(Some("soon")), None);
    }
}
