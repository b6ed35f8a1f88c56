//! Helpers: run the binary from the repository root, in a fresh temp dir per test.

use assert_cmd::Command;
use std::path::PathBuf;

/// The repository root (where `rules/` and `examples/` are).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `herald` with the working directory at the repository root and quiet logs.
pub fn herald() -> Command {
    let mut cmd = Command::cargo_bin("herald").expect("the herald binary");
    cmd.current_dir(root())
        .env("RUST_LOG", "error")
        .env_remove("HERALD_RULES")
        .env_remove("HERALD_STORE")
        .env_remove("HERALD_CONFIG");
    cmd
}

/// A fresh directory for one test, removed when dropped.
pub struct Dir(tempfile::TempDir);

impl Dir {
    pub fn new() -> Self {
        Self(tempfile::tempdir().expect("temp dir"))
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    /// Writes a file (creating parent directories) and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("parent dir");
        }
        std::fs::write(&path, contents).expect("write file");
        path
    }
}

/// Declares a test that gets a fresh [`Dir`] as `$dir`.
macro_rules! herald_test {
    ($name:ident, |$dir:ident| $body:block) => {
        #[test]
        fn $name() {
            let $dir = $crate::util::Dir::new();
            $body
        }
    };
}

/// Stdout of a finished command as text.
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stderr of a finished command as text.
pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The shipped example events.
pub const EVENTS: &str = "examples/approvals/events.jsonl";
