//! Micro-benchmarks of herald's hot paths: `cargo bench --bench micro`.
//!
//! Each case measures one step an event goes through, on a realistic event:
//! Extended JSON decoding, filter evaluation, routing with 10 / 1,000 /
//! 10,000 rules on one namespace, a Rhai handler call, and a store group commit.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use herald_core::{ChangeEvent, Filter};
use herald_engine::router::Router;
use herald_script::{NoState, Rule, RuleSet};
use std::hint::black_box;
use std::sync::Arc;

const EVENT: &str = r#"{"_id":{"_data":"826632149C000000012B042C0100296E5A10046762B34F"},"operationType":"insert","clusterTime":{"$timestamp":{"t":1714558108,"i":1}},"wallTime":{"$date":"2024-05-01T10:08:28.224Z"},"fullDocument":{"_id":{"$oid":"6632663212a097da9ffe1d99"},"employee":"Noah Okafor","approver":"david.levi@example.com","category":"hardware","kind":"k7","amount":{"$numberDecimal":"1942.24"},"currency":"USD","status":"pending_approval","items":[{"sku":"A1","qty":2},{"sku":"B2","qty":1}]},"ns":{"db":"finance","coll":"expenses"},"documentKey":{"_id":{"$oid":"6632663212a097da9ffe1d99"}}}"#;

fn event() -> Arc<ChangeEvent> {
    let raw = herald_core::extjson::parse_raw_document(EVENT).unwrap();
    Arc::new(ChangeEvent::from_raw(raw).unwrap())
}

/// `n` rules on one namespace, rule `i` matching `fullDocument.kind == "k{i}"`.
fn rules(n: usize) -> RuleSet {
    let engine = Arc::new(herald_script::sandbox::engine());
    let rules: Vec<Rule> = (0..n)
        .map(|i| {
            let source = format!("const RULE = #{{ watch: \"finance.expenses\", on: [\"insert\"], filter: #{{ \"fullDocument.kind\": \"k{i}\" }} }};\nfn handle(event) {{ notify(\"sink\", #{{ id: event.documentKey._id, amount: event.fullDocument.amount }}); }}\n");
            Rule::from_source(engine.clone(), format!("rules/r{i}.rhai"), &source).unwrap()
        })
        .collect();
    RuleSet::from_rules(rules)
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(EVENT.len() as u64));
    group.bench_function("extjson_line_to_event", |b| {
        b.iter(|| {
            let raw = herald_core::extjson::parse_raw_document(black_box(EVENT)).unwrap();
            ChangeEvent::from_raw(raw).unwrap()
        })
    });
    group.finish();
}

fn filter(c: &mut Criterion) {
    let event = event();
    let filter = Filter::compile(&bson::doc! {
        "fullDocument.status": "pending_approval",
        "fullDocument.amount": {"$gte": 1000},
        "$or": [{"operationType": {"$in": ["insert", "replace"]}}, {"updateDescription.updatedFields.status": "pending_approval"}],
    })
    .unwrap();
    c.bench_function("filter/approval_rule", |b| {
        b.iter(|| black_box(&filter).matches(black_box(event.raw())))
    });
}

fn routing(c: &mut Criterion) {
    let event = event();
    let mut group = c.benchmark_group("routing");
    for n in [10, 1_000, 10_000] {
        let router = Router::new(&rules(n));
        group.bench_with_input(BenchmarkId::from_parameter(n), &router, |b, router| {
            b.iter(|| router.route(black_box(&event), None).count())
        });
    }
    group.finish();
}

fn handler(c: &mut Criterion) {
    let event = event();
    let set = rules(10);
    let rule = &set.rules()[7];
    let state: Arc<dyn herald_script::StateRead> = Arc::new(NoState);
    c.bench_function("rhai/handler_call", |b| {
        b.iter(|| rule.handle(black_box(&event), state.clone()).unwrap())
    });
}

fn store(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = herald_store::Store::open(dir.path()).unwrap();
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(512));
    let mut n: u64 = 0;
    group.bench_function("group_commit_512_marks_flushed", |b| {
        b.iter(|| {
            let mut commit = store.begin();
            for _ in 0..512 {
                n += 1;
                commit.mark_done("rule", &n.to_be_bytes());
            }
            commit.checkpoint(
                "file:bench",
                &herald_core::Position::File { offset: n, line: n },
            );
            store.commit(commit).unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, decode, filter, routing, handler, store);
criterion_main!(benches);
