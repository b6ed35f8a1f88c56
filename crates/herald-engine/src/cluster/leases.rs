//! Partition leases in MongoDB: taken, renewed and let go by conditional
//! updates, one document per partition.
//!
//! A lease is `{_id: "p3/16", owner, epoch, expires}` in the `leases`
//! collection of herald's database. Taking one raises its epoch; every commit
//! of the partition's engine checks (by writing) that the epoch is still the
//! one it took, in the commit's own transaction (see
//! [`Fence`](herald_store::backend::Fence)). Safety rests on the epochs, not
//! on clocks: a holder whose clock runs slow keeps working past its expiry,
//! but the first commit after a take-over fails. Clocks only decide when a
//! silent holder is taken over, and every instance reads the server's clock
//! for that ([`ServerClock`]), so a machine whose clock is off neither takes
//! live leases nor writes leases that lapse early. Instances announce themselves in
//! `instances` (`{_id: name, process, expires}`), so each knows how many share the
//! partitions.

use bson::{DateTime, Document, doc};
use herald_core::partition::Partition;
use herald_store::backend::Fence;
use mongodb::options::{ReturnDocument, WriteConcern};
use mongodb::{Collection, Database};
use std::sync::Arc;
use std::time::Duration;

use super::ServerClock;

/// The collection of live instances.
pub const INSTANCES: &str = "instances";

/// The collection of what every instance must agree on.
pub const CLUSTER: &str = "cluster";

/// What [`Leases::announce`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announced {
    /// This process is the instance, alive for one more lease period.
    Alive,
    /// Another live process announced itself under this instance's name,
    /// until `until_ms` (Unix milliseconds, the server's time).
    NameInUse {
        /// When its record lapses unless it announces itself again.
        until_ms: i64,
    },
}

/// Whether `e` is a duplicate key error (code 11000).
fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    matches!(&*e.kind, ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == 11000)
}

/// A lease this instance holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The partition.
    pub partition: Partition,
    /// The epoch it was taken at.
    pub epoch: i64,
}

/// One instance's view of the partition leases.
///
/// ```no_run
/// # async fn demo(database: mongodb::Database) -> mongodb::error::Result<()> {
/// use herald_engine::cluster::Leases;
/// use std::time::Duration;
/// let leases = Leases::new(&database, "host-1", 16, Duration::from_secs(10));
/// assert_eq!(leases.announce().await?, herald_engine::cluster::Announced::Alive);
/// let share = leases.fair_share(leases.live_instances().await?);
/// let period = Duration::from_secs(3);
/// let taken = leases.take_free(share, &[], period / 4, period).await?;
/// assert!(taken.len() as u32 <= share);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Leases {
    leases: Collection<Document>,
    instances: Collection<Document>,
    /// What every instance must agree on (see [`Leases::settle`]).
    cluster: Collection<Document>,
    database: Database,
    /// This process, among any that run under the same instance name.
    process: String,
    /// The server's time, shared by clones.
    clock: Arc<ServerClock>,
    me: String,
    partitions: u32,
    lease: Duration,
}

impl Leases {
    /// The leases of `partitions` partitions in `database`, as instance `me`
    /// sees them; a lease not renewed for `lease` may be taken over.
    pub fn new(database: &Database, me: &str, partitions: u32, lease: Duration) -> Self {
        Self::with_clock(database, me, partitions, lease, ServerClock::default())
    }

    /// The same, reading the server's time with `clock` (see [`ServerClock`]).
    pub fn with_clock(
        database: &Database,
        me: &str,
        partitions: u32,
        lease: Duration,
        clock: ServerClock,
    ) -> Self {
        let options = mongodb::options::CollectionOptions::builder()
            .write_concern(WriteConcern::majority())
            .build();
        Self {
            leases: database
                .collection_with_options(herald_store::backend::LEASES, options.clone()),
            instances: database.collection_with_options(INSTANCES, options.clone()),
            cluster: database.collection_with_options(CLUSTER, options),
            database: database.clone(),
            process: bson::oid::ObjectId::new().to_hex(),
            clock: Arc::new(clock),
            me: me.to_owned(),
            partitions,
            lease,
        }
    }

    /// Settles what every instance must agree on, the first time any
    /// starts: the number of partitions, and where streams without a
    /// checkpoint start when `start_at = "now"` (`now`: the server's time
    /// at this call), kept in the `cluster` collection. Returns that start;
    /// a different partition count is refused (the partitions' checkpoints
    /// would not carry over).
    pub async fn settle(&self, now: bson::Timestamp) -> Result<bson::Timestamp, String> {
        let settled = self
            .cluster
            .find_one_and_update(
                doc! {"_id": "cluster"},
                doc! {"$setOnInsert": {"partitions": i64::from(self.partitions), "start": now}},
            )
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await
            .map_err(|e| format!("cannot read the cluster's settings: {e}"))?
            .ok_or("the cluster's settings are missing")?;
        let partitions = settled.get_i64("partitions").unwrap_or_default();
        if partitions != i64::from(self.partitions) {
            return Err(format!(
                "this cluster was started with partitions = {partitions}, and this config says {}: the partitions' checkpoints do not carry over to another count; use {partitions}, or a new [cluster] database",
                self.partitions
            ));
        }
        settled
            .get_timestamp("start")
            .map_err(|e| format!("the cluster's start time is unreadable: {e}"))
    }

    /// This instance's name.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// How long a lease lasts unless renewed.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// The fence of a held lease, for the commits of its partition.
    pub fn fence(&self, held: &Held) -> Fence {
        Fence {
            lease: held.partition.to_string(),
            owner: self.me.clone(),
            epoch: held.epoch,
        }
    }

    fn expires(&self) -> DateTime {
        DateTime::from_millis(self.clock.now_ms() + self.lease.as_millis() as i64)
    }

    /// The server's time now, in Unix milliseconds, by the offset last
    /// measured ([`sync_clock`](Self::sync_clock)).
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Measures the offset to the server's clock, if it was never measured
    /// or was measured [`RESYNC`](super::RESYNC) ago; true if it did.
    /// [`announce`](Self::announce) calls it.
    pub async fn sync_clock(&self) -> mongodb::error::Result<bool> {
        self.clock.sync_if_due(&self.database).await
    }

    /// Says this instance is alive until one lease period from now.
    /// Measures the server's clock first when due (the first time, then
    /// every [`RESYNC`](super::RESYNC)), and then also forgets
    /// instances gone for a hundred lease periods.
    ///
    /// The record names this process too: while another process's record
    /// under the same instance name is alive (two instances given one
    /// `HERALD_INSTANCE`), nothing is written and the answer is
    /// [`Announced::NameInUse`]; a record of a process gone (lapsed, or
    /// retired) is taken over.
    pub async fn announce(&self) -> mongodb::error::Result<Announced> {
        let synced = self.sync_clock().await?;
        let claimed = self
            .instances
            .update_one(
                doc! {"_id": &self.me, "$or": [
                    {"process": &self.process},
                    {"expires": {"$lte": self.clock.now()}},
                ]},
                doc! {"$set": {"expires": self.expires(), "process": &self.process}},
            )
            .upsert(true)
            .await;
        if let Err(e) = claimed {
            // The upsert of a name whose live record is another process's
            // collides with that record's `_id`.
            if !is_duplicate_key(&e) {
                return Err(e);
            }
            let other = self.instances.find_one(doc! {"_id": &self.me}).await?;
            let until_ms = other
                .as_ref()
                .and_then(|d| d.get_datetime("expires").ok())
                .map_or(0, |t| t.timestamp_millis());
            return Ok(Announced::NameInUse { until_ms });
        }
        if synced {
            let long_gone =
                DateTime::from_millis(self.clock.now_ms() - 100 * self.lease.as_millis() as i64);
            self.instances
                .delete_many(doc! {"expires": {"$lt": long_gone}})
                .await?;
        }
        Ok(Announced::Alive)
    }

    /// Says this instance is gone (a clean stop), so the others take its
    /// share at once.
    pub async fn retire(&self) -> mongodb::error::Result<()> {
        self.instances
            .delete_one(doc! {"_id": &self.me, "process": &self.process})
            .await?;
        Ok(())
    }

    /// How many instances are alive (this one included).
    pub async fn live_instances(&self) -> mongodb::error::Result<u32> {
        let live = self
            .instances
            .count_documents(doc! {"expires": {"$gt": self.clock.now()}})
            .await?;
        Ok(u32::try_from(live).unwrap_or(u32::MAX).max(1))
    }

    /// The most partitions one of `live` instances should hold: an equal
    /// share, rounded up.
    pub fn fair_share(&self, live: u32) -> u32 {
        self.partitions.div_ceil(live.max(1))
    }

    /// Renews a held lease; false if it is no longer ours (taken over, or
    /// let go), in which case its partition must stop at once.
    pub async fn renew(&self, held: &Held) -> mongodb::error::Result<bool> {
        let renewed = self
            .leases
            .update_one(
                doc! {"_id": held.partition.to_string(), "owner": &self.me, "epoch": held.epoch},
                doc! {"$set": {"expires": self.expires()}},
            )
            .await?;
        Ok(renewed.matched_count == 1)
    }

    /// Lets a held lease go (its partition stopped at a checkpoint), so
    /// another instance may take it at once.
    pub async fn release(&self, held: &Held) -> mongodb::error::Result<()> {
        self.leases
            .update_one(
                doc! {"_id": held.partition.to_string(), "owner": &self.me, "epoch": held.epoch},
                doc! {"$set": {"owner": bson::Bson::Null, "expires": DateTime::from_millis(0)}},
            )
            .await?;
        Ok(())
    }

    /// Takes up to `wanted` free or expired leases, lowest partitions
    /// first, but none of `busy` (partitions this instance still serves or
    /// is finishing), and returns those taken.
    ///
    /// Each take waits at most `each`, and all of them at most `within`: a
    /// lease whose document a paused or killed instance's open commit still
    /// holds makes a take wait on a real server (until the transaction
    /// expires), and must not hold up the others. A take given up on may
    /// still be applied by the server; that lease then lapses unserved and
    /// is taken again after `lease`.
    pub async fn take_free(
        &self,
        wanted: u32,
        busy: &[Partition],
        each: Duration,
        within: Duration,
    ) -> mongodb::error::Result<Vec<Held>> {
        let mut taken = Vec::new();
        if wanted == 0 {
            return Ok(taken);
        }
        let started = std::time::Instant::now();
        // One read (reads never wait for a transaction) finds the candidates.
        let Ok(stored) = tokio::time::timeout(within, self.all()).await else {
            return Err(mongodb::error::Error::custom(format!(
                "reading the leases took over {} ms",
                within.as_millis()
            )));
        };
        let stored = stored?;
        let now = self.clock.now_ms();
        for partition in Partition::all(self.partitions).filter(|p| !busy.contains(p)) {
            if taken.len() as u32 >= wanted || started.elapsed() >= within {
                break;
            }
            let id = partition.to_string();
            match stored.iter().find(|l| l.lease == id) {
                Some(l) if l.owner.is_some() && l.expires_ms > now => continue,
                Some(_) => {}
                None => {
                    // Made free the first time it is needed.
                    let made = self.leases.update_one(
                        doc! {"_id": &id},
                        doc! {"$setOnInsert": {
                            "owner": bson::Bson::Null,
                            "epoch": 0_i64,
                            "expires": DateTime::from_millis(0),
                        }},
                    );
                    match tokio::time::timeout(each, made.upsert(true)).await {
                        Ok(made) => made?,
                        Err(_) => continue,
                    };
                }
            }
            let take = self
                .leases
                .find_one_and_update(
                    doc! {"_id": &id, "$or": [
                        {"owner": bson::Bson::Null},
                        {"expires": {"$lte": self.clock.now()}},
                    ]},
                    doc! {
                        "$set": {"owner": &self.me, "expires": self.expires()},
                        "$inc": {"epoch": 1_i64},
                    },
                )
                .return_document(ReturnDocument::After);
            let took = match tokio::time::timeout(each, take).await {
                Ok(took) => took?,
                Err(_) => {
                    tracing::warn!(%partition, "taking the lease timed out (an open transaction of its last owner may hold it); trying the others");
                    continue;
                }
            };
            if let Some(lease) = took {
                let epoch = lease.get_i64("epoch").unwrap_or_default();
                taken.push(Held { partition, epoch });
            }
        }
        Ok(taken)
    }

    /// Every instance announced, live or lapsed: (name, until when it is
    /// alive in Unix milliseconds), for `herald status`.
    pub async fn instances(&self) -> mongodb::error::Result<Vec<(String, i64)>> {
        use futures_util::TryStreamExt;
        let found: Vec<Document> = self.instances.find(doc! {}).await?.try_collect().await?;
        Ok(found
            .iter()
            .filter_map(|d| {
                let expires = d.get_datetime("expires").ok()?.timestamp_millis();
                Some((d.get_str("_id").ok()?.to_owned(), expires))
            })
            .collect())
    }

    /// Every lease as stored: (partition, owner, epoch, expires), for
    /// `herald status`.
    pub async fn all(&self) -> mongodb::error::Result<Vec<LeaseRecord>> {
        use futures_util::TryStreamExt;
        let found: Vec<Document> = self.leases.find(doc! {}).await?.try_collect().await?;
        Ok(found
            .iter()
            .filter_map(|d| {
                Some(LeaseRecord {
                    lease: d.get_str("_id").ok()?.to_owned(),
                    owner: d.get_str("owner").ok().map(str::to_owned),
                    epoch: d.get_i64("epoch").unwrap_or_default(),
                    expires_ms: d
                        .get_datetime("expires")
                        .map(|t| t.timestamp_millis())
                        .unwrap_or_default(),
                })
            })
            .collect())
    }
}

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeaseRecord {
    /// The lease's name (its partition, `p3/16`).
    pub lease: String,
    /// Who holds it (none: free).
    pub owner: Option<String>,
    /// How many times it has been taken.
    pub epoch: i64,
    /// When it lapses unless renewed (Unix milliseconds).
    pub expires_ms: i64,
}

impl LeaseRecord {
    /// Whether someone holds it at `now` (Unix milliseconds).
    ///
    /// ```
    /// use herald_engine::cluster::LeaseRecord;
    /// let lease = LeaseRecord { lease: "p0/2".into(), owner: Some("a".into()), epoch: 1, expires_ms: 1_000 };
    /// assert!(lease.held_at(999));
    /// assert!(!lease.held_at(1_000));
    /// ```
    pub fn held_at(&self, now: i64) -> bool {
        self.owner.is_some() && self.expires_ms > now
    }
}
