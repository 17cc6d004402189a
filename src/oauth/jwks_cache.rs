//! SMART clients' JWK Sets from their registered `jwks_uri` (SMART-49), through the shared
//! outbound client ([`crate::fetch`]): address policy, same-origin redirects, 5 s timeout, a
//! 256 KiB cap enforced while streaming, one download per URL at a time, failures backed off.
//!
//! Caching follows `Cache-Control` (SMART-49: never longer than it allows): `no-store`,
//! `no-cache` or `max-age=0` → not cached; `max-age=N` → N seconds (at most an hour, so key
//! revocation takes effect). A response that sets no limit at all (no header, or no `max-age`) is
//! kept [`HEURISTIC_CACHE_SECS`]: it did not forbid caching, and a minimum lifetime keeps a flood
//! of assertions from fetching the set per request. An uncached set is still fetched once for all
//! concurrent requests, and a failing `jwks_uri` is not asked again during its backoff.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::fetch::{FetchCache, FetchError, FetchKind, Fresh, Limits, Outbound, OUTBOUND_METRICS};

/// Longest we keep a JWKS whatever the server says, so key revocation takes effect.
const MAX_CACHE_SECS: i64 = 3600;
/// Lifetime of a JWKS whose response sets no limit (RFC 9111 §4.2.2 heuristic freshness).
pub const HEURISTIC_CACHE_SECS: i64 = 60;
/// Largest JWK Set accepted; read in chunks and abandoned as soon as it is passed.
pub const MAX_JWKS_BYTES: u64 = 256 * 1024;
/// Time limit for one JWKS download (connect, redirects and body).
pub const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Shared cache of fetched JWK Sets, keyed by URL.
pub struct JwksCache {
    outbound: Arc<Outbound>,
    cache: FetchCache<Value>,
}

impl Default for JwksCache {
    fn default() -> Self {
        Self::new(Arc::new(Outbound::default()))
    }
}

impl JwksCache {
    pub fn new(outbound: Arc<Outbound>) -> Self {
        JwksCache {
            outbound,
            cache: FetchCache::new(JWKS_FETCH_TIMEOUT + Duration::from_secs(1)),
        }
    }

    /// The JWK Set at `url`, from the cache while fresh. The error is for the log (it names the URL).
    pub fn get(&self, url: &str, now: i64) -> Result<Arc<Value>, FetchError> {
        self.cache.get(url, now, || self.download(url, now))
    }

    fn download(&self, url: &str, now: i64) -> Result<Fresh<Value>, FetchError> {
        // Issue 10 item 6: every download is counted and timed, failures included.
        let started = std::time::Instant::now();
        let result = self.download_unobserved(url, now);
        OUTBOUND_METRICS.observe(FetchKind::Jwks, started, &result);
        result
    }

    fn download_unobserved(&self, url: &str, now: i64) -> Result<Fresh<Value>, FetchError> {
        let fetched = self.outbound.get(
            url,
            Limits {
                max_bytes: MAX_JWKS_BYTES,
                timeout: JWKS_FETCH_TIMEOUT,
            },
        )?;
        let not_jwks = |detail: &str| FetchError::Content {
            url: url.to_string(),
            detail: detail.to_string(),
        };
        let jwks: Value =
            serde_json::from_slice(&fetched.body).map_err(|_| not_jwks("not JSON"))?;
        if !jwks.get("keys").is_some_and(Value::is_array) {
            return Err(not_jwks("not a JWK Set (no `keys` array)"));
        }
        let lifetime = fetched
            .cache_control
            .as_deref()
            .map_or(HEURISTIC_CACHE_SECS, cache_lifetime);
        Ok(Fresh {
            value: jwks,
            expires_at: now.saturating_add(lifetime),
            refresh_at: None,
        })
    }
}

/// Seconds a response may be cached per its Cache-Control header (capped at an hour).
fn cache_lifetime(header: &str) -> i64 {
    let mut max_age = None;
    for directive in header.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return 0;
        }
        if let Some(v) = lower.strip_prefix("max-age=") {
            // An unreadable max-age is treated as 0 (stale), as RFC 9111 §1.2.2 asks.
            max_age = Some(v.trim_matches('"').parse::<i64>().unwrap_or(0));
        }
    }
    max_age
        .unwrap_or(HEURISTIC_CACHE_SECS)
        .clamp(0, MAX_CACHE_SECS)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{cache_lifetime, JwksCache, MAX_JWKS_BYTES};
    use crate::fetch::test_server::{Body, Reply, TestServer};
    use crate::fetch::{FetchError, Outbound};

    const NOW: i64 = 1_800_000_000;

    /// Issue 8 item 4: a JWK Set larger than the cap is abandoned while streaming (the body here
    /// never ends, so reading it whole could not return), and is refused from Content-Length.
    #[test]
    fn oversized_jwks_is_refused_without_reading_it_whole() {
        let server = TestServer::start(|path| match path {
            "/endless" => Reply {
                status: 200,
                headers: vec![],
                body: Body::Endless,
            },
            "/announced" => Reply::ok(vec![b' '; MAX_JWKS_BYTES as usize + 1]),
            _ => Reply::ok(r#"{"keys": []}"#),
        });
        let cache = JwksCache::new(Outbound::shared(true));
        for path in ["/endless", "/announced"] {
            let url = server.url(path);
            assert_eq!(
                cache.get(&url, NOW).unwrap_err(),
                FetchError::TooLarge {
                    url: url.clone(),
                    max_bytes: MAX_JWKS_BYTES
                },
                "{path}"
            );
        }
        assert_eq!(
            *cache.get(&server.url("/small"), NOW).unwrap(),
            serde_json::json!({"keys": []})
        );
        // Not a JWK Set.
        let not_jwks = TestServer::start(|_| Reply::ok(r#"{"kty": "RSA"}"#));
        assert!(matches!(
            JwksCache::new(Arc::new(Outbound::default())).get(&not_jwks.url("/x"), NOW),
            Err(FetchError::AddressRefused { .. })
        ));
        assert!(matches!(
            cache.get(&not_jwks.url("/x"), NOW),
            Err(FetchError::Content { .. })
        ));
    }

    #[test]
    fn cache_control_bounds_the_cache() {
        // SMART-49: cached no longer than Cache-Control allows.
        let rows = [
            ("max-age=120", 120),
            ("public, max-age=99999", 3600),
            ("no-store, max-age=120", 0),
            ("no-cache", 0),
            ("max-age=0", 0),
            ("max-age=abc", 0),
            // No limit given: the heuristic minimum.
            ("private", 60),
            ("public", 60),
        ];
        for (header, want) in rows {
            assert_eq!(cache_lifetime(header), want, "{header}");
        }
    }
}
