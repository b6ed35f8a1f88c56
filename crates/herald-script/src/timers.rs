//! Durable timers in rules: `after`, `at`, `cancel_timer`, and the
//! `on_timer(timer)` function that handles a due one.
//!
//! ```rhai
//! fn handle(event) {
//!     after("48h", `escalate:${event.documentKey._id}`, #{ id: event.documentKey._id });
//! }
//! fn on_timer(timer) {
//!     notify("approvals", #{ subject: `expense ${timer.payload.id} waited 48 hours` });
//! }
//! ```
//!
//! `after(delay, name, payload)` counts `delay` from the call's clock: the
//! event's time (`wallTime`, else `clusterTime`), or in `on_timer` the due
//! time of the timer it handles (so a repeating reminder keeps its rhythm).
//! `at(time, name, payload)` takes a date or an RFC 3339 string. Both record
//! a `set_timer` intent with the absolute due time; the payload may be left
//! out. Names are scoped to the rule; setting a pending name replaces it.

use crate::intents::{BuiltinResult, name_arg, record, with_recording};
use crate::values::{RhaiDateTime, bson_to_dynamic, dynamic_to_bson};
use bson::{Bson, DateTime};
use herald_core::Intent;
use rhai::{Dynamic, Engine, Map, NativeCallContext};

/// The function a rule defines to handle its due timers.
pub const ON_TIMER: &str = "on_timer";

/// The builtins that set a timer, which need [`ON_TIMER`].
pub const SETTERS: [&str; 2] = ["after", "at"];

/// The longest timer name, in bytes.
pub const MAX_NAME_LEN: usize = 512;

/// The longest delay `after` takes: about 100 years.
pub const MAX_DELAY_MS: i64 = 100 * 366 * 24 * 3_600_000;

/// A due timer, as `on_timer(timer)` receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct TimerCall {
    /// Its name.
    pub name: String,
    /// What `after`/`at` passed (`()` in Rhai when left out).
    pub payload: Bson,
    /// When it was due.
    pub due: DateTime,
    /// The clock of the call that set it (the event's time).
    pub set_at: DateTime,
}

impl TimerCall {
    /// The Rhai value `on_timer` gets: `#{ name, payload, due, set_at }`.
    pub(crate) fn to_dynamic(&self) -> Dynamic {
        let mut map = Map::new();
        map.insert("name".into(), self.name.clone().into());
        map.insert("payload".into(), bson_to_dynamic(&self.payload));
        map.insert("due".into(), Dynamic::from(RhaiDateTime(self.due)));
        map.insert("set_at".into(), Dynamic::from(RhaiDateTime(self.set_at)));
        map.into()
    }
}

/// Parses a delay: a number and a unit (`ms`, `s`, `m`, `h`, `d`), or
/// several (`"1h30m"`), in milliseconds.
///
/// ```
/// use herald_script::timers::parse_delay;
/// assert_eq!(parse_delay("90s"), Ok(90_000));
/// assert_eq!(parse_delay("48h"), Ok(172_800_000));
/// assert_eq!(parse_delay("1h30m"), Ok(5_400_000));
/// assert!(parse_delay("2 weeks").unwrap_err().contains("\"2 weeks\""));
/// ```
pub fn parse_delay(text: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "delay {text:?}: use a number and a unit, ms, s, m, h or d (\"90s\", \"15m\", \"48h\", \"7d\", \"1h30m\"), or milliseconds as a number"
        )
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_len = rest[digits..]
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len() - digits);
        let (number, unit) = (&rest[..digits], &rest[digits..digits + unit_len]);
        let per: i64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        let n: i64 = number.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(per)
            .and_then(|ms| total.checked_add(ms))
            .filter(|ms| *ms <= MAX_DELAY_MS)
            .ok_or_else(|| format!("delay {text:?} is longer than 100 years"))?;
        rest = &rest[digits + unit_len..];
    }
    Ok(total)
}

/// A delay in milliseconds, checked.
fn delay_ms(ms: i64) -> BuiltinResult<i64> {
    if !(0..=MAX_DELAY_MS).contains(&ms) {
        return Err(format!("delay {ms} ms: it must be 0 to {MAX_DELAY_MS} milliseconds").into());
    }
    Ok(ms)
}

fn timer_name(name: &str) -> BuiltinResult<String> {
    let name = name_arg(name, "timer name")?;
    if name.len() > MAX_NAME_LEN {
        return Err(format!("a timer name is at most {MAX_NAME_LEN} bytes").into());
    }
    Ok(name)
}

/// Records `set_timer` for `after(delay, ..)`: due at the call's clock plus `ms`.
fn after(ctx: &NativeCallContext, ms: i64, name: &str, payload: &Dynamic) -> BuiltinResult<()> {
    let ms = delay_ms(ms)?;
    let name = timer_name(name)?;
    let payload = dynamic_to_bson(payload, "payload").map_err(|e| e.to_string())?;
    let now = with_recording(ctx, |r| Ok(r.now))?.ok_or(
        "after() counts from the event's time, and this event has neither wallTime nor clusterTime; use at(time, name, payload)",
    )?;
    let due = now
        .timestamp_millis()
        .checked_add(ms)
        .map(DateTime::from_millis)
        .ok_or("the due time is out of range")?;
    record(ctx, Intent::SetTimer { name, due, payload })
}

/// Records `set_timer` for `at(time, ..)`.
fn at(ctx: &NativeCallContext, due: DateTime, name: &str, payload: &Dynamic) -> BuiltinResult<()> {
    let name = timer_name(name)?;
    let payload = dynamic_to_bson(payload, "payload").map_err(|e| e.to_string())?;
    record(ctx, Intent::SetTimer { name, due, payload })
}

fn rfc3339(text: &str) -> BuiltinResult<DateTime> {
    DateTime::parse_rfc3339_str(text)
        .map_err(|e| format!("at({text:?}): not an RFC 3339 time ({e})").into())
}

/// Registers `after`, `at` and `cancel_timer` on a Rhai engine.
pub fn register(engine: &mut Engine) {
    let none = || Dynamic::UNIT;
    engine.register_fn(
        "after",
        |ctx: NativeCallContext, delay: &str, name: &str, payload: Dynamic| {
            after(&ctx, parse_delay(delay)?, name, &payload)
        },
    );
    engine.register_fn(
        "after",
        move |ctx: NativeCallContext, delay: &str, name: &str| {
            after(&ctx, parse_delay(delay)?, name, &none())
        },
    );
    engine.register_fn(
        "after",
        |ctx: NativeCallContext, ms: i64, name: &str, payload: Dynamic| {
            after(&ctx, ms, name, &payload)
        },
    );
    engine.register_fn(
        "after",
        move |ctx: NativeCallContext, ms: i64, name: &str| after(&ctx, ms, name, &none()),
    );
    engine.register_fn(
        "at",
        |ctx: NativeCallContext, time: RhaiDateTime, name: &str, payload: Dynamic| {
            at(&ctx, time.0, name, &payload)
        },
    );
    engine.register_fn(
        "at",
        move |ctx: NativeCallContext, time: RhaiDateTime, name: &str| {
            at(&ctx, time.0, name, &none())
        },
    );
    engine.register_fn(
        "at",
        |ctx: NativeCallContext, time: &str, name: &str, payload: Dynamic| {
            at(&ctx, rfc3339(time)?, name, &payload)
        },
    );
    engine.register_fn(
        "at",
        move |ctx: NativeCallContext, time: &str, name: &str| {
            at(&ctx, rfc3339(time)?, name, &none())
        },
    );
    engine.register_fn("cancel_timer", |ctx: NativeCallContext, name: &str| {
        let name = timer_name(name)?;
        record(&ctx, Intent::CancelTimer { name })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_in_every_unit_and_combined() {
        assert_eq!(parse_delay("250ms"), Ok(250));
        assert_eq!(parse_delay("15m"), Ok(900_000));
        assert_eq!(parse_delay("7d"), Ok(604_800_000));
        assert_eq!(parse_delay("1d12h"), Ok(129_600_000));
        assert_eq!(parse_delay("0s"), Ok(0));
        for bad in ["", "48", "h", "4.5h", "-1h", "3 h", "2w", "1h 30m"] {
            assert!(parse_delay(bad).is_err(), "{bad:?} was taken");
        }
        assert!(
            parse_delay("99999999999d")
                .unwrap_err()
                .contains("100 years")
        );
    }
}
