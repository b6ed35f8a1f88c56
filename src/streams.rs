//! `herald streams resume TARGET [--from now|SECONDS[:INCREMENT]]`: start a
//! stopped target again.

use crate::cli::{StreamsArgs, StreamsCommand};
use crate::exit::{Failure, Outcome};
use crate::setup::{Setup, StoreDefault};
use anyhow::anyhow;
use herald_core::WatchTarget;
use herald_engine::stops::{ResumeFrom, resume};

/// Parses `now` or `SECONDS[:INCREMENT]`.
fn parse_from(text: &str) -> Result<ResumeFrom, Failure> {
    if text == "now" {
        return Ok(ResumeFrom::Now);
    }
    let (seconds, increment) = text.split_once(':').unwrap_or((text, "0"));
    match (seconds.parse::<u32>(), increment.parse::<u32>()) {
        (Ok(seconds), Ok(increment)) => Ok(ResumeFrom::Time([seconds, increment])),
        _ => Err(Failure::BadInput(anyhow!(
            "--from must be \"now\" or an operation time SECONDS[:INCREMENT], not {text:?}"
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
        StreamsCommand::Resume { target, from } => {
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
            let lifted = resume(&store, &parsed, from).map_err(|e| Failure::Runtime(e.into()))?;
            let when = match from {
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
