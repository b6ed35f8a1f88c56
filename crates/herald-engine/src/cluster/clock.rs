//! The server's clock as this instance reads it, so that lease expiries
//! written by one instance mean the same to all of them.
//!
//! Every lease and instance record carries an expiry time that other
//! instances compare with "now". Each instance's own clock would make a
//! skewed instance take live leases (its clock runs ahead) or write leases
//! that lapse early (it runs behind). Instead, each instance measures the
//! offset between its clock and the server's (`hello` returns the server's
//! `localTime`) and reads "now" as its own clock plus that offset. The
//! error is at most half the round trip of the `hello`, plus the clock drift
//! between two measures ([`RESYNC`] apart: a few milliseconds at the rates
//! of working clocks).

use bson::{DateTime, doc};
use mongodb::Database;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// How often [`ServerClock::sync_if_due`] measures the offset again.
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
    /// Server time minus this machine's time, in milliseconds (0 until synced).
    offset_ms: AtomicI64,
    /// How far this machine's clock is off on purpose (tests only).
    skew_ms: i64,
    /// When the offset was last measured.
    synced: Mutex<Option<Instant>>,
}

impl ServerClock {
    /// A clock on a machine whose own clock is `skew_ms` ahead of the true
    /// time (behind if negative): how tests show that skew does not matter.
    #[doc(hidden)]
    pub fn with_local_skew(skew_ms: i64) -> Self {
        Self {
            skew_ms,
            ..Self::default()
        }
    }

    /// This machine's clock, in Unix milliseconds.
    fn local_ms(&self) -> i64 {
        DateTime::now().timestamp_millis() + self.skew_ms
    }

    /// Measures the offset to the server's clock again.
    pub async fn sync(&self, database: &Database) -> mongodb::error::Result<()> {
        let sent = Instant::now();
        let sent_ms = self.local_ms();
        let reply = database.run_command(doc! {"hello": 1}).await?;
        let round_trip = i64::try_from(sent.elapsed().as_millis()).unwrap_or(i64::MAX);
        let Ok(server) = reply.get_datetime("localTime") else {
            // A server that does not say its time: keep the last estimate.
            tracing::warn!(
                "the server's hello reply has no localTime; lease times use this machine's clock"
            );
            return Ok(());
        };
        let offset = server.timestamp_millis() - (sent_ms + round_trip / 2);
        self.offset_ms.store(offset, Ordering::Relaxed);
        *self.synced.lock().unwrap_or_else(|e| e.into_inner()) = Some(sent);
        Ok(())
    }

    /// [`sync`](Self::sync)s if the offset was never measured or was
    /// measured [`RESYNC`] ago; true if it did.
    pub async fn sync_if_due(&self, database: &Database) -> mongodb::error::Result<bool> {
        let last = *self.synced.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < RESYNC) {
            return Ok(false);
        }
        self.sync(database).await?;
        Ok(true)
    }

    /// The server's time now (as of the last [`sync`](Self::sync)).
    pub fn now(&self) -> DateTime {
        DateTime::from_millis(self.now_ms())
    }

    /// The server's time now, in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.local_ms() + self.offset_ms.load(Ordering::Relaxed)
    }
}
