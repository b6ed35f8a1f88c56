//! Lease times follow the server's clock, not the instance's: an instance
//! whose clock is far off neither takes live leases nor writes leases that
//! lapse at once.

use crate::harness::*;
use herald_engine::cluster::{Leases, ServerClock};
use std::time::Duration;

const HOUR_MS: i64 = 3_600_000;

async fn leases(t: &Target, me: &str, skew_ms: i64) -> Leases {
    let client = mongodb::Client::with_uri_str(t.uri()).await.unwrap();
    let database = client.database(&t.ns("herald_clock"));
    let leases = Leases::with_clock(
        &database,
        me,
        4,
        Duration::from_secs(60),
        ServerClock::with_local_skew(skew_ms),
    );
    leases.announce().await.unwrap();
    leases
}

#[tokio::test]
async fn a_skewed_clock_reads_the_servers_time() {
    let t = Target::any("a_skewed_clock_reads_the_servers_time").await;
    for skew in [HOUR_MS, -HOUR_MS] {
        let ahead = leases(&t, "skewed", skew).await;
        let true_now = bson::DateTime::now().timestamp_millis();
        let read = ahead.now_ms();
        // The server runs on this machine's true clock (or a synced one).
        assert!(
            (read - true_now).abs() < 5_000,
            "skew {skew}: read {read}, true {true_now}"
        );
    }
}

#[tokio::test]
async fn an_instance_whose_clock_runs_behind_writes_leases_that_hold() {
    let t = Target::any("an_instance_whose_clock_runs_behind_writes_leases_that_hold").await;
    // An hour behind: by its own clock, a 60 s lease would have lapsed 59
    // minutes ago in everyone else's eyes.
    let behind = leases(&t, "behind", -HOUR_MS).await;
    let period = Duration::from_secs(5);
    let taken = behind.take_free(4, &[], period, period).await.unwrap();
    assert_eq!(taken.len(), 4);
    let on_time = leases(&t, "on-time", 0).await;
    assert_eq!(on_time.live_instances().await.unwrap(), 2);
    let taken = on_time.take_free(4, &[], period, period).await.unwrap();
    assert_eq!(
        taken,
        vec![],
        "live leases were taken from the slow-clock holder"
    );
    for lease in on_time.all().await.unwrap() {
        assert_eq!(lease.owner.as_deref(), Some("behind"));
        assert_eq!(lease.epoch, 1);
    }
}

#[tokio::test]
async fn an_instance_whose_clock_runs_ahead_takes_no_live_lease() {
    let t = Target::any("an_instance_whose_clock_runs_ahead_takes_no_live_lease").await;
    let on_time = leases(&t, "on-time", 0).await;
    let period = Duration::from_secs(5);
    assert_eq!(
        on_time
            .take_free(4, &[], period, period)
            .await
            .unwrap()
            .len(),
        4
    );
    // An hour ahead: by its own clock, every 60 s lease has lapsed.
    let ahead = leases(&t, "ahead", HOUR_MS).await;
    assert_eq!(ahead.live_instances().await.unwrap(), 2);
    let taken = ahead.take_free(4, &[], period, period).await.unwrap();
    assert_eq!(
        taken,
        vec![],
        "live leases were taken by the fast-clock instance"
    );
    for lease in ahead.all().await.unwrap() {
        assert_eq!(lease.owner.as_deref(), Some("on-time"));
        assert_eq!(lease.epoch, 1);
    }
}

#[tokio::test]
async fn a_step_of_the_wall_clock_after_the_measure_changes_nothing() {
    let t = Target::any("a_step_of_the_wall_clock_after_the_measure_changes_nothing").await;
    let client = mongodb::Client::with_uri_str(t.uri()).await.unwrap();
    let clock = ServerClock::default();
    clock.sync(&client.database("admin")).await.unwrap();
    clock.step_local(HOUR_MS);
    let true_now = bson::DateTime::now().timestamp_millis();
    let read = clock.now_ms();
    assert!(
        (read - true_now).abs() < 5_000,
        "read {read}, true {true_now}"
    );
}
