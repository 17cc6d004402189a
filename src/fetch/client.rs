//! The one outbound HTTP client: address policy, same-origin redirects (at most 3), connect and
//! total timeouts, a streamed size cap, and a bound on concurrent fetches.
//!
//! Blocking: call it from a blocking thread (the token endpoint's blocking pool, the CRL
//! refresher), never from an async task.

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use url::{Host, Url};

use super::error::FetchError;
use super::policy::{AddressPolicy, PolicyResolver, Refused};

/// Redirects followed per fetch, all to the same scheme, host and port.
pub const MAX_REDIRECTS: usize = 3;
/// Outbound fetches running at once, over all URLs; more are refused (`Busy`) instead of queued,
/// so a flood cannot hold every blocking thread on slow remote hosts.
pub const DEFAULT_MAX_CONCURRENT: usize = 8;
/// Time allowed to establish a TCP (and TLS) connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How the outbound client is built.
#[derive(Debug, Clone, Copy)]
pub struct OutboundConfig {
    pub policy: AddressPolicy,
    pub max_concurrent: usize,
    pub connect_timeout: Duration,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            policy: AddressPolicy::default(),
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// Per-fetch bounds, chosen by the caller (a CRL may be larger than a JWK Set).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body accepted; checked on Content-Length and while streaming.
    pub max_bytes: u64,
    /// The whole exchange: connect, redirects, headers and body.
    pub timeout: Duration,
}

/// A successful response: status 200 and a body within the cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub body: Vec<u8>,
    /// The `Cache-Control` header, if any (JWKS caching, SMART-49).
    pub cache_control: Option<String>,
}

/// The shared outbound HTTP client. `Send + Sync`; share it in an `Arc`.
pub struct Outbound {
    config: OutboundConfig,
    offline: bool,
    /// Built lazily on the first (blocking) fetch: reqwest's blocking client must not be created
    /// inside an async runtime.
    client: OnceLock<Result<reqwest::blocking::Client, String>>,
    active: AtomicUsize,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("config", &self.config)
            .field("offline", &self.offline)
            .finish()
    }
}

impl Default for Outbound {
    fn default() -> Self {
        Self::new(OutboundConfig::default())
    }
}

/// Releases a concurrency slot when the fetch ends, however it ends.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Outbound {
    pub fn new(config: OutboundConfig) -> Self {
        Outbound {
            config,
            offline: false,
            client: OnceLock::new(),
            active: AtomicUsize::new(0),
        }
    }

    /// A client that never touches the network: every fetch fails with `Offline`.
    pub fn offline() -> Self {
        Outbound {
            offline: true,
            ..Self::new(OutboundConfig::default())
        }
    }

    /// A shared client with the default bounds and the given private-network setting.
    pub fn shared(allow_private: bool) -> Arc<Self> {
        Arc::new(Self::new(OutboundConfig {
            policy: AddressPolicy { allow_private },
            ..OutboundConfig::default()
        }))
    }

    pub fn policy(&self) -> AddressPolicy {
        self.config.policy
    }

    /// GETs `url` within `limits`. Only a 200 answer with a body under the cap succeeds.
    pub fn get(&self, url: &str, limits: Limits) -> Result<Fetched, FetchError> {
        if self.offline {
            return Err(FetchError::Offline {
                url: url.to_string(),
            });
        }
        let target = self.check_url(url)?;
        let _slot = self.slot(url)?;
        let client = self.client().map_err(|detail| FetchError::Transport {
            url: url.to_string(),
            detail,
        })?;
        let started = Instant::now();
        let mut response = client
            .get(target)
            .timeout(limits.timeout)
            .send()
            .map_err(|e| from_reqwest(url, &e))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status {
                url: url.to_string(),
                status: response.status().as_u16(),
            });
        }
        let too_large = || FetchError::TooLarge {
            url: url.to_string(),
            max_bytes: limits.max_bytes,
        };
        if response
            .content_length()
            .is_some_and(|len| len > limits.max_bytes)
        {
            return Err(too_large());
        }
        let cache_control = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // Streamed: never more than the cap (plus one read buffer) is held, whatever the server sends.
        let mut body = Vec::with_capacity(
            response.content_length().unwrap_or(0).min(limits.max_bytes) as usize,
        );
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = response.read(&mut buf).map_err(|e| from_io(url, &e))?;
            if n == 0 {
                break;
            }
            if body.len() as u64 + n as u64 > limits.max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&buf[..n]);
            if started.elapsed() > limits.timeout {
                return Err(FetchError::Timeout {
                    url: url.to_string(),
                });
            }
        }
        Ok(Fetched {
            body,
            cache_control,
        })
    }

    /// An absolute http(s) URL with a host; a literal IP host must pass the address policy here
    /// (the resolver only sees names).
    fn check_url(&self, url: &str) -> Result<Url, FetchError> {
        let bad = |detail: String| FetchError::BadUrl {
            url: url.to_string(),
            detail,
        };
        let parsed = Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad(format!("unsupported scheme `{}`", parsed.scheme())));
        }
        let ip = match parsed.host() {
            None => return Err(bad("no host".into())),
            Some(Host::Ipv4(v4)) => Some(v4.into()),
            Some(Host::Ipv6(v6)) => Some(v6.into()),
            Some(Host::Domain(_)) => None,
        };
        if let Some(ip) = ip {
            self.config
                .policy
                .check(ip)
                .map_err(|detail| FetchError::AddressRefused {
                    url: url.to_string(),
                    detail,
                })?;
        }
        Ok(parsed)
    }

    fn slot(&self, url: &str) -> Result<Slot<'_>, FetchError> {
        let max = self.config.max_concurrent.max(1);
        self.active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map(|_| Slot(&self.active))
            .map_err(|_| FetchError::Busy {
                url: url.to_string(),
            })
    }

    fn client(&self) -> Result<&reqwest::blocking::Client, String> {
        self.client
            .get_or_init(|| {
                reqwest::blocking::Client::builder()
                    .connect_timeout(self.config.connect_timeout)
                    .redirect(same_origin_redirects())
                    .dns_resolver(Arc::new(PolicyResolver {
                        policy: self.config.policy,
                    }))
                    // A proxy would connect for us, out of the address policy's reach.
                    .no_proxy()
                    .referer(false)
                    .user_agent(concat!("udap-server/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| format!("HTTP client unavailable: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// The redirect's refusal, found again in reqwest's error chain to report `Redirect`.
#[derive(Debug)]
struct RedirectRefused(String);

impl std::fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedirectRefused {}

/// Follows at most [`MAX_REDIRECTS`] redirects, each to the original scheme, host and port: a
/// redirect must not carry the fetch to a host the URL's owner does not control.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let previous = attempt.previous();
        if previous.len() > MAX_REDIRECTS {
            return attempt.error(RedirectRefused(format!(
                "more than {MAX_REDIRECTS} redirects"
            )));
        }
        let same = previous
            .first()
            .is_some_and(|first| same_origin(first, attempt.url()));
        if same {
            attempt.follow()
        } else {
            let to = attempt.url().origin().ascii_serialization();
            attempt.error(RedirectRefused(format!(
                "redirect to another origin ({to})"
            )))
        }
    })
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host() == b.host()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Maps a reqwest error to the typed error, keeping the whole source chain as the detail.
fn from_reqwest(url: &str, e: &reqwest::Error) -> FetchError {
    let url = url.to_string();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut chain = Vec::new();
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<Refused>() {
            return FetchError::AddressRefused {
                url,
                detail: refused.0.clone(),
            };
        }
        if let Some(refused) = err.downcast_ref::<RedirectRefused>() {
            return FetchError::Redirect {
                url,
                detail: refused.0.clone(),
            };
        }
        chain.push(err.to_string());
        source = err.source();
    }
    if e.is_timeout() {
        return FetchError::Timeout { url };
    }
    if e.is_redirect() {
        return FetchError::Redirect {
            url,
            detail: chain.join(": "),
        };
    }
    FetchError::Transport {
        url,
        detail: chain.join(": "),
    }
}

fn from_io(url: &str, e: &std::io::Error) -> FetchError {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return FetchError::Timeout {
            url: url.to_string(),
        };
    }
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
    {
        Some(inner) => from_reqwest(url, inner),
        None => FetchError::Transport {
            url: url.to_string(),
            detail: e.to_string(),
        },
    }
}
