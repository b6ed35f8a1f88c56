//! `herald init [DIR]`: write a new project to start from: one example rule
//! with its fixture, and a `herald.toml` with every section explained.
//!
//! The templates are the files beside this one, embedded as they are, so
//! what `init` writes can be read (and reviewed) as ordinary files. They pass
//! `herald check DIR/rules --config DIR/herald.toml` and `herald test
//! DIR/rules` as written, which `tests/init.rs` holds them to, along with
//! naming every key the configuration accepts.
//!
//! `init` never overwrites: if any file it would write exists, it names the
//! first one and writes nothing (exit 2). It checks every path before
//! writing any, and then creates each file only if it still does not exist,
//! so a file that appears in between is not overwritten either.

use crate::cli::InitArgs;
use crate::exit::{Failure, Outcome};
use anyhow::{Context, anyhow};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The example rule's file stem, which is also its name.
const RULE: &str = "unpaid_order";

/// What `init` writes, relative to DIR, in the order it checks and writes them.
const FILES: [(&str, &str); 3] = [
    ("herald.toml", include_str!("herald.toml")),
    ("rules/unpaid_order.rhai", include_str!("rule.rhai")),
    (
        "rules/unpaid_order.test.json",
        include_str!("rule.test.json"),
    ),
];

/// Runs the command.
pub fn run(args: InitArgs) -> Outcome {
    let dir = args.dir;
    if let Some(existing) = FILES
        .iter()
        .map(|(name, _)| shown(&dir, name))
        .find(|path| path.symlink_metadata().is_ok())
    {
        return Err(Failure::BadInput(anyhow!(
            "{} exists; herald init writes only new files, so it wrote nothing (init another directory, or move the file away)",
            existing.display()
        )));
    }
    for (name, contents) in FILES {
        let path = shown(&dir, name);
        write_new(&path, contents).map_err(Failure::Runtime)?;
        println!("wrote {}", path.display());
    }
    let rules = shown(&dir, "rules");
    let config = shown(&dir, "herald.toml");
    let (rules, config) = (rules.display(), config.display());
    let next = [
        (
            format!("herald check {rules} --config {config}"),
            "compile the rules; check the config and the channels they name".to_owned(),
        ),
        (
            format!("herald test {rules}"),
            format!("run the cases of {RULE}.test.json"),
        ),
        (
            format!("herald replay EVENTS.jsonl --config {config} --dry-run"),
            "change events (one Extended JSON object per line) through the rules".to_owned(),
        ),
        (
            format!("herald run --config {config}"),
            "on live change streams, once [mongodb] is set".to_owned(),
        ),
    ];
    let width = next
        .iter()
        .map(|(command, _)| command.len())
        .max()
        .unwrap_or(0);
    println!("\nnext:");
    for (command, what) in next {
        println!("  {command:<width$}   # {what}");
    }
    Ok(())
}

/// `name` inside `dir`, written as the user would: without `./` for the
/// current directory.
fn shown(dir: &Path, name: &str) -> PathBuf {
    if dir == Path::new(".") {
        PathBuf::from(name)
    } else {
        dir.join(name)
    }
}

/// Creates `path` (and its directory) with `contents`, failing if it exists.
fn write_new(path: &Path, contents: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}
