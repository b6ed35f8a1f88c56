//! `herald init`: the project it writes checks and tests as written, names
//! every key the configuration accepts, and nothing that exists is overwritten.

use crate::util::{Dir, accepted, herald, stderr, stdout};
use herald_engine::config::{Config, EngineSettings, RetryConfig};
use std::collections::BTreeMap;
use std::path::Path;

/// The files `herald init` writes, relative to its directory.
const WRITTEN: [&str; 3] = [
    "herald.toml",
    "rules/unpaid_order.rhai",
    "rules/unpaid_order.test.json",
];

/// Every file under `dir`, relative to it, with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path.strip_prefix(root).unwrap().to_string_lossy();
                out.insert(name.replace('\\', "/"), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Runs `herald init` with these arguments in `cwd`, returning the output.
fn init(cwd: &Path, args: &[&str]) -> std::process::Output {
    herald()
        .current_dir(cwd)
        .arg("init")
        .args(args)
        .output()
        .unwrap()
}

herald_test!(init_writes_a_project_that_checks_and_tests, |dir| {
    let output = init(dir.path(), &["project"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let project = dir.join("project");
    assert_eq!(
        files(&project).keys().collect::<Vec<_>>(),
        WRITTEN.to_vec(),
        "exactly the files it says"
    );
    let out = stdout(&output);
    for name in WRITTEN {
        assert!(out.contains(&format!("wrote project/{name}\n")), "{out}");
    }
    for next in [
        "herald check project/rules --config project/herald.toml",
        "herald test project/rules",
        "herald replay EVENTS.jsonl --config project/herald.toml",
    ] {
        assert!(out.contains(next), "{out}");
    }

    let check = herald()
        .arg("check")
        .arg(project.join("rules"))
        .arg("--config")
        .arg(project.join("herald.toml"))
        .output()
        .unwrap();
    let out = stdout(&check);
    assert!(check.status.success(), "{out}{}", stderr(&check));
    assert!(out.contains("ok  unpaid_order"), "{out}");
    assert!(out.contains("1 rule(s) ok\n"), "no warnings: {out}");
    assert!(out.contains("herald.toml ok"), "{out}");

    let test = herald()
        .arg("test")
        .arg(project.join("rules"))
        .output()
        .unwrap();
    let out = stdout(&test);
    assert!(test.status.success(), "{out}{}", stderr(&test));
    assert!(
        out.contains("4 passed, 0 failed, 0 rule(s) without fixtures"),
        "{out}"
    );
});

herald_test!(init_defaults_to_the_current_directory, |dir| {
    let output = init(dir.path(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        files(dir.path()).keys().collect::<Vec<_>>(),
        WRITTEN.to_vec()
    );
    let out = stdout(&output);
    assert!(out.contains("wrote rules/unpaid_order.rhai\n"), "{out}");
    assert!(
        out.contains("herald check rules --config herald.toml"),
        "{out}"
    );
    // The config's paths are relative to it, so it works from anywhere.
    let test = herald()
        .args(["test", "--config"])
        .arg(dir.join("herald.toml"))
        .output()
        .unwrap();
    assert!(
        stdout(&test).contains("4 passed, 0 failed"),
        "{}",
        stdout(&test)
    );
});

herald_test!(init_again_changes_nothing, |dir| {
    assert!(init(dir.path(), &["p"]).status.success());
    let before = files(dir.path());
    let again = init(dir.path(), &["p"]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    let err = stderr(&again);
    assert!(
        err.contains("p/herald.toml exists") && err.contains("wrote nothing"),
        "names the first file that exists: {err}"
    );
    assert!(!stdout(&again).contains("wrote"), "{}", stdout(&again));
    assert_eq!(files(dir.path()), before, "every byte as it was");
});

herald_test!(an_existing_config_keeps_init_from_writing_rules, |dir| {
    let mine = dir.write("herald.toml", "# mine\n");
    let output = init(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("herald.toml exists"),
        "{}",
        stderr(&output)
    );
    assert!(!dir.join("rules").exists(), "no rules written");
    assert_eq!(std::fs::read(mine).unwrap(), b"# mine\n");

    // Any one of its files stops it, the fixture too.
    let other = Dir::new();
    other.write("rules/unpaid_order.test.json", "{}");
    let output = init(other.path(), &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("rules/unpaid_order.test.json exists"),
        "{}",
        stderr(&output)
    );
    assert_eq!(files(other.path()).len(), 1);
});

/// The config `herald init` writes.
fn template() -> String {
    let dir = Dir::new();
    assert!(init(dir.path(), &[]).status.success());
    std::fs::read_to_string(dir.join("herald.toml")).unwrap()
}

/// The template with its commented-out sections and keys (`# [x]`,
/// `# key = ...`) turned on; its prose stays commented.
fn uncommented(text: &str) -> String {
    let code = |line: &str| {
        line.starts_with('[')
            || line.split_once(" = ").is_some_and(|(key, _)| {
                !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            })
    };
    text.lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if code(rest) => rest,
            _ => line,
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

#[test]
fn the_config_template_names_every_key_herald_reads() {
    let text = uncommented(&template());
    Config::parse(&text).unwrap_or_else(|e| panic!("the examples parse: {e}\n{text}"));
    let table: toml::Table = toml::from_str(&text).unwrap();
    let at = |path: &[&str]| {
        path.iter().fold(&table, |t, key| {
            t.get(*key)
                .and_then(toml::Value::as_table)
                .unwrap_or_else(|| panic!("no [{}] in the template", path.join(".")))
        })
    };
    // Where the configuration takes which keys, and the table of the
    // template that shows them.
    let sections: [(&str, &[&str]); 9] = [
        ("zzz = 1\n", &[]),
        ("[http]\nzzz = 1\n", &["http"]),
        ("[cluster]\nzzz = 1\n", &["cluster"]),
        ("[engine]\nzzz = 1\n", &["engine"]),
        ("[retry]\nzzz = 1\n", &["retry"]),
        ("[mongodb]\nzzz = 1\n", &["mongodb"]),
        (
            "[mongodb.streams.\"a.b\"]\nzzz = 1\n",
            &["mongodb", "streams", "shop.orders"],
        ),
        ("[webhooks.a]\nzzz = 1\n", &["webhooks", "crm"]),
        (
            "[channels.a]\nkind = \"file\"\nzzz = 1\n",
            &["channels", "reminders"],
        ),
    ];
    for (probe, path) in sections {
        let keys = accepted(probe);
        assert!(!keys.is_empty(), "{probe:?}");
        let missing: Vec<_> = keys
            .iter()
            .filter(|key| !at(path).contains_key(key.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "src/init/herald.toml lacks {missing:?} in [{}]",
            path.join(".")
        );
    }
    let kinds: Vec<&str> = at(&["channels"])
        .values()
        .filter_map(|channel| channel.get("kind")?.as_str())
        .collect();
    for kind in accepted("[channels.a]\nkind = \"zzz\"\n") {
        assert!(
            kinds.contains(&kind.as_str()),
            "src/init/herald.toml has no channel of kind {kind:?}"
        );
    }
}

#[test]
fn the_config_template_gives_the_defaults() {
    let config = Config::parse(&template()).unwrap();
    assert_eq!(
        format!("{:?}", config.engine),
        format!("{:?}", EngineSettings::default())
    );
    assert_eq!(
        format!("{:?}", config.retry),
        format!("{:?}", RetryConfig::default())
    );
    assert!(
        config.mongodb.uri.is_none(),
        "[mongodb] stays commented out"
    );
}
