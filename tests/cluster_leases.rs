//! Cluster mode's leases under a slow or locked MongoDB: a partition stops
//! before another instance may serve it, and one locked lease holds up only
//! its own partition.

use crate::cluster::cluster_config;
use crate::crash::RULE;
use crate::util::{MongoSimProcess, Running, Sink};

/// Runs `command` on the admin database at `uri`.
fn admin(uri: &str, command: bson::Document) {
    let uri = uri.to_owned();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            mongodb::Client::with_uri_str(&uri)
                .await
                .unwrap()
                .database("admin")
                .run_command(command)
                .await
                .unwrap();
        });
}

herald_test!(
    a_partition_stops_itself_before_another_instance_serves_it,
    |dir| {
        let sim =
            MongoSimProcess::start_with(&["--setParameter", "transactionLifetimeLimitSeconds=2"]);
        let sink = Sink::start();
        dir.write("rules/crash.rhai", RULE);
        let config = cluster_config(&dir, &sim.uri, &sink.uri());
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replace("partitions = 4", "partitions = 8");
        let uri_a = format!("{}&appName=herald-a", sim.uri);
        let config_a = dir.write("a.toml", &text.replace(&sim.uri, &uri_a));
        let config_b = dir.write("b.toml", &text);
        let a = Running::start_with_env(
            &config_a,
            &[],
            &[("HERALD_INSTANCE", "a"), ("RUST_LOG", "warn")],
        );
        a.wait_for("serves partition", 8);
        // a's updates (renewals, announcements, commits' fences) now hang
        // 5 s each, far past its leases of 1 s; b's do not.
        admin(
            &sim.uri,
            bson::doc! {"configureFailPoint": "failCommand", "mode": "alwaysOn", "data": {
                "failCommands": ["update"], "blockConnection": true, "blockTimeMS": 5000,
                "appName": "herald-a",
            }},
        );
        let b = Running::start_with_env(&config_b, &[], &[("HERALD_INSTANCE", "b")]);
        b.wait_for("serves partition", 8);
        // Each partition b serves, a had stopped before (a's stderr is read
        // as it comes; the lease's last period lies between the two).
        for p in 0..8 {
            let name = format!("p{p}/8");
            b.wait_for(&format!("serves partition {name} "), 1);
            let stopped = ["stops itself", "could not renew", "lost the lease"]
                .iter()
                .find_map(|why| a.saw(&[why, &name]));
            assert!(
                stopped.is_some(),
                "b serves {name}, and a did not stop it before:\n{}",
                a.stop().1
            );
        }
        drop(a);
    }
);

herald_test!(
    one_lease_locked_by_an_open_transaction_holds_up_only_its_partition,
    |dir| {
        // Longer than wait_for's 30 s: the free partitions must not wait for it.
        let sim =
            MongoSimProcess::start_with(&["--setParameter", "transactionLifetimeLimitSeconds=120"]);
        let sink = Sink::start();
        dir.write("rules/crash.rhai", RULE);
        let config = cluster_config(&dir, &sim.uri, &sink.uri());
        // The leases exist, all free.
        let a = Running::start_with_env(&config, &[], &[("HERALD_INSTANCE", "a")]);
        a.wait_for("serves partition", 4);
        let (status, log) = a.stop();
        assert!(status.success(), "{log}");
        // As if an instance had stopped inside a commit of p0: its open
        // transaction holds p0's lease.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let uri = sim.uri.clone();
        let (_client, mut session) = runtime.block_on(async move {
            let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
            let mut session = client.start_session().await.unwrap();
            session.start_transaction().await.unwrap();
            client
                .database("herald")
                .collection::<bson::Document>("leases")
                .update_one(
                    bson::doc! {"_id": "p0/4"},
                    bson::doc! {"$inc": {"epoch": 1_i64}},
                )
                .session(&mut session)
                .await
                .unwrap();
            (client, session)
        });
        let b = Running::start_with_env(&config, &[], &[("HERALD_INSTANCE", "b")]);
        for p in ["p1/4", "p2/4", "p3/4"] {
            b.wait_for(&format!("serves partition {p} "), 1);
        }
        // Once the transaction ends, p0 is served too.
        runtime.block_on(async { session.abort_transaction().await.unwrap() });
        b.wait_for("serves partition p0/4 ", 1);
        let (status, log) = b.stop();
        assert!(status.success(), "{log}");
    }
);

herald_test!(a_second_instance_under_a_name_in_use_is_refused, |dir| {
    let sim = crate::cluster::cluster_sim();
    let sink = Sink::start();
    dir.write("rules/crash.rhai", RULE);
    let config = cluster_config(&dir, &sim.uri, &sink.uri());
    let a = Running::start_with_env(&config, &[], &[("HERALD_INSTANCE", "same")]);
    a.wait_for("serves partition", 4);
    // It waits out one lease and a renewal (a killed process's record
    // would have lapsed by then), then gives up.
    let second = crate::util::herald_process()
        .env("HERALD_INSTANCE", "same")
        .arg("run")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = crate::util::stderr(&second);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("instance name same is in use by another running process"),
        "{stderr}"
    );
    assert!(!stderr.contains("serves partition"), "{stderr}");
    let (status, log) = a.stop();
    assert!(status.success(), "{log}");
});

herald_test!(
    an_instance_whose_name_was_taken_while_it_was_paused_stops,
    |dir| {
        let sim = crate::cluster::cluster_sim();
        let sink = Sink::start();
        dir.write("rules/crash.rhai", RULE);
        let config = cluster_config(&dir, &sim.uri, &sink.uri());
        let a = Running::start_with_env(&config, &[], &[("HERALD_INSTANCE", "same")]);
        a.wait_for("serves partition", 4);
        // Paused past its lease, a's record lapses, and a new process takes
        // the name (and the partitions).
        a.signal("STOP");
        let b = Running::start_with_env(&config, &[], &[("HERALD_INSTANCE", "same")]);
        b.wait_for("serves partition", 4);
        a.signal("CONT");
        a.wait_for("another process now runs as instance same", 1);
        let (status, log) = a.stop();
        assert_eq!(status.code(), Some(2), "{log}");
        let (status, log) = b.stop();
        assert!(status.success(), "{log}");
    }
);
