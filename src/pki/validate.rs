//! `validate_chain`: the single entry point for x5c validation (UDAP-46..UDAP-52).

use openssl::x509::X509;

use super::cache::ValidationCache;
use super::certinfo::CertFacts;
use super::checks::check_path;
use super::community::TrustCommunity;
use super::error::ChainError;
use super::{path, revocation};

/// Longest x5c accepted. Real UDAP chains have 1-3 elements; the bound limits parsing and
/// path-building work per request.
pub const MAX_X5C_CERTS: usize = 10;

/// A chain that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedChain {
    /// The leaf (`x5c[0]`), DER. Its public key verifies the JWT (UDAP-52 checked its strength).
    pub leaf_der: Vec<u8>,
    /// The leaf's uniformResourceIdentifier SANs; `iss` must equal one of them (UDAP-50).
    pub san_uris: Vec<String>,
    /// The path as built, leaf first, anchor last (may differ from x5c: hints are optional).
    pub path_der: Vec<Vec<u8>>,
    /// The earliest notAfter in the path (unix seconds).
    pub not_after: i64,
    /// SHA-256 of `leaf_der`, e.g. to bind a registration to the certificate.
    pub leaf_sha256: [u8; 32],
}

/// Validates `x5c` (DER, leaf first; further elements are untrusted hints) against `community`
/// at `now` (unix seconds; never read from the clock here, so callers and tests pin it):
///
/// - UDAP-46: build a path to one of the community's anchors via x5c hints and configured
///   intermediates, matching issuers by name, key identifiers and signature;
/// - UDAP-47: every certificate valid at `now`;
/// - UDAP-49: issuers are CAs within their pathLen; the leaf is not a CA;
/// - UDAP-51: leaf keyUsage includes digitalSignature when present (no EKU required);
/// - UDAP-52: RSA >= 2048 bits or EC P-256/P-384 throughout;
/// - UDAP-50: the leaf has at least one SAN URI;
/// - UDAP-48: CRL status of every non-anchor certificate, per the community's policy.
///
/// Successful results are cached in the community while every certificate and every CRL used is
/// within its validity; failures are never cached. Blocking (may fetch CRLs): call it from a
/// blocking thread pool.
pub fn validate_chain(
    x5c: &[Vec<u8>],
    community: &TrustCommunity,
    now: i64,
) -> Result<ValidatedChain, ChainError> {
    if x5c.is_empty() {
        return Err(ChainError::Empty);
    }
    if x5c.len() > MAX_X5C_CERTS {
        return Err(ChainError::TooManyCertificates {
            count: x5c.len(),
            max: MAX_X5C_CERTS,
        });
    }
    let key = ValidationCache::key(x5c);
    if let Some(hit) = community.cache.get(&key, now) {
        return Ok(hit);
    }

    let mut certs = Vec::with_capacity(x5c.len());
    for (index, der) in x5c.iter().enumerate() {
        // x509-parser is the stricter parser (trailing bytes, duplicate extensions): both must accept.
        if let Err(detail) = CertFacts::parse(der) {
            tracing::debug!(index, %detail, "x5c element rejected as malformed");
            return Err(ChainError::Malformed { index });
        }
        certs.push(X509::from_der(der).map_err(|_| ChainError::Malformed { index })?);
    }
    let (leaf, hints) = certs.split_first().ok_or(ChainError::Empty)?;

    let built = path::build(leaf, hints, community, now)?;
    let mut facts = Vec::with_capacity(built.len());
    let mut path_der = Vec::with_capacity(built.len());
    for cert in &built {
        let der = cert.to_der().map_err(|e| ChainError::Internal {
            detail: e.to_string(),
        })?;
        facts.push(CertFacts::parse(&der).map_err(|detail| ChainError::Internal { detail })?);
        path_der.push(der);
    }
    check_path(&built, &facts)?;
    let coverage = revocation::check(&built, &facts, community, now)?;

    let (Some(leaf_facts), Some(leaf_der)) = (facts.first(), x5c.first().cloned()) else {
        return Err(ChainError::Internal {
            detail: "OpenSSL returned an empty path".into(),
        });
    };
    let not_after = facts
        .iter()
        .map(|f| f.not_after)
        .min()
        .unwrap_or(leaf_facts.not_after);
    let chain = ValidatedChain {
        leaf_sha256: openssl::sha::sha256(&leaf_der),
        san_uris: leaf_facts.san_uris.clone(),
        leaf_der,
        path_der,
        not_after,
    };

    // Cache only results that rest on complete revocation information: a fail-open acceptance
    // must be re-examined (and the distribution point retried) on the next request.
    if coverage.complete {
        let latest_not_before = facts.iter().map(|f| f.not_before).max().unwrap_or(now);
        let valid_from = coverage
            .valid_from
            .map_or(latest_not_before, |v| v.max(latest_not_before));
        // notAfter is inclusive (RFC 5280 4.1.2.5); the window end is exclusive.
        let until_certs = not_after.saturating_add(1);
        let valid_until = coverage
            .valid_until
            .map_or(until_certs, |v| v.min(until_certs));
        community
            .cache
            .insert(key, chain.clone(), valid_from, valid_until, now);
    }
    Ok(chain)
}
