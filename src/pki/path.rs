//! Path building and signature/validity verification with OpenSSL's `X509StoreContext`
//! (UDAP-46, UDAP-47, UDAP-49), and the mapping of OpenSSL's verify codes to [`ChainError`].
//!
//! OpenSSL matches issuers by name, AuthorityKeyIdentifier/SubjectKeyIdentifier and signature,
//! prefers trusted anchors, tries alternative issuers, and checks validity, basicConstraints,
//! pathLen, keyCertSign and nameConstraints. No purpose is set: UDAP does not require an EKU (UDAP-51).
//!
//! ## OpenSSL verify code → `ChainError` (X509_V_ERR_*, values from OpenSSL 3 `x509_vfy.h`)
//! | code | name | variant |
//! |---|---|---|
//! | 9 | CERT_NOT_YET_VALID | `NotYetValid` |
//! | 10 | CERT_HAS_EXPIRED | `Expired` |
//! | 2, 20, 21 | UNABLE_TO_GET_ISSUER_CERT(_LOCALLY), UNABLE_TO_VERIFY_LEAF_SIGNATURE | refined (below) |
//! | 18, 19, 27, 28, 55 | DEPTH_ZERO_SELF_SIGNED_CERT, SELF_SIGNED_CERT_IN_CHAIN, CERT_UNTRUSTED, CERT_REJECTED, PATH_LOOP | `Untrusted` |
//! | 4, 7 | UNABLE_TO_DECRYPT_CERT_SIGNATURE, CERT_SIGNATURE_FAILURE | `BadSignature` |
//! | 22 | CERT_CHAIN_TOO_LONG | `ChainTooLong` |
//! | 79 (OpenSSL 3), 24 (OpenSSL 1.1) | INVALID_CA | `NotCa`, or `KeyUsage` when CA:TRUE but keyUsage lacks keyCertSign |
//! | 25 | PATH_LENGTH_EXCEEDED | `PathLength` (names the CA whose limit is exceeded) |
//! | 32 | KEYUSAGE_NO_CERTSIGN | `KeyUsage` |
//! | 34 | UNHANDLED_CRITICAL_EXTENSION | `UnhandledCriticalExtension` |
//! | 47, 48, 49, 51, 52, 53 | name-constraint violations / unsupported forms | `NameConstraints` |
//! | 66, 67 | EE_KEY_TOO_SMALL, CA_KEY_TOO_SMALL | `WeakKey` |
//! | 68 | CA_MD_TOO_WEAK | `WeakSignature` |
//! | anything else | | `Rejected { code, detail }` |
//!
//! "Issuer not found" (2/20/21) is generic: OpenSSL says it only when no acceptable issuer exists.
//! We then look for a certificate (anchor, configured intermediate or x5c hint) whose subject is
//! the issuer name: none → `Untrusted`; some, but none of their keys verifies the signature →
//! `BadSignature` (same DN, other key: UDAP-46); one verifies but was refused → `NotCa` or
//! `KeyUsage` for that issuer when that explains it, else `Untrusted`.

use std::cmp::Ordering;

use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::{X509VerifyFlags, X509VerifyParam};
use openssl::x509::{X509Ref, X509StoreContext, X509};

use super::certinfo::{subject_string, CertFacts, UNPARSEABLE_SUBJECT};
use super::community::TrustCommunity;
use super::error::ChainError;

/// Bound on the path length OpenSSL will build (leaf + intermediates + anchor); bounds the work.
const MAX_VERIFY_DEPTH: i32 = 8;

// X509_V_ERR_* codes (stable ABI values; openssl-sys is not a direct dependency).
const UNABLE_TO_GET_ISSUER_CERT: i32 = 2;
const UNABLE_TO_DECRYPT_CERT_SIGNATURE: i32 = 4;
const CERT_SIGNATURE_FAILURE: i32 = 7;
const CERT_NOT_YET_VALID: i32 = 9;
const CERT_HAS_EXPIRED: i32 = 10;
const DEPTH_ZERO_SELF_SIGNED_CERT: i32 = 18;
const SELF_SIGNED_CERT_IN_CHAIN: i32 = 19;
const UNABLE_TO_GET_ISSUER_CERT_LOCALLY: i32 = 20;
const UNABLE_TO_VERIFY_LEAF_SIGNATURE: i32 = 21;
const CERT_CHAIN_TOO_LONG: i32 = 22;
const INVALID_CA_OPENSSL_1: i32 = 24;
const PATH_LENGTH_EXCEEDED: i32 = 25;
const CERT_UNTRUSTED: i32 = 27;
const CERT_REJECTED: i32 = 28;
const KEYUSAGE_NO_CERTSIGN: i32 = 32;
const UNHANDLED_CRITICAL_EXTENSION: i32 = 34;
const PERMITTED_VIOLATION: i32 = 47;
const EXCLUDED_VIOLATION: i32 = 48;
const SUBTREE_MINMAX: i32 = 49;
const UNSUPPORTED_CONSTRAINT_TYPE: i32 = 51;
const UNSUPPORTED_CONSTRAINT_SYNTAX: i32 = 52;
const UNSUPPORTED_NAME_SYNTAX: i32 = 53;
const PATH_LOOP: i32 = 55;
const EE_KEY_TOO_SMALL: i32 = 66;
const CA_KEY_TOO_SMALL: i32 = 67;
const CA_MD_TOO_WEAK: i32 = 68;
const INVALID_CA_OPENSSL_3: i32 = 79;

/// What OpenSSL said when verification failed.
struct Failure {
    code: i32,
    detail: String,
    cert: Option<X509>,
}

/// Builds and verifies the path from `leaf` through `hints` (x5c[1..], untrusted) and the
/// community's intermediates to one of its anchors at time `now`. Returns the path, leaf first,
/// anchor last.
pub(crate) fn build(
    leaf: &X509,
    hints: &[X509],
    community: &TrustCommunity,
    now: i64,
) -> Result<Vec<X509>, ChainError> {
    let internal = |e: openssl::error::ErrorStack| ChainError::Internal {
        detail: e.to_string(),
    };
    let mut store = X509StoreBuilder::new().map_err(internal)?;
    for anchor in community.anchors() {
        store.add_cert(anchor.clone()).map_err(internal)?;
    }
    let mut param = X509VerifyParam::new().map_err(internal)?;
    // time_t is i64 on the platforms we build for, but not everywhere: keep the checked conversion.
    #[allow(clippy::useless_conversion)]
    param.set_time(now.try_into().map_err(|_| ChainError::Internal {
        detail: format!("time {now} out of range"),
    })?);
    param.set_depth(MAX_VERIFY_DEPTH);
    // Anchors are trusted because the community says so, not because they are self-signed: a
    // community may anchor at an intermediate CA. PARTIAL_CHAIN lets the path end at any anchor.
    param
        .set_flags(X509VerifyFlags::PARTIAL_CHAIN)
        .map_err(internal)?;
    store.set_param(&param).map_err(internal)?;
    let store = store.build();

    let mut untrusted = Stack::new().map_err(internal)?;
    for cert in hints.iter().chain(community.intermediates()) {
        untrusted.push(cert.clone()).map_err(internal)?;
    }

    let mut ctx = X509StoreContext::new().map_err(internal)?;
    let outcome = ctx
        .init(&store, leaf, &untrusted, |c| {
            if c.verify_cert()? {
                let chain = c
                    .chain()
                    .map(|s| s.iter().map(|x| x.to_owned()).collect::<Vec<X509>>())
                    .unwrap_or_default();
                return Ok(Ok(chain));
            }
            let error = c.error();
            let depth = c.error_depth() as usize;
            let cert = c
                .current_cert()
                .map(|x| x.to_owned())
                .or_else(|| c.chain().and_then(|s| s.get(depth)).map(|x| x.to_owned()));
            Ok(Err(Failure {
                code: error.as_raw(),
                detail: error.error_string().to_string(),
                cert,
            }))
        })
        .map_err(internal)?;

    match outcome {
        Ok(chain) if !chain.is_empty() => Ok(chain),
        Ok(_) => Err(ChainError::Internal {
            detail: "OpenSSL verified but returned no chain".into(),
        }),
        Err(failure) => Err(map_failure(failure, leaf, hints, community)),
    }
}

fn map_failure(
    failure: Failure,
    leaf: &X509,
    hints: &[X509],
    community: &TrustCommunity,
) -> ChainError {
    let cert = failure.cert.unwrap_or_else(|| leaf.clone());
    let subject = subject_string(&cert);
    tracing::debug!(code = failure.code, detail = %failure.detail, %subject, "OpenSSL path verification failed");
    let facts = CertFacts::of(&cert).ok();
    match failure.code {
        CERT_NOT_YET_VALID => ChainError::NotYetValid {
            subject,
            not_before: facts.map_or(0, |f| f.not_before),
        },
        CERT_HAS_EXPIRED => ChainError::Expired {
            subject,
            not_after: facts.map_or(0, |f| f.not_after),
        },
        UNABLE_TO_GET_ISSUER_CERT
        | UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        | UNABLE_TO_VERIFY_LEAF_SIGNATURE => {
            refine_missing_issuer(&cert, subject, hints, community)
        }
        DEPTH_ZERO_SELF_SIGNED_CERT
        | SELF_SIGNED_CERT_IN_CHAIN
        | CERT_UNTRUSTED
        | CERT_REJECTED
        | PATH_LOOP => ChainError::Untrusted { subject },
        UNABLE_TO_DECRYPT_CERT_SIGNATURE | CERT_SIGNATURE_FAILURE => {
            ChainError::BadSignature { subject }
        }
        CERT_CHAIN_TOO_LONG => ChainError::ChainTooLong { subject },
        // Code 24 meant INVALID_CA before OpenSSL 3.0 and NO_ISSUER_PUBLIC_KEY since.
        INVALID_CA_OPENSSL_3 => invalid_ca(subject, facts.as_ref()),
        INVALID_CA_OPENSSL_1 if openssl::version::number() < 0x3000_0000 => {
            invalid_ca(subject, facts.as_ref())
        }
        PATH_LENGTH_EXCEEDED => ChainError::PathLength { subject },
        KEYUSAGE_NO_CERTSIGN => ChainError::KeyUsage { subject },
        UNHANDLED_CRITICAL_EXTENSION => ChainError::UnhandledCriticalExtension { subject },
        PERMITTED_VIOLATION
        | EXCLUDED_VIOLATION
        | SUBTREE_MINMAX
        | UNSUPPORTED_CONSTRAINT_TYPE
        | UNSUPPORTED_CONSTRAINT_SYNTAX
        | UNSUPPORTED_NAME_SYNTAX => ChainError::NameConstraints { subject },
        EE_KEY_TOO_SMALL | CA_KEY_TOO_SMALL => ChainError::WeakKey {
            subject,
            detail: failure.detail,
        },
        CA_MD_TOO_WEAK => ChainError::WeakSignature {
            subject,
            algorithm: failure.detail,
        },
        code => ChainError::Rejected {
            subject,
            code,
            detail: failure.detail,
        },
    }
}

/// OpenSSL says INVALID_CA both for a missing CA:TRUE and for a CA whose keyUsage lacks
/// keyCertSign; tell them apart.
fn invalid_ca(subject: String, facts: Option<&CertFacts>) -> ChainError {
    match facts {
        Some(f) if f.is_ca && f.key_usage.is_some_and(|ku| !ku.key_cert_sign) => {
            ChainError::KeyUsage { subject }
        }
        _ => ChainError::NotCa { subject },
    }
}

/// Explains "issuer not found" for `cert` as precisely as possible (see the module docs).
fn refine_missing_issuer(
    cert: &X509Ref,
    subject: String,
    hints: &[X509],
    community: &TrustCommunity,
) -> ChainError {
    let named: Vec<&X509> = community
        .anchors()
        .iter()
        .chain(community.intermediates())
        .chain(hints)
        .filter(|c| {
            matches!(
                c.subject_name().try_cmp(cert.issuer_name()),
                Ok(Ordering::Equal)
            )
        })
        .collect();
    if named.is_empty() {
        return ChainError::Untrusted { subject };
    }
    let signer = named.iter().find(|c| {
        c.public_key()
            .ok()
            .is_some_and(|k| cert.verify(&k).unwrap_or(false))
    });
    let Some(signer) = signer else {
        return ChainError::BadSignature { subject };
    };
    match CertFacts::of(signer) {
        Ok(f) if !f.is_ca => ChainError::NotCa { subject: f.subject },
        Ok(f) if f.key_usage.is_some_and(|ku| !ku.key_cert_sign) => {
            ChainError::KeyUsage { subject: f.subject }
        }
        Ok(_) => ChainError::Untrusted { subject },
        Err(_) => ChainError::Untrusted {
            subject: if subject.is_empty() {
                UNPARSEABLE_SUBJECT.into()
            } else {
                subject
            },
        },
    }
}
