//! UDAP-48: revocation status of every non-anchor certificate in the built path, from CRLs.
//!
//! For each certificate: the community's configured CRLs from its issuer that are usable (issuer
//! name matches, signature verifies with the issuer's key from the path, lastUpdate <= now <
//! nextUpdate) decide. Only when none is usable are the certificate's http(s) distribution points
//! fetched (through the shared [`CrlFetcher`](super::CrlFetcher), cached until nextUpdate). A failed
//! download is logged with its URL; the `RevocationUnknown` reason says only that it failed.
//! No usable CRL → `RevocationUnknown` under fail-closed, a warning under fail-open.

use std::sync::Arc;

use openssl::x509::X509;

use crate::fetch::FetchError;

use super::certinfo::{serial_hex, CertFacts};
use super::community::TrustCommunity;
use super::crl::ParsedCrl;
use super::error::ChainError;
use super::policy::RevocationPolicy;

/// The `RevocationUnknown` reason when a distribution point's CRL could not be downloaded; fixed
/// text, because the reason may reach a client (the URL and the error are logged).
pub(crate) const CRL_FETCH_FAILED: &str = "the CRL at its distribution point could not be fetched";

/// The outcome of checking a whole path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Coverage {
    /// True when every non-anchor certificate's status was established from a usable CRL.
    /// Fail-open acceptances are not complete and are not cached.
    pub complete: bool,
    /// Latest lastUpdate of the CRLs used (the result holds from then on).
    pub valid_from: Option<i64>,
    /// Earliest nextUpdate of the CRLs used (the result holds until then).
    pub valid_until: Option<i64>,
}

enum Status {
    Good(Vec<Arc<ParsedCrl>>),
    Revoked,
    Unknown(String),
}

/// Checks `path` (leaf first, anchor last; the anchor itself is not checked: it is trusted by
/// configuration). Works from the anchor down so that a revoked CA is reported rather than an
/// unknown status below it; `Revoked` wins over `RevocationUnknown`.
pub(crate) fn check(
    path: &[X509],
    facts: &[CertFacts],
    community: &TrustCommunity,
    now: i64,
) -> Result<Coverage, ChainError> {
    let mut coverage = Coverage {
        complete: true,
        valid_from: None,
        valid_until: None,
    };
    let mut first_unknown: Option<ChainError> = None;
    // Each window is (certificate, its issuer); zipping with `facts` pairs each with its fields.
    for (pair, fields) in path.windows(2).zip(facts.windows(2)).rev() {
        let ([cert, issuer], [f, issuer_f]) = (pair, fields) else {
            continue;
        };
        match status(cert, f, issuer, issuer_f, community, now) {
            Status::Good(crls) => {
                for crl in crls {
                    coverage.valid_from = Some(
                        coverage
                            .valid_from
                            .map_or(crl.this_update, |v| v.max(crl.this_update)),
                    );
                    if let Some(next) = crl.next_update {
                        coverage.valid_until =
                            Some(coverage.valid_until.map_or(next, |v| v.min(next)));
                    }
                }
            }
            Status::Revoked => {
                return Err(ChainError::Revoked {
                    subject: f.subject.clone(),
                    serial: serial_hex(&f.serial),
                });
            }
            Status::Unknown(reason) => {
                coverage.complete = false;
                match community.policy() {
                    RevocationPolicy::FailClosed => {
                        first_unknown.get_or_insert(ChainError::RevocationUnknown {
                            subject: f.subject.clone(),
                            reason,
                        });
                    }
                    RevocationPolicy::FailOpen => {
                        tracing::warn!(
                            community = community.uri(),
                            subject = %f.subject,
                            %reason,
                            "revocation status unknown; accepted because the community is fail-open (UDAP-48)"
                        );
                    }
                }
            }
        }
    }
    match first_unknown {
        Some(err) => Err(err),
        None => Ok(coverage),
    }
}

fn status(
    cert: &X509,
    f: &CertFacts,
    issuer: &X509,
    issuer_f: &CertFacts,
    community: &TrustCommunity,
    now: i64,
) -> Status {
    // RFC 5280 6.3.3 (f): the CRL signer must be allowed to sign CRLs.
    if issuer_f.key_usage.is_some_and(|ku| !ku.crl_sign) {
        return Status::Unknown(format!(
            "the issuer `{}` may not sign CRLs (keyUsage lacks cRLSign)",
            issuer_f.subject
        ));
    }
    let mut reasons = Vec::new();
    let mut usable = Vec::new();
    for crl in community.crls.iter().filter(|c| c.issuer_matches(cert)) {
        match crl.usable_for(cert, f.is_ca, issuer, now) {
            Ok(()) => usable.push(crl.clone()),
            Err(why) => reasons.push(format!("configured {why}")),
        }
    }
    // A fresh configured CRL from the issuer is authoritative: do not touch the network.
    if usable.is_empty() {
        if reasons.is_empty() {
            reasons.push("no CRL from the issuer is configured".into());
        }
        if f.crl_urls.is_empty() {
            reasons.push("the certificate has no http(s) CRL distribution point".into());
        }
        // The URL and the fetch error go to the log only: the reason can reach a client.
        for url in &f.crl_urls {
            match community.fetcher.get(url, now) {
                Ok(crl) => match crl.usable_for(cert, f.is_ca, issuer, now) {
                    Ok(()) => {
                        usable.push(crl);
                        break;
                    }
                    Err(why) => {
                        tracing::warn!(url = ?url, subject = %f.subject, reason = %why, "the CRL from a distribution point cannot be used");
                        reasons.push(format!("{why} (fetched from its distribution point)"));
                    }
                },
                Err(e) => {
                    // A URL backing off was logged when it failed; do not log it per request.
                    if matches!(e, FetchError::Backoff { .. }) {
                        tracing::debug!(error = ?e, subject = %f.subject, "CRL download backing off");
                    } else {
                        tracing::warn!(error = ?e, subject = %f.subject, "CRL download failed");
                    }
                    reasons.push(CRL_FETCH_FAILED.into());
                }
            }
        }
    }
    if usable.is_empty() {
        return Status::Unknown(reasons.join("; "));
    }
    if usable.iter().any(|crl| crl.is_revoked(&f.serial)) {
        return Status::Revoked;
    }
    Status::Good(usable)
}
