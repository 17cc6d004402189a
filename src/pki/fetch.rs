//! CRLs from cRLDistributionPoints over HTTP(S) (UDAP-48: "CRL distribution points can be fetched
//! over HTTP. Cache CRLs until nextUpdate"), through the shared outbound client
//! ([`crate::fetch`]): one download per URL at a time, failures backed off, a streamed size cap,
//! same-origin redirects, the address policy.
//!
//! A CRL is served from the cache until its nextUpdate (at least [`MIN_CRL_LIFETIME_SECS`] after
//! the download, so a stale or nextUpdate-less CRL is not re-downloaded per request). A background
//! refresher ([`CrlFetcher::spawn_refresher`]) fetches a newer copy once 80% of its validity has
//! passed (or 5 minutes before nextUpdate), so no request waits on a download in steady state.
//!
//! Only URLs from certificates whose signatures already verified up to a trust anchor are fetched
//! (revocation runs after path building), so fetching needs a CA-issued certificate.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use crate::fetch::{FetchCache, FetchError, FetchKind, Fresh, Limits, Outbound, OUTBOUND_METRICS};

use super::crl::ParsedCrl;
use super::pem;

/// Time limit for one CRL download (connect, redirects and body).
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// CRLs larger than this are refused: UDAP community CRLs are small, and the cap bounds memory.
pub const MAX_CRL_BYTES: u64 = 8 * 1024 * 1024;
/// A downloaded CRL is kept at least this long, even when its nextUpdate is sooner or has passed.
pub const MIN_CRL_LIFETIME_SECS: i64 = 60;
/// First backoff after a failed download (doubling per failure, see [`crate::fetch::backoff_secs`]).
pub const FAILURE_BACKOFF_SECS: i64 = crate::fetch::INITIAL_BACKOFF_SECS;
/// Refresh when nextUpdate is this close, even if less than 80% of the validity has passed.
const REFRESH_BEFORE_NEXT_UPDATE_SECS: i64 = 300;

/// Downloads CRLs from distribution points and caches each until its nextUpdate (UDAP-48).
/// Shareable across communities and threads (`Send + Sync`); put it in an `Arc`.
///
/// Blocking: call [`crate::pki::validate_chain`] from a blocking thread pool, not from an async task.
pub struct CrlFetcher {
    outbound: Arc<Outbound>,
    timeout: Duration,
    cache: FetchCache<ParsedCrl>,
    /// Dropping the fetcher drops this sender, which stops the refresher thread at once.
    refresher: Mutex<Option<mpsc::SyncSender<()>>>,
}

impl Default for CrlFetcher {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for CrlFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrlFetcher")
            .field("outbound", &self.outbound)
            .field("cached_urls", &self.cache.len())
            .finish()
    }
}

impl CrlFetcher {
    /// A fetcher with its own outbound client that refuses private networks.
    pub fn new() -> Self {
        Self::with_outbound(Arc::new(Outbound::default()))
    }

    /// A fetcher over the shared outbound client (the server's, which carries the
    /// `outbound_allow_private_networks` setting and the global concurrency bound).
    pub fn with_outbound(outbound: Arc<Outbound>) -> Self {
        CrlFetcher {
            outbound,
            timeout: DEFAULT_FETCH_TIMEOUT,
            // A request waits for another's download of the same CRL no longer than the download may take.
            cache: FetchCache::new(DEFAULT_FETCH_TIMEOUT + Duration::from_secs(1)),
            refresher: Mutex::new(None),
        }
    }

    /// A fetcher that never uses the network: every distribution point counts as unreachable.
    /// For air-gapped deployments (configure CRLs instead), offline checks, and tests.
    pub fn offline() -> Self {
        Self::with_outbound(Arc::new(Outbound::offline()))
    }

    /// The CRL at `url`: cached while `now` is before its expiry, else downloaded (or the download
    /// already running for `url` is awaited). The error is for the log; it names the URL.
    pub(crate) fn get(&self, url: &str, now: i64) -> Result<Arc<ParsedCrl>, FetchError> {
        self.cache.get(url, now, || self.download(url, now))
    }

    /// Forgets every downloaded CRL and failure (a community changed: its distribution points may
    /// have too), so the next validation fetches afresh.
    pub fn clear(&self) {
        self.cache.clear();
    }

    /// Re-downloads every cached CRL whose refresh point has passed at `now` (one pass of the
    /// refresher; tests call it with a pinned time). Returns how many downloads succeeded.
    pub fn refresh_due(&self, now: i64) -> usize {
        let mut refreshed = 0;
        for url in self.cache.due(now) {
            match self.cache.refresh(&url, now, || self.download(&url, now)) {
                Some(Ok(_)) => refreshed += 1,
                Some(Err(e)) => {
                    tracing::warn!(url = %url, error = %e, "CRL refresh failed; the cached CRL is used until it expires")
                }
                None => {}
            }
        }
        refreshed
    }

    /// Requests waiting on the download in progress for `url` (tests).
    #[cfg(test)]
    pub(crate) fn waiters(&self, url: &str) -> usize {
        self.cache.waiters(url)
    }

    /// Starts the background refresher: every `interval`, [`Self::refresh_due`] at `clock()`.
    /// It stops when the fetcher is dropped. Calling it again replaces the previous thread.
    pub fn spawn_refresher(
        self: &Arc<Self>,
        interval: Duration,
        clock: impl Fn() -> i64 + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop, stop_rx) = mpsc::sync_channel::<()>(0);
        let fetcher: Weak<CrlFetcher> = Arc::downgrade(self);
        let interval = interval.max(Duration::from_secs(1));
        std::thread::Builder::new()
            .name("udap-crl-refresher".into())
            .spawn(move || {
                // Anything but a timeout (the sender dropped with the fetcher) ends the thread.
                while let Err(RecvTimeoutError::Timeout) = stop_rx.recv_timeout(interval) {
                    let Some(fetcher) = fetcher.upgrade() else {
                        break;
                    };
                    fetcher.refresh_due(clock());
                }
            })?;
        *self.refresher.lock() = Some(stop);
        Ok(())
    }

    /// Downloads and parses one CRL (DER, or PEM which is converted).
    fn download(&self, url: &str, now: i64) -> Result<Fresh<ParsedCrl>, FetchError> {
        // Issue 10 item 6: every download is counted and timed, failures included.
        let started = std::time::Instant::now();
        let result = self.download_unobserved(url, now);
        OUTBOUND_METRICS.observe(FetchKind::Crl, started, &result);
        result
    }

    fn download_unobserved(&self, url: &str, now: i64) -> Result<Fresh<ParsedCrl>, FetchError> {
        let fetched = self.outbound.get(
            url,
            Limits {
                max_bytes: MAX_CRL_BYTES,
                timeout: self.timeout,
            },
        )?;
        let content = |detail: String| FetchError::Content {
            url: url.to_string(),
            detail,
        };
        let der = der_body(fetched.body).map_err(content)?;
        let crl = ParsedCrl::from_der(&der).map_err(content)?;
        let expires_at = crl
            .next_update
            .unwrap_or(now)
            .max(now.saturating_add(MIN_CRL_LIFETIME_SECS));
        let refresh_at = crl
            .next_update
            .map(|next| refresh_point(crl.this_update, next, now));
        Ok(Fresh {
            value: crl,
            expires_at,
            refresh_at,
        })
    }
}

/// When to fetch a newer copy of a CRL downloaded at `fetched_at`: once 80% of thisUpdate..nextUpdate
/// has passed or nextUpdate is 5 minutes away, whichever is first; but no sooner than a quarter of
/// the remaining validity after this download (1 minute to 1 hour), so a publisher that has not
/// issued a new CRL yet is asked again hourly, not on every refresher pass.
pub(crate) fn refresh_point(this_update: i64, next_update: i64, fetched_at: i64) -> i64 {
    let span = next_update.saturating_sub(this_update).max(0);
    let ahead = this_update
        .saturating_add(span / 5 * 4)
        .min(next_update.saturating_sub(REFRESH_BEFORE_NEXT_UPDATE_SECS));
    let gap = (next_update.saturating_sub(fetched_at) / 4).clamp(60, 3600);
    ahead.max(fetched_at.saturating_add(gap))
}

/// DER as served, or the first X509 CRL block of a PEM body (some servers publish PEM).
fn der_body(body: Vec<u8>) -> Result<Vec<u8>, String> {
    if !body.trim_ascii_start().starts_with(b"-----BEGIN") {
        return Ok(body);
    }
    let text = String::from_utf8(body).map_err(|_| "PEM body is not UTF-8".to_string())?;
    pem::parse_blocks(&text)?
        .into_iter()
        .find(|b| b.label == "X509 CRL")
        .map(|b| b.der)
        .ok_or_else(|| "PEM body holds no X509 CRL block".to_string())
}

#[cfg(test)]
mod tests {
    use super::refresh_point;

    const DAY: i64 = 86_400;

    #[test]
    fn refresh_points() {
        // (thisUpdate, nextUpdate, downloaded at, refresh at)
        let rows = [
            // A week-long CRL fetched when issued: at 80% of the week.
            (0, 7 * DAY, 0, 7 * DAY / 5 * 4),
            // A 10-minute CRL: 5 minutes before nextUpdate comes before 80%.
            (0, 600, 0, 300),
            // Downloaded just before that point: a quarter of the remaining 320 s later.
            (0, 600, 280, 360),
            // Re-downloaded after the refresh point and unchanged: asked again in an hour, not at once.
            (0, 7 * DAY, 6 * DAY, 6 * DAY + 3600),
        ];
        for (this, next, fetched, want) in rows {
            assert_eq!(
                refresh_point(this, next, fetched),
                want,
                "{this} {next} {fetched}"
            );
        }
    }
}
