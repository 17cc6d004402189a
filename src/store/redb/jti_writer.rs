//! The replay-cache writer thread: group commit for jti inserts. UDAP-5.
//!
//! One fsync per token request caps throughput at the disk's sync rate. Instead, callers queue
//! requests here and block on a reply; the writer takes the write lock, drains everything pending
//! into one transaction, decides each request in arrival order, commits once (durably), and only
//! then answers. A caller's latency stays about one commit, and throughput grows with concurrency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

use redb::Database;

use super::jti_tables::JtiTables;
use crate::store::StoreError;

/// Most requests decided in one transaction; bounds the transaction's size and the latency of the
/// last request in a batch.
pub(super) const MAX_BATCH: usize = 4096;

/// Queue depth before callers block on `send` (back-pressure instead of unbounded memory).
pub(super) const QUEUE_DEPTH: usize = 2 * MAX_BATCH;

/// One caller's insert, answered on `reply` after the batch's commit.
pub(super) struct Request {
    pub(super) iss: String,
    pub(super) jti: String,
    pub(super) exp: i64,
    pub(super) now: i64,
    pub(super) reply: Reply,
}

impl Request {
    pub(super) fn new(iss: &str, jti: &str, keep_until: i64, now: i64, reply: Reply) -> Self {
        Request {
            iss: iss.to_owned(),
            jti: jti.to_owned(),
            exp: keep_until,
            now,
            reply,
        }
    }
}

/// Where a decision goes: a thread blocked on a channel, or a task awaiting a oneshot (issue 11:
/// an async caller holds no thread while the commit is on its way to disk).
pub(super) enum Reply {
    Blocking(SyncSender<Result<bool, StoreError>>),
    Async(tokio::sync::oneshot::Sender<Result<bool, StoreError>>),
}

impl Reply {
    /// A send error means the caller is gone; nothing to do.
    fn send(self, result: Result<bool, StoreError>) {
        match self {
            Reply::Blocking(tx) => {
                let _ = tx.send(result);
            }
            Reply::Async(tx) => {
                let _ = tx.send(result);
            }
        }
    }
}

/// Counters shared with `JtiStore`, for metrics and tests.
#[derive(Default)]
pub(super) struct Counters {
    /// Successful group commits.
    pub(super) commits: AtomicU64,
    /// Requests accepted into the queue.
    pub(super) submitted: AtomicU64,
}

/// The writer loop. Returns when every sender is gone (the `JtiStore` was dropped), after
/// answering everything already queued.
pub(super) fn run(db: Arc<Database>, rx: Receiver<Request>, counters: Arc<Counters>) {
    let mut batch: Vec<Request> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        match commit_batch(&db, &rx, &mut batch) {
            Ok(decisions) => {
                counters.commits.fetch_add(1, Ordering::Relaxed);
                tracing::trace!(batch = batch.len(), "replay-cache group commit");
                // `decisions` has one entry per request. Were it ever shorter, the unanswered
                // callers see a closed reply channel, an error, never a false "fresh".
                for (req, fresh) in batch.drain(..).zip(decisions) {
                    req.reply.send(Ok(fresh));
                }
            }
            Err(e) => {
                // The transaction was dropped uncommitted: nothing in this batch is recorded, so
                // every caller gets the error.
                tracing::error!(error = %e, batch = batch.len(), "replay-cache group commit failed");
                let shared: Arc<dyn std::error::Error + Send + Sync> = Arc::new(e);
                for req in batch.drain(..) {
                    req.reply
                        .send(Err(StoreError::Backend(Arc::clone(&shared))));
                }
            }
        }
        batch.clear();
    }
    tracing::debug!("replay-cache writer stopped");
}

/// Decide and durably commit one batch; `batch` holds the first request and gains whatever else
/// is pending.
fn commit_batch(
    db: &Database,
    rx: &Receiver<Request>,
    batch: &mut Vec<Request>,
) -> Result<Vec<bool>, redb::Error> {
    let txn = db.begin_write()?;
    // Drain after taking the write lock, so requests that arrived while we waited for it (behind
    // the previous commit or a prune) join this commit.
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(req) => batch.push(req),
            Err(_) => break,
        }
    }
    let decisions = {
        let mut tables = JtiTables::open(&txn)?;
        // In order, against the transaction's own writes: of duplicates within one batch, the
        // first wins and the rest are replays.
        batch
            .iter()
            .map(|r| tables.insert_if_absent(&r.iss, &r.jti, r.exp, r.now))
            .collect::<Result<Vec<bool>, redb::Error>>()?
    };
    // Default durability is Immediate: when commit returns, the entries are on disk.
    txn.commit()?;
    Ok(decisions)
}
