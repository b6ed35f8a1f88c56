//! Without herald's counting allocator (as in this test binary), the engine
//! says that a handler call's memory is bounded only by per-value limits.

use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_engine_warns_when_the_counting_allocator_is_missing() {
    assert!(!herald_script::alloc::is_installed());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.rhai"),
        "const RULE = #{ watch: \"a.b\" };\nfn handle(event) {}\n",
    )
    .unwrap();
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        herald_engine::Engine::builder()
            .rules_dir(dir.path())
            .build()
            .unwrap();
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("WARN") && log.contains("CountingAllocator is not the global allocator"),
        "{log}"
    );
}
