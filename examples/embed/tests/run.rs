//! The example runs as documented: its own source and channel, a graceful
//! shutdown, and exactly the expected effects.

use assert_cmd::Command;
use herald_embed_example::{EXPECTED, ORDERS, run};
use predicates::str::contains;

#[tokio::test]
async fn the_outbox_receives_one_sms_per_big_order_and_the_summary_counts_them() {
    let outcome = run(&ORDERS).await.unwrap();
    // Events of different documents run on parallel workers: their
    // messages arrive in any order.
    let mut texts: Vec<_> = outcome.sms.iter().map(|s| s.text.as_str()).collect();
    texts.sort();
    assert_eq!(
        texts,
        [
            "order 2: 120 from bob",
            "order 4: 250 from dee",
            "order 5: 100 from eve"
        ]
    );
    assert!(outcome.sms.iter().all(|s| s.to == "+15550100"));
    let s = &outcome.summary;
    assert_eq!(
        (
            s.events,
            s.matched,
            s.effects,
            s.dead_lettered,
            s.deduplicated
        ),
        (5, 3, 3, 0, 0)
    );
    assert!(s.interrupted, "the run ends by the shutdown signal");
    assert_eq!(outcome.mismatches(&EXPECTED), Vec::<String>::new());
}

#[test]
fn the_program_prints_its_summary_and_exits_0() {
    Command::cargo_bin("herald-embed-example")
        .unwrap()
        .assert()
        .success()
        .stdout(contains("sms to +15550100: order 4: 250 from dee"))
        .stdout(contains(
            "5 events, 3 matched, 3 effects, 0 dead-lettered, interrupted: true",
        ));
}
