//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// A reactive rules engine on MongoDB change streams.
#[derive(Debug, Parser)]
#[command(name = "herald", version, about, long_about = None)]
pub struct Cli {
    /// Log format on stderr (level from RUST_LOG; default warnings, plus rules' log lines and log channels).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty, env = "HERALD_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// For people.
    Pretty,
    /// One JSON object per line, for log pipelines.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a new project: an example rule, its tests and a herald.toml with every section explained.
    Init(InitArgs),
    /// Replay a JSON Lines file of change events through the rules.
    Replay(ReplayArgs),
    /// Compile and validate rules; report errors as file:line:col.
    Check(CheckArgs),
    /// Run each rule's fixture tests (NAME.test.json beside NAME.rhai).
    Test(TestArgs),
    /// Run the rules on live MongoDB change streams until SIGINT/SIGTERM.
    Run(RunArgs),
    /// Show each stream's checkpoint and lag, per-rule counts, pending timers, gaps and the dead-letter queue.
    Status(StatusArgs),
    /// Work the dead-letter queue: list, show, retry or drop entries.
    Dlq(DlqArgs),
    /// Watch targets stopped by policy or error: resume one.
    Streams(StreamsArgs),
    /// The rules' pending timers: list them, cancel one, or cancel all of a rule's.
    Timers(TimersArgs),
    /// Run one rule over the documents its collection holds now, once (resumable).
    Backfill(BackfillArgs),
    /// Write a target's live change stream to a JSON Lines file that `herald replay` reads.
    Capture(CaptureArgs),
    /// Measure herald against its targets and the plain change-stream loops.
    Bench(BenchArgs),
    /// One replay measurement in a process of its own (used by `bench`).
    #[command(hide = true)]
    BenchCase(BenchCaseArgs),
}

/// `herald init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The project directory (created if missing); a file that exists in it is never overwritten.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

/// `herald bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A small version of every case (well under two minutes).
    #[arg(long)]
    pub quick: bool,
    /// Where the JSON report goes.
    #[arg(long, default_value = "target/herald-bench.json")]
    pub out: PathBuf,
    /// Only these cases (replay, rules, workers, live, latency, soak, timers, cluster); default all but cluster.
    #[arg(long, value_delimiter = ',')]
    pub cases: Vec<BenchCase>,
    /// Events in the replay cases (default 1,000,000; 20,000 with --quick).
    #[arg(long)]
    pub events: Option<u64>,
    /// Events in the soak case (default 10,000,000; 50,000 with --quick).
    #[arg(long)]
    pub soak_events: Option<u64>,
    /// Timers in the timers case (default 100,000; 5,000 with --quick).
    #[arg(long)]
    pub timers: Option<u64>,
    /// Measure the live cases against this replica set instead of a `mongosim` process.
    #[arg(long, env = "HERALD_BENCH_MONGODB_URI")]
    pub mongodb_uri: Option<String>,
    /// Keep the generated events, rules and stores here (for profiling); default a temporary directory.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

/// The benchmark cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchCase {
    /// Replay generated events through 10 rules.
    Replay,
    /// The same with 10,000 rules.
    Rules,
    /// CPU-heavy rules replayed with 4 workers against 1.
    Workers,
    /// Live change streams: herald vs a bare driver loop vs the pymongo tutorial loop.
    Live,
    /// Insert → effect latency at a steady 1,000 inserts/s.
    Latency,
    /// A long replay with a store (10,000,000 events): peak memory and whether it stays flat.
    Soak,
    /// Firing 100,000 due timers, against the replay case's event rate (which it runs too).
    Timers,
    /// Cluster mode: 1, 2 and 3 instances on a CPU-heavy rule, and a takeover (not in the default set).
    Cluster,
}

/// `herald bench-case` (hidden).
#[derive(Debug, Args)]
pub struct BenchCaseArgs {
    /// The events file.
    pub events: PathBuf,
    /// The rules directory.
    #[arg(long)]
    pub rules: PathBuf,
    /// The store directory.
    #[arg(long)]
    pub store: PathBuf,
    /// Sample the resident memory every this many events (0: never).
    #[arg(long, default_value_t = 0)]
    pub rss_every: u64,
    /// The dedupe ledger's window (default: the engine's).
    #[arg(long)]
    pub ledger_window: Option<usize>,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Timers fire by event time, as in `herald replay`; at the end, those
    /// due by the last event's time, or by `--until` (`all`: every one).
    #[arg(long, value_name = "TIME|all", value_parser = parse_until)]
    pub until: Option<herald_engine::timers::Until>,
}

/// The configuration file, rules and store, resolved the same way by every
/// command: the flag, then the `HERALD_*` variable, then the config file
/// (paths in it relative to it), then the command's default.
#[derive(Debug, Args, Default)]
pub struct Common {
    /// The configuration file (rules, store, channels, webhooks, [mongodb], [engine]).
    #[arg(long, env = "HERALD_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// The rules directory (default: the config's `rules`, else `rules`).
    #[arg(long, env = "HERALD_RULES", global = true)]
    pub rules: Option<PathBuf>,
    /// The store directory (default: the config's `store`, else the command's default).
    #[arg(long, env = "HERALD_STORE", global = true)]
    pub store: Option<PathBuf>,
}

/// `herald dlq`.
#[derive(Debug, Args)]
pub struct DlqArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: DlqCommand,
}

/// `herald streams`.
#[derive(Debug, Args)]
pub struct StreamsArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: StreamsCommand,
}

/// What to do with stopped targets.
#[derive(Debug, Subcommand)]
pub enum StreamsCommand {
    /// Start a stopped target again (its rules go on at the next `herald run`).
    Resume {
        /// The watch target: `db.coll`, `db` or `*`.
        target: String,
        /// Where its rules go on from: `stop` (where it stopped, so nothing that
        /// happened meanwhile is lost), `now` (only what happens after this command,
        /// by the server's clock with `[mongodb]` configured, else from when herald
        /// next starts), or an operation time `SECONDS[:INCREMENT]`.
        #[arg(long, default_value = "stop")]
        from: String,
        /// Move a target that is not stopped (its rules skip what they have not
        /// handled yet, or handle it again).
        #[arg(long)]
        force: bool,
    },
}

/// `herald timers`.
#[derive(Debug, Args)]
pub struct TimersArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: TimersCommand,
}

/// What to do with pending timers.
#[derive(Debug, Subcommand)]
pub enum TimersCommand {
    /// One line per pending timer, soonest first: due time, rule, name, set
    /// time, document (namespace and key) and payload.
    List {
        /// Only this rule's timers.
        #[arg(long)]
        rule: Option<String>,
        /// JSON Lines: one object per timer (see README, "The command line").
        #[arg(long)]
        json: bool,
    },
    /// Cancel a pending timer (as the rule's `cancel_timer(NAME)` would), or
    /// with `--all` every timer of the rule.
    Cancel(TimerSelection),
}

/// Which timers `herald timers cancel` cancels: one by name, or all of a rule's.
#[derive(Debug, Args)]
pub struct TimerSelection {
    /// The rule that set the timer (its name: `id` in its `RULE`, else its
    /// file name without `.rhai`).
    pub rule: String,
    /// The timer's name, as the rule gave it to `after`/`at`.
    #[arg(required_unless_present = "all")]
    pub name: Option<String>,
    /// Every pending timer of the rule.
    #[arg(long, conflicts_with = "name")]
    pub all: bool,
}

/// What to do with the dead-letter queue.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// One line per entry: id, rule, last failure time, attempts, error.
    List {
        /// Only this rule's entries.
        #[arg(long)]
        rule: Option<String>,
        /// JSON Lines: one object per entry (see README, "The command line").
        #[arg(long)]
        json: bool,
    },
    /// One entry in full, with its event.
    Show {
        /// The entry's id.
        id: u64,
        /// One JSON object (see README, "The command line").
        #[arg(long)]
        json: bool,
    },
    /// Re-run the rule on the stored event (same idempotency keys); remove the entry on success.
    Retry(DlqSelection),
    /// Remove entries without retrying them.
    Drop(DlqSelection),
}

/// Which dead letters `retry` and `drop` work on: one id, every entry, or one rule's.
#[derive(Debug, Args)]
pub struct DlqSelection {
    /// The entry's id.
    pub id: Option<u64>,
    /// Every entry (with `--rule`, every entry of that rule).
    #[arg(long, conflicts_with = "id")]
    pub all: bool,
    /// Every entry of this rule.
    #[arg(long, conflicts_with = "id")]
    pub rule: Option<String>,
}

/// `herald run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Config, rules and store (the store defaults to `data/herald`).
    #[command(flatten)]
    pub common: Common,
    /// Read the snapshots of targets with `start_at = "snapshot"` that start
    /// for the first time (or go on with interrupted ones), hand them to the
    /// rules, and exit; a later `herald run` goes on after each snapshot's time.
    #[arg(long)]
    pub snapshot_only: bool,
    /// Reload the rules when a rule file changes (as on SIGHUP): the new set
    /// replaces the old one only if all of it compiles.
    #[arg(long, conflicts_with = "snapshot_only")]
    pub watch: bool,
    /// Serve /metrics, /healthz, /readyz and /status on this address
    /// (IP:PORT; port 0 picks one), overriding `[http] listen`.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
}

/// `herald capture`.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// The events file to write (canonical Extended JSON, one event a line); it must not exist.
    #[arg(long)]
    pub out: PathBuf,
    /// What to capture: `db.coll`, `db` or `*` (required; its `[mongodb.streams."T"] stages` apply).
    #[arg(long)]
    pub target: herald_core::WatchTarget,
    /// Start at this operation time, SECONDS[:INCREMENT] (default: now).
    #[arg(long, value_name = "SECONDS[:INCREMENT]", value_parser = crate::capture::parse_since)]
    pub since: Option<bson::Timestamp>,
    /// Stop after this many events (default: at SIGINT/SIGTERM).
    #[arg(long)]
    pub limit: Option<u64>,
    /// The config ([mongodb] and its streams' stages) and the rules, whose
    /// `fullDocument` options the capture asks for; no store is used.
    #[command(flatten)]
    pub common: Common,
}

/// `herald backfill`.
#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// The rule to run over the documents that exist (its name: `id` in its
    /// `RULE`, else its file name without `.rhai`).
    #[arg(long)]
    pub rule: String,
    /// Only the documents within this target (`db.coll` or `db`), inside the
    /// rule's own (default: all of the rule's target).
    #[arg(long)]
    pub target: Option<String>,
    /// Config, rules and store (the store defaults to `data/herald.backfill/RULE`, one
    /// per rule, apart from `herald run`'s, which may be running).
    #[command(flatten)]
    pub common: Common,
}

/// `herald status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Config, rules and store (the store defaults to `data/herald`).
    #[command(flatten)]
    pub common: Common,
    /// Print the status as one JSON document (what `/status` serves).
    #[arg(long)]
    pub json: bool,
}

/// `herald replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The events: one MongoDB change event per line, in Extended JSON.
    pub events: PathBuf,
    /// Config, rules and store (without any store named, a temporary store is used and forgotten).
    #[command(flatten)]
    pub common: Common,
    /// Execute nothing and write nothing: print each intent as a JSON line.
    #[arg(long)]
    pub dry_run: bool,
    /// Start at the file's first line and redo what the store has as done.
    #[arg(long)]
    pub from_start: bool,
    /// Count and skip malformed lines instead of stopping at the first.
    #[arg(long)]
    pub skip_bad_lines: bool,
    /// Timers fire by event time; at the end of the file, those due by the
    /// last event's time. `--until TIME` (RFC 3339) fires those due by then
    /// too, `--until all` every pending timer.
    #[arg(long, value_name = "TIME|all", value_parser = parse_until)]
    pub until: Option<herald_engine::timers::Until>,
}

fn parse_until(text: &str) -> Result<herald_engine::timers::Until, String> {
    herald_engine::timers::Until::parse(text)
}

/// `herald test`: the rules (as for `check`), and whether every rule needs a fixture.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The rules and configuration.
    #[command(flatten)]
    pub rules: RulesArgs,
    /// A rule without a fixture file fails the run (exit 1).
    #[arg(long)]
    pub require_fixtures: bool,
    /// Write the intents of each failing case as its `expect` (only failing
    /// steps change; the rest of each file is kept byte for byte). Review with `git diff`.
    #[arg(long)]
    pub update: bool,
}

/// `herald check`: the rules, and whether to explain the streams they need.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The rules and configuration.
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Also print, per change stream, what it watches, the rules it serves
    /// and the aggregation herald sends (the `$changeStream` options, the
    /// union `$match`, the configured stages).
    #[arg(long)]
    pub explain: bool,
}

/// `herald check` and `herald test`: the rules, positionally or from the config.
#[derive(Debug, Args, Default)]
pub struct RulesArgs {
    /// The rules directory (default: the config's `rules`, else `rules`).
    #[arg(env = "HERALD_RULES")]
    pub dir: Option<PathBuf>,
    /// The configuration file (for its `rules`; `check` also checks it, with
    /// the channels and webhooks the rules name).
    #[arg(long, env = "HERALD_CONFIG")]
    pub config: Option<PathBuf>,
}
