//! The signals of long-running commands: SIGINT and SIGTERM stop them
//! gracefully (a second one exits at once).

use crate::logging::say;
use serde_json::json;

/// Completes on SIGINT or SIGTERM: the engine then stops pulling, finishes
/// and commits. The signals are caught from when this is called (within the
/// runtime), not from when the future is first polled.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).ok();
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    async move {
        let next = |s: &mut Option<tokio::signal::unix::Signal>| {
            let s = s.take();
            async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
        };
        tokio::select! {
            _ = next(&mut interrupt) => {}
            _ = next(&mut terminate) => {}
        }
        second_signal_exits();
    }
}

/// Says herald is shutting down, and makes a second signal exit at once.
fn second_signal_exits() {
    say::info(
        "herald: shutting down: finishing in-flight events (send the signal again to exit at once)",
        json!({}),
    );
    // A second signal exits at once. Commits are atomic, so the store stays
    // consistent; events not yet committed are redone on the next run.
    tokio::spawn(async {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let second_term = async {
            match terminate.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = second_term => {}
        }
        say::info("herald: second signal: exiting now", json!({}));
        std::process::exit(130);
    });
}

/// The shutdown signal, seen by every run of the process (a reload starts a
/// new run; the signal may have come before it).
pub struct Stopping(tokio::sync::watch::Receiver<bool>);

impl Stopping {
    /// Waits for `signal` from now on.
    pub fn new(signal: impl std::future::Future<Output = ()> + Send + 'static) -> Self {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            signal.await;
            let _ = tx.send(true);
        });
        Self(rx)
    }

    /// Completes once the signal came.
    pub async fn wait(&self) {
        let mut rx = self.0.clone();
        // An error is the sender gone, which only a runtime shutting down does.
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// Whether the signal came.
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }
}
