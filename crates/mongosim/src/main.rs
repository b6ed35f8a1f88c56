//! `mongosim --port P [--oplog-capacity N] [--snapshot-history-writes N]
//! [--setParameter transactionLifetimeLimitSeconds=N]`: mongosim as a
//! process, for benchmarks and crash tests where herald runs in another
//! process.

use clap::Parser;

/// An in-process MongoDB replica-set primary for tests, as a standalone process.
#[derive(Debug, Parser)]
#[command(name = "mongosim", version, about)]
struct Args {
    /// Port to listen on (127.0.0.1); 0 picks a free one, printed on stdout.
    #[arg(long, default_value_t = 27017)]
    port: u16,
    /// Oplog entries kept before the oldest are dropped.
    #[arg(long, default_value_t = mongosim::DEFAULT_OPLOG_CAPACITY)]
    oplog_capacity: usize,
    /// Keep snapshot-read history for the last N writes only (besides the
    /// 300 s `minSnapshotHistoryWindowInSeconds`); older reads fail with 239.
    #[arg(long)]
    snapshot_history_writes: Option<usize>,
    /// Act as a standalone server (no replica set, no change streams).
    #[arg(long)]
    standalone: bool,
    /// A server parameter, as `mongod --setParameter NAME=VALUE` takes it;
    /// mongosim knows `transactionLifetimeLimitSeconds` (default 60).
    #[arg(long = "setParameter", value_name = "NAME=VALUE", value_parser = parameter)]
    set_parameter: Vec<Parameter>,
}

/// A startup parameter mongosim knows.
#[derive(Debug, Clone)]
enum Parameter {
    /// `transactionLifetimeLimitSeconds`: open transactions older than
    /// this are aborted (at least 1).
    TransactionLifetimeLimitSeconds(u64),
}

fn parameter(text: &str) -> Result<Parameter, String> {
    let Some((name, value)) = text.split_once('=') else {
        return Err(format!("expected NAME=VALUE, not {text:?}"));
    };
    match name {
        "transactionLifetimeLimitSeconds" => match value.parse::<u64>() {
            Ok(seconds) if seconds >= 1 => Ok(Parameter::TransactionLifetimeLimitSeconds(seconds)),
            _ => Err(format!(
                "{name} must be a whole number of seconds, at least 1"
            )),
        },
        _ => Err(format!(
            "unknown parameter {name:?}; mongosim knows transactionLifetimeLimitSeconds"
        )),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let mut builder = mongosim::MongoSim::builder()
        .port(args.port)
        .oplog_capacity(args.oplog_capacity)
        .standalone(args.standalone);
    if let Some(n) = args.snapshot_history_writes {
        builder = builder.snapshot_history_writes(n);
    }
    for parameter in args.set_parameter {
        match parameter {
            Parameter::TransactionLifetimeLimitSeconds(seconds) => {
                builder = builder.transaction_lifetime_limit_seconds(seconds);
            }
        }
    }
    let sim = builder.start().await?;
    // Scripts read this line to learn the address and that the server is ready.
    println!("mongosim listening on {} ({})", sim.addr(), sim.uri());
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    sim.shutdown().await;
    Ok(())
}
