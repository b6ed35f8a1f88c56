//! An example of embedding herald: a program with its own source of change
//! events and its own notification channel, running herald's rules between
//! them.
//!
//! [`run`] builds an [`Engine`] on the rules in `rules/` and a temporary
//! store, sends it a few order inserts through an in-process channel, and
//! once the engine has handled them all, asks it to shut down; the engine
//! finishes, commits and returns its [`RunSummary`].
//!
//! # Layout
//! - [`source`] — [`ChannelSource`](source::ChannelSource), a `Source` fed by
//!   an `mpsc` channel, and [`order_inserted`](source::order_inserted), which
//!   builds change events in code.
//! - [`outbox`] — [`Outbox`], the channel `notify("sms", ..)` goes to.
//! - `main.rs` — runs [`run`] on [`ORDERS`], prints what happened, and exits
//!   1 unless the counts are the [`EXPECTED`] ones.

pub mod outbox;
pub mod source;

use herald_core::Position;
use herald_engine::{Engine, EngineError, Observer, RunSummary};
use herald_store::Store;
use outbox::{Outbox, Sms};
use source::{ChannelSource, order_inserted};
use tokio::sync::{oneshot, watch};

/// The example's rules, found wherever the program runs from.
pub const RULES_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");

/// An order the program inserts.
#[derive(Debug, Clone, Copy)]
pub struct Order {
    /// Who placed it (in the text message).
    pub customer: &'static str,
    /// Its total: `rules/big_order_sms.rhai` texts about totals of 100 or more.
    pub total: i64,
}

/// The orders the program sends, ids 1, 2, ... in this order.
pub const ORDERS: [Order; 5] = [
    Order {
        customer: "ann",
        total: 40,
    },
    Order {
        customer: "bob",
        total: 120,
    },
    Order {
        customer: "cy",
        total: 99,
    },
    Order {
        customer: "dee",
        total: 250,
    },
    Order {
        customer: "eve",
        total: 100,
    },
];

/// What a run on [`ORDERS`] must do.
pub const EXPECTED: Expected = Expected {
    events: 5,
    // bob (120), dee (250) and eve (100): the rule's filter lets only
    // totals of 100 or more through, each notified once.
    matched: 3,
    sms: 3,
};

/// The counts a run is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// Events the engine completed.
    pub events: u64,
    /// (event, rule) pairs that passed the rule's filter.
    pub matched: u64,
    /// Text messages the [`Outbox`] received (and effects the engine counted).
    pub sms: u64,
}

/// What a run did.
#[derive(Debug)]
pub struct Outcome {
    /// The engine's own count.
    pub summary: RunSummary,
    /// The messages the outbox received, as they arrived: in source order
    /// for one document, in any order across documents (the engine runs
    /// them on parallel workers, partitioned by document key).
    pub sms: Vec<Sms>,
}

impl Outcome {
    /// How the run differs from `expected`: empty if it does not.
    pub fn mismatches(&self, expected: &Expected) -> Vec<String> {
        let s = &self.summary;
        let mut found = Vec::new();
        let mut check = |what: &str, got: u64, want: u64| {
            if got != want {
                found.push(format!("{what}: {got}, expected {want}"));
            }
        };
        check("events", s.events, expected.events);
        check("matched", s.matched, expected.matched);
        check("effects", s.effects, expected.sms);
        check(
            "messages in the outbox",
            self.sms.len() as u64,
            expected.sms,
        );
        check("dead letters", s.dead_lettered, 0);
        // The run ends by the shutdown signal: the channel source never ends
        // on its own while the program holds its sender.
        if !s.interrupted {
            found.push("the run ended without the shutdown signal".into());
        }
        found
    }
}

/// Runs the rules on `orders` and shuts the engine down once it has handled them.
pub async fn run(orders: &[Order]) -> Result<Outcome, EngineError> {
    let outbox = Outbox::default();
    let engine = Engine::builder()
        .rules_dir(RULES_DIR)
        .store(Store::temporary()?)
        .effect("sms", outbox.clone())
        .build()?;
    let (events, source) = ChannelSource::new("orders");
    let (progress, mut done) = watch::channel(0u64);
    let (stop, stopped) = oneshot::channel::<()>();

    let engine_run = async move {
        // Owned here, so it is dropped when the run returns, which ends the
        // producer's wait below even if the run failed.
        let mut progress = Progress(progress);
        engine.run(source, &mut progress, stopped).await
    };
    let producer = async {
        for (i, order) in orders.iter().enumerate() {
            let event = order_inserted(i as i64 + 1, order.customer, order.total);
            if events.send(event).await.is_err() {
                // The engine has stopped reading: the run returns why.
                return;
            }
        }
        // A shutdown stops the engine from reading at once (it finishes
        // only the events it has taken), and what is still in the channel
        // would be lost with the process; a real source would read it again
        // from the checkpoint. So wait until every event is done first.
        let total = orders.len() as u64;
        let _ = done.wait_for(|&n| n >= total).await;
        let _ = stop.send(());
    };
    let (summary, ()) = tokio::join!(engine_run, producer);
    // `events` (the last sender) lives until here: a closed channel would end
    // the source, and the run with it, without the shutdown signal.
    drop(events);
    Ok(Outcome {
        summary: summary?,
        sms: outbox.sent(),
    })
}

/// Counts the events the engine has completed, for whoever waits on them.
struct Progress(watch::Sender<u64>);

impl Observer for Progress {
    fn event_done(&mut self, _position: &Position) {
        self.0.send_modify(|n| *n += 1);
    }
}
