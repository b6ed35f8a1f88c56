//! Stdout for listings that may be long: buffered (one write per block of
//! lines, not per line), and a reader that went away (`| head`) ends the
//! listing quietly rather than as an error.

use crate::exit::Failure;
use std::fmt::Display;
use std::io::{BufWriter, ErrorKind, StdoutLock, Write};

/// Lines on stdout, until the reader closes the pipe.
pub struct Lines {
    /// Buffered: a listing of a million lines is not a million writes.
    out: BufWriter<StdoutLock<'static>>,
    /// The reader closed the pipe: nothing more is written, and a listing
    /// loop stops reading what it would have listed.
    closed: bool,
}

impl Lines {
    /// Stdout, locked for the listing.
    pub fn stdout() -> Self {
        Self {
            out: BufWriter::new(std::io::stdout().lock()),
            closed: false,
        }
    }

    /// Writes `text` and a newline (nothing once the reader has gone).
    pub fn line(&mut self, text: impl Display) -> Result<(), Failure> {
        if self.closed {
            return Ok(());
        }
        let written = writeln!(self.out, "{text}");
        self.settle(written)
    }

    /// True once the reader has closed the pipe: stop producing lines.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Flushes what is buffered.
    pub fn finish(mut self) -> Result<(), Failure> {
        if self.closed {
            return Ok(());
        }
        let flushed = self.out.flush();
        self.settle(flushed)
    }

    /// A broken pipe closes the listing; any other write error fails it (exit 1).
    fn settle(&mut self, result: std::io::Result<()>) -> Result<(), Failure> {
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(e) => Err(Failure::Runtime(
                anyhow::Error::from(e).context("cannot write to stdout"),
            )),
        }
    }
}
