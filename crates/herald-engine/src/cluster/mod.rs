//! Cluster mode: several instances share the work by partitions of the
//! document key, with herald's state in MongoDB.
//!
//! Each [`Partition`](herald_core::partition::Partition) is served by one
//! instance at a time, the holder of its lease ([`Leases`]). An instance
//! runs one engine per partition it holds, on a [scope](herald_store::Scope)
//! of the shared store fenced by the lease, reading change streams narrowed
//! to the partition's hash range on the server.

mod clock;
mod leases;
mod starts;

pub use clock::{RESYNC, ServerClock};
pub use leases::{Announced, CLUSTER, Held, INSTANCES, LeaseRecord, Leases};
pub use starts::{RULE_STARTS, rule_starts};
