//! Cluster mode under `start_at = "now"`: a rule new to the cluster starts
//! when it is first run, in every partition, not at the cluster's first start.

use crate::cluster::{cluster_config, cluster_sim};
use crate::crash::RULE;
use crate::util::{Running, Sink, spawn_writer};
use herald_core::partition::Partition;
use std::time::Duration;

/// Ids of documents, one in each of 4 partitions, from 100 on.
fn one_per_partition() -> Vec<i32> {
    let mut found: Vec<Option<i32>> = vec![None; 4];
    for id in 100.. {
        let key = bson::Bson::Document(bson::doc! {"_id": id});
        let p = Partition::of_key(Some(&key), 4).unwrap();
        let slot = &mut found[p.index as usize];
        slot.get_or_insert(id);
        if found.iter().all(Option::is_some) {
            return found.into_iter().flatten().collect();
        }
    }
    unreachable!()
}

herald_test!(
    a_rule_added_at_a_restart_starts_then_in_every_partition,
    |dir| {
        let sim = cluster_sim();
        let sink = Sink::start();
        dir.write("rules/crash.rhai", RULE);
        let config = cluster_config(&dir, &sim.uri, &sink.uri());
        // start_at = "now" (the default), not the crash tests' fixed time.
        let text: String = std::fs::read_to_string(&config)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("start_at"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&config, text).unwrap();
        let a = Running::start_with_env(&config, &[], &[("HERALD_INSTANCE", "a")]);
        a.wait_for("serves partition", 4);
        spawn_writer(&sim.uri, ("crash", "docs"), 5, 1, Duration::ZERO)
            .join()
            .unwrap();
        crate::util::wait_until("5 effects", || sink.versions().len() >= 5);
        let (status, log) = a.stop();
        assert!(status.success(), "{log}");

        // A rule added with the restart starts then: with a new document in
        // every partition, each partition's new effects come after any old
        // event's (one stream per partition, in order), so by the time all the
        // new ones are in, a replay of the old events would be too.
        dir.write("rules/late.rhai", RULE);
        let a = Running::start_with_env(&config, &[], &[("HERALD_INSTANCE", "a")]);
        a.wait_for("serves partition", 4);
        let ids = one_per_partition();
        let uri = sim.uri.clone();
        let written = ids.clone();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
                let docs = client.database("crash").collection("docs");
                for id in written {
                    docs.insert_one(bson::doc! {"_id": id, "v": 0})
                        .await
                        .unwrap();
                }
            });
        let expected = 5 + 2 * ids.len();
        crate::util::wait_until("both rules' effects of the new documents", || {
            sink.versions().len() >= expected
        });
        let (status, log) = a.stop();
        assert!(status.success(), "{log}");
        let versions = sink.versions();
        assert_eq!(versions.len(), expected, "{versions:?}");
        let late: Vec<i64> = versions.iter().skip(5).map(|(_, id, _)| *id).collect();
        assert!(
            late.iter().all(|id| ids.contains(&(*id as i32))),
            "only the new documents after the restart: {versions:?}"
        );
    }
);
