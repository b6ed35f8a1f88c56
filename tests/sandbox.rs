//! The rule sandbox, through the binary: a handler cannot block, outrun its
//! time limit or hold unbounded memory; it fails its own event, and the
//! process keeps answering signals.

use crate::util::{herald, stderr, stdout};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const RULE_HEAD: &str = "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\n";

fn insert(n: u32, kind: &str) -> String {
    format!(
        r#"{{"_id":{{"_data":"{n:04}"}},"operationType":"insert","ns":{{"db":"shop","coll":"orders"}},"documentKey":{{"_id":{n}}},"fullDocument":{{"_id":{n},"kind":"{kind}"}}}}"#
    )
}

herald_test!(
    check_refuses_sleep_and_unknown_functions_where_called,
    |dir| {
        dir.write(
            "rules/nap.rhai",
            &format!("{RULE_HEAD}fn handle(event) {{\n    sleep(3600);\n}}\n"),
        );
        dir.write(
            "rules/mail.rhai",
            &format!(
                "{RULE_HEAD}fn handle(event) {{\n    let to = \"a@b\";\n    send_email(to);\n}}\n"
            ),
        );
        let output = herald()
            .arg("check")
            .arg(dir.join("rules"))
            .output()
            .unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{err}");
        assert!(err.contains("nap.rhai:3:5"), "{err}");
        assert!(err.contains("`sleep` is not available in rules"), "{err}");
        assert!(err.contains("mail.rhai:4:5"), "{err}");
        assert!(err.contains("unknown function `send_email`"), "{err}");
    }
);

fn rule_for(kind: &str, extra: &str, body: &str) -> String {
    format!(
        "const RULE = #{{ watch: \"shop.orders\", on: [\"insert\"], filter: #{{ \"fullDocument.kind\": \"{kind}\" }}{extra} }};\nfn handle(event) {{\n{body}    notify(\"out\", #{{ id: event.documentKey._id }});\n}}\n"
    )
}

herald_test!(a_handler_over_its_limits_fails_only_its_event, |dir| {
    // `cpu` outruns its own time limit (lower than [engine]'s); `hog` holds
    // 1,000 strings of 512 KiB: each within Rhai's limits, 500 MiB together;
    // `ok` notifies.
    let mut hog = String::from("    let base = \"\";\n    base.pad(524288, \"x\");\n");
    for i in 0..1000 {
        hog.push_str(&format!("    let v{i} = base + \"{i}\";\n"));
    }
    let cpu = "    let s = \"\";\n    s.pad(1048576, \"x\");\n    for i in 0..200000 { let t = s.to_upper(); }\n";
    dir.write("rules/cpu.rhai", &rule_for("cpu", ", timeout_ms: 300", cpu));
    dir.write("rules/hog.rhai", &rule_for("memory", "", &hog));
    dir.write("rules/ok.rhai", &rule_for("ok", "", ""));
    let config = dir.write(
        "herald.toml",
        "[engine]\nhandler_timeout_ms = 60000\n[channels.out]\nkind = \"file\"\npath = \"out.jsonl\"\n",
    );
    let events = dir.write(
        "events.jsonl",
        &[insert(1, "cpu"), insert(2, "memory"), insert(3, "ok")].join("\n"),
    );
    let store = dir.join("store");
    let output = herald()
        .arg("replay")
        .arg(&events)
        .arg("--rules")
        .arg(dir.join("rules"))
        .arg("--config")
        .arg(&config)
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    let err = stderr(&output);
    // Dead letters make the replay exit 1; every event was handled.
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("replayed 3 events: 3 matched, 1 effects, 0 deduplicated, 2 dead-lettered"),
        "{err}"
    );
    let notices = std::fs::read_to_string(dir.join("out.jsonl")).unwrap();
    assert_eq!(notices.lines().count(), 1, "{notices}");
    assert!(notices.contains("\"id\":3"), "{notices}");

    let listed = herald()
        .args(["dlq", "list", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    let list = stdout(&listed);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert_eq!(
        list.lines().filter(|l| l.contains("attempts 1")).count(),
        2,
        "{list}"
    );
    // Each names the limit and points at its handler (file:line:col).
    let line_of = |rule: &str| {
        list.lines()
            .find(|l| l.contains(&format!("{rule}.rhai")))
            .unwrap_or("")
    };
    assert!(
        line_of("cpu")
            .contains("cpu.rhai:2:1: in handle(event): exceeded the time limit of 300 ms"),
        "{list}"
    );
    assert!(
        line_of("hog")
            .contains("hog.rhai:2:1: in handle(event): exceeded the memory limit of 64 MiB"),
        "{list}"
    );
});

herald_test!(sigint_ends_a_replay_while_a_handler_runs, |dir| {
    // Without the signal this handler runs for its whole minute.
    dir.write(
        "rules/slow.rhai",
        "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) {\n    print(\"handler started\");\n    let s = \"\";\n    s.pad(1048576, \"x\");\n    for i in 0..200000 { let t = s.to_upper(); }\n    notify(\"out\", #{});\n}\n",
    );
    let config = dir.write(
        "herald.toml",
        "[engine]\nshutdown_timeout_ms = 200\nhandler_timeout_ms = 60000\n[channels.out]\nkind = \"file\"\npath = \"out.jsonl\"\n",
    );
    let events = dir.write("events.jsonl", &insert(1, "slow"));
    let store = dir.join("store");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .current_dir(crate::util::root())
        .env("RUST_LOG", "info")
        .arg("replay")
        .arg(&events)
        .arg("--rules")
        .arg(dir.join("rules"))
        .arg("--config")
        .arg(&config)
        .arg("--store")
        .arg(&store)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let reader = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut log = Vec::new();
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("the handler starts");
        let started = line.contains("handler started");
        log.push(line);
        if started {
            break;
        }
    }
    let signalled = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // The process ends well before the handler's minute: the signal is
    // handled while the handler runs, and the shutdown deadline stops it.
    let (exit_tx, exit) = mpsc::channel();
    std::thread::spawn(move || exit_tx.send(child.wait()));
    let status = exit
        .recv_timeout(Duration::from_secs(30))
        .expect("herald stops on SIGINT while a handler runs")
        .unwrap();
    // The handler had a minute left; the shutdown deadline is 200 ms.
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "{:?}",
        signalled.elapsed()
    );
    log.extend(lines.iter());
    let log = log.join("\n");
    assert!(status.success(), "{log}");
    assert!(log.contains("interrupted"), "{log}");
    // The event was not done, so it is neither dead-lettered nor checkpointed:
    // the next run handles it.
    let notices = std::fs::read_to_string(dir.join("out.jsonl")).unwrap_or_default();
    assert_eq!(notices, "");
    let listed = herald()
        .args(["dlq", "list", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    assert!(!stdout(&listed).contains("slow"), "{}", stdout(&listed));
});
