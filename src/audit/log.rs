//! `AuditLog`: the server's handle for recording events without slowing the request that caused
//! them. A writer thread commits queued events in batches.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::store::Store;

use super::event::AuditEvent;

/// Most events per store commit.
pub const BATCH_MAX: usize = 512;
/// How long the writer gathers events after the first one before it commits.
pub const BATCH_WINDOW: Duration = Duration::from_millis(20);
/// Events waiting for the writer at most; beyond it `record` waits (back-pressure).
pub const QUEUE_CAP: usize = 16 * BATCH_MAX;
/// How long `record` waits for room in a full queue before it drops the event (counted).
pub const FULL_WAIT: Duration = Duration::from_millis(200);
/// Attempts per batch when the store fails (then the batch is dropped and counted).
const COMMIT_ATTEMPTS: u32 = 5;
/// How long `flush` waits at most.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// Counts for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditCounters {
    /// Events committed to the store.
    pub committed: u64,
    /// Events lost: the queue stayed full, or the store refused a batch `COMMIT_ATTEMPTS` times.
    pub dropped: u64,
    /// Store commits (batches).
    pub batches: u64,
}

#[derive(Default)]
struct Queue {
    events: VecDeque<AuditEvent>,
    /// Events accepted so far, and events the writer has finished with (committed or dropped).
    enqueued: u64,
    processed: u64,
    /// Commit without gathering until `processed` reaches this (a `flush` is waiting).
    flush_until: u64,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Signals the writer: the queue became non-empty or full enough, a flush, or close.
    wake: Condvar,
    /// Signals `record`: room in the queue.
    room: Condvar,
    /// Signals `flush`: a batch was processed.
    progress: Condvar,
    source: String,
    committed: AtomicU64,
    dropped: AtomicU64,
    batches: AtomicU64,
    /// The first loss is logged; later ones only counted (a full queue would flood the log).
    loss_logged: AtomicBool,
}

impl Shared {
    fn lost(&self, n: u64, why: &str) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
        if !self.loss_logged.swap(true, Ordering::Relaxed) {
            tracing::error!(events = n, why, "audit events were lost (counted in udap_audit_events_dropped_total; further losses are not logged)");
        }
    }
}

/// Records audit events for the running server (`AppState::audit`).
///
/// `record` stamps the event (id, time, this server's base URL) and queues it; a writer thread
/// commits the queue in batches: one durable store commit per batch of up to `BATCH_MAX`
/// events, `BATCH_WINDOW` (20 ms) after the first one arrives. The queue is bounded: when the
/// store falls behind, `record` blocks for up to `FULL_WAIT` for room, and only then drops the
/// event, counting it (`counters().dropped`) and logging the first loss.
///
/// Durability window: an event is on disk about 20 ms plus one commit after `record` returns. A
/// graceful stop loses nothing (dropping the log, which the server does with its state at stop,
/// commits what is queued and joins the writer); a crash or power loss loses the events of that
/// last window. A failing store is retried `COMMIT_ATTEMPTS` times per batch, with backoff.
///
/// `AuditLog::disabled()` (setting `audit = false`) records nothing.
pub struct AuditLog {
    shared: Option<Arc<Shared>>,
    writer: Option<JoinHandle<()>>,
    /// The store, when the writer thread could not start: events are then committed one by one
    /// on the caller's thread (slower, never lost).
    direct: Option<Store>,
}

impl AuditLog {
    /// Starts the writer over `store`; `base_url` names this server in every record.
    pub fn start(store: Store, base_url: &str) -> AuditLog {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            room: Condvar::new(),
            progress: Condvar::new(),
            source: base_url.to_string(),
            committed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            loss_logged: AtomicBool::new(false),
        });
        let spawned = {
            let (shared, store) = (Arc::clone(&shared), store.clone());
            std::thread::Builder::new()
                .name("udap-audit-writer".into())
                .spawn(move || run(&shared, &store))
        };
        match spawned {
            Ok(writer) => AuditLog {
                shared: Some(shared),
                writer: Some(writer),
                direct: None,
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot start the audit writer thread; audit events are committed one at a time");
                AuditLog {
                    shared: Some(shared),
                    writer: None,
                    direct: Some(store),
                }
            }
        }
    }

    /// Records nothing (`audit = false`).
    pub fn disabled() -> AuditLog {
        AuditLog {
            shared: None,
            writer: None,
            direct: None,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// Stamps `event` and queues it for the writer; cheap unless the queue is full (then it
    /// waits briefly: see the type's documentation).
    pub fn record(&self, event: AuditEvent) {
        let Some(shared) = &self.shared else { return };
        let mut event = event.stamped_at(chrono::Utc::now().timestamp_millis());
        if !event.has_source() {
            event = event.with_source(&shared.source);
        }
        if let Some(store) = &self.direct {
            match store.audit().append_batch(std::slice::from_ref(&event)) {
                Ok(()) => {
                    shared.committed.fetch_add(1, Ordering::Relaxed);
                    shared.batches.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::error!(error = %e, "audit event not stored");
                    shared.lost(1, "store error");
                }
            }
            return;
        }
        let mut q = shared.queue.lock();
        if q.events.len() >= QUEUE_CAP {
            let deadline = Instant::now() + FULL_WAIT;
            while q.events.len() >= QUEUE_CAP && !q.closed {
                if shared.room.wait_until(&mut q, deadline).timed_out() {
                    break;
                }
            }
            if q.events.len() >= QUEUE_CAP || q.closed {
                drop(q);
                shared.lost(1, "the audit queue stayed full");
                return;
            }
        }
        q.events.push_back(event);
        q.enqueued += 1;
        // The writer needs waking when it idles (empty queue) or when a batch is full.
        let wake = q.events.len() == 1 || q.events.len() == BATCH_MAX;
        drop(q);
        if wake {
            shared.wake.notify_one();
        }
    }

    /// `record` for an optional event (a flow step that may or may not produce one).
    pub fn record_opt(&self, event: Option<AuditEvent>) {
        if let Some(e) = event {
            self.record(e);
        }
    }

    /// Waits until every event recorded before this call is committed (or dropped); false if
    /// that took longer than 30 s.
    pub fn flush(&self) -> bool {
        let Some(shared) = &self.shared else {
            return true;
        };
        let mut q = shared.queue.lock();
        let target = q.enqueued;
        q.flush_until = q.flush_until.max(target);
        shared.wake.notify_one();
        let deadline = Instant::now() + FLUSH_TIMEOUT;
        while q.processed < target {
            if shared.progress.wait_until(&mut q, deadline).timed_out() {
                return q.processed >= target;
            }
        }
        true
    }

    /// Committed, dropped and batch counts since start.
    pub fn counters(&self) -> AuditCounters {
        match &self.shared {
            Some(s) => AuditCounters {
                committed: s.committed.load(Ordering::Relaxed),
                dropped: s.dropped.load(Ordering::Relaxed),
                batches: s.batches.load(Ordering::Relaxed),
            },
            None => AuditCounters::default(),
        }
    }
}

impl Drop for AuditLog {
    /// Commits what is queued, then stops the writer.
    fn drop(&mut self) {
        let Some(shared) = &self.shared else { return };
        shared.queue.lock().closed = true;
        shared.wake.notify_one();
        shared.room.notify_all();
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!("the audit writer thread panicked");
            }
        }
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("enabled", &self.is_enabled())
            .field("counters", &self.counters())
            .finish()
    }
}

/// The writer: wait for events, gather for `BATCH_WINDOW` (or until `BATCH_MAX`, a flush or
/// close), commit, repeat; on close, commit everything left, then return.
fn run(shared: &Shared, store: &Store) {
    loop {
        let batch: Vec<AuditEvent> = {
            let mut q = shared.queue.lock();
            while q.events.is_empty() && !q.closed {
                shared.wake.wait(&mut q);
            }
            if q.events.is_empty() {
                return; // closed and drained
            }
            let deadline = Instant::now() + BATCH_WINDOW;
            while q.events.len() < BATCH_MAX && !q.closed && q.flush_until <= q.processed {
                if shared.wake.wait_until(&mut q, deadline).timed_out() {
                    break;
                }
            }
            let n = q.events.len().min(BATCH_MAX);
            q.events.drain(..n).collect()
        };
        shared.room.notify_all();
        let n = batch.len() as u64;
        commit(shared, store, &batch);
        shared.queue.lock().processed += n;
        shared.progress.notify_all();
    }
}

fn commit(shared: &Shared, store: &Store, batch: &[AuditEvent]) {
    let mut backoff = Duration::from_millis(50);
    for attempt in 1..=COMMIT_ATTEMPTS {
        match store.audit().append_batch(batch) {
            Ok(()) => {
                shared
                    .committed
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                shared.batches.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(e) if attempt < COMMIT_ATTEMPTS => {
                tracing::warn!(error = %e, attempt, events = batch.len(), "audit batch not stored; retrying");
                std::thread::sleep(backoff);
                backoff *= 4;
            }
            Err(e) => {
                tracing::error!(error = %e, events = batch.len(), "audit batch not stored");
            }
        }
    }
    shared.lost(batch.len() as u64, "the store refused the batch");
}
