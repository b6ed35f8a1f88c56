//! Notices appended as JSON lines to a file.

use super::{BoxFuture, Channel, EffectError};
use herald_core::Effect;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Appends one JSON line per effect: `{"key", "rule", "kind", "target", "args"}`.
///
/// Each line is written with one `write` call before the effect counts as
/// done, and the file is flushed to disk (`fdatasync`) before the group that
/// recorded its lines commits (or after every line, with `durability =
/// "always"`), so neither a crash nor a power loss leaves the checkpoint
/// ahead of the file.
#[derive(Debug)]
pub struct FileChannel {
    path: PathBuf,
    file: Mutex<File>,
    /// Flush to disk after every line, not only before each commit.
    sync_each: bool,
}

impl FileChannel {
    /// Opens (creating if needed) the file for appending; its directory is created too.
    pub fn open(path: impl AsRef<Path>) -> std::io::Result<Self> {
        Self::open_with(path, false)
    }

    /// [`FileChannel::open`], flushing to disk after every line if `sync_each`.
    pub fn open_with(path: impl AsRef<Path>, sync_each: bool) -> std::io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Self {
            path,
            file: Mutex::new(file),
            sync_each,
        })
    }

    /// The JSON line written for an effect.
    pub fn line(effect: &Effect) -> String {
        let mut json = serde_json::Map::new();
        json.insert("key".into(), effect.key.as_str().into());
        json.insert("rule".into(), effect.rule.as_ref().into());
        if let serde_json::Value::Object(intent) = effect.intent.to_json() {
            json.extend(intent);
        }
        let mut line = serde_json::Value::Object(json).to_string();
        line.push('\n');
        line
    }
}

impl Channel for FileChannel {
    fn send<'a>(&'a self, effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
        Box::pin(async move {
            let line = Self::line(effect);
            let mut file = self
                .file
                .lock()
                .map_err(|_| EffectError::permanent("file channel lock poisoned"))?;
            file.write_all(line.as_bytes()).map_err(|e| {
                EffectError::transient(format!("cannot append to {}: {e}", self.path.display()))
            })?;
            if self.sync_each {
                file.sync_data().map_err(|e| {
                    EffectError::transient(format!("cannot flush {}: {e}", self.path.display()))
                })?;
            }
            Ok(())
        })
    }

    fn sync(&self) -> Result<(), EffectError> {
        let file = self
            .file
            .lock()
            .map_err(|_| EffectError::permanent("file channel lock poisoned"))?;
        file.sync_data().map_err(|e| {
            EffectError::permanent(format!("cannot flush {} to disk: {e}", self.path.display()))
        })
    }
}
