//! A trust community as the validator sees it: anchors, intermediates, configured CRLs, the
//! revocation policy, the shared CRL fetcher and this community's cache of validated chains.

use std::fmt;
use std::sync::Arc;

use openssl::x509::X509;

use super::cache::ValidationCache;
use super::certinfo::CertFacts;
use super::crl::ParsedCrl;
use super::error::PkiConfigError;
use super::fetch::CrlFetcher;
use super::pem::parse_blocks;
use super::policy::RevocationPolicy;

/// The trust configuration of one UDAP community (UDAP-46..UDAP-48). Immutable once built;
/// rebuild it to change anchors or CRLs (which also drops its validation cache). `Send + Sync`.
pub struct TrustCommunity {
    uri: String,
    anchors: Vec<X509>,
    intermediates: Vec<X509>,
    pub(crate) crls: Vec<Arc<ParsedCrl>>,
    policy: RevocationPolicy,
    pub(crate) fetcher: Arc<CrlFetcher>,
    pub(crate) cache: ValidationCache,
}

impl fmt::Debug for TrustCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustCommunity")
            .field("uri", &self.uri)
            .field("anchors", &self.anchors.len())
            .field("intermediates", &self.intermediates.len())
            .field("crls", &self.crls.len())
            .field("policy", &self.policy)
            .finish()
    }
}

impl TrustCommunity {
    /// Builds a community from PEM text: each string may hold several certificates (or CRLs).
    /// Anchors and intermediates must be CA certificates (UDAP-49); at least one anchor is
    /// required. Errors name the offending input (`anchor #2`, `CRL #0`). Blocks of other types
    /// (e.g. a private key in the same file) are ignored.
    pub fn from_pem(
        uri: &str,
        anchors_pem: &[String],
        intermediates_pem: &[String],
        crls_pem: &[String],
        policy: RevocationPolicy,
        crl_fetcher: Arc<CrlFetcher>,
    ) -> Result<Self, PkiConfigError> {
        let anchors = parse_ca_certs(uri, "anchor", anchors_pem)?;
        if anchors.is_empty() {
            return Err(PkiConfigError::NoAnchors {
                uri: uri.to_string(),
            });
        }
        let intermediates = parse_ca_certs(uri, "intermediate", intermediates_pem)?;
        let mut crls = Vec::new();
        for (index, text) in crls_pem.iter().enumerate() {
            let blocks = parse_blocks(text).map_err(|detail| PkiConfigError::BadPem {
                uri: uri.to_string(),
                what: "CRL",
                index,
                detail,
            })?;
            let before = crls.len();
            for block in blocks.into_iter().filter(|b| b.label == "X509 CRL") {
                let crl =
                    ParsedCrl::from_der(&block.der).map_err(|detail| PkiConfigError::BadCrl {
                        uri: uri.to_string(),
                        index,
                        detail,
                    })?;
                crls.push(Arc::new(crl));
            }
            if crls.len() == before {
                return Err(PkiConfigError::NoCrl {
                    uri: uri.to_string(),
                    index,
                });
            }
        }
        Ok(TrustCommunity {
            uri: uri.to_string(),
            anchors,
            intermediates,
            crls,
            policy,
            fetcher: crl_fetcher,
            cache: ValidationCache::new(),
        })
    }

    /// The community URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The trust anchors (UDAP-46).
    pub fn anchors(&self) -> &[X509] {
        &self.anchors
    }

    /// Configured intermediates, used when a client omits them from x5c.
    pub fn intermediates(&self) -> &[X509] {
        &self.intermediates
    }

    /// What happens when revocation status is unknown (UDAP-48).
    pub fn policy(&self) -> RevocationPolicy {
        self.policy
    }

    /// Number of configured CRLs.
    pub fn crl_count(&self) -> usize {
        self.crls.len()
    }

    /// Issue 10 item 6: thisUpdate (unix seconds) of the oldest configured CRL, the one most
    /// likely to be stale; `None` without configured CRLs (metrics: `udap_crl_age_seconds`).
    pub fn oldest_crl_this_update(&self) -> Option<i64> {
        self.crls.iter().map(|c| c.this_update).min()
    }

    /// Number of validated chains currently cached (for metrics and tests).
    pub fn cached_validations(&self) -> usize {
        self.cache.len()
    }
}

fn parse_ca_certs(
    uri: &str,
    what: &'static str,
    inputs: &[String],
) -> Result<Vec<X509>, PkiConfigError> {
    let mut out = Vec::new();
    for (index, text) in inputs.iter().enumerate() {
        let blocks = parse_blocks(text).map_err(|detail| PkiConfigError::BadPem {
            uri: uri.to_string(),
            what,
            index,
            detail,
        })?;
        let before = out.len();
        for block in blocks.into_iter().filter(|b| b.label == "CERTIFICATE") {
            let bad = |detail: String| PkiConfigError::BadCertificate {
                uri: uri.to_string(),
                what,
                index,
                detail,
            };
            let facts = CertFacts::parse(&block.der).map_err(bad)?;
            let cert = X509::from_der(&block.der).map_err(|e| bad(e.to_string()))?;
            if !facts.is_ca {
                return Err(PkiConfigError::NotCa {
                    uri: uri.to_string(),
                    what,
                    index,
                    subject: facts.subject,
                });
            }
            out.push(cert);
        }
        if out.len() == before {
            return Err(PkiConfigError::NoCertificate {
                uri: uri.to_string(),
                what,
                index,
            });
        }
    }
    Ok(out)
}
