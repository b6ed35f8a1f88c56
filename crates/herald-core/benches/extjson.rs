//! Extended JSON lines to raw BSON: `cargo bench -p herald-core --bench extjson`.
//!
//! Reads the lines of `HERALD_BENCH_EVENTS` (for instance the `events.jsonl`
//! that `herald bench --work-dir DIR` leaves in DIR; its first 20,000 lines),
//! or, without it, two change events shaped like the bench's own.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use herald_core::extjson::parse_raw_document;
use std::hint::black_box;
use std::io::BufRead;

/// Lines read from the events file at most.
const MAX_LINES: usize = 20_000;

const INSERT: &str = r#"{"_id":{"_data":"82663210000000000000012B042C0100296E5A1004"},"operationType":"insert","clusterTime":{"$timestamp":{"t":1714558108,"i":1}},"wallTime":{"$date":"2024-05-01T10:08:28.001Z"},"ns":{"db":"finance","coll":"expenses"},"documentKey":{"_id":{"$oid":"6632663212a0970000012d41"}},"fullDocument":{"_id":{"$oid":"6632663212a0970000012d41"},"employee":"Mia Tanaka","approver":"approver27@example.com","category":"travel","kind":"k1","amount":{"$numberDecimal":"1942.24"},"currency":"EUR","status":"pending_approval","submittedAt":{"$date":"2024-05-01T10:08:28.001Z"},"items":[{"sku":"A512","qty":3}]}}"#;
const UPDATE: &str = r#"{"_id":{"_data":"82663210000000000000022B042C0100296E5A1004"},"operationType":"update","clusterTime":{"$timestamp":{"t":1714558108,"i":2}},"wallTime":{"$date":"2024-05-01T10:08:28.002Z"},"ns":{"db":"finance","coll":"expenses"},"documentKey":{"_id":{"$oid":"6632663212a0970000012d41"}},"updateDescription":{"updatedFields":{"status":"approved","decidedAt":{"$date":"2024-05-01T10:08:28.002Z"}},"removedFields":[],"truncatedArrays":[]},"fullDocument":{"_id":{"$oid":"6632663212a0970000012d41"},"employee":"Mia Tanaka","approver":"approver27@example.com","category":"travel","kind":"k2","amount":{"$numberDecimal":"1942.24"},"currency":"EUR","status":"approved","submittedAt":{"$date":"2024-05-01T10:08:28.002Z"},"items":[{"sku":"A512","qty":3}]}}"#;

fn lines() -> Vec<String> {
    match std::env::var_os("HERALD_BENCH_EVENTS") {
        Some(path) => {
            let file =
                std::fs::File::open(&path).expect("HERALD_BENCH_EVENTS names a readable file");
            std::io::BufReader::new(file)
                .lines()
                .take(MAX_LINES)
                .collect::<Result<_, _>>()
                .expect("the events file is UTF-8 text")
        }
        None => vec![INSERT.to_owned(), UPDATE.to_owned()],
    }
}

fn parse(c: &mut Criterion) {
    let lines = lines();
    let bytes: usize = lines.iter().map(String::len).sum();
    let mut group = c.benchmark_group("extjson");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("parse_raw_document", |b| {
        b.iter(|| {
            for line in &lines {
                black_box(parse_raw_document(black_box(line)).expect("a valid event line"));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
