//! Background pruning of expired replay entries (UDAP-5: "never keep entries forever") and of
//! other expired short-lived records (`expiry`).

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Backend, StoreError};

/// The pruner deletes entries that expired at least this long ago, not the moment they expire:
/// a request that read the clock a moment before the pruner did must still find its entry.
pub const PRUNE_GRACE_SECS: i64 = 60;

/// Shortest interval accepted; a zero interval would spin.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// A running pruner thread. Dropping it stops and joins the thread.
pub(crate) struct Pruner {
    // Dropping the sender wakes the thread at once (`Disconnected`) instead of after `interval`.
    stop: Option<mpsc::SyncSender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Pruner {
    pub(crate) fn spawn(
        backend: Backend,
        interval: Duration,
        clock: impl Fn() -> i64 + Send + 'static,
    ) -> Result<Pruner, StoreError> {
        let interval = interval.max(MIN_INTERVAL);
        let (stop, stop_rx) = mpsc::sync_channel::<()>(0);
        let handle = std::thread::Builder::new()
            .name("udap-jti-pruner".into())
            .spawn(move || {
                // Anything but a timeout (the sender dropped: the store is going away) ends it.
                while let Err(RecvTimeoutError::Timeout) = stop_rx.recv_timeout(interval) {
                    prune_once(&backend, clock().saturating_sub(PRUNE_GRACE_SECS));
                }
            })
            .map_err(|source| StoreError::Thread {
                name: "jti pruner",
                source,
            })?;
        Ok(Pruner {
            stop: Some(stop),
            handle: Some(handle),
        })
    }
}

fn prune_once(backend: &Backend, cutoff: i64) {
    match backend.prune_jti(cutoff) {
        // Counts only: jti values identify individual assertions and stay out of the logs.
        Ok(0) => tracing::debug!("replay cache: nothing to prune"),
        Ok(removed) => tracing::info!(removed, "replay cache: pruned expired entries"),
        Err(e) => tracing::warn!(error = %e, "replay cache: pruning failed; will retry"),
    }
    match super::expiry::prune_expired(backend, cutoff) {
        Ok(0) => {}
        Ok(removed) => tracing::info!(
            removed,
            "pruned expired codes, sessions, launches and tokens"
        ),
        Err(e) => tracing::warn!(error = %e, "pruning expired records failed; will retry"),
    }
}

impl Drop for Pruner {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(handle) = self.handle.take() {
            if handle.join().is_err() {
                tracing::error!("replay-cache pruner thread panicked");
            }
        }
    }
}
