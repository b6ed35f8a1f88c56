//! The server's clock as this instance reads it, so that lease expiries
//! written by one instance mean the same to all of them.
//!
//! Every lease and instance record carries an expiry time that other
//! instances compare with "now". Each instance's own clock would make a
//! skewed instance take live leases (its clock runs ahead) or write leases
//! that lapse early (it runs behind). Instead, each instance measures the
//! server's time (`hello` returns its `localTime`) and reads "now" as that
//! time plus what its monotonic clock counted since, so neither the offset
//! of its wall clock nor a step of it (NTP) matters. The error is at most
//! half the round trip of the `hello`, plus the drift of the monotonic
//! clock between two measures ([`RESYNC`] apart: a few milliseconds at the
//! rates of working clocks).

use bson::{DateTime, doc};
use mongodb::Database;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often [`ServerClock::sync_if_due`] measures the server's time again.
pub const RESYNC: Duration = Duration::from_secs(60);

/// The server's time, estimated from this machine's clock and a measured
/// offset. Shared by clones of one [`Leases`](super::Leases).
///
/// ```no_run
/// # async fn demo(database: mongodb::Database) -> mongodb::error::Result<()> {
/// use herald_engine::cluster::ServerClock;
/// let clock = ServerClock::default();
/// clock.sync(&database).await?;
/// println!("the server's time is about {}", clock.now());
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct ServerClock {
    /// How far this machine's wall clock is off on purpose (tests only).
    skew_ms: std::sync::atomic::AtomicI64,
    /// The last measure (none until synced).
    anchor: Mutex<Option<Anchor>>,
}

/// The server's time at one instant of this machine's monotonic clock.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    at: Instant,
    server_ms: i64,
}

impl ServerClock {
    /// A clock on a machine whose own clock is `skew_ms` ahead of the true
    /// time (behind if negative): how tests show that skew does not matter.
    #[doc(hidden)]
    pub fn with_local_skew(skew_ms: i64) -> Self {
        Self {
            skew_ms: skew_ms.into(),
            ..Self::default()
        }
    }

    /// Steps this machine's wall clock by `ms`, as NTP may: how tests show
    /// that a step does not matter once the server's time was measured.
    #[doc(hidden)]
    pub fn step_local(&self, ms: i64) {
        self.skew_ms
            .fetch_add(ms, std::sync::atomic::Ordering::Relaxed);
    }

    fn anchor(&self) -> Option<Anchor> {
        *self.anchor.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Measures the server's time again.
    pub async fn sync(&self, database: &Database) -> mongodb::error::Result<()> {
        let sent = Instant::now();
        let reply = database.run_command(doc! {"hello": 1}).await?;
        let Ok(server) = reply.get_datetime("localTime") else {
            // A server that does not say its time: keep the last estimate.
            tracing::warn!(
                "the server's hello reply has no localTime; lease times use this machine's clock"
            );
            return Ok(());
        };
        // The server read its clock about halfway through the round trip.
        let anchor = Anchor {
            at: sent + sent.elapsed() / 2,
            server_ms: server.timestamp_millis(),
        };
        *self.anchor.lock().unwrap_or_else(|e| e.into_inner()) = Some(anchor);
        Ok(())
    }

    /// [`sync`](Self::sync)s if the server's time was never measured or was
    /// measured [`RESYNC`] ago; true if it did.
    pub async fn sync_if_due(&self, database: &Database) -> mongodb::error::Result<bool> {
        if self.anchor().is_some_and(|a| a.at.elapsed() < RESYNC) {
            return Ok(false);
        }
        self.sync(database).await?;
        Ok(true)
    }

    /// The server's time now.
    pub fn now(&self) -> DateTime {
        DateTime::from_millis(self.now_ms())
    }

    /// The server's time now, in Unix milliseconds: the last measure plus
    /// the time since by this machine's monotonic clock (a step of its wall
    /// clock changes nothing); this machine's wall clock until measured.
    pub fn now_ms(&self) -> i64 {
        match self.anchor() {
            Some(a) => a.server_ms + i64::try_from(a.at.elapsed().as_millis()).unwrap_or(i64::MAX),
            None => {
                DateTime::now().timestamp_millis()
                    + self.skew_ms.load(std::sync::atomic::Ordering::Relaxed)
            }
        }
    }
}
