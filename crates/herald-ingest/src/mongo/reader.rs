//! The reader task behind a stream: calls the driver ahead of the batcher,
//! and says when the driver is waiting on the server, so a batch is never
//! held for a getMore that awaits new events.

use bson::RawDocumentBuf;
use mongodb::change_stream::ChangeStream;
use mongodb::change_stream::event::ResumeToken as DriverToken;
use tokio::sync::mpsc;

/// What the reader task passes on, in order.
pub(super) enum Read {
    /// Events (or fragments of split events), in order.
    Events(Vec<RawDocumentBuf>),
    /// The server's batch ran dry; the stream's token now (the post-batch
    /// resume token), and whether the cursor is still open.
    Drained {
        token: Option<DriverToken>,
        alive: bool,
    },
    /// The driver's buffer is empty and it is waiting on the server: what
    /// was read so far is all there is for now.
    Waiting,
    /// The driver failed; the reader has stopped.
    Failed(mongodb::error::Error),
}

/// Calls the driver until the stream fails or closes, or the batcher goes away.
pub(super) async fn read_ahead(
    mut stream: ChangeStream<RawDocumentBuf>,
    tx: mpsc::Sender<Read>,
    max_chunk: usize,
) {
    // Events go on in chunks, one channel message for all the driver had
    // buffered, not one per event.
    let mut chunk = Vec::new();
    loop {
        let next = {
            let mut next = std::pin::pin!(stream.next_if_any());
            // One poll answers from the driver's buffer; if it cannot, the
            // driver has asked the server, so say so before waiting for it.
            match std::future::poll_fn(|cx| std::task::Poll::Ready(next.as_mut().poll(cx))).await {
                std::task::Poll::Ready(next) => next,
                std::task::Poll::Pending => {
                    if !flush(&tx, &mut chunk).await || tx.send(Read::Waiting).await.is_err() {
                        return;
                    }
                    next.await
                }
            }
        };
        let (read, go_on) = match next {
            Ok(Some(raw)) => {
                chunk.push(raw);
                if chunk.len() >= max_chunk && !flush(&tx, &mut chunk).await {
                    return;
                }
                continue;
            }
            Ok(None) => {
                let alive = stream.is_alive();
                let token = stream.resume_token();
                (Read::Drained { token, alive }, alive)
            }
            Err(error) => (Read::Failed(error), false),
        };
        if !flush(&tx, &mut chunk).await || tx.send(read).await.is_err() || !go_on {
            return;
        }
    }
}

/// Sends the events gathered so far, if any; false if the batcher has gone away.
async fn flush(tx: &mpsc::Sender<Read>, chunk: &mut Vec<RawDocumentBuf>) -> bool {
    chunk.is_empty() || tx.send(Read::Events(std::mem::take(chunk))).await.is_ok()
}

/// Stops a task when dropped.
pub(super) struct AbortOnDrop(pub(super) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
