//! udap-server: a UDAP trust-community authorization server with SMART App Launch v2.
//!
//! Protocol rules live in plain modules (`pki`, `jose`, `oauth`); `store` owns persistence;
//! `http` maps the wire to those rules; `cli` is the admin surface. See docs/architecture.md.
pub mod jose;
pub mod pki;
// Issue 8 item 4: the one outbound HTTP client (CRLs, JWK Sets).
pub mod admin;
// Issue 10 item 5: the audit trail.
pub mod audit;
pub mod cli;
pub mod community;
pub mod config;
pub mod dev_community;
pub mod fetch;
pub mod http;
pub mod kek;
pub mod logging;
pub mod oauth;
// Issue 10 item 6: Prometheus text-format primitives (histograms, label escaping).
pub mod prometheus;
pub mod server_keys;
pub mod store;
// Issue 8 (fuzzing): the cargo-fuzz target bodies, shared with the corpus replay test.
#[doc(hidden)]
pub mod fuzzing;
