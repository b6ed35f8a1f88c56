//! `docs/configuration.md` stays true: every key `herald.toml` accepts has a
//! row in its table's section, every row is a key herald accepts there, and
//! the defaults it gives are the ones herald uses.
//!
//! The accepted keys come from herald itself (the error `deny_unknown_fields`
//! gives for an unknown key, [`accepted`]), so a key added to a config struct
//! fails here until the reference names it.

use crate::util::{accepted, root};
use herald_engine::config::{Config, EngineSettings, RetryConfig};
use std::collections::{BTreeMap, BTreeSet};

/// The reference, relative to the repository root.
const REFERENCE: &str = "docs/configuration.md";

/// Each section of the reference with a key table, by its heading (without
/// `#`s and backticks), and a probe that puts an unknown key in that table.
/// The channel kinds are added from what herald accepts ([`channel_kinds`]).
const SECTIONS: [(&str, &str); 8] = [
    ("Top level", "zzz = 1\n"),
    ("[http]", "[http]\nzzz = 1\n"),
    ("[cluster]", "[cluster]\nzzz = 1\n"),
    ("[engine]", "[engine]\nzzz = 1\n"),
    ("[retry]", "[retry]\nzzz = 1\n"),
    ("[webhooks.NAME]", "[webhooks.a]\nzzz = 1\n"),
    ("[mongodb]", "[mongodb]\nzzz = 1\n"),
    (
        "[mongodb.streams.\"TARGET\"]",
        "[mongodb.streams.\"a.b\"]\nzzz = 1\n",
    ),
];

/// One row of a key table.
#[derive(Debug)]
struct Row {
    /// The `default` column, as written.
    default: String,
}

/// A section of the reference: its key rows, and the section whose keys it
/// takes as well ("It takes every key of [`[webhooks.NAME]`](...)").
#[derive(Debug, Default)]
struct Section {
    /// Its rows by key (the first column, without backticks).
    rows: BTreeMap<String, Row>,
    /// The heading of a section whose rows count as this one's too (a
    /// webhook channel takes every key of a webhook).
    includes: Option<String>,
}

/// The sections of the reference that have key rows or include another's.
fn reference() -> BTreeMap<String, Section> {
    let text = std::fs::read_to_string(root().join(REFERENCE)).unwrap();
    let mut sections: BTreeMap<String, Section> = BTreeMap::new();
    let mut heading = String::new();
    for line in text.lines() {
        if line.starts_with('#') {
            heading = line.trim_start_matches('#').trim().replace('`', "");
        } else if line.starts_with("| `") {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
            let [key, _type, default, _meaning] = cells[..] else {
                panic!("{REFERENCE}: a row of 4 cells (key, type, default, meaning): {line}");
            };
            let key = key.trim_matches('`').to_owned();
            let row = Row {
                default: default.to_owned(),
            };
            let section = sections.entry(heading.clone()).or_default();
            assert!(
                section.rows.insert(key.clone(), row).is_none(),
                "{REFERENCE}: `{key}` twice under {heading:?}"
            );
        } else if let Some((_, rest)) = line.split_once("every key of [`") {
            let (included, _) = rest.split_once("`]").expect("a closing `]");
            sections.entry(heading.clone()).or_default().includes = Some(included.to_owned());
        }
    }
    sections
}

/// The `kind`s of channel herald accepts, each with the heading of its
/// section and a probe that puts an unknown key in it.
fn channel_kinds() -> Vec<(String, String)> {
    let kinds = accepted("[channels.a]\nkind = \"zzz\"\n");
    assert!(kinds.len() > 1, "{kinds:?}");
    kinds
        .into_iter()
        .map(|kind| {
            (
                format!("kind = \"{kind}\""),
                format!("[channels.a]\nkind = \"{kind}\"\nzzz = 1\n"),
            )
        })
        .collect()
}

/// Every section the reference must have, with the keys herald accepts in it.
fn accepted_keys() -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for (heading, probe) in SECTIONS.map(|(h, p)| (h.to_owned(), p.to_owned())) {
        let keys: BTreeSet<String> = accepted(&probe).into_iter().collect();
        assert!(!keys.is_empty(), "{probe:?}");
        out.insert(heading, keys);
    }
    for (heading, probe) in channel_kinds() {
        // `kind` is the tag, never among a variant's fields.
        let mut keys: BTreeSet<String> = accepted(&probe).into_iter().collect();
        keys.insert("kind".to_owned());
        out.insert(heading, keys);
    }
    out
}

/// The keys a section's rows name, its included section's too.
fn documented(sections: &BTreeMap<String, Section>, heading: &str) -> BTreeSet<String> {
    let section = &sections[heading];
    let mut keys: BTreeSet<String> = section.rows.keys().cloned().collect();
    if let Some(included) = &section.includes {
        let other = sections
            .get(included)
            .unwrap_or_else(|| panic!("{REFERENCE}: {heading:?} names no section {included:?}"));
        keys.extend(other.rows.keys().cloned());
    }
    keys
}

#[test]
fn the_reference_names_every_key_herald_accepts_and_no_other() {
    let sections = reference();
    let accepted = accepted_keys();
    assert_eq!(
        sections.keys().collect::<BTreeSet<_>>(),
        accepted.keys().collect::<BTreeSet<_>>(),
        "{REFERENCE}: a key table for each table (and channel kind) of herald.toml, and no other"
    );
    for (heading, keys) in &accepted {
        let written = documented(&sections, heading);
        let missing: Vec<_> = keys.difference(&written).collect();
        assert!(
            missing.is_empty(),
            "{REFERENCE} lacks {missing:?} under {heading:?}"
        );
        let stale: Vec<_> = written.difference(keys).collect();
        assert!(
            stale.is_empty(),
            "{REFERENCE} names {stale:?} under {heading:?}, which herald refuses there"
        );
    }
}

/// The `key = value` lines of a section's defaults written as one TOML
/// value (`` `512` ``, `` `"batch"` ``, `` `{}` ``); prose defaults
/// ("none", "required", "`[mongodb]`'s") are left out, or, with `all`, refused.
fn defaults(sections: &BTreeMap<String, Section>, heading: &str, all: bool) -> String {
    let mut out = String::new();
    for (key, row) in &sections[heading].rows {
        let value = row
            .default
            .strip_prefix('`')
            .and_then(|d| d.strip_suffix('`'))
            .filter(|d| !d.contains('`'));
        let line = value.map(|value| format!("{key} = {value}\n"));
        match line.filter(|line| line.parse::<toml::Table>().is_ok()) {
            Some(line) => out.push_str(&line),
            None => assert!(
                !all,
                "{REFERENCE}: the default of `{key}` under {heading:?} is one TOML value in backticks: {}",
                row.default
            ),
        }
    }
    out
}

#[test]
fn the_reference_gives_the_engine_and_retry_defaults() {
    let sections = reference();
    let text = format!(
        "[engine]\n{}[retry]\n{}",
        defaults(&sections, "[engine]", true),
        defaults(&sections, "[retry]", true)
    );
    let config = Config::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(
        format!("{:?}", config.engine),
        format!("{:?}", EngineSettings::default()),
        "{REFERENCE}: [engine]'s default column"
    );
    assert_eq!(
        format!("{:?}", config.retry),
        format!("{:?}", RetryConfig::default()),
        "{REFERENCE}: [retry]'s default column"
    );
}

#[test]
fn the_reference_gives_the_defaults_of_the_other_tables() {
    let sections = reference();
    // Each table, with what it needs to parse; its documented defaults
    // written out must change nothing.
    let tables = [
        ("[mongodb]", "[mongodb]\n"),
        ("[cluster]", "[cluster]\n"),
        (
            "[mongodb.streams.\"TARGET\"]",
            "[mongodb.streams.\"a.b\"]\n",
        ),
        (
            "[webhooks.NAME]",
            "[webhooks.a]\nurl = \"https://hooks.example\"\n",
        ),
    ];
    // `MongoConfig` shows only its `uri`: the stream options show the rest.
    let shown = |text: &str| {
        let config = Config::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let options = config.mongodb.source_options().unwrap();
        format!("{config:?}\n{options:?}")
    };
    for (heading, base) in tables {
        let written = defaults(&sections, heading, false);
        assert!(
            !written.is_empty(),
            "{REFERENCE}: no defaults under {heading:?}"
        );
        let text = format!("{base}{written}");
        assert_eq!(
            shown(&text),
            shown(base),
            "{REFERENCE}: a default under {heading:?} is not herald's:\n{written}"
        );
    }
}
