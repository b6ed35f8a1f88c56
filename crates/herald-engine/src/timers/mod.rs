//! Durable timers: when they fire, and how a fired timer is named.
//!
//! A rule sets timers with `after`/`at` and handles them in `on_timer`
//! (see `herald_script::timers`). The store keeps them, indexed by due time,
//! written with the group of the call that set them. A worker fires the
//! timers of its share: before each event, those due by the event's time
//! (so a timer and its document's events stay in order), and on a tick,
//! those due by the run's clock ([`TimerClock`]). A fired timer's effects,
//! its removal and its ledger mark commit in one group; its effects' keys
//! are `hash(rule, {timer: name, due, version}, effect number)`
//! ([`timer_token`]), the same however often it is fired; a timer set
//! again (even for the same time) is another, with other keys.

pub(crate) mod book;

use bson::{DateTime, RawBson, rawdoc};
use herald_core::ResumeToken;
use herald_script::TimerCall;
use herald_store::Timer;

/// The clock that fires timers when no event comes due after them.
///
/// ```
/// use herald_engine::timers::{TimerClock, Until};
/// let replay = TimerClock::EventTime { until: Until::All };
/// assert_ne!(replay, TimerClock::default());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TimerClock {
    /// The wall clock (`herald run`): a tick about every second fires what
    /// is due by now, while the source is caught up (its last read brought
    /// no events, or it has been quiet for a second). While it catches up,
    /// timers fire by the times of the events it reads.
    #[default]
    Wall,
    /// Event time (`herald replay`): before an event at time T, every timer
    /// due by T fires; when the source ends, those due by `until`.
    EventTime {
        /// How far the clock goes when the source ends.
        until: Until,
    },
}

/// Where an event-time clock stops when the source ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Until {
    /// The time of the last event read.
    #[default]
    LastEvent,
    /// This time (or the last event's, if later).
    At(DateTime),
    /// Every timer pending when the source ends fires (and those they set
    /// due no later than the latest of them, so a repeating reminder
    /// fires once more at most, rather than for ever).
    All,
}

impl Until {
    /// Parses `--until`: `all`, or an RFC 3339 time.
    ///
    /// ```
    /// use herald_engine::timers::Until;
    /// assert_eq!(Until::parse("all"), Ok(Until::All));
    /// assert!(matches!(Until::parse("2024-05-03T00:00:00Z"), Ok(Until::At(_))));
    /// assert!(Until::parse("tomorrow").unwrap_err().contains("RFC 3339"));
    /// ```
    pub fn parse(text: &str) -> Result<Self, String> {
        if text == "all" {
            return Ok(Self::All);
        }
        DateTime::parse_rfc3339_str(text)
            .map(Self::At)
            .map_err(|e| format!("{text:?} is neither `all` nor an RFC 3339 time ({e})"))
    }

    /// The clock's last time, given the last event's (if any had a time);
    /// `None` for [`Until::All`], which the run resolves once every event is
    /// done (the latest pending timer).
    pub(crate) fn up_to(self, last_event_ms: Option<i64>) -> Option<i64> {
        match self {
            Self::LastEvent => last_event_ms,
            Self::At(at) => Some(at.timestamp_millis().max(last_event_ms.unwrap_or(i64::MIN))),
            Self::All => None,
        }
    }
}

/// The token a fired timer's effects are keyed by, in place of an event's:
/// `{timer: name, due: date, version}` as BSON (the version as a signed
/// 64-bit integer), so one setting of a timer keeps its keys however often
/// it fires after crashes, and a timer set again has others.
///
/// ```
/// let token = herald_engine::timers::timer_token("escalate:7", 1_700_000_000_000, 42);
/// assert_eq!(
///     token.to_string(),
///     r#"{"timer":"escalate:7","due":{"$date":"2023-11-14T22:13:20Z"},"version":42}"#
/// );
/// ```
pub fn timer_token(name: &str, due_ms: i64, version: u64) -> ResumeToken {
    ResumeToken::new(RawBson::Document(rawdoc! {
        "timer": name,
        "due": DateTime::from_millis(due_ms),
        "version": version as i64,
    }))
}

/// The version of the timer a call sets as its `ordinal`-th (from 0): a
/// digest of the rule, the call's token (the event's, or the fired timer's)
/// and the ordinal, so a call done again after a crash sets the same versions.
///
/// ```
/// use herald_core::ResumeToken;
/// let token = ResumeToken::new(bson::RawBson::String("t".into()));
/// let v = herald_engine::timers::timer_version("r", &token, 0);
/// assert_eq!(v, herald_engine::timers::timer_version("r", &token, 0));
/// assert_ne!(v, herald_engine::timers::timer_version("r", &token, 1));
/// ```
pub fn timer_version(rule: &str, token: &ResumeToken, ordinal: u32) -> u64 {
    let mut tag = token.as_bytes().to_vec();
    tag.extend_from_slice(&ordinal.to_be_bytes());
    herald_store::ledger::fingerprint(rule, &tag) as u64
}

/// What `on_timer` is given for a stored timer.
pub(crate) fn call_of(timer: &Timer) -> TimerCall {
    TimerCall {
        name: timer.name.clone(),
        payload: timer.payload.clone(),
        due: DateTime::from_millis(timer.due_ms),
        set_at: DateTime::from_millis(timer.set_at_ms),
    }
}

/// A fired timer as a dead letter's "event": `{timer: {rule, name, due_ms,
/// set_at_ms, payload, ns, documentKey}}`, so `herald dlq` shows it and a
/// retry runs `on_timer` again.
pub(crate) fn dead_letter_event(timer: &Timer) -> bson::RawDocumentBuf {
    let mut inner = rawdoc! {
        "rule": timer.rule.as_str(),
        "name": timer.name.as_str(),
        "due": DateTime::from_millis(timer.due_ms),
        "set_at": DateTime::from_millis(timer.set_at_ms),
        "ns": timer.ns.as_str(),
        "version": timer.version as i64,
    };
    if let Ok(payload) = RawBson::try_from(timer.payload.clone()) {
        inner.append("payload", payload);
    }
    if let Some(key) = &timer.document_key {
        inner.append("documentKey", key.clone());
    }
    rawdoc! { "timer": inner }
}

/// The timer of a dead letter written by [`dead_letter_event`], if it is one.
pub(crate) fn from_dead_letter(event: &bson::RawDocument) -> Option<Timer> {
    let inner = event.get_document("timer").ok()?;
    let doc = bson::Document::try_from(inner).ok()?;
    Some(Timer {
        rule: doc.get_str("rule").ok()?.to_owned(),
        name: doc.get_str("name").ok()?.to_owned(),
        due_ms: doc.get_datetime("due").ok()?.timestamp_millis(),
        set_at_ms: doc.get_datetime("set_at").ok()?.timestamp_millis(),
        payload: doc.get("payload").cloned().unwrap_or(bson::Bson::Null),
        ns: doc.get_str("ns").ok()?.to_owned(),
        document_key: inner.get_document("documentKey").ok().map(|k| k.to_owned()),
        version: doc.get_i64("version").ok()? as u64,
    })
}
