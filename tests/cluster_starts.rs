//! Cluster mode under `start_at = "now"`: a rule new to the cluster starts
//! when it is first run, in every partition, not at the cluster's first start.

use crate::cluster::{cluster_config, cluster_sim};
use crate::crash::RULE;
use crate::util::{Running, Sink, spawn_writer};
use herald_core::partition::Partition;
use std::time::Duration;

/// Ids of documents, one in each of 4 partitions, from `from` on.
fn one_per_partition(from: i32) -> Vec<i32> {
    let mut found: Vec<Option<i32>> = vec![None; 4];
    for id in from.. {
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

/// Inserts a document `{_id, v: 0}` into `crash.docs` for each of `ids`.
fn insert(uri: &str, ids: &[i32]) {
    let uri = uri.to_owned();
    let written = ids.to_vec();
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
}

/// The config of `cluster_config` with `start_at = "now"` (the default).
fn from_now(config: &std::path::Path) {
    let text: String = std::fs::read_to_string(config)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("start_at"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(config, text).unwrap();
}

herald_test!(
    a_rule_added_at_a_restart_starts_then_in_every_partition,
    |dir| {
        let sim = cluster_sim();
        let sink = Sink::start();
        dir.write("rules/crash.rhai", RULE);
        let config = cluster_config(&dir, &sim.uri, &sink.uri());
        // start_at = "now" (the default), not the crash tests' fixed time.
        from_now(&config);
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
        let ids = one_per_partition(100);
        insert(&sim.uri, &ids);
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

herald_test!(
    a_rule_not_run_for_a_while_goes_on_from_where_it_stood,
    |dir| {
        let sim = cluster_sim();
        let sink = Sink::start();
        dir.write("rules/crash.rhai", RULE);
        let config = cluster_config(&dir, &sim.uri, &sink.uri());
        from_now(&config);
        // No ledger: an event run again reaches the sink again, so the test
        // sees where each rule starts, not what the ledger hides.
        let text = std::fs::read_to_string(&config).unwrap();
        assert!(text.contains("[engine]\n"));
        std::fs::write(
            &config,
            text.replace("[engine]\n", "[engine]\nledger_window = 0\n"),
        )
        .unwrap();
        // Each phase: one instance with these rules, new documents (one in
        // every partition per set of `ids`), and this many distinct effects
        // in all by its end.
        let distinct = || {
            let keys: std::collections::HashSet<String> =
                sink.versions().into_iter().map(|(key, _, _)| key).collect();
            keys.len()
        };
        let phase = |sets: &[i32], late: bool, expected: usize| {
            if late {
                dir.write("rules/late.rhai", RULE);
            } else {
                let _ = std::fs::remove_file(dir.join("rules/late.rhai"));
            }
            let a = Running::start_with_env(&config, &[], &[("HERALD_INSTANCE", "a")]);
            a.wait_for("serves partition", 4);
            for first in sets {
                insert(&sim.uri, &one_per_partition(*first));
            }
            crate::util::wait_until(&format!("{expected} effects"), || distinct() >= expected);
            let (status, log) = a.stop();
            assert!(status.success(), "{log}");
            assert_eq!(distinct(), expected, "{:?}", sink.versions());
        };
        let effects_of = |id: i32| {
            let all = sink.versions();
            all.iter().filter(|(_, i, _)| *i == i64::from(id)).count()
        };
        phase(&[100], false, 4);
        // Two documents per partition: the first lies before where `late`
        // stands at the end of this phase, whatever its checkpoint's time.
        phase(&[200, 250], true, 4 + 16);
        // Nothing was run twice so far.
        assert_eq!(sink.versions().len(), 20, "{:?}", sink.versions());
        // As in a roll-back, or a partition passing through an instance not
        // yet restarted: `late` is not run, and its progress is kept.
        phase(&[300], false, 20 + 4);
        assert_eq!(sink.versions().len(), 24, "{:?}", sink.versions());
        // Back: `late` goes on from where it stood: the documents written
        // while it was not run, then the new ones.
        phase(&[400], true, 24 + 4 + 8);
        // Not from where the cluster first ran it: the first documents of
        // its first phase were not run again (the event a floor stands at
        // may be, with its key, which the ledger hides when it is on).
        for id in one_per_partition(200) {
            assert_eq!(effects_of(id), 2, "{id}: {:?}", sink.versions());
        }
    }
);
