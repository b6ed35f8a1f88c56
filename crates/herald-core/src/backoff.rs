//! Capped exponential backoff with jitter, for anything herald retries.

use std::time::Duration;

/// The wait after failed attempt number `attempt` (1-based): `initial` doubled
/// per attempt, capped at `max`, then "equal jitter" (between half and all of
/// it) so that many failing streams or effects do not retry in lockstep.
///
/// ```
/// use std::time::Duration;
/// let wait = herald_core::backoff::delay(Duration::from_millis(100), Duration::from_secs(1), 3);
/// assert!(wait >= Duration::from_millis(200) && wait <= Duration::from_millis(400));
/// ```
pub fn delay(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let doubled = initial.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let capped = doubled.min(max);
    let half = capped / 2;
    half + half.mul_f64(fastrand::f64())
}
