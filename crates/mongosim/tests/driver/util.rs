//! Targets: a fresh mongosim, and optionally a real replica set.

use mongodb::Client;
use mongodb::bson::{Document, doc};
use mongodb::options::ClientOptions;
use mongosim::MongoSim;
use std::time::Duration;

/// Where a test runs.
pub struct Target {
    /// The client.
    pub client: Client,
    /// A database name unique to this test.
    pub db: String,
    /// The mongosim, if this target is one (kept alive for the test).
    pub sim: Option<MongoSim>,
}

impl Target {
    /// The database of this test.
    pub fn db(&self) -> mongodb::Database {
        self.client.database(&self.db)
    }

    /// A collection of this test's database.
    pub fn coll(&self, name: &str) -> mongodb::Collection<Document> {
        self.db().collection(name)
    }

    /// True if this is a real server.
    pub fn is_real(&self) -> bool {
        self.sim.is_none()
    }
}

async fn client(uri: &str) -> Client {
    let mut options = ClientOptions::parse(uri).await.expect("valid uri");
    options.server_selection_timeout = Some(Duration::from_secs(10));
    Client::with_options(options).expect("client")
}

/// A fresh mongosim with an oplog of `oplog` entries.
pub async fn sim_with(oplog: usize, test: &str) -> Target {
    let sim = MongoSim::builder()
        .oplog_capacity(oplog)
        .start()
        .await
        .expect("mongosim starts");
    Target {
        client: client(&sim.uri()).await,
        db: format!("t_{test}"),
        sim: Some(sim),
    }
}

/// The targets for a test: mongosim, plus the real replica set when configured.
pub async fn targets(test: &str) -> Vec<Target> {
    let mut all = vec![sim_with(mongosim::DEFAULT_OPLOG_CAPACITY, test).await];
    match std::env::var("HERALD_TEST_MONGODB_URI") {
        Ok(uri) if !uri.is_empty() => {
            let target = Target {
                client: client(&uri).await,
                db: format!("herald_test_{test}"),
                sim: None,
            };
            target.db().drop().await.expect("clean test database");
            all.push(target);
        }
        _ => eprintln!(
            "{test}: HERALD_TEST_MONGODB_URI is not set; the real-replica-set arm is skipped"
        ),
    }
    all
}

/// Runs a body against every target.
#[macro_export]
macro_rules! each_target {
    ($test:expr, |$t:ident| $body:block) => {
        for $t in $crate::util::targets($test).await {
            let label = if $t.is_real() {
                "real replica set"
            } else {
                "mongosim"
            };
            eprintln!("{}: against {label}", $test);
            $body
        }
    };
}

/// Strips the fields that differ between runs, for comparing events.
pub fn shape(event: &Document) -> Document {
    let mut out = event.clone();
    for volatile in ["_id", "clusterTime", "wallTime", "collectionUUID"] {
        out.remove(volatile);
    }
    out
}

/// A configureFailPoint command.
pub fn fail_point(mode: mongodb::bson::Bson, data: Document) -> Document {
    doc! { "configureFailPoint": "failCommand", "mode": mode, "data": data }
}

/// Reads `n` events from a change stream, failing the test after 10 s.
pub async fn take<T>(stream: &mut mongodb::change_stream::ChangeStream<T>, n: usize) -> Vec<T>
where
    T: serde::de::DeserializeOwned + Unpin + Send + Sync,
{
    use futures_util::StreamExt;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an event within 10 s");
        out.push(next.expect("the stream is open").expect("no error"));
    }
    out
}
