//! Outbound HTTP fetches that a remote party can cause: CRLs from certificates' distribution
//! points (`pki::CrlFetcher`) and SMART clients' JWK Sets (`oauth::jwks_cache`); later Tiered
//! OAuth IdP discovery. Everything goes through one client that enforces every bound:
//!
//! - an address policy on the address actually connected to ([`policy`]): loopback, private,
//!   link-local, CGNAT, unique-local and similar ranges only when configured;
//! - redirects only to the same scheme, host and port, at most [`MAX_REDIRECTS`];
//! - connect and total timeouts, and a size cap enforced while streaming the body;
//! - at most [`DEFAULT_MAX_CONCURRENT`] fetches at once (more fail at once with `Busy`);
//! - per URL ([`FetchCache`]): single flight, a negative cache with exponential backoff, a cache
//!   lifetime chosen by the caller, refresh ahead of expiry.
//!
//! Errors ([`FetchError`]) carry the URL and the detail for the log. Callers never show them to a
//! client: they log them and answer with a fixed text.

mod cache;
mod client;
mod error;
// Issue 10 item 6: outbound download counts and latency.
pub mod metrics;
pub mod policy;

#[cfg(test)]
pub(crate) mod test_server;
#[cfg(test)]
mod tests;

pub use cache::{backoff_secs, FetchCache, Fresh, INITIAL_BACKOFF_SECS, MAX_BACKOFF_SECS};
pub use client::{
    Fetched, Limits, Outbound, OutboundConfig, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_CONCURRENT,
    MAX_REDIRECTS,
};
pub use error::FetchError;
pub use metrics::{FetchKind, OutboundMetrics, OUTBOUND_METRICS};
pub use policy::{classify, AddressClass, AddressPolicy};
