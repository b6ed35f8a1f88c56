//! `herald status`: where each stream stands, how far behind, what was lost,
//! and what is still to come (pending timers).

use crate::cli::StatusArgs;
use crate::exit::{Outcome, store_failure as read_failure};
use crate::setup::{Setup, StoreDefault};
use crate::time::rfc3339 as time;

/// The time a checkpoint stands at, in milliseconds since the epoch: the
/// cluster time in its resume token (which a quiet stream's
/// `postBatchResumeToken` keeps moving), else the wall time of the last
/// event before it. Lag is measured from this, not from the last event.
fn checkpoint_time_ms(c: &herald_store::Checkpoint) -> Option<i64> {
    c.position
        .cluster_time()
        .map(|t| i64::from(t.time) * 1000)
        .or(c.wall_time_ms)
}

/// Runs the command.
pub fn run(args: StatusArgs) -> Outcome {
    let setup = Setup::resolve(&args.common, StoreDefault::Persistent)?;
    let dir = setup.existing_store()?;
    let store = setup.open_store()?;
    let now = bson::DateTime::now().timestamp_millis();
    println!(
        "store {} ({} bytes)",
        dir.display(),
        store.size_on_disk().unwrap_or(0)
    );
    let ledger = store.ledger_stats();
    println!(
        "ledger: {} (rule, event) marks kept of a window of {}{}",
        ledger.marks,
        ledger.window,
        ledger
            .oldest_ms
            .map(|ms| format!(", the oldest from {}", time(ms)))
            .unwrap_or_default()
    );
    if let Some(info) = store
        .info(crate::run::STREAMS_INFO)
        .map_err(|e| read_failure(dir, e))?
    {
        println!(
            "last run: {}",
            info["summary"].as_str().unwrap_or("(unreadable)")
        );
        for stream in info["streams"].as_array().into_iter().flatten() {
            let list = |key: &str| {
                stream[key]
                    .as_array()
                    .map(|v| {
                        v.iter()
                            .filter_map(|x| x.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default()
            };
            println!(
                "  {} carries {} for {}",
                stream["id"].as_str().unwrap_or("?"),
                list("targets"),
                list("rules")
            );
        }
    }
    let checkpoints = store.checkpoints().map_err(|e| read_failure(dir, e))?;
    if checkpoints.is_empty() {
        println!("no checkpoints yet");
    }
    for (stream, c) in checkpoints {
        println!("stream {stream}");
        println!("  position      {}", c.position);
        if let Some([t, i]) = c.cluster_time {
            println!("  cluster time  Timestamp({t}, {i})");
        }
        if let Some(wall) = c.wall_time_ms {
            println!("  last event    {}", time(wall));
        }
        if let Some(at) = checkpoint_time_ms(&c) {
            println!(
                "  checkpoint at {} (lag {:.1}s)",
                time(at),
                (now - at) as f64 / 1000.0
            );
        }
        println!(
            "  committed     {} ({:.1}s ago)",
            time(c.committed_at_ms),
            (now - c.committed_at_ms) as f64 / 1000.0
        );
        if matches!(c.position, herald_core::Position::Snapshot { .. }) {
            println!("  snapshot      reading; its change stream starts after the snapshot's time");
        }
        let overlap = format!("{}{stream}", herald_engine::SNAPSHOT_OVERLAP_INFO);
        if let Some(info) = store.info(&overlap).map_err(|e| read_failure(dir, e))? {
            println!(
                "  snapshot      read without its point in time ({}): up to {} document(s) seen twice, as an insert and as the change made while the read ran",
                info["reason"].as_str().unwrap_or("?"),
                info["changes"].as_u64().unwrap_or(0)
            );
        }
    }
    for (target, stop) in herald_engine::stops::stopped(&store).map_err(|e| read_failure(dir, e))? {
        println!(
            "target {target} stopped at {}: {} (`herald streams resume {target}` starts it again)",
            time(stop.at_ms),
            stop.reason
        );
    }
    let letters: Vec<herald_store::DeadLetter> = store
        .dead_letters()
        .collect::<Result<_, _>>()
        .map_err(|e| read_failure(dir, e))?;
    for (rule, counts) in store.rule_counts().map_err(|e| read_failure(dir, e))? {
        let queued = letters.iter().filter(|l| l.rule == rule).count();
        println!(
            "rule {rule}: {} matched, {} succeeded, {} failed, {} deduplicated, {queued} in the dead-letter queue",
            counts.matched, counts.succeeded, counts.failed, counts.deduplicated
        );
    }
    timers(&store).map_err(|e| read_failure(dir, e))?;
    let gaps = store.gaps().map_err(|e| read_failure(dir, e))?;
    for gap in &gaps {
        let last = gap.last.as_deref().unwrap_or("its start");
        println!(
            "gap in {} after {last}: restarted from now at {} ({})",
            gap.stream,
            time(gap.resumed_at_ms),
            gap.reason
        );
    }
    println!("{} gap(s), {} dead letter(s)", gaps.len(), letters.len());
    Ok(())
}

/// The timers section: per rule, how many are pending and when the next is
/// due. Counted from the store's index by name, so a million timers cost no
/// decoding of their records.
fn timers(store: &herald_store::Store) -> Result<(), herald_store::StoreError> {
    let stats = store.timer_stats()?;
    if stats.is_empty() {
        println!("no pending timers");
        return Ok(());
    }
    let pending: u64 = stats.iter().map(|s| s.pending).sum();
    println!("timers: {pending} pending (`herald timers list` lists them)");
    for s in &stats {
        println!(
            "  rule {}: {} pending, the next due at {}",
            s.rule,
            s.pending,
            time(s.next_due_ms)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::{Position, ResumeToken};

    #[test]
    fn lag_is_measured_from_the_checkpoint_not_the_last_event() {
        let raw = bson::RawDocumentBuf::from_document(
            &bson::doc! {"_data": format!("82{:08X}{:08X}", 1_700_000_100u32, 1)},
        )
        .unwrap();
        let token = ResumeToken::new(bson::RawBson::Document(raw));
        let mut c = herald_store::Checkpoint::new(Position::Token {
            bytes: token.as_bytes().to_vec(),
        });
        c.wall_time_ms = Some(1_700_000_000_000);
        assert_eq!(checkpoint_time_ms(&c), Some(1_700_000_100_000));
        c.position = Position::File { offset: 1, line: 1 };
        assert_eq!(checkpoint_time_ms(&c), Some(1_700_000_000_000));
    }
}
