//! JSON Lines files of change events in MongoDB Extended JSON v2.
//!
//! The file is streamed line by line with one reused buffer, so memory stays
//! flat whatever its size; a line longer than [`MAX_LINE_BYTES`] is a bad
//! line, passed over without being held. Blank lines are allowed. A line that is not a
//! valid change event stops the read with its line and column, unless
//! `skip_bad_lines` is set, in which case it is counted and reported.

use crate::source::{BadLine, Batch, Source, SourceError, SourcedEvent};
use herald_core::{ChangeEvent, Position, extjson};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The longest line read: three times MongoDB's 16 MiB document limit, room
/// for the longest Extended JSON rendering of a real change event. Longer lines
/// are bad lines, so a file without newlines cannot make the reader hold it whole.
pub const MAX_LINE_BYTES: usize = 48 * 1024 * 1024;

/// Events a batch reserves room for at most, whatever its size: a huge
/// `batch_size` grows its batches as they fill instead.
const MAX_RESERVED_EVENTS: usize = 4096;

/// What [`FileSource::read_line`] found.
enum Line {
    /// The end of the file.
    End,
    /// A line, in `line_buf`.
    Read,
    /// A line over [`MAX_LINE_BYTES`], consumed but not kept.
    TooLong,
}

/// How a [`FileSource`] reads.
#[derive(Debug, Clone)]
pub struct FileSourceOptions {
    /// Count and skip malformed lines instead of stopping at the first one.
    pub skip_bad_lines: bool,
    /// Events per batch.
    pub batch_size: usize,
}

impl FileSourceOptions {
    /// Events per batch unless set otherwise: enough to amortise the read,
    /// few enough that an event does not wait long behind its batch (every
    /// event of a batch is read before the first is handed on, so the
    /// batch's length is part of each event's read → done latency).
    pub const DEFAULT_BATCH_SIZE: usize = 256;
}

impl Default for FileSourceOptions {
    fn default() -> Self {
        Self {
            skip_bad_lines: false,
            batch_size: Self::DEFAULT_BATCH_SIZE,
        }
    }
}

/// A source that reads change events from a JSON Lines file.
///
/// ```no_run
/// use herald_ingest::{FileSource, FileSourceOptions};
/// let options = FileSourceOptions { skip_bad_lines: true, ..Default::default() };
/// let source = FileSource::open_with("events.jsonl", options)?;
/// # Ok::<(), herald_ingest::SourceError>(())
/// ```
#[derive(Debug)]
pub struct FileSource {
    path: PathBuf,
    id: Arc<str>,
    reader: BufReader<File>,
    options: FileSourceOptions,
    /// Byte offset of the next unread line.
    offset: u64,
    /// Number of the last line read.
    line: u64,
    line_buf: Vec<u8>,
    skipped_total: u64,
    done: bool,
    /// A bad line met after some good events: those are delivered first, the error next.
    pending_error: Option<BadLine>,
}

impl FileSource {
    /// Opens a file with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SourceError> {
        Self::open_with(path, FileSourceOptions::default())
    }

    /// Opens a file.
    pub fn open_with(
        path: impl AsRef<Path>,
        options: FileSourceOptions,
    ) -> Result<Self, SourceError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| SourceError::Io {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io)?;
        let absolute = std::fs::canonicalize(&path).map_err(io)?;
        Ok(Self {
            id: format!("file:{}", absolute.display()).into(),
            reader: BufReader::with_capacity(256 * 1024, file),
            path,
            options: FileSourceOptions {
                batch_size: options.batch_size.max(1),
                ..options
            },
            offset: 0,
            line: 0,
            line_buf: Vec::with_capacity(4096),
            skipped_total: 0,
            done: false,
            pending_error: None,
        })
    }

    /// The stream's stable name, `file:<absolute path>`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Malformed lines skipped so far.
    pub fn skipped_lines(&self) -> u64 {
        self.skipped_total
    }

    /// Reads the next line into `line_buf`, holding at most [`MAX_LINE_BYTES`] of it.
    fn read_line(&mut self) -> Result<Line, SourceError> {
        let io = |source| SourceError::Io {
            path: self.path.clone(),
            source,
        };
        self.line_buf.clear();
        // Room for the longest line and its `\r\n`.
        let limit = MAX_LINE_BYTES as u64 + 2;
        let mut n = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.line_buf)
            .map_err(io)?;
        let ended = self.line_buf.last() == Some(&b'\n');
        let content = self
            .line_buf
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(&self.line_buf)
            .len();
        let too_long = content > MAX_LINE_BYTES;
        if too_long && ended {
            self.line_buf.clear();
        } else if too_long {
            self.line_buf.clear();
            // Pass over the rest of the line without keeping it.
            loop {
                let buf = self.reader.fill_buf().map_err(io)?;
                let (used, end) = match buf.iter().position(|&b| b == b'\n') {
                    Some(i) => (i + 1, true),
                    None => (buf.len(), buf.is_empty()),
                };
                self.reader.consume(used);
                n += used;
                if end {
                    break;
                }
            }
        }
        self.offset += n as u64;
        self.line += u64::from(n > 0);
        Ok(match (n, too_long) {
            (0, _) => Line::End,
            (_, true) => Line::TooLong,
            (_, false) => Line::Read,
        })
    }

    fn bad(&self, column: usize, message: String) -> BadLine {
        BadLine {
            path: self.path.clone(),
            line: self.line,
            column,
            message,
        }
    }

    fn parse_line(&self) -> Result<Option<ChangeEvent>, BadLine> {
        let bytes = self.line_buf.trim_ascii_end();
        let text = std::str::from_utf8(bytes).map_err(|e| {
            self.bad(
                e.valid_up_to() + 1,
                "the line is not UTF-8 text (an invalid byte here); Extended JSON is UTF-8".into(),
            )
        })?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        let raw = extjson::parse_raw_document(text).map_err(|e| self.bad(e.column, e.message))?;
        ChangeEvent::from_raw(raw)
            .map(Some)
            .map_err(|e| self.bad(1, e.to_string()))
    }

    fn read_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        if let Some(bad) = self.pending_error.take() {
            return Err(SourceError::BadLine(bad));
        }
        if self.done {
            return Ok(None);
        }
        let mut batch = Batch {
            stream: self.id.clone(),
            // Room for a whole batch up front: growing by doubling moved
            // every event read so far (a few hundred bytes each) again and again.
            events: Vec::with_capacity(self.options.batch_size.min(MAX_RESERVED_EVENTS)),
            ..Batch::default()
        };
        while batch.events.len() < self.options.batch_size {
            let parsed = match self.read_line()? {
                Line::End => {
                    self.done = true;
                    break;
                }
                Line::Read => self.parse_line(),
                Line::TooLong => Err(self.bad(
                    MAX_LINE_BYTES + 1,
                    format!(
                        "the line is longer than {} MiB, more than any change event (MongoDB's are at most 16 MiB)",
                        MAX_LINE_BYTES >> 20
                    ),
                )),
            };
            match parsed {
                Ok(Some(event)) => batch.events.push(SourcedEvent {
                    event,
                    position: Position::File {
                        offset: self.offset,
                        line: self.line,
                    },
                }),
                Ok(None) => {}
                Err(bad) if self.options.skip_bad_lines => {
                    self.skipped_total += 1;
                    batch.skipped.push(bad);
                }
                Err(bad) if batch.events.is_empty() => return Err(SourceError::BadLine(bad)),
                Err(bad) => {
                    self.pending_error = Some(bad);
                    break;
                }
            }
        }
        // With a bad line pending, the source stands before it, not after.
        batch.end = batch
            .events
            .last()
            .map(|e| e.position.clone())
            .filter(|_| self.pending_error.is_some())
            .or(Some(Position::File {
                offset: self.offset,
                line: self.line,
            }));
        let empty = batch.events.is_empty() && batch.skipped.is_empty();
        Ok(if empty && self.done {
            None
        } else {
            Some(batch)
        })
    }
}

impl Source for FileSource {
    fn streams(&self) -> Vec<String> {
        vec![self.id.to_string()]
    }

    fn resume_from(&mut self, _stream: &str, position: &Position) -> Result<(), SourceError> {
        let bad = |reason: &str| SourceError::BadPosition {
            path: self.path.clone(),
            position: Box::new(position.clone()),
            reason: reason.to_owned(),
        };
        let &Position::File { offset, line } = position else {
            return Err(bad("it is a change-stream token, not a file position"));
        };
        let io = |source| SourceError::Io {
            path: self.path.clone(),
            source,
        };
        let len = self.reader.get_ref().metadata().map_err(io)?.len();
        if offset > len {
            return Err(bad(
                "the file is shorter than the checkpoint (was it rewritten?); replay it with --from-start",
            ));
        }
        if offset > 0 {
            self.reader.seek(SeekFrom::Start(offset - 1)).map_err(io)?;
            let mut previous = [0u8; 1];
            std::io::Read::read_exact(&mut self.reader, &mut previous).map_err(io)?;
            if previous[0] != b'\n' && offset != len {
                return Err(bad(
                    "the checkpoint is not at a line boundary (was the file rewritten?); replay it with --from-start",
                ));
            }
        }
        self.reader.seek(SeekFrom::Start(offset)).map_err(io)?;
        self.offset = offset;
        self.line = line;
        self.done = false;
        self.pending_error = None;
        Ok(())
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        self.read_batch()
    }
}

#[cfg(test)]
mod tests;
