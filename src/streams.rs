//! `herald streams resume TARGET [--from stop|now|SECONDS[:INCREMENT]] [--force]`:
//! start a stopped target again.

use crate::cli::{StreamsArgs, StreamsCommand};
use crate::exit::{Failure, Outcome};
use crate::setup::{Setup, StoreDefault};
use anyhow::anyhow;
use herald_core::WatchTarget;
use herald_core::partition::Partition;
use herald_engine::stops::{ResumeError, ResumeFrom, Stood, Stop, resume};
use herald_store::Scope;

/// Parses `stop`, `now` or `SECONDS[:INCREMENT]`.
fn parse_from(text: &str) -> Result<ResumeFrom, Failure> {
    match text {
        "stop" => return Ok(ResumeFrom::Stop),
        "now" => return Ok(ResumeFrom::Now),
        _ => {}
    }
    let (seconds, increment) = text.split_once(':').unwrap_or((text, "0"));
    match (seconds.parse::<u32>(), increment.parse::<u32>()) {
        (Ok(seconds), Ok(increment)) => Ok(ResumeFrom::Time([seconds, increment])),
        _ => Err(Failure::BadInput(anyhow!(
            "--from must be \"stop\", \"now\" or an operation time SECONDS[:INCREMENT], not {text:?}"
        ))),
    }
}

/// The cluster's time now, if `[mongodb]` is configured.
fn server_time(setup: &Setup) -> Result<Option<bson::Timestamp>, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(e.into()))?;
    runtime.block_on(async {
        let Some(client) = setup.mongodb_client().await? else {
            return Ok(None);
        };
        let reply = client
            .database("admin")
            .run_command(bson::doc! { "ping": 1 })
            .await
            .map_err(|e| Failure::Runtime(anyhow!("cannot read the server's time: {e}")))?;
        Ok(reply.get_timestamp("operationTime").ok())
    })
}

/// Runs the command.
pub fn run(args: StreamsArgs) -> Outcome {
    let setup = Setup::resolve(&args.common, StoreDefault::Persistent)?;
    match args.command {
        StreamsCommand::Resume {
            target,
            from,
            force,
        } => {
            let parsed: WatchTarget = target
                .parse()
                .map_err(|e: herald_core::NamespaceError| Failure::BadInput(e.into()))?;
            let mut from = parse_from(&from)?;
            // "now" is the server's time now, when the cluster is configured:
            // what happens after this command reaches the rules.
            if from == ResumeFrom::Now
                && let Some(now) = server_time(&setup)?
            {
                from = ResumeFrom::After([now.time, now.increment]);
            }
            let store = setup.open_store()?;
            if setup.config.cluster.enabled() {
                let lifted = resume_partitions(&setup, &store, &parsed, from, force)?;
                for (partition, stop) in &lifted {
                    let had = stop.as_ref().map_or_else(
                        || "was not stopped".to_owned(),
                        |s| format!("had stopped: {}", s.reason),
                    );
                    println!(
                        "{parsed} resumed in partition {partition} (it {had}); its rules go on {}",
                        when(from, stop.as_ref())
                    );
                }
                println!("the partitions go on when an instance next serves them (`herald run`)");
                return Ok(());
            }
            let lifted = resume(&store, &parsed, from, force).map_err(failure)?;
            let when = when(from, lifted.as_ref());
            match lifted {
                Some(stop) => println!(
                    "{parsed} resumed (it had stopped: {}); its rules go on {when} at the next `herald run`",
                    stop.reason
                ),
                None => println!(
                    "{parsed} was not stopped; its rules go on {when} at the next `herald run`"
                ),
            }
            Ok(())
        }
    }
}

/// The failure a [`ResumeError`] is.
fn failure(e: ResumeError) -> Failure {
    match e {
        ResumeError::NotStopped { .. } => Failure::BadInput(e.into()),
        ResumeError::Store(e) if crate::exit::store_is_bad_input(&e) => Failure::BadInput(e.into()),
        other => Failure::Runtime(other.into()),
    }
}

/// Where the rules of a target resumed `from` go on, having stopped as
/// `lifted` says, for people.
fn when(from: ResumeFrom, lifted: Option<&Stop>) -> String {
    match from {
        ResumeFrom::Stop => match lifted.and_then(|s| s.stood) {
            Some(Stood::From([s, i])) => format!("from where it stopped, Timestamp({s}, {i})"),
            Some(Stood::After([s, i])) => {
                format!("from where it stopped, after Timestamp({s}, {i})")
            }
            None => "from where it stopped".to_owned(),
        },
        ResumeFrom::Now => "from the time herald next starts".to_owned(),
        ResumeFrom::After([s, i]) => format!("after Timestamp({s}, {i}) (now)"),
        ResumeFrom::Time([s, i]) => format!("from Timestamp({s}, {i})"),
    }
}

/// Cluster mode: each partition keeps its own stops, so `target` is resumed
/// in every partition where it is stopped (with `force`, in all of them).
/// Only while no instance serves a partition: a partition running keeps
/// its stops in memory and would write them over the change. Every lease
/// is held (and the writes fenced) meanwhile.
fn resume_partitions(
    setup: &Setup,
    store: &herald_store::Store,
    target: &WatchTarget,
    from: ResumeFrom,
    force: bool,
) -> Result<Vec<(Partition, Option<Stop>)>, Failure> {
    // Every lease held while writing: no instance serves meanwhile, and
    // one paused while it served can commit nothing after (fenced).
    let holding = crate::cluster::Holding::take_all(setup, "herald streams resume")?;
    let mut lifted = Vec::new();
    let mut stopped = std::collections::BTreeSet::new();
    for partition in Partition::all(setup.config.cluster.partitions) {
        let scoped = store.scoped(Scope {
            name: partition.to_string(),
            fence: holding.fence(partition),
        });
        match resume(&scoped, target, from, force) {
            Ok(stop) => lifted.push((partition, stop)),
            Err(ResumeError::NotStopped {
                stopped: others, ..
            }) => stopped.extend(others),
            Err(e) => return Err(failure(e)),
        }
    }
    if lifted.is_empty() {
        return Err(failure(ResumeError::NotStopped {
            target: target.to_string(),
            stopped: stopped.into_iter().collect(),
        }));
    }
    Ok(lifted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_is_now_or_an_operation_time() {
        assert_eq!(parse_from("now").unwrap(), ResumeFrom::Now);
        assert_eq!(parse_from("stop").unwrap(), ResumeFrom::Stop);
        assert_eq!(
            parse_from("1700000000:3").unwrap(),
            ResumeFrom::Time([1_700_000_000, 3])
        );
        assert_eq!(
            parse_from("1700000000").unwrap(),
            ResumeFrom::Time([1_700_000_000, 0])
        );
        assert!(parse_from("yesterday").is_err());
    }
}
