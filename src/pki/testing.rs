//! A standard test PKI, for tests in this crate and in `tests/` (not compiled out, so integration
//! tests can use it; never use it in production). Built fresh per call with [`super::ca`]:
//!
//! ```text
//! root CA (RSA-2048, anchor)
//! └── intermediate CA (RSA-2048, pathLen 0)
//!     ├── RSA-2048 leaf, SAN URI RSA_LEAF_SAN
//!     └── EC P-256 leaf, SAN URI EC_LEAF_SAN
//! ```
//! plus an empty CRL from each CA, valid from an hour before `now` for a week.
//!
//! ```no_run
//! use udap_server::pki::{testing::TestPki, validate_chain};
//! let now = 1_800_000_000;
//! let pki = TestPki::new(now)?;
//! let community = pki.community()?;
//! let chain = validate_chain(&pki.x5c(&pki.rsa_leaf), &community, now)?;
//! assert_eq!(chain.san_uris, vec![udap_server::pki::testing::RSA_LEAF_SAN.to_string()]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;

use super::ca::{self, CertSpec, IssuedCert, KeyKind, DAY};
use super::community::TrustCommunity;
use super::error::{CaError, PkiConfigError};
use super::fetch::CrlFetcher;
use super::policy::RevocationPolicy;

/// URI of the standard test community.
pub const COMMUNITY_URI: &str = "urn:example:udap-test-community";
/// SAN URI of the RSA leaf.
pub const RSA_LEAF_SAN: &str = "https://client.example.org/rsa";
/// SAN URI of the EC leaf.
pub const EC_LEAF_SAN: &str = "https://client.example.org/ec";
/// Subject O of every certificate of the test PKI.
pub const ORGANIZATION: &str = "UDAP Test Community";

/// The standard test PKI (see the module documentation).
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The time the PKI was built for (unix seconds); everything is valid at it.
    pub now: i64,
    pub root: IssuedCert,
    pub intermediate: IssuedCert,
    pub rsa_leaf: IssuedCert,
    pub ec_leaf: IssuedCert,
    /// Empty CRL from the root (covers the intermediate).
    pub root_crl_pem: String,
    /// Empty CRL from the intermediate (covers the leaves).
    pub intermediate_crl_pem: String,
}

impl TestPki {
    /// Builds the PKI valid at `now` (certificates from a day before, CRLs from an hour before).
    pub fn new(now: i64) -> Result<Self, CaError> {
        let root = ca::self_signed(&CertSpec {
            organization: Some(ORGANIZATION.into()),
            ..CertSpec::ca("UDAP Test Root CA", now)
        })?;
        let intermediate = ca::issue(
            &CertSpec {
                organization: Some(ORGANIZATION.into()),
                path_len: Some(0),
                not_after: now + 5 * 365 * DAY,
                ..CertSpec::ca("UDAP Test Intermediate CA", now)
            },
            &root.cert_pem,
            &root.key_pem,
        )?;
        let rsa_leaf = ca::issue(
            &CertSpec {
                organization: Some(ORGANIZATION.into()),
                ..CertSpec::leaf("RSA test client", RSA_LEAF_SAN, now)
            },
            &intermediate.cert_pem,
            &intermediate.key_pem,
        )?;
        let ec_leaf = ca::issue(
            &CertSpec {
                organization: Some(ORGANIZATION.into()),
                key: KeyKind::EcP256,
                ..CertSpec::leaf("EC test client", EC_LEAF_SAN, now)
            },
            &intermediate.cert_pem,
            &intermediate.key_pem,
        )?;
        let root_crl_pem = ca::crl(
            &root.cert_pem,
            &root.key_pem,
            &[],
            1,
            now - 3600,
            now + 7 * DAY,
        )?;
        let intermediate_crl_pem = ca::crl(
            &intermediate.cert_pem,
            &intermediate.key_pem,
            &[],
            1,
            now - 3600,
            now + 7 * DAY,
        )?;
        Ok(TestPki {
            now,
            root,
            intermediate,
            rsa_leaf,
            ec_leaf,
            root_crl_pem,
            intermediate_crl_pem,
        })
    }

    /// Issues another leaf from the intermediate, e.g. `CertSpec { key_usage: ..., ..CertSpec::leaf(..) }`.
    pub fn issue_leaf(&self, spec: &CertSpec) -> Result<IssuedCert, CaError> {
        ca::issue(
            spec,
            &self.intermediate.cert_pem,
            &self.intermediate.key_pem,
        )
    }

    /// The x5c a client sends: the leaf, then the intermediate (DER).
    pub fn x5c(&self, leaf: &IssuedCert) -> Vec<Vec<u8>> {
        vec![leaf.der.clone(), self.intermediate.der.clone()]
    }

    /// A CRL from the intermediate listing `revoked_serials_hex`, valid from an hour before `now` for a week.
    pub fn intermediate_crl(&self, revoked_serials_hex: &[String]) -> Result<String, CaError> {
        ca::crl(
            &self.intermediate.cert_pem,
            &self.intermediate.key_pem,
            revoked_serials_hex,
            2,
            self.now - 3600,
            self.now + 7 * DAY,
        )
    }

    /// The standard community: the root as anchor, both empty CRLs configured, fail-closed, and
    /// an offline CRL fetcher (nothing touches the network).
    pub fn community(&self) -> Result<TrustCommunity, PkiConfigError> {
        self.community_with(
            false,
            vec![self.root_crl_pem.clone(), self.intermediate_crl_pem.clone()],
            RevocationPolicy::FailClosed,
            Arc::new(CrlFetcher::offline()),
        )
    }

    /// A community with the root as anchor, the intermediate configured if `with_intermediate`,
    /// the given CRLs (PEM), policy and fetcher.
    pub fn community_with(
        &self,
        with_intermediate: bool,
        crls_pem: Vec<String>,
        policy: RevocationPolicy,
        fetcher: Arc<CrlFetcher>,
    ) -> Result<TrustCommunity, PkiConfigError> {
        let intermediates = if with_intermediate {
            vec![self.intermediate.cert_pem.clone()]
        } else {
            Vec::new()
        };
        TrustCommunity::from_pem(
            COMMUNITY_URI,
            std::slice::from_ref(&self.root.cert_pem),
            &intermediates,
            &crls_pem,
            policy,
            fetcher,
        )
    }
}
