//! A MongoDB server for the tests of the MongoDB backend (each test target
//! uses part of it).
#![allow(dead_code)]

use herald_store::{Store, StoreOptions};

/// Where a MongoDB store lives for one test; the simulator (if any) runs on
/// `runtime` while the test's own thread uses the store.
pub struct Mongo {
    /// Runs the simulator, and the test's own calls to the server.
    pub runtime: tokio::runtime::Runtime,
    sim: Option<mongosim::MongoSim>,
    /// The server's connection string.
    pub uri: String,
    /// The store's database.
    pub database: String,
}

impl Mongo {
    /// mongosim, or the replica set of `HERALD_TEST_MONGODB_URI` (in a
    /// database named for `test`, dropped at the end).
    pub fn start(test: &str) -> Self {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        match std::env::var("HERALD_TEST_MONGODB_URI") {
            Ok(uri) if !uri.is_empty() => {
                let database = format!("hl_{test}_{}", std::process::id());
                Self {
                    runtime,
                    sim: None,
                    uri,
                    database,
                }
            }
            _ => {
                let sim = runtime
                    .block_on(mongosim::MongoSim::builder().start())
                    .unwrap();
                Self {
                    uri: sim.uri(),
                    sim: Some(sim),
                    runtime,
                    database: "herald".into(),
                }
            }
        }
    }

    /// The store in the test's database.
    pub fn open(&self) -> Store {
        Store::open_mongodb(&self.uri, &self.database, &StoreOptions::default()).unwrap()
    }

    /// Runs `command` on the server (a fail point, say).
    pub fn admin(&self, command: bson::Document) {
        let uri = self.uri.clone();
        self.runtime.block_on(async move {
            let client = mongodb::Client::with_uri_str(uri).await.unwrap();
            client.database("admin").run_command(command).await.unwrap();
        });
    }
}

impl Drop for Mongo {
    fn drop(&mut self) {
        if self.sim.is_none() {
            let (uri, database) = (self.uri.clone(), self.database.clone());
            self.runtime.block_on(async move {
                let client = mongodb::Client::with_uri_str(uri).await.unwrap();
                let _ = client.database(&database).drop().await;
            });
        }
    }
}
