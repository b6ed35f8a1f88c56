//! `herald streams resume TARGET [--from stop|now|SECONDS[:INCREMENT]] [--force]`:
//! start a stopped target again.

use crate::cli::{StreamsArgs, StreamsCommand};
use crate::exit::{Failure, Outcome};
use crate::setup::{Setup, StoreDefault};
use anyhow::anyhow;
use herald_core::WatchTarget;
use herald_engine::stops::{ResumeError, ResumeFrom, resume};

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
            let lifted = resume(&store, &parsed, from, force).map_err(|e| match e {
                ResumeError::NotStopped { .. } => Failure::BadInput(e.into()),
                ResumeError::Store(e) if crate::exit::store_is_bad_input(&e) => {
                    Failure::BadInput(e.into())
                }
                other => Failure::Runtime(other.into()),
            })?;
            let when = match from {
                ResumeFrom::Stop => match lifted.as_ref().and_then(|s| s.stood) {
                    Some(herald_engine::stops::Stood::From([s, i])) => {
                        format!("from where it stopped, Timestamp({s}, {i})")
                    }
                    Some(herald_engine::stops::Stood::After([s, i])) => {
                        format!("from where it stopped, after Timestamp({s}, {i})")
                    }
                    None => "from where it stopped".to_owned(),
                },
                ResumeFrom::Now => "from the time herald next starts".to_owned(),
                ResumeFrom::After([s, i]) => format!("after Timestamp({s}, {i}) (now)"),
                ResumeFrom::Time([s, i]) => format!("from Timestamp({s}, {i})"),
            };
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
