//! Why an outbound fetch failed. Every variant carries the URL and the detail for the log; none of
//! it is meant for a client (callers log it and answer with a fixed text).

use thiserror::Error;

/// A failed outbound fetch. `Clone` because one download's outcome is handed to every request
/// that waited on it (single flight).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FetchError {
    /// Not an absolute http(s) URL with a host.
    #[error("{url}: not a fetchable URL: {detail}")]
    BadUrl { url: String, detail: String },
    /// The host is, or resolves only to, an address the policy refuses (loopback, private, ...).
    #[error("{url}: address refused by the outbound address policy: {detail}")]
    AddressRefused { url: String, detail: String },
    /// A redirect to another scheme, host or port, or too many redirects.
    #[error("{url}: redirect refused: {detail}")]
    Redirect { url: String, detail: String },
    /// Connecting or the whole exchange took longer than allowed.
    #[error("{url}: timed out")]
    Timeout { url: String },
    /// The server answered with something other than 200.
    #[error("{url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    /// The body is larger than the cap (refused from Content-Length, or while streaming).
    #[error("{url}: body larger than {max_bytes} bytes")]
    TooLarge { url: String, max_bytes: u64 },
    /// Connection, TLS or protocol failure.
    #[error("{url}: {detail}")]
    Transport { url: String, detail: String },
    /// The body arrived but is not what was expected (not a CRL, not a JWK Set).
    #[error("{url}: unusable content: {detail}")]
    Content { url: String, detail: String },
    /// The URL failed recently; it is not tried again before `retry_at` (unix seconds).
    #[error("{url}: not retried before {retry_at} after a recent failure: {last}")]
    Backoff {
        url: String,
        retry_at: i64,
        last: Box<FetchError>,
    },
    /// Too many outbound fetches are running; refused at once rather than queued.
    #[error("{url}: too many outbound fetches in progress")]
    Busy { url: String },
    /// This client never uses the network (offline deployments, tests).
    #[error("{url}: outbound fetching is disabled")]
    Offline { url: String },
    /// The fetch ended without a result (a panic while parsing); a bug, not the remote's fault.
    #[error("{url}: the fetch did not complete")]
    Internal { url: String },
}

impl FetchError {
    /// Whether this failure says something about the URL and should hold further attempts back.
    /// `Busy` and `Backoff` say something about us, so they never extend the backoff.
    pub(crate) fn backs_off(&self) -> bool {
        !matches!(self, FetchError::Busy { .. } | FetchError::Backoff { .. })
    }

    /// The failure behind a `Backoff`, or this one.
    pub fn root(&self) -> &FetchError {
        match self {
            FetchError::Backoff { last, .. } => last.root(),
            other => other,
        }
    }
}
