//! Issue 10 item 4: a running server serves key changes made by another instance or by an admin
//! command (`keys rotate`, `keys retire`) without a restart, by re-reading the key ring every
//! `KEY_POLL_INTERVAL`. A read is one small list; keys are opened only when the ring changed.

use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::kek::Kek;
use crate::oauth::tokens::LiveKeys;
use crate::store::Store;

/// How often a running server re-reads the key ring. A rotation reaches every instance within
/// this time (and at once on the instance whose admin API made it).
pub const KEY_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The polling thread; dropping it stops and joins the thread.
pub struct KeyPoller {
    stop: Option<SyncSender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl KeyPoller {
    pub fn spawn(
        keys: Arc<LiveKeys>,
        store: Store,
        kek: Option<&'static Kek>,
        interval: Duration,
        clock: fn() -> i64,
    ) -> std::io::Result<Self> {
        let (stop, stop_rx) = sync_channel::<()>(0);
        let handle = std::thread::Builder::new()
            .name("udap-key-poller".into())
            .spawn(move || {
                // The last failure, so a broken key is reported once, not every interval.
                let mut failed: Option<String> = None;
                while let Err(RecvTimeoutError::Timeout) = stop_rx.recv_timeout(interval) {
                    match super::reload(&keys, &store, kek, clock()) {
                        Ok(_) => failed = None,
                        Err(e) => {
                            let text = format!("{e:#}");
                            if failed.as_deref() != Some(text.as_str()) {
                                tracing::error!(error = %text, "the server key ring in the store cannot be served; still signing with the keys in use");
                                failed = Some(text);
                            }
                        }
                    }
                }
            })?;
        Ok(KeyPoller {
            stop: Some(stop),
            handle: Some(handle),
        })
    }
}

impl Drop for KeyPoller {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
