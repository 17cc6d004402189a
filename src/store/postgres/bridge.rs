//! The bridge from the store's synchronous API to the async PostgreSQL driver.
//!
//! The store's methods are synchronous and are called from anywhere: blocking threads (`web::block`)
//! and, for a few cheap reads, actix's async workers themselves. The synchronous `postgres` crate
//! cannot serve the latter: it drives its connection with a runtime of its own and panics when
//! called inside another runtime. So the driver (tokio-postgres, deadpool-postgres) runs on this
//! small runtime, which owns every connection's socket, and `block_on` waits for one future on the
//! calling thread by parking it, which is valid on any thread (it blocks the caller exactly as a
//! redb read does).

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use crate::store::StoreError;

/// Runtime threads: they only move bytes between sockets and waiting callers.
const RUNTIME_THREADS: usize = 2;

pub(crate) struct Bridge {
    // `Option` so `Drop` can shut it down without blocking (the last store handle may be dropped
    // on an async worker, where a blocking runtime drop would panic).
    rt: Option<tokio::runtime::Runtime>,
}

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

impl Bridge {
    pub(crate) fn new() -> Result<Bridge, StoreError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .thread_name("udap-pg")
            .enable_all()
            .build()
            .map_err(|source| StoreError::Thread {
                name: "PostgreSQL driver",
                source,
            })?;
        Ok(Bridge { rt: Some(rt) })
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        // Only `Drop` takes the runtime out.
        match &self.rt {
            Some(rt) => rt.handle(),
            None => unreachable!("the PostgreSQL runtime is only taken out on drop"),
        }
    }

    /// Runs `fut` to completion on the calling thread. Inside it, timers, spawned tasks and new
    /// sockets belong to this bridge's runtime (entered for the duration), never the caller's.
    pub(crate) fn block_on<F: Future>(&self, fut: F) -> F::Output {
        let _entered = self.handle().enter();
        let mut fut = std::pin::pin!(fut);
        let waker = Waker::from(Arc::new(Unpark(thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
            // A spurious wake-up only costs one more poll.
            thread::park();
        }
    }
}

impl Bridge {
    /// Issue 11: runs `fut` as a task of this bridge's runtime, for an async caller to await
    /// without blocking its own thread (the connection's socket stays on this runtime).
    pub(crate) fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle().spawn(fut)
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
