//! Fetching CRLs from cRLDistributionPoints over HTTP(S), with a cache per URL that lasts until
//! the CRL's nextUpdate (UDAP-48: "CRL distribution points can be fetched over HTTP. Cache CRLs
//! until nextUpdate").
//!
//! Only URLs from certificates whose signatures already verified up to a trust anchor are fetched
//! (revocation runs after path building), so an attacker cannot make us fetch arbitrary URLs
//! without a CA-issued certificate.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;

use super::crl::ParsedCrl;
use super::pem;

/// Default time limit for one CRL download (connect + transfer).
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// CRLs larger than this are refused: UDAP community CRLs are small, and the cap bounds memory.
pub const MAX_CRL_BYTES: u64 = 8 * 1024 * 1024;
/// After a failed download, the same URL is not tried again for this long, so a dead distribution
/// point does not add its timeout to every request.
pub const FAILURE_BACKOFF_SECS: i64 = 60;
/// Bound on cached URLs; distribution points come only from CA-issued certificates, so this is
/// generous, but memory stays bounded regardless.
const MAX_CACHED_URLS: usize = 1024;

enum Entry {
    Crl(Arc<ParsedCrl>),
    Failed { reason: String, retry_at: i64 },
}

/// Downloads CRLs from distribution points and caches each until its nextUpdate (UDAP-48).
/// Shareable across communities and threads (`Send + Sync`); put it in an `Arc`.
///
/// Blocking: call [`crate::pki::validate_chain`] from a blocking thread pool, not from an async task.
pub struct CrlFetcher {
    /// `None` for an offline fetcher, which never touches the network.
    timeout: Option<Duration>,
    /// Built lazily on first use, on the calling (blocking) thread: reqwest's blocking client must
    /// not be created or dropped inside an async runtime.
    client: OnceLock<Result<reqwest::blocking::Client, String>>,
    cache: Mutex<HashMap<String, Entry>>,
}

impl Default for CrlFetcher {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for CrlFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrlFetcher").field("timeout", &self.timeout).field("cached_urls", &self.cache.lock().len()).finish()
    }
}

impl CrlFetcher {
    /// A fetcher with the default 5 s timeout.
    pub fn new() -> Self {
        Self::with_timeout(DEFAULT_FETCH_TIMEOUT)
    }

    /// A fetcher with a custom per-download timeout.
    pub fn with_timeout(timeout: Duration) -> Self {
        CrlFetcher { timeout: Some(timeout), client: OnceLock::new(), cache: Mutex::new(HashMap::new()) }
    }

    /// A fetcher that never uses the network: every distribution point counts as unreachable.
    /// For air-gapped deployments (configure CRLs instead), offline checks, and tests.
    pub fn offline() -> Self {
        CrlFetcher { timeout: None, client: OnceLock::new(), cache: Mutex::new(HashMap::new()) }
    }

    /// Returns the CRL at `url`, from the cache when the cached copy is fresh at `now`, else
    /// downloaded. The `Err` is a human-readable reason for `RevocationUnknown`.
    pub(crate) fn get(&self, url: &str, now: i64) -> Result<Arc<ParsedCrl>, String> {
        if let Some(entry) = self.cache.lock().get(url) {
            match entry {
                Entry::Crl(crl) if crl.fresh_at(now).is_ok() => return Ok(crl.clone()),
                Entry::Failed { reason, retry_at } if now < *retry_at => {
                    return Err(format!("fetching {url} failed recently: {reason}"))
                }
                _ => {}
            }
        }
        // The lock is not held while downloading: a slow distribution point must not stall
        // lookups of other URLs. Two threads may fetch the same URL at once; that is harmless.
        let result = self.download(url).and_then(|der| ParsedCrl::from_der(&der).map(Arc::new));
        let mut cache = self.cache.lock();
        if cache.len() >= MAX_CACHED_URLS && !cache.contains_key(url) {
            cache.retain(|_, e| match e {
                Entry::Crl(c) => c.fresh_at(now).is_ok(),
                Entry::Failed { retry_at, .. } => now < *retry_at,
            });
            if cache.len() >= MAX_CACHED_URLS {
                cache.clear();
            }
        }
        match result {
            Ok(crl) => {
                cache.insert(url.to_string(), Entry::Crl(crl.clone()));
                Ok(crl)
            }
            Err(reason) => {
                cache.insert(url.to_string(), Entry::Failed { reason: reason.clone(), retry_at: now.saturating_add(FAILURE_BACKOFF_SECS) });
                Err(format!("fetching {url} failed: {reason}"))
            }
        }
    }

    fn client(&self, timeout: Duration) -> Result<&reqwest::blocking::Client, String> {
        self.client
            .get_or_init(|| {
                reqwest::blocking::Client::builder()
                    .timeout(timeout)
                    .connect_timeout(timeout)
                    .redirect(reqwest::redirect::Policy::limited(3))
                    .user_agent(concat!("udap-server/", env!("CARGO_PKG_VERSION"), " crl-fetcher"))
                    .build()
                    .map_err(|e| format!("HTTP client unavailable: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Downloads the body (DER, or PEM which is converted), capped at [`MAX_CRL_BYTES`].
    fn download(&self, url: &str) -> Result<Vec<u8>, String> {
        let Some(timeout) = self.timeout else {
            return Err("CRL fetching is disabled (offline)".into());
        };
        let parsed = url::Url::parse(url).map_err(|e| format!("bad URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("unsupported scheme `{}`", parsed.scheme()));
        }
        let response = self.client(timeout)?.get(parsed).send().map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP status {}", response.status()));
        }
        if response.content_length().is_some_and(|len| len > MAX_CRL_BYTES) {
            return Err(format!("CRL larger than {MAX_CRL_BYTES} bytes"));
        }
        let mut body = Vec::new();
        response.take(MAX_CRL_BYTES + 1).read_to_end(&mut body).map_err(|e| e.to_string())?;
        if body.len() as u64 > MAX_CRL_BYTES {
            return Err(format!("CRL larger than {MAX_CRL_BYTES} bytes"));
        }
        // DER starts with a SEQUENCE tag; some servers publish PEM instead.
        if body.trim_ascii_start().starts_with(b"-----BEGIN") {
            let text = String::from_utf8(body).map_err(|_| "PEM body is not UTF-8".to_string())?;
            let blocks = pem::parse_blocks(&text)?;
            return blocks
                .into_iter()
                .find(|b| b.label == "X509 CRL")
                .map(|b| b.der)
                .ok_or_else(|| "PEM body holds no X509 CRL block".to_string());
        }
        Ok(body)
    }
}
