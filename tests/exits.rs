//! Honest exits: a store that fails while running is a runtime failure (1),
//! not bad input (2), and the checkpoint stays where the last commit left it.

use crate::util::{herald, stderr, stdout, write_orders};

herald_test!(
    a_store_failure_while_running_exits_1_with_the_error,
    |dir| {
        dir.write(
        "rules/orders.rhai",
        "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) { notify(\"ops\", #{ id: event.documentKey._id }); }\n",
    );
        let events = write_orders(&dir, "events.jsonl", 1..=6);
        let config = dir.write(
        "herald.toml",
        "rules = \"rules\"\nstore = \"store\"\n[engine]\ncommit_every = 2\ncommit_interval_ms = 600000\nworkers = 1\n[channels.ops]\nkind = \"file\"\npath = \"ops.jsonl\"\n",
    );
        let output = herald()
            .arg("replay")
            .arg(&events)
            .arg("--config")
            .arg(&config)
            // The first group commits; the second fails as a full disk would.
            .env("HERALD_FAULT_STORE_COMMITS", "1")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("injected store failure")
                && stderr(&output).contains("could not commit"),
            "{}",
            stderr(&output)
        );
        let status = herald()
            .arg("status")
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert!(status.status.success(), "{}", stderr(&status));
        assert!(
            stdout(&status).contains("position      line 2 (byte"),
            "the checkpoint stays at the last group that committed: {}",
            stdout(&status)
        );
    }
);

herald_test!(a_damaged_store_is_bad_input, |dir| {
    let store = dir.join("store");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::write(store.join("conf"), b"not sled's").unwrap();
    std::fs::write(store.join("db"), vec![0xAB; 4096]).unwrap();
    let output = herald()
        .arg("status")
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
});
