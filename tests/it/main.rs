//! Integration tests: one binary (one link, shared build), each test boots the real server on
//! 127.0.0.1 port 0 with its own data directory and an rcgen PKI (design habit 11).

mod common;

mod admin_api;
mod authcode;
mod browser;
mod cli_roundtrip;
mod discovery;
mod interop;
mod live_changes;
mod registration;
mod tls;
mod token_client_credentials;
mod token_introspection;
mod token_smart;
mod two_instances;
mod wire_errors;
// Issue 8 item 4: outbound fetches (JWKS, CRLs) and their bounds.
mod outbound_fetch;
// Issue 10 item 6: Prometheus metrics.
mod metrics;
// Issue 10 item 4: signing-key rotation while tokens are live.
mod key_rotation;
// Issue 10 item 5: the audit trail.
mod audit_trail;
