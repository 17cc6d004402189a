//! A per-URL cache in front of [`Outbound`](super::Outbound): single flight (concurrent requests
//! for one URL share one download), a negative cache with exponential backoff (a dead or slow
//! host is not hit per request), a lifetime per success chosen by the caller, and refresh ahead
//! of expiry (the cached value keeps being served while the refresh runs).
//!
//! Time is passed in as unix seconds (`now`), like everywhere below the handlers; only the wait for
//! another request's download uses the monotonic clock, bounded by `wait_limit`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::error::FetchError;

/// First backoff after a failure; doubled per consecutive failure up to [`MAX_BACKOFF_SECS`].
pub const INITIAL_BACKOFF_SECS: i64 = 10;
pub const MAX_BACKOFF_SECS: i64 = 300;
/// URLs remembered at most; beyond this, expired entries are dropped, then arbitrary idle ones.
pub const DEFAULT_CAPACITY: usize = 1024;

/// What a successful download yields: the value and how long it may be served.
#[derive(Debug)]
pub struct Fresh<T> {
    pub value: T,
    /// Served from the cache while `now < expires_at`; `expires_at <= now` means not cached.
    pub expires_at: i64,
    /// From this instant a background refresh may fetch a newer copy (CRLs).
    pub refresh_at: Option<i64>,
}

type Outcome<T> = Result<Arc<T>, FetchError>;

/// One download in progress; waiters block on it.
struct Flight<T> {
    result: Mutex<Option<Outcome<T>>>,
    done: Condvar,
    /// Requests waiting on this download (tests wait for them before letting it finish).
    waiting: AtomicUsize,
}

impl<T> Flight<T> {
    fn new() -> Self {
        Flight {
            result: Mutex::new(None),
            done: Condvar::new(),
            waiting: AtomicUsize::new(0),
        }
    }

    fn complete(&self, outcome: Outcome<T>) {
        *self.result.lock() = Some(outcome);
        self.done.notify_all();
    }

    fn wait(&self, url: &str, limit: Duration) -> Outcome<T> {
        let deadline = Instant::now() + limit;
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let outcome = self.wait_until(url, deadline);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        outcome
    }

    fn wait_until(&self, url: &str, deadline: Instant) -> Outcome<T> {
        let mut result = self.result.lock();
        loop {
            if let Some(outcome) = result.as_ref() {
                return outcome.clone();
            }
            if self.done.wait_until(&mut result, deadline).timed_out() && result.is_none() {
                return Err(FetchError::Timeout {
                    url: url.to_string(),
                });
            }
        }
    }
}

struct Cached<T> {
    value: Arc<T>,
    expires_at: i64,
    refresh_at: Option<i64>,
    fetched_at: i64,
}

struct Failure {
    count: u32,
    retry_at: i64,
    error: FetchError,
}

struct Entry<T> {
    value: Option<Cached<T>>,
    failure: Option<Failure>,
    flight: Option<Arc<Flight<T>>>,
    last_used: i64,
}

impl<T> Entry<T> {
    fn new(now: i64) -> Self {
        Entry {
            value: None,
            failure: None,
            flight: None,
            last_used: now,
        }
    }

    fn backing_off(&self, now: i64) -> bool {
        self.failure.as_ref().is_some_and(|f| now < f.retry_at)
    }

    fn live(&self, now: i64) -> bool {
        self.flight.is_some()
            || self.value.as_ref().is_some_and(|c| now < c.expires_at)
            || self.backing_off(now)
    }
}

/// Backoff after `count` consecutive failures: 10 s, 20 s, 40 s, ... at most 5 minutes.
pub fn backoff_secs(count: u32) -> i64 {
    INITIAL_BACKOFF_SECS
        .saturating_mul(1i64 << count.saturating_sub(1).min(16))
        .min(MAX_BACKOFF_SECS)
}

/// The cache. `T` is the parsed value (a CRL, a JWK Set).
pub struct FetchCache<T> {
    entries: Mutex<HashMap<String, Entry<T>>>,
    /// How long a request waits for another request's download of the same URL: the download's
    /// own timeout plus a margin.
    wait_limit: Duration,
    capacity: usize,
}

/// Completes the flight even if the loader panics, so waiters and later requests never hang on it.
struct FlightGuard<'a, T> {
    cache: &'a FetchCache<T>,
    url: &'a str,
    flight: Arc<Flight<T>>,
    armed: bool,
}

impl<T> Drop for FlightGuard<'_, T> {
    fn drop(&mut self) {
        if self.armed {
            if let Some(e) = self.cache.entries.lock().get_mut(self.url) {
                if e.flight
                    .as_ref()
                    .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
                {
                    e.flight = None;
                }
            }
            self.flight.complete(Err(FetchError::Internal {
                url: self.url.to_string(),
            }));
        }
    }
}

impl<T> FetchCache<T> {
    /// A cache whose waiters wait at most `wait_limit` for a shared download.
    pub fn new(wait_limit: Duration) -> Self {
        Self::with_capacity(wait_limit, DEFAULT_CAPACITY)
    }

    /// Forgets every cached value and failure; downloads in progress finish for their waiters.
    pub fn clear(&self) {
        let mut entries = self.entries.lock();
        entries.retain(|_, e| e.flight.is_some());
        for e in entries.values_mut() {
            e.value = None;
            e.failure = None;
        }
    }

    pub fn with_capacity(wait_limit: Duration, capacity: usize) -> Self {
        FetchCache {
            entries: Mutex::new(HashMap::new()),
            wait_limit,
            capacity: capacity.max(1),
        }
    }

    /// The value for `url`: from the cache while it has not expired; else the result of the
    /// download in progress for `url`; else, unless `url` is backing off after a failure, a new
    /// download by `load` (run on this thread, with no lock held).
    pub fn get(
        &self,
        url: &str,
        now: i64,
        load: impl FnOnce() -> Result<Fresh<T>, FetchError>,
    ) -> Outcome<T> {
        let flight = {
            let mut entries = self.entries.lock();
            self.make_room(&mut entries, url, now);
            let entry = entries
                .entry(url.to_string())
                .or_insert_with(|| Entry::new(now));
            entry.last_used = entry.last_used.max(now);
            if let Some(cached) = entry.value.as_ref().filter(|c| now < c.expires_at) {
                return Ok(cached.value.clone());
            }
            if let Some(f) = entry.failure.as_ref().filter(|f| now < f.retry_at) {
                return Err(FetchError::Backoff {
                    url: url.to_string(),
                    retry_at: f.retry_at,
                    last: Box::new(f.error.clone()),
                });
            }
            match &entry.flight {
                Some(flight) => Err(flight.clone()),
                None => {
                    let flight = Arc::new(Flight::new());
                    entry.flight = Some(flight.clone());
                    Ok(flight)
                }
            }
        };
        match flight {
            Ok(mine) => self.run(url, now, mine, load),
            Err(theirs) => theirs.wait(url, self.wait_limit),
        }
    }

    /// Re-downloads `url` ahead of expiry, unless a download is already running or the URL is
    /// backing off. Requests keep getting the cached value meanwhile; a failed refresh keeps it.
    pub fn refresh(
        &self,
        url: &str,
        now: i64,
        load: impl FnOnce() -> Result<Fresh<T>, FetchError>,
    ) -> Option<Outcome<T>> {
        let flight = {
            let mut entries = self.entries.lock();
            let entry = entries.get_mut(url)?;
            if entry.flight.is_some() || entry.backing_off(now) {
                return None;
            }
            let flight = Arc::new(Flight::new());
            entry.flight = Some(flight.clone());
            flight
        };
        Some(self.run(url, now, flight, load))
    }

    /// URLs whose cached value has reached its refresh point, with no download running and not
    /// backing off. Only values requested since they were downloaded: a URL nobody asks for any
    /// more is refreshed at most once.
    pub fn due(&self, now: i64) -> Vec<String> {
        self.entries
            .lock()
            .iter()
            .filter(|(_, e)| {
                e.flight.is_none()
                    && !e.backing_off(now)
                    && e.value.as_ref().is_some_and(|c| {
                        c.refresh_at.is_some_and(|at| at <= now) && e.last_used >= c.fetched_at
                    })
            })
            .map(|(url, _)| url.clone())
            .collect()
    }

    /// Number of URLs remembered (values, failures and downloads in progress).
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Requests waiting on the download in progress for `url` (tests).
    #[cfg(test)]
    pub(crate) fn waiters(&self, url: &str) -> usize {
        let entries = self.entries.lock();
        entries
            .get(url)
            .and_then(|e| e.flight.as_ref())
            .map_or(0, |f| f.waiting.load(Ordering::SeqCst))
    }

    fn run(
        &self,
        url: &str,
        now: i64,
        flight: Arc<Flight<T>>,
        load: impl FnOnce() -> Result<Fresh<T>, FetchError>,
    ) -> Outcome<T> {
        let mut guard = FlightGuard {
            cache: self,
            url,
            flight,
            armed: true,
        };
        let loaded = load();
        let outcome = {
            let mut entries = self.entries.lock();
            let entry = entries
                .entry(url.to_string())
                .or_insert_with(|| Entry::new(now));
            if entry
                .flight
                .as_ref()
                .is_some_and(|f| Arc::ptr_eq(f, &guard.flight))
            {
                entry.flight = None;
            }
            match loaded {
                Ok(fresh) => {
                    let value = Arc::new(fresh.value);
                    entry.failure = None;
                    entry.value = (now < fresh.expires_at).then(|| Cached {
                        value: value.clone(),
                        expires_at: fresh.expires_at,
                        refresh_at: fresh.refresh_at,
                        fetched_at: now,
                    });
                    Ok(value)
                }
                Err(error) => {
                    if error.backs_off() {
                        let count = entry
                            .failure
                            .as_ref()
                            .map_or(0, |f| f.count)
                            .saturating_add(1);
                        entry.failure = Some(Failure {
                            count,
                            retry_at: now.saturating_add(backoff_secs(count)),
                            error: error.clone(),
                        });
                    }
                    Err(error)
                }
            }
        };
        guard.armed = false;
        guard.flight.complete(outcome.clone());
        outcome
    }

    /// Keeps the map under its capacity before `url` is added: expired entries go first, then
    /// arbitrary ones without a download in progress.
    fn make_room(&self, entries: &mut HashMap<String, Entry<T>>, url: &str, now: i64) {
        if entries.len() < self.capacity || entries.contains_key(url) {
            return;
        }
        entries.retain(|_, e| e.live(now));
        while entries.len() >= self.capacity {
            let Some(victim) = entries
                .iter()
                .find(|(_, e)| e.flight.is_none())
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            entries.remove(&victim);
        }
    }
}
