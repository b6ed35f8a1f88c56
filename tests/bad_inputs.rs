//! The bad-input corpus (`tests/bad_inputs/cases.toml`): event lines, rules,
//! configs and stores herald must refuse with exit 2 and a message naming
//! where they are wrong, never a panic or a hang; and a bad event line after
//! good ones keeps what the good ones did.

mod generate;

use crate::util::{Dir, herald, herald_process, root, stderr, stdout};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The longest a case may take (the 50 MiB line included) before it counts as a hang.
const CASE_TIMEOUT: Duration = Duration::from_secs(60);

/// One entry of `cases.toml`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// `KIND/NAME`, KIND one of events, rules, configs, stores.
    name: String,
    /// The input, under `tests/bad_inputs/`.
    file: Option<String>,
    /// Or the function in `generate.rs` that makes it.
    generate: Option<String>,
    /// Expected in stderr.
    message: String,
    /// The place the message must name: a file name with line and column, a
    /// key, or `{store}` (the store directory's path).
    #[serde(rename = "where")]
    at: String,
    #[serde(default = "bad_input")]
    exit: i32,
    /// Why this case does not yet behave: it then only has to end without a panic.
    known_failure: Option<String>,
    /// Stores: false if `herald replay` never reads the damaged record (it is then only run through `status`).
    #[serde(default = "yes")]
    replay_reads_it: bool,
    /// Stores: why opening may rewrite the damaged files (else they must be kept as they were).
    rewritten: Option<String>,
}

fn yes() -> bool {
    true
}

fn bad_input() -> i32 {
    2
}

#[derive(serde::Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

fn corpus() -> Vec<Case> {
    let text = std::fs::read_to_string(root().join("tests/bad_inputs/cases.toml")).unwrap();
    toml::from_str::<Corpus>(&text).unwrap().case
}

impl Case {
    fn kind(&self) -> &str {
        self.name.split('/').next().unwrap_or_default()
    }

    fn base_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or_default()
    }

    /// Puts the input in `dir` and returns the commands to run on it.
    fn commands(&self, dir: &Dir) -> Vec<Vec<std::ffi::OsString>> {
        let input = match (&self.file, &self.generate) {
            (Some(file), None) => {
                let from = root().join("tests/bad_inputs").join(file);
                let to = dir.join(Path::new(file).file_name().unwrap().to_str().unwrap());
                std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
                to
            }
            (None, Some(generator)) => generate::input(generator, self.base_name(), dir),
            _ => panic!("{}: give `file` or `generate`, not both", self.name),
        };
        let args = |list: &[&dyn AsRef<std::ffi::OsStr>]| {
            list.iter()
                .map(|a| a.as_ref().to_owned())
                .collect::<Vec<_>>()
        };
        match self.kind() {
            "events" => vec![args(&[
                &"replay",
                &input,
                &"--rules",
                &root().join("rules"),
            ])],
            "rules" => {
                let rules = dir.join("rules");
                std::fs::create_dir_all(&rules).unwrap();
                std::fs::rename(&input, rules.join(input.file_name().unwrap())).unwrap();
                vec![args(&[&"check", &rules])]
            }
            "configs" => {
                dir.write("rules/quiet.rhai", generate::QUIET_RULE);
                vec![args(&[&"check", &dir.join("rules"), &"--config", &input])]
            }
            "stores" => {
                let events = dir.write("good.jsonl", &format!("{}\n", generate::delete_line(1)));
                let mut commands = vec![args(&[&"status", &"--store", &input])];
                if self.replay_reads_it {
                    commands.push(args(&[&"replay", &events, &"--store", &input]));
                }
                commands
            }
            other => panic!("{}: unknown kind {other}", self.name),
        }
    }

    /// Runs the case; `Err` says how it went wrong.
    fn run(&self) -> Result<(), String> {
        let dir = Dir::new();
        let commands = self.commands(&dir);
        let store = dir.join("store");
        let at = self.at.replace("{store}", &store.display().to_string());
        let before = snapshot(&store);
        for args in commands {
            let (code, err) = run_bounded(&args, &dir)?;
            if err.contains("panicked") {
                return Err(format!("panicked: {err}"));
            }
            if let Some(reason) = &self.known_failure {
                eprintln!("known failure {}: {reason} (exit {code:?})", self.name);
                continue;
            }
            if code != Some(self.exit) {
                return Err(format!("exit {code:?}, not {}: {err}", self.exit));
            }
            if !err.contains(&self.message) {
                return Err(format!("stderr lacks {:?}: {err}", self.message));
            }
            if !err.contains(&at) {
                return Err(format!("stderr does not name {at:?}: {err}"));
            }
        }
        // sled may replace its snapshot and grow its data file when it opens
        // a store, but what was there must still be there.
        let after = snapshot(&store);
        let derived = |file: &Path| {
            file.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("snap."))
        };
        for (file, bytes) in before
            .iter()
            .filter(|(f, _)| !derived(f) && self.rewritten.is_none())
        {
            let kept = after.iter().any(|(f, b)| f == file && b.starts_with(bytes));
            if !kept {
                return Err(format!(
                    "the refused store's {} was changed",
                    file.display()
                ));
            }
        }
        Ok(())
    }
}

/// The files of a store directory and their contents (empty if there is none).
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| (e.path(), std::fs::read(e.path()).unwrap_or_default()))
        .collect();
    files.sort();
    files
}

/// Runs herald with `args`, killing it past [`CASE_TIMEOUT`]: its exit code and stderr.
fn run_bounded(args: &[std::ffi::OsString], dir: &Dir) -> Result<(Option<i32>, String), String> {
    let err_path = dir.join("stderr.txt");
    let mut child = herald_process()
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CASE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("still running after {CASE_TIMEOUT:?}: {args:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let err = String::from_utf8_lossy(&std::fs::read(&err_path).unwrap()).into_owned();
    Ok((status.code(), err))
}

#[test]
fn the_corpus_covers_every_kind_of_input() {
    let cases = corpus();
    let count = |kind: &str| cases.iter().filter(|c| c.kind() == kind).count();
    for (kind, least) in [
        ("events", 20),
        ("rules", 20),
        ("configs", 20),
        ("stores", 8),
    ] {
        assert!(count(kind) >= least, "{kind}: {} cases", count(kind));
    }
    assert!(cases.len() >= 60);
    let mut names: Vec<_> = cases.iter().map(|c| &c.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names are unique");
}

#[test]
fn every_bad_input_exits_2_naming_where_it_is_wrong() {
    let cases = corpus();
    let workers = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .min(4);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    let ran = std::panic::catch_unwind(|| case.run())
                        .unwrap_or_else(|_| Err("the test itself panicked".into()));
                    if let Err(why) = ran {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{}: {why}", case.name));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// Replays `bad` between two good delete events with a store: the first is
/// done and checkpointed, the run stops at line 2 with exit 2, and once the
/// line is fixed the next run does lines 2 and 3 only.
fn keeps_what_was_done_before(dir: &Dir, bad: &[u8]) {
    let events = dir.join("events.jsonl");
    let mut text = format!("{}\n", generate::delete_line(1)).into_bytes();
    text.extend_from_slice(bad);
    text.extend_from_slice(format!("\n{}\n", generate::delete_line(3)).as_bytes());
    std::fs::write(&events, &text).unwrap();
    let store = dir.join("store");
    let replay = || {
        herald()
            .arg("replay")
            .arg(&events)
            .arg("--store")
            .arg(&store)
            .output()
            .unwrap()
    };
    let output = replay();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("events.jsonl:2:"),
        "{}",
        stderr(&output)
    );
    assert_eq!(stdout(&output).matches("notify audit").count(), 1);
    let status = herald()
        .arg("status")
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    assert!(
        stdout(&status).contains("position      line 1 (byte"),
        "the checkpoint stands before the bad line: {}",
        stdout(&status)
    );
    let fixed = format!(
        "{}\n{}\n{}\n",
        generate::delete_line(1),
        generate::delete_line(2),
        generate::delete_line(3)
    );
    std::fs::write(&events, fixed).unwrap();
    let output = replay();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("replayed 2 events"),
        "{}",
        stderr(&output)
    );
    assert_eq!(stdout(&output).matches("notify audit").count(), 2);
}

herald_test!(an_invalid_utf8_line_keeps_what_was_done, |dir| {
    keeps_what_was_done_before(&dir, b"{\"_id\": \"\xff\xfe\"}");
});

herald_test!(a_line_of_50_mib_keeps_what_was_done, |dir| {
    keeps_what_was_done_before(&dir, &vec![b'x'; 50 << 20]);
});

herald_test!(a_bad_date_keeps_what_was_done, |dir| {
    let line = generate::delete_line(2).replace("\"_id\":2}", "\"_id\":{\"$date\":\"soon\"}}");
    keeps_what_was_done_before(&dir, line.as_bytes());
});

herald_test!(deep_nesting_keeps_what_was_done, |dir| {
    let depth = 200_000;
    let line = format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
    keeps_what_was_done_before(&dir, line.as_bytes());
});

herald_test!(a_missing_operation_type_keeps_what_was_done, |dir| {
    let line = generate::delete_line(2).replace("\"operationType\":\"delete\",", "");
    keeps_what_was_done_before(&dir, line.as_bytes());
});
