//! Checks OpenSSL does not make for us, run on the path it built: the leaf's role and key usage
//! (UDAP-51), key strength on every certificate (UDAP-52), broken signature digests, issuers'
//! basicConstraints (UDAP-49, again, in case OpenSSL was lenient) and the SAN URI (UDAP-50).

use openssl::nid::Nid;
use openssl::pkey::Id;
use openssl::x509::X509;

use super::certinfo::{weak_signature_name, CertFacts};
use super::error::ChainError;

/// RSA keys above this size only cost verification time; no CA issues them.
const MAX_RSA_BITS: u32 = 8192;
const MIN_RSA_BITS: u32 = 2048;

/// Runs the checks on `path` (leaf first, anchor last) with its parsed `facts` (same order).
pub(crate) fn check_path(path: &[X509], facts: &[CertFacts]) -> Result<(), ChainError> {
    let Some(leaf) = facts.first() else {
        return Err(ChainError::Internal {
            detail: "empty path".into(),
        });
    };
    // A CA certificate must not act as a client or server identity.
    if leaf.is_ca {
        return Err(ChainError::LeafIsCa {
            subject: leaf.subject.clone(),
        });
    }
    // UDAP-51: digitalSignature when keyUsage is present (the leaf signs JWTs).
    if leaf.key_usage.is_some_and(|ku| !ku.digital_signature) {
        return Err(ChainError::KeyUsage {
            subject: leaf.subject.clone(),
        });
    }
    let last = facts.len() - 1;
    for (i, f) in facts.iter().enumerate() {
        // UDAP-49: every issuer below the anchor must be a CA allowed to sign certificates.
        // (Anchors were required to be CAs when the community was configured.)
        if i > 0 && i < last {
            if !f.is_ca {
                return Err(ChainError::NotCa {
                    subject: f.subject.clone(),
                });
            }
            if f.key_usage.is_some_and(|ku| !ku.key_cert_sign) {
                return Err(ChainError::KeyUsage {
                    subject: f.subject.clone(),
                });
            }
        }
    }
    // UDAP-52 on every certificate, the anchor included: a weak anchor key breaks the whole path.
    for (cert, f) in path.iter().zip(facts) {
        key_strength(cert).map_err(|detail| ChainError::WeakKey {
            subject: f.subject.clone(),
            detail,
        })?;
    }
    // The anchor's self-signature carries no trust (it is trusted by configuration), so only
    // signatures made by an issuer in the path are judged.
    for f in facts.iter().take(last.max(1)) {
        if let Some(algorithm) = weak_signature_name(&f.signature_oid) {
            return Err(ChainError::WeakSignature {
                subject: f.subject.clone(),
                algorithm: algorithm.to_string(),
            });
        }
    }
    // UDAP-50: without a SAN URI the certificate cannot match any `iss`.
    if leaf.san_uris.is_empty() {
        return Err(ChainError::NoSanUri {
            subject: leaf.subject.clone(),
        });
    }
    Ok(())
}

/// UDAP-52: RSA 2048..=8192 bits, or EC on P-256/P-384 (named curves only).
fn key_strength(cert: &X509) -> Result<(), String> {
    let key = cert
        .public_key()
        .map_err(|e| format!("public key unreadable: {e}"))?;
    match key.id() {
        Id::RSA => {
            let bits = key.bits();
            if bits < MIN_RSA_BITS {
                Err(format!(
                    "RSA key of {bits} bits; at least {MIN_RSA_BITS} are required"
                ))
            } else if bits > MAX_RSA_BITS {
                Err(format!(
                    "RSA key of {bits} bits exceeds the {MAX_RSA_BITS}-bit limit"
                ))
            } else {
                Ok(())
            }
        }
        Id::EC => {
            let ec = key
                .ec_key()
                .map_err(|e| format!("EC key unreadable: {e}"))?;
            match ec.group().curve_name() {
                Some(Nid::X9_62_PRIME256V1) | Some(Nid::SECP384R1) => Ok(()),
                Some(nid) => Err(format!(
                    "EC curve {} is not allowed; use P-256 or P-384",
                    nid.short_name().unwrap_or("(unknown)")
                )),
                None => Err(
                    "EC key with explicit curve parameters; use a named curve (P-256 or P-384)"
                        .into(),
                ),
            }
        }
        other => Err(format!(
            "key type {} is not allowed; use RSA (>= {MIN_RSA_BITS} bits) or EC P-256/P-384",
            Nid::from_raw(other.as_raw())
                .short_name()
                .unwrap_or("(unknown)")
        )),
    }
}
