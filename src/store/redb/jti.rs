//! The replay cache on redb: a group-committing writer thread over the jti tables. UDAP-5.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use redb::Database;

use super::jti_tables;
use super::jti_writer::{self, Counters, Reply, Request, QUEUE_DEPTH};
use crate::store::StoreError;

/// Replay cache keyed by `(iss, jti)`, each entry kept until that JWT's `exp`. UDAP-5.
///
/// Inserts go through one writer thread that group-commits them (see `jti_writer`). Calls block
/// until the commit is on disk; from async code, call them on a blocking thread
/// (`actix_web::web::block`, `tokio::task::spawn_blocking`).
pub(crate) struct RedbJti {
    db: Arc<Database>,
    // `Option` only so `Drop` can close the queue before joining the writer.
    tx: Option<mpsc::SyncSender<Request>>,
    writer: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl RedbJti {
    /// Start the writer thread over `db`, whose jti tables already exist.
    pub(crate) fn start(db: Arc<Database>) -> Result<RedbJti, StoreError> {
        let (tx, rx) = mpsc::sync_channel(QUEUE_DEPTH);
        let counters = Arc::new(Counters::default());
        let writer = {
            let db = Arc::clone(&db);
            let counters = Arc::clone(&counters);
            std::thread::Builder::new()
                .name("udap-jti-writer".into())
                .spawn(move || jti_writer::run(db, rx, counters))
                .map_err(|source| StoreError::Thread {
                    name: "jti writer",
                    source,
                })?
        };
        Ok(RedbJti {
            db,
            tx: Some(tx),
            writer: Some(writer),
            counters,
        })
    }

    /// UDAP-5: atomically record `(iss, jti)` until `keep_until`.
    ///
    /// `keep_until` is the last time at which the server could still accept that JWT: its `exp`
    /// plus the clock skew the verifier allows (`jose::TimeRules::accepted_until`). Keeping the
    /// entry only until `exp` would let the same JWT be accepted again inside the skew window.
    ///
    /// Returns `Ok(true)` if the pair is fresh (now recorded and durably committed), `Ok(false)` if
    /// it is a replay of a JWT that could still be accepted. An entry whose `keep_until < now` is
    /// spent and is replaced, since the IG requires allowing reuse after expiration. Of concurrent
    /// calls with the same pair exactly one returns true. On `Err` nothing is known to be
    /// recorded; treat the request as failed (never as fresh).
    pub(crate) fn insert_if_absent(
        &self,
        iss: &str,
        jti: &str,
        keep_until: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let tx = self.tx.as_ref().ok_or(StoreError::WriterStopped)?;
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        let request = Request::new(iss, jti, keep_until, now, Reply::Blocking(reply_tx));
        tx.send(request).map_err(|_| StoreError::WriterStopped)?;
        self.counters.submitted.fetch_add(1, Ordering::Relaxed);
        // A dropped reply sender (writer gone mid-batch) is an error, never a "fresh".
        reply_rx.recv().map_err(|_| StoreError::WriterStopped)?
    }

    /// `insert_if_absent` for async callers (issue 11): the same queue and group commit, but the
    /// decision comes back on a oneshot, so no thread waits for the commit. A full queue is waited
    /// out with short sleeps (back-pressure) rather than by blocking the async worker.
    pub(crate) async fn insert_if_absent_async(
        &self,
        iss: &str,
        jti: &str,
        keep_until: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let tx = self.tx.as_ref().ok_or(StoreError::WriterStopped)?;
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
        let mut request = Request::new(iss, jti, keep_until, now, Reply::Async(reply_tx));
        loop {
            match tx.try_send(request) {
                Ok(()) => break,
                Err(mpsc::TrySendError::Full(back)) => {
                    request = back;
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                Err(mpsc::TrySendError::Disconnected(_)) => return Err(StoreError::WriterStopped),
            }
        }
        self.counters.submitted.fetch_add(1, Ordering::Relaxed);
        // A dropped reply sender (writer gone mid-batch) is an error, never a "fresh".
        reply_rx.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Delete entries with `exp < now`; returns how many. Runs in chunks of its own transactions,
    /// which serialize with the writer's commits through redb's write lock.
    pub(crate) fn prune_expired(&self, now: i64) -> Result<usize, StoreError> {
        Ok(jti_tables::prune_expired(&self.db, now)?)
    }

    /// Group commits performed by the writer since start (for metrics: with `insert_count`, the
    /// mean batch size).
    pub(crate) fn commit_count(&self) -> u64 {
        self.counters.commits.load(Ordering::Relaxed)
    }

    /// Inserts accepted into the writer's queue since start.
    pub(crate) fn insert_count(&self) -> u64 {
        self.counters.submitted.load(Ordering::Relaxed)
    }

    /// Entries currently stored (live, or expired and not yet pruned).
    pub(crate) fn len(&self) -> Result<u64, StoreError> {
        Ok(jti_tables::count(&self.db)?)
    }
}

impl Drop for RedbJti {
    fn drop(&mut self) {
        // Closing the queue lets the writer answer what is queued and exit; joining it releases
        // its handle on the database before the file lock is dropped.
        self.tx = None;
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!("replay-cache writer thread panicked");
            }
        }
    }
}
