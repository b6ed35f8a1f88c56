//! One configuration for every command: `rules`, `store` and channels resolve
//! the same way everywhere, relative to the config file, with one precedence:
//! flag, then `HERALD_*` environment, then the config, then the default.

use crate::util::{Dir, herald, order_insert, stderr, stdout, write_orders};

const RULE: &str = "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) { notify(\"ops\", #{ id: event.documentKey._id }); }\n";

const FIXTURE: &str = r#"{"cases": [{"name": "an order notifies ops",
  "event": {"_id": {"_data": "01"}, "operationType": "insert", "ns": {"db": "shop", "coll": "orders"}, "documentKey": {"_id": 7}, "fullDocument": {"_id": 7}},
  "expect": [{"kind": "notify", "target": "ops", "args": {"id": 7}}]}]}"#;

/// A config in `conf/` naming rules in `../my-rules`, a store and a file channel,
/// all relative to the config file (the commands run from the repository root).
fn layout(dir: &Dir) -> std::path::PathBuf {
    dir.write("my-rules/orders.rhai", RULE);
    dir.write("my-rules/orders.test.json", FIXTURE);
    write_orders(dir, "events.jsonl", 1..=2);
    dir.write(
        "conf/herald.toml",
        "rules = \"../my-rules\"\nstore = \"state\"\n[channels.ops]\nkind = \"file\"\npath = \"out/ops.jsonl\"\n",
    )
}

fn lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .count()
}

herald_test!(
    every_command_reads_rules_store_and_channels_from_the_config,
    |dir| {
        let config = layout(&dir);
        let with_config = |args: &[&str]| {
            herald()
                .args(args)
                .arg("--config")
                .arg(&config)
                .output()
                .unwrap()
        };

        let check = with_config(&["check"]);
        assert!(check.status.success(), "{}", stderr(&check));
        assert!(stdout(&check).contains("ok  orders"), "{}", stdout(&check));

        let test = with_config(&["test"]);
        assert!(test.status.success(), "{}{}", stdout(&test), stderr(&test));
        assert!(
            stdout(&test).contains("1 passed, 0 failed"),
            "{}",
            stdout(&test)
        );

        let events = dir.join("events.jsonl");
        let replay = with_config(&["replay", events.to_str().unwrap()]);
        assert!(replay.status.success(), "{}", stderr(&replay));
        assert_eq!(
            lines(&dir.join("conf/out/ops.jsonl")),
            2,
            "the config's file channel"
        );
        assert!(
            dir.join("conf/state").is_dir(),
            "the config's store, not a temporary one"
        );
        assert!(
            stderr(&replay).contains("conf/state"),
            "{}",
            stderr(&replay)
        );

        // The store persisted: a second replay resumes past both events.
        let again = with_config(&["replay", events.to_str().unwrap()]);
        assert!(again.status.success(), "{}", stderr(&again));
        assert!(
            stderr(&again).contains("replayed 0 events"),
            "{}",
            stderr(&again)
        );
        assert_eq!(lines(&dir.join("conf/out/ops.jsonl")), 2);

        let status = with_config(&["status"]);
        assert!(status.status.success(), "{}", stderr(&status));
        assert!(
            stdout(&status).contains("rule orders: 2 matched, 2 succeeded"),
            "{}",
            stdout(&status)
        );
        assert!(
            stdout(&status).contains(
                "ledger: 2 (rule, event) marks kept of a window of 500000, the oldest from"
            ),
            "{}",
            stdout(&status)
        );

        let dlq = with_config(&["dlq", "list"]);
        assert!(dlq.status.success(), "{}", stderr(&dlq));
        assert!(
            stdout(&dlq).contains("0 dead letter(s)"),
            "{}",
            stdout(&dlq)
        );
    }
);

herald_test!(a_flag_beats_the_environment_which_beats_the_config, |dir| {
    let config = dir.write(
        "conf/herald.toml",
        "rules = \"../from-config\"\n[channels.ops]\nkind = \"stdout\"\n",
    );
    for name in ["from-config", "from-env", "from-flag"] {
        dir.write(&format!("{name}/{}.rhai", name.replace('-', "_")), RULE);
    }
    let check = |env: Option<&std::path::Path>, flag: Option<&std::path::Path>| {
        let mut cmd = herald();
        cmd.arg("check").arg("--config").arg(&config);
        if let Some(env) = env {
            cmd.env("HERALD_RULES", env);
        }
        if let Some(flag) = flag {
            cmd.arg(flag);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    assert!(check(None, None).contains("ok  from_config"));
    let env = dir.join("from-env");
    assert!(check(Some(&env), None).contains("ok  from_env"));
    let flag = dir.join("from-flag");
    let out = check(Some(&env), Some(&flag));
    assert!(
        out.contains("ok  from_flag") && !out.contains("from_env"),
        "{out}"
    );

    // The same precedence for the store: --store beats HERALD_STORE beats the config.
    dir.write("events.jsonl", &format!("{}\n", order_insert(1)));
    std::fs::write(
        &config,
        "rules = \"../from-config\"\nstore = \"config-store\"\n[channels.ops]\nkind = \"stdout\"\n",
    )
    .unwrap();
    let replay = |env: Option<&str>, flag: Option<&str>| {
        let mut cmd = herald();
        cmd.arg("replay")
            .arg(dir.join("events.jsonl"))
            .arg("--config")
            .arg(&config);
        if let Some(env) = env {
            cmd.env("HERALD_STORE", dir.join(env));
        }
        if let Some(flag) = flag {
            cmd.arg("--store").arg(dir.join(flag));
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    };
    replay(None, None);
    assert!(dir.join("conf/config-store").is_dir());
    replay(Some("env-store"), None);
    assert!(dir.join("env-store").is_dir());
    replay(Some("env-store2"), Some("flag-store"));
    assert!(dir.join("flag-store").is_dir() && !dir.join("env-store2").exists());
});

herald_test!(
    with_a_config_every_channel_a_rule_names_must_be_defined,
    |dir| {
        dir.write(
        "rules/orders.rhai",
        "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) {\n    notify(\"ops\", #{ id: event.documentKey._id });\n    notify(\"opps\", #{ id: event.documentKey._id });\n}\n",
    );
        let config = dir.write(
            "herald.toml",
            "rules = \"rules\"\n[channels.ops]\nkind = \"stdout\"\n",
        );
        let check = herald()
            .arg("check")
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(check.status.code(), Some(2), "{}", stdout(&check));
        assert!(
            stderr(&check).contains("orders.rhai:4:5: notify channel \"opps\" is not defined in"),
            "{}",
            stderr(&check)
        );
        // The same check when a command loads the rules with the config.
        let events = dir.write("events.jsonl", &format!("{}\n", order_insert(1)));
        let replay = herald()
            .arg("replay")
            .arg(&events)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(replay.status.code(), Some(2), "{}", stderr(&replay));
        assert!(
            stderr(&replay).contains("orders.rhai:4:5"),
            "{}",
            stderr(&replay)
        );
        // Without a config (the demo), unnamed channels print to stdout.
        let demo = herald()
            .arg("replay")
            .arg(&events)
            .arg("--rules")
            .arg(dir.join("rules"))
            .output()
            .unwrap();
        assert!(demo.status.success(), "{}", stderr(&demo));
        assert_eq!(
            stdout(&demo).matches("▶ notify").count(),
            2,
            "{}",
            stdout(&demo)
        );
    }
);

herald_test!(a_channel_named_at_run_time_must_be_defined_too, |dir| {
    dir.write(
        "rules/orders.rhai",
        "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) {\n    let channel = `team-${event.documentKey._id}`;\n    notify(channel, #{ id: event.documentKey._id });\n}\n",
    );
    let config = dir.write(
        "herald.toml",
        "rules = \"rules\"\nstore = \"store\"\n[channels.team-1]\nkind = \"file\"\npath = \"team1.jsonl\"\n",
    );
    let events = write_orders(&dir, "events.jsonl", 1..=2);
    let replay = herald()
        .arg("replay")
        .arg(&events)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(replay.status.code(), Some(1), "{}", stderr(&replay));
    assert!(
        stderr(&replay).contains("1 effects, 0 deduplicated, 1 dead-lettered"),
        "{}",
        stderr(&replay)
    );
    assert!(
        stdout(&replay).is_empty(),
        "nothing went to stdout: {}",
        stdout(&replay)
    );
    let dlq = herald()
        .args(["dlq", "list", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        stdout(&dlq).contains("no notify channel named \"team-2\""),
        "{}",
        stdout(&dlq)
    );
});

herald_test!(a_log_channel_is_visible_at_the_default_log_level, |dir| {
    dir.write("rules/orders.rhai", RULE);
    let config = dir.write(
        "herald.toml",
        "rules = \"rules\"\n[channels.ops]\nkind = \"log\"\n",
    );
    let events = dir.write("events.jsonl", &format!("{}\n", order_insert(7)));
    let replay = herald()
        .arg("replay")
        .arg(&events)
        .arg("--config")
        .arg(&config)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(replay.status.success(), "{}", stderr(&replay));
    let err = stderr(&replay);
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("effect") && l.contains("\"id\":7"))
            .count(),
        1,
        "{err}"
    );
});

herald_test!(stages_are_checked_at_load, |dir| {
    dir.write(
        "rules/expenses.rhai",
        "const RULE = #{ watch: \"finance.expenses\", on: [\"insert\"] };\nfn handle(event) {\n    notify(\"ops\", #{ image: event.fullDocument.receiptImage });\n}\n",
    );
    let base = "rules = \"rules\"\n[channels.ops]\nkind = \"stdout\"\n[mongodb.streams.\"finance.expenses\"]\n";
    let check = |stages: &str| {
        let config = dir.write("herald.toml", &format!("{base}stages = [{stages}]\n"));
        herald()
            .arg("check")
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap()
    };
    // A stage herald needs the event without, refused with the file and the stage.
    let refused = check(
        "{ \"$match\" = { \"fullDocument.n\" = 1 } }, { \"$replaceRoot\" = { newRoot = \"$fullDocument\" } }",
    );
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let err = stderr(&refused);
    assert!(
        err.contains("herald.toml")
            && err.contains("mongodb.streams.\"finance.expenses\".stages[1]: $replaceRoot replaces the whole event"),
        "{err}"
    );
    let removes_id = check("{ \"$unset\" = \"_id\" }");
    assert_eq!(removes_id.status.code(), Some(2));
    assert!(
        stderr(&removes_id).contains("would change `_id`"),
        "{}",
        stderr(&removes_id)
    );
    let not_allowed = check("{ \"$group\" = { _id = 1 } }");
    assert_eq!(not_allowed.status.code(), Some(2));
    assert!(
        stderr(&not_allowed).contains("$group is not allowed"),
        "{}",
        stderr(&not_allowed)
    );
    // Allowed, but the rule reads what it removes: a warning, with the line.
    let warned = check("{ \"$unset\" = \"fullDocument.receiptImage\" }");
    assert!(warned.status.success(), "{}", stderr(&warned));
    assert!(
        stderr(&warned).contains("expenses.rhai:3:")
            && stderr(&warned).contains("reads `fullDocument.receiptImage`"),
        "{}",
        stderr(&warned)
    );
});

herald_test!(config_errors_are_located_as_file_line_col, |dir| {
    dir.write(
        "rules/a.rhai",
        "const RULE = #{ watch: \"a.b\" };\nfn handle(event) {}\n",
    );
    for (text, expected) in [
        (
            "[engine]\ncommit_every = \"x\"\n",
            ":2:16: invalid type: a string, expected usize",
        ),
        (
            "[engine]\nworkers = 2\nhandler_timeout_ms = 0\n",
            ":3:1: engine.handler_timeout_ms must be from 1 to 60000, found 0",
        ),
        (
            "[webhooks.crm]\nurl = \"https://crm.example.com\"\n  headers = { Authorization = \"Bearer x\" }\n",
            ":3:3: webhooks.crm.headers.Authorization: a literal value",
        ),
        (
            "[channels.ops]\nkind = \"webhook\"\nurl = \"gopher://x\"\n",
            ":3:1: channels.ops.url: the scheme must be http or https",
        ),
    ] {
        let config = dir.write("herald.toml", text);
        let output = crate::util::herald()
            .arg("check")
            .arg(dir.join("rules"))
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        let err = crate::util::stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{text}: {err}");
        assert!(
            err.contains(&format!("herald.toml{expected}")),
            "{text}: {err}"
        );
    }
});

herald_test!(
    a_herald_toml_in_the_working_directory_is_the_config,
    |dir| {
        dir.write(
            "myrules/a.rhai",
            "const RULE = #{ watch: \"a.b\" };\nfn handle(event) { notify(\"ops\", #{}); }\n",
        );
        dir.write(
            "herald.toml",
            "rules = \"myrules\"\n[channels.ops]\nkind = \"stdout\"\n",
        );
        let output = crate::util::herald()
            .current_dir(dir.join(""))
            .arg("check")
            .output()
            .unwrap();
        let out = crate::util::stdout(&output);
        assert!(output.status.success(), "{}", crate::util::stderr(&output));
        assert!(
            out.contains("1 rule(s) ok") && out.contains("config herald.toml ok"),
            "{out}"
        );
        // The config is checked too: a channel it lacks is an error.
        dir.write("herald.toml", "rules = \"myrules\"\n");
        let output = crate::util::herald()
            .current_dir(dir.join(""))
            .arg("check")
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{}",
            crate::util::stderr(&output)
        );
        assert!(
            crate::util::stderr(&output).contains("\"ops\" is not defined"),
            "{}",
            crate::util::stderr(&output)
        );
    }
);
