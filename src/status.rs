//! `herald status`: where each stream stands, how far behind, what was lost.

use crate::cli::StatusArgs;
use crate::exit::{Failure, Outcome};
use crate::setup::{Setup, StoreDefault, store_open_failure};
use herald_store::Store;

fn time(ms: i64) -> String {
    bson::DateTime::from_millis(ms)
        .try_to_rfc3339_string()
        .unwrap_or_else(|_| ms.to_string())
}

/// Runs the command.
pub fn run(args: StatusArgs) -> Outcome {
    let setup = Setup::resolve(&args.common, StoreDefault::Persistent)?;
    let dir = setup.existing_store()?;
    let store = Store::open(dir).map_err(store_open_failure)?;
    let now = bson::DateTime::now().timestamp_millis();
    println!(
        "store {} ({} bytes)",
        dir.display(),
        store.size_on_disk().unwrap_or(0)
    );
    let checkpoints = store
        .checkpoints()
        .map_err(|e| Failure::Runtime(e.into()))?;
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
            println!(
                "  last event    {} (lag {:.1}s)",
                time(wall),
                (now - wall) as f64 / 1000.0
            );
        }
        println!(
            "  committed     {} ({:.1}s ago)",
            time(c.committed_at_ms),
            (now - c.committed_at_ms) as f64 / 1000.0
        );
    }
    let letters: Vec<herald_store::DeadLetter> = store
        .dead_letters()
        .collect::<Result<_, _>>()
        .map_err(|e| Failure::Runtime(e.into()))?;
    for (rule, counts) in store
        .rule_counts()
        .map_err(|e| Failure::Runtime(e.into()))?
    {
        let queued = letters.iter().filter(|l| l.rule == rule).count();
        println!(
            "rule {rule}: {} matched, {} succeeded, {} failed, {} deduplicated, {queued} in the dead-letter queue",
            counts.matched, counts.succeeded, counts.failed, counts.deduplicated
        );
    }
    let gaps = store.gaps().map_err(|e| Failure::Runtime(e.into()))?;
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
