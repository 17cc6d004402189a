//! Fetches SMART clients' JWK Sets from their registered `jwks_uri` (SMART-49) and caches each no
//! longer than its `Cache-Control` allows (no header or `no-store`/`no-cache`: not cached).

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;

/// Longest we keep a JWKS whatever the server says, so key revocation takes effect.
const MAX_CACHE_SECS: i64 = 3600;
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Why a JWKS could not be had.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("fetching {0} failed")]
    Fetch(String),
    #[error("{0} did not answer 200")]
    Status(String),
    #[error("{0} is not a JWK Set")]
    NotJwks(String),
}

/// Shared cache of fetched JWK Sets, keyed by URL.
pub struct JwksCache {
    http: reqwest::blocking::Client,
    entries: Mutex<HashMap<String, (Value, i64)>>,
}

impl Default for JwksCache {
    fn default() -> Self {
        Self::new()
    }
}

impl JwksCache {
    pub fn new() -> Self {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| reqwest::blocking::Client::new());
        JwksCache { http, entries: Mutex::new(HashMap::new()) }
    }

    /// The JWK Set at `url`, from the cache while fresh.
    pub fn get(&self, url: &str, now: i64) -> Result<Value, JwksError> {
        if let Some((jwks, until)) = self.entries.lock().get(url) {
            if now < *until {
                return Ok(jwks.clone());
            }
        }
        let res = self.http.get(url).send().map_err(|_| JwksError::Fetch(url.to_string()))?;
        if res.status() != reqwest::StatusCode::OK {
            return Err(JwksError::Status(url.to_string()));
        }
        let max_age = res
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map(cache_lifetime)
            .unwrap_or(0);
        let bytes = res.bytes().map_err(|_| JwksError::Fetch(url.to_string()))?;
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(JwksError::NotJwks(url.to_string()));
        }
        let jwks: Value = serde_json::from_slice(&bytes).map_err(|_| JwksError::NotJwks(url.to_string()))?;
        if !jwks.get("keys").is_some_and(Value::is_array) {
            return Err(JwksError::NotJwks(url.to_string()));
        }
        if max_age > 0 {
            self.entries.lock().insert(url.to_string(), (jwks.clone(), now + max_age));
        }
        Ok(jwks)
    }
}

/// Seconds a response may be cached per its Cache-Control header (capped).
fn cache_lifetime(header: &str) -> i64 {
    let mut max_age = 0;
    for directive in header.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return 0;
        }
        if let Some(v) = lower.strip_prefix("max-age=") {
            max_age = v.trim_matches('"').parse::<i64>().unwrap_or(0);
        }
    }
    max_age.clamp(0, MAX_CACHE_SECS)
}

#[cfg(test)]
mod tests {
    use super::cache_lifetime;

    #[test]
    fn cache_control_bounds_the_cache() {
        // SMART-49: cached no longer than Cache-Control allows.
        assert_eq!(cache_lifetime("max-age=120"), 120);
        assert_eq!(cache_lifetime("public, max-age=99999"), 3600);
        assert_eq!(cache_lifetime("no-store, max-age=120"), 0);
        assert_eq!(cache_lifetime("no-cache"), 0);
        assert_eq!(cache_lifetime("private"), 0);
    }
}
