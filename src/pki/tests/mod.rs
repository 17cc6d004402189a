//! Tests of the `pki` module against a PKI generated per run with `pki::ca` (UDAP-46..UDAP-52),
//! plus the interop fixtures in `../shared/interop`. Each table row asserts an exact result.

// Tables read better with owned rows.
#![allow(clippy::cloned_ref_to_slice_refs, clippy::type_complexity)]

mod ca_dir;
mod config;
mod interop;
mod revocation;
mod validate;

use std::net::TcpListener;
use std::sync::{Arc, OnceLock};

use openssl::x509::X509;

use super::ca::{self, CertSpec, IssuedCert, DAY};
use super::subject_string;
use super::testing::TestPki;
use super::CrlFetcher;
use crate::fetch::test_server::{Reply, TestServer};

/// The pinned validation time of the generated PKI (2027-01-15T08:00:00Z).
pub(super) const NOW: i64 = 1_800_000_000;

/// One PKI per test binary run: key generation dominates test time.
pub(super) fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| TestPki::new(NOW).unwrap())
}

/// Subject DN of a generated certificate, as `ChainError` reports it.
pub(super) fn subject(cert: &IssuedCert) -> String {
    subject_string(&X509::from_der(&cert.der).unwrap())
}

/// A leaf spec from the intermediate of the standard PKI.
pub(super) fn leaf_spec(cn: &str) -> CertSpec {
    CertSpec {
        organization: Some(super::testing::ORGANIZATION.into()),
        ..CertSpec::leaf(cn, "https://client.example.org/extra", NOW)
    }
}

/// A CA with the same subject DN as the standard root but its own key (UDAP-46 negative cases).
pub(super) fn evil_root() -> &'static IssuedCert {
    static EVIL: OnceLock<IssuedCert> = OnceLock::new();
    EVIL.get_or_init(|| {
        ca::self_signed(&CertSpec {
            organization: Some(super::testing::ORGANIZATION.into()),
            ..CertSpec::ca("UDAP Test Root CA", NOW)
        })
        .unwrap()
    })
}

/// Serves `der` at any path on 127.0.0.1 and counts requests (the shared fetch test server).
pub(super) fn crl_server(der: Vec<u8>) -> TestServer {
    TestServer::start(move |_| Reply::ok(der.clone()))
}

/// A CRL fetcher allowed to reach 127.0.0.1, as the test harness configures the server.
pub(super) fn local_fetcher() -> CrlFetcher {
    CrlFetcher::with_outbound(crate::fetch::Outbound::shared(true))
}

/// A URL on 127.0.0.1 where nothing listens (connection refused at once, so tests cannot hang).
pub(super) fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/dead.crl")
}

/// PEM → DER of the first block.
pub(super) fn pem_der(pem: &str) -> Vec<u8> {
    super::pem::parse_blocks(pem).unwrap().remove(0).der
}

#[test]
fn shared_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<super::TrustCommunity>();
    assert_send_sync::<super::CrlFetcher>();
    assert_send_sync::<super::ValidatedChain>();
}
