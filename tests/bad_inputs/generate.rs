//! The corpus inputs too large or too binary to commit, made at run time by
//! the name `cases.toml` gives them.

use crate::util::{Dir, herald};
use std::path::PathBuf;

/// A rule that names no channel, for checking configs on their own.
pub const QUIET_RULE: &str = "const RULE = #{ watch: \"a.b\" };\nfn handle(event) { }\n";

/// A delete of expense `n`, which the shipped `expense_audit` rule notifies about.
pub fn delete_line(n: u32) -> String {
    format!(
        r#"{{"_id":{{"_data":"{n:04}"}},"operationType":"delete","ns":{{"db":"finance","coll":"expenses"}},"documentKey":{{"_id":{n}}}}}"#
    )
}

/// Makes the input `generator` names in `dir`, as a file called `name` plus the
/// kind's extension (a store: the directory `store`), and returns its path.
pub fn input(generator: &str, name: &str, dir: &Dir) -> PathBuf {
    let depth = 200_000;
    let event_file = |bad: &[u8]| {
        let mut text = format!("{}\n", delete_line(1)).into_bytes();
        text.extend_from_slice(bad);
        text.push(b'\n');
        let path = dir.join(&format!("{name}.jsonl"));
        std::fs::write(&path, text).unwrap();
        path
    };
    let file = |extension: &str, bytes: &[u8]| {
        let path = dir.join(&format!("{name}.{extension}"));
        std::fs::write(&path, bytes).unwrap();
        path
    };
    match generator {
        "invalid_utf8_line" => event_file(b"{\"_id\":{\"_data\":\"0002\"},\"x\":\"\xff\xfe\"}"),
        "deep_arrays" => {
            event_file(format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth)).as_bytes())
        }
        "deep_documents" => event_file(
            format!(
                "{{\"a\":{}1{}}}",
                "{\"b\":".repeat(depth),
                "}".repeat(depth)
            )
            .as_bytes(),
        ),
        "huge_line" => {
            let mut line = delete_line(2).into_bytes();
            line.pop();
            line.extend_from_slice(b",\"pad\":\"");
            line.resize(50 << 20, b'x');
            line.extend_from_slice(b"\"}");
            event_file(&line)
        }
        "nul_bytes" => event_file(b"\0\0\0"),
        "non_utf8_rule" => file(
            "rhai",
            b"const RULE = #{ watch: \"a.b\" };\n// caf\xe9\nfn handle(event) { }\n",
        ),
        "deep_rule" => file(
            "rhai",
            format!(
                "const RULE = #{{ watch: \"a.b\" }};\nfn handle(event) {{ let x = {}1{}; }}\n",
                "(".repeat(100_000),
                ")".repeat(100_000)
            )
            .as_bytes(),
        ),
        "non_utf8_config" => file("toml", b"rules = \"\xff\"\n"),
        "deep_config" => file(
            "toml",
            format!("a = {}{}\n", "[".repeat(depth), "]".repeat(depth)).as_bytes(),
        ),
        store => store_input(store, dir),
    }
}

/// A store directory, damaged as `generator` says.
fn store_input(generator: &str, dir: &Dir) -> PathBuf {
    let store = dir.join("store");
    let write = |name: &str, bytes: &[u8]| std::fs::write(store.join(name), bytes).unwrap();
    match generator {
        "truncated_store" => {
            made_store(dir);
            let db = std::fs::OpenOptions::new()
                .write(true)
                .open(store.join("db"))
                .unwrap();
            db.set_len(100).unwrap();
        }
        "emptied_store" => {
            made_store(dir);
            write("db", b"");
        }
        "random_data_store" => {
            made_store(dir);
            let len = std::fs::metadata(store.join("db")).unwrap().len() as usize;
            write("db", &random_bytes(len.max(4096)));
        }
        "random_bytes_store" => {
            std::fs::create_dir_all(&store).unwrap();
            write("conf", &random_bytes(200));
            write("db", &random_bytes(64 * 1024));
        }
        "foreign_store" => {
            std::fs::create_dir_all(&store).unwrap();
            write("data.sqlite", &random_bytes(1024));
            write("README", b"another program's files\n");
        }
        "git_store" => std::fs::create_dir_all(store.join(".git/objects")).unwrap(),
        "file_store" => std::fs::write(&store, b"a file, not a directory\n").unwrap(),
        "newer_store" => with_sled(dir, |tree| {
            tree.insert(b"mformat", &99u32.to_be_bytes()).unwrap();
        }),
        "unreadable_format_store" => with_sled(dir, |tree| {
            tree.insert(b"mformat", b"x").unwrap();
        }),
        "bad_ledger_store" => with_sled(dir, |tree| {
            let mut key = vec![b'L'];
            key.extend_from_slice(&u64::MAX.to_be_bytes());
            tree.insert(key, b"short").unwrap();
        }),
        "bad_checkpoint_store" => with_sled(dir, |tree| {
            for key in tree.scan_prefix(b"c").keys() {
                tree.insert(key.unwrap(), b"{not json").unwrap();
            }
        }),
        "bad_dead_letter_store" => with_sled(dir, |tree| {
            let mut key = vec![b'd'];
            key.extend_from_slice(&1u64.to_be_bytes());
            tree.insert(key, b"not bson").unwrap();
        }),
        other => panic!("no generator {other}"),
    }
    store
}

/// A real store, with one event replayed into it.
fn made_store(dir: &Dir) {
    let events = dir.write("made.jsonl", &format!("{}\n", delete_line(1)));
    let output = herald()
        .arg("replay")
        .arg(&events)
        .arg("--store")
        .arg(dir.join("store"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}

/// A real store, then changed behind herald's back through sled.
fn with_sled(dir: &Dir, change: impl FnOnce(&sled::Tree)) {
    made_store(dir);
    let db = sled::Config::new().path(dir.join("store")).open().unwrap();
    let tree = db.open_tree("herald").unwrap();
    change(&tree);
    db.flush().unwrap();
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    (0..len).map(|_| rng.u8(..)).collect()
}
