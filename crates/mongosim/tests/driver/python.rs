//! pymongo, another official driver, against mongosim: connect, insert, update, watch, resume.
//!
//! Skipped (with a message) where pymongo is not installed, unless
//! `HERALD_REQUIRE_PYMONGO=1` (as CI sets it after installing pymongo).

use std::process::Command;

#[tokio::test]
async fn pymongo_connects_watches_and_resumes() {
    let available = Command::new("python3")
        .args(["-c", "import pymongo"])
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        assert!(
            std::env::var("HERALD_REQUIRE_PYMONGO").is_err(),
            "HERALD_REQUIRE_PYMONGO is set but pymongo cannot be imported"
        );
        eprintln!("pymongo is not installed; skipping the pymongo check (pip install pymongo)");
        return;
    }
    let sim = mongosim::MongoSim::builder().start().await.unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pymongo_check.py");
    let uri = sim.uri();
    let output =
        tokio::task::spawn_blocking(move || Command::new("python3").arg(script).arg(uri).output())
            .await
            .unwrap()
            .unwrap();
    assert!(
        output.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("ok against"));
}
