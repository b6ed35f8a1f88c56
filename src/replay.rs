//! `herald replay EVENTS`: run a file of change events through the rules.

use crate::cli::ReplayArgs;
use crate::exit::{self, Failure, Outcome};
use crate::logging::say;
use crate::progress;
use crate::setup::{Setup, StoreDefault};
use anyhow::{Context, anyhow};
use herald_core::{Effect, IdempotencyKey, Intent, Position, ResumeToken};
use herald_engine::{EngineError, Observer, RunOptions, RunSummary};
use herald_ingest::{BadLine, FileSource, FileSourceOptions, SourceError};
use indicatif::ProgressBar;
use serde_json::json;
use std::io::{BufWriter, Stdout, Write};

/// Runs the command.
pub fn run(args: ReplayArgs) -> Outcome {
    let setup = Setup::resolve(&args.common, StoreDefault::Temporary)?;
    let options = RunOptions {
        dry_run: args.dry_run,
        from_start: args.from_start,
        timers: herald_engine::timers::TimerClock::EventTime {
            until: args.until.unwrap_or_default(),
        },
        ..Default::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Runtime)?;
    // A dry run executes nothing, so it needs no connection.
    let client = if args.dry_run {
        None
    } else {
        runtime.block_on(setup.mongodb_client())?
    };
    let engine = setup.engine(options, client)?;
    let source_options = FileSourceOptions {
        skip_bad_lines: args.skip_bad_lines,
        ..FileSourceOptions::default()
    };
    let source = FileSource::open_with(&args.events, source_options)
        .map_err(|e| Failure::BadInput(e.into()))?;
    let size = std::fs::metadata(&args.events)
        .map(|m| m.len())
        .unwrap_or(0);
    let mut observer = CliObserver {
        progress: progress::for_file(size),
        stdout: BufWriter::new(std::io::stdout()),
        stdout_open: true,
    };
    let result = runtime.block_on(async {
        let shutdown = crate::signals::shutdown_signal();
        engine.run(source, &mut observer, shutdown).await
    });
    observer.progress.finish_and_clear();
    let _closed_pipe_is_fine = observer.stdout.flush();
    match result {
        Ok(summary) => finish(&summary, &setup, args.dry_run),
        Err(EngineError::Source(SourceError::BadLine(bad))) => Err(Failure::BadInput(anyhow!(
            "{bad}\nevents before line {} were handled and checkpointed; fix or delete the line (or pass --skip-bad-lines) and run again to continue",
            bad.line
        ))),
        Err(e) => Err(exit::run_failure(e)),
    }
}

fn finish(summary: &RunSummary, setup: &Setup, dry_run: bool) -> Outcome {
    let store = match (&setup.store, dry_run) {
        (_, true) => "dry run, nothing written".to_owned(),
        (Some(dir), false) => format!("store {}", dir.display()),
        (None, false) => "temporary store".to_owned(),
    };
    say::info(
        format!(
            "replayed {} events: {} matched, {} effects, {} deduplicated, {} dead-lettered, {} state writes, {} timers set, {} timers fired, {} bad lines skipped ({store}){}",
            summary.events,
            summary.matched,
            summary.effects,
            summary.deduplicated,
            summary.dead_lettered,
            summary.state_writes,
            summary.timers_set,
            summary.timers_fired,
            summary.skipped_lines,
            if summary.interrupted {
                "; interrupted"
            } else {
                ""
            },
        ),
        json!({
            "events": summary.events, "matched": summary.matched, "effects": summary.effects,
            "deduplicated": summary.deduplicated, "dead_lettered": summary.dead_lettered,
            "state_writes": summary.state_writes, "skipped_lines": summary.skipped_lines,
            "timers_set": summary.timers_set, "timers_fired": summary.timers_fired,
            "dry_run": dry_run, "interrupted": summary.interrupted,
        }),
    );
    if summary.dead_lettered > 0 {
        let went = if dry_run {
            "would have gone to the dead-letter queue"
        } else {
            "went to the dead-letter queue"
        };
        return Err(Failure::Runtime(anyhow!(
            "{} rule run(s) failed and {went} (see the errors above)",
            summary.dead_lettered
        )));
    }
    Ok(())
}

/// One `--dry-run` line: `rule`, `token`, `kind`, `target`,
/// `idempotency_key` (null for `log` and state changes, which are not
/// effects) and `args`.
fn dry_run_line(
    rule: &str,
    token: &ResumeToken,
    key: Option<&IdempotencyKey>,
    intent: &Intent,
) -> String {
    let mut json = serde_json::Map::new();
    json.insert("rule".into(), rule.into());
    json.insert("token".into(), token.to_extjson());
    json.insert("kind".into(), intent.kind().into());
    if let Some(target) = intent.target() {
        json.insert("target".into(), target.into());
    }
    json.insert(
        "idempotency_key".into(),
        key.map_or(serde_json::Value::Null, |k| k.as_str().into()),
    );
    json.insert(
        "args".into(),
        herald_core::extjson::to_relaxed(&intent.args()),
    );
    serde_json::Value::Object(json).to_string()
}

struct CliObserver {
    progress: ProgressBar,
    stdout: BufWriter<Stdout>,
    stdout_open: bool,
}

impl CliObserver {
    fn print_line(&mut self, line: &str) {
        if self.stdout_open && writeln!(self.stdout, "{line}").is_err() {
            // `herald replay --dry-run | head`: stop printing, keep going.
            self.stdout_open = false;
        }
    }
}

impl Observer for CliObserver {
    fn event_done(&mut self, position: &Position) {
        if let Position::File { offset, .. } = position {
            self.progress.set_position(*offset);
        }
    }

    fn dry_run(&mut self, effect: &Effect) {
        let line = dry_run_line(
            &effect.rule,
            &effect.token,
            Some(&effect.key),
            &effect.intent,
        );
        self.progress.suspend(|| ());
        self.print_line(&line);
    }

    fn dry_run_intent(&mut self, rule: &str, token: &ResumeToken, intent: &Intent) {
        let line = dry_run_line(rule, token, None, intent);
        self.progress.suspend(|| ());
        self.print_line(&line);
    }

    fn bad_line(&mut self, line: &BadLine) {
        self.progress.suspend(|| {
            say::warn(
                format!("skipped {line}"),
                json!({ "file": line.path.display().to_string(), "line": line.line, "column": line.column, "reason": line.message }),
            )
        });
    }
}
