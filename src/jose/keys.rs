//! Public keys that verify JWS signatures: from an X.509 certificate (the `x5c` leaf, UDAP-3)
//! or from a JWK (see `jwk.rs`).
//!
//! A [`VerifyingKey`] is built once per key, with its kind (RSA size or EC curve) known, so that
//! the algorithm/key fit (UDAP-52) is a comparison and the jsonwebtoken `DecodingKey` is reused.

use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::RSAPublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::error::JoseError;
use super::policy::alg_name;

/// UDAP-52: the smallest RSA modulus we accept.
pub(crate) const MIN_RSA_BITS: usize = 2048;
/// aws-lc verifies RSA signatures only up to 8192 bits; larger keys are refused up front.
pub(crate) const MAX_RSA_BITS: usize = 8192;

/// The NIST curves UDAP uses (UDAP-2: ES256 on P-256, ES384 on P-384).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    /// P-256 (prime256v1 / secp256r1), for ES256.
    P256,
    /// P-384 (secp384r1), for ES384.
    P384,
}

impl Curve {
    /// The JWK `crv` name (RFC 7518 §6.2.1.1).
    pub fn jwk_name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
        }
    }

    /// Length in bytes of one affine coordinate.
    pub(crate) fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }

    /// UDAP-52: the only algorithm that fits this curve.
    pub(crate) fn alg(self) -> Algorithm {
        match self {
            Curve::P256 => Algorithm::ES256,
            Curve::P384 => Algorithm::ES384,
        }
    }

    /// Length of the uncompressed SEC1 point `04 || x || y`.
    pub(crate) fn point_len(self) -> usize {
        1 + 2 * self.coordinate_len()
    }
}

/// What a key is, as far as algorithm fit is concerned (UDAP-52).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// An RSA key with a modulus of `bits` bits.
    Rsa {
        /// Modulus length in bits.
        bits: usize,
    },
    /// An EC key on a supported curve.
    Ec(Curve),
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyKind::Rsa { bits } => write!(f, "RSA-{bits}"),
            KeyKind::Ec(c) => write!(f, "EC {}", c.jwk_name()),
        }
    }
}

impl KeyKind {
    /// UDAP-52: whether `alg` may be used with this key. RSA size was checked at construction.
    pub(crate) fn fits(self, alg: Algorithm) -> bool {
        match self {
            KeyKind::Rsa { .. } => matches!(alg, Algorithm::RS256 | Algorithm::RS384),
            KeyKind::Ec(curve) => curve.alg() == alg,
        }
    }

    /// UDAP-52: [`KeyKind::fits`] as a `Result`.
    pub(crate) fn check_fit(self, alg: Algorithm) -> Result<(), JoseError> {
        if self.fits(alg) {
            Ok(())
        } else {
            Err(JoseError::AlgKeyMismatch {
                alg: alg_name(alg)?,
                key: self,
            })
        }
    }
}

/// A public key ready to verify JWS signatures (UDAP-3, UDAP-52).
#[derive(Clone)]
pub struct VerifyingKey {
    pub(crate) kind: KeyKind,
    pub(crate) key: DecodingKey,
    pub(crate) kid: Option<String>,
    /// A JWK's `alg`, if it pinned one (RFC 7517 §4.4); tokens must then use exactly that.
    pub(crate) pinned_alg: Option<Algorithm>,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kind", &self.kind)
            .field("kid", &self.kid)
            .field("pinned_alg", &self.pinned_alg)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// UDAP-3: the key of a DER certificate (typically the `x5c` leaf).
    ///
    /// This checks only the key (type, curve, RSA size per UDAP-52); trust in the certificate is
    /// `pki`'s job. When the certificate is already parsed, use [`VerifyingKey::from_spki`].
    pub fn from_certificate_der(der: &[u8]) -> Result<Self, JoseError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| JoseError::BadCertificate(e.to_string()))?;
        Self::from_spki(cert.public_key())
    }

    /// UDAP-3, UDAP-52: the key of an already parsed SubjectPublicKeyInfo, so callers that parsed
    /// the certificate for path validation need not parse it again.
    pub fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self, JoseError> {
        let alg_oid = &spki.algorithm.algorithm;
        let bits: &[u8] = &spki.subject_public_key.data;
        if *alg_oid == OID_PKCS1_RSAENCRYPTION {
            // The BIT STRING of an rsaEncryption SPKI is a PKCS#1 RSAPublicKey, which is the
            // form jsonwebtoken's `from_rsa_der` (aws-lc) expects.
            let (_, rsa) = RSAPublicKey::from_der(bits)
                .map_err(|_| JoseError::BadCertificate("invalid RSA public key".into()))?;
            let bits_len = check_rsa_components(rsa.modulus, rsa.exponent)?;
            Ok(Self::new(
                KeyKind::Rsa { bits: bits_len },
                DecodingKey::from_rsa_der(bits),
            ))
        } else if *alg_oid == OID_KEY_TYPE_EC_PUBLIC_KEY {
            let curve_oid = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .ok_or_else(|| JoseError::UnsupportedKey("EC key without a named curve".into()))?;
            let curve = if curve_oid == OID_EC_P256 {
                Curve::P256
            } else if curve_oid == OID_NIST_EC_P384 {
                Curve::P384
            } else {
                return Err(JoseError::UnsupportedKey(format!("EC curve {curve_oid}")));
            };
            check_ec_point(curve, bits)?;
            // The BIT STRING is the raw SEC1 point, which is what `from_ec_der` expects.
            Ok(Self::new(
                KeyKind::Ec(curve),
                DecodingKey::from_ec_der(bits),
            ))
        } else {
            Err(JoseError::UnsupportedKey(format!(
                "public key algorithm {alg_oid}"
            )))
        }
    }

    pub(crate) fn new(kind: KeyKind, key: DecodingKey) -> Self {
        Self {
            kind,
            key,
            kid: None,
            pinned_alg: None,
        }
    }

    /// The JWK `kid`, if the key came from a JWK that had one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// UDAP-52: the key's type and size.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// UDAP-52: `alg` (already allowed by policy) must fit this key and any `alg` a JWK pinned.
    pub(crate) fn check_alg(&self, alg: Algorithm) -> Result<(), JoseError> {
        self.kind.check_fit(alg)?;
        match self.pinned_alg {
            Some(pinned) if pinned != alg => Err(JoseError::AlgKeyMismatch {
                alg: alg_name(alg)?,
                key: self.kind,
            }),
            _ => Ok(()),
        }
    }

    /// Verify `signature` over `message` with aws-lc (through jsonwebtoken's provider).
    ///
    /// Callers must have run [`VerifyingKey::check_alg`]; this only does the cryptography.
    pub(crate) fn verify_signature(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &Vec<u8>,
    ) -> Result<(), JoseError> {
        // The aws-lc provider named explicitly (not the process default) so that verification can
        // never silently move to another backend.
        let verifier =
            (jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.verifier_factory)(&alg, &self.key)
                .map_err(|_| JoseError::AlgKeyMismatch {
                    alg: alg_name(alg).unwrap_or("?"),
                    key: self.kind,
                })?;
        verifier
            .verify(message, signature)
            .map_err(|_| JoseError::BadSignature)
    }
}

/// Number of significant bits in a big-endian unsigned integer.
pub(crate) fn bit_len(be: &[u8]) -> usize {
    match be.iter().position(|b| *b != 0) {
        None => 0,
        Some(i) => (be.len() - i - 1) * 8 + (8 - be[i].leading_zeros() as usize),
    }
}

/// UDAP-52: RSA modulus size and public exponent sanity, shared by certificates and JWKs.
///
/// The exponent rules (odd, at least 3, at most 33 bits) are aws-lc's; checking here turns a
/// later, puzzling `BadSignature` into a clear key error.
pub(crate) fn check_rsa_components(modulus: &[u8], exponent: &[u8]) -> Result<usize, JoseError> {
    let bits = bit_len(modulus);
    if bits < MIN_RSA_BITS {
        return Err(JoseError::WeakKey { bits });
    }
    if bits > MAX_RSA_BITS {
        return Err(JoseError::UnsupportedKey(format!(
            "RSA key of {bits} bits; at most {MAX_RSA_BITS} bits are supported"
        )));
    }
    let e_bits = bit_len(exponent);
    let odd = exponent.last().is_some_and(|b| b & 1 == 1);
    if !odd || !(2..=33).contains(&e_bits) {
        return Err(JoseError::UnsupportedKey(
            "RSA public exponent out of range".into(),
        ));
    }
    Ok(bits)
}

/// UDAP-52: an EC public key must be an uncompressed point of the curve's size.
pub(crate) fn check_ec_point(curve: Curve, point: &[u8]) -> Result<(), JoseError> {
    if point.len() != curve.point_len() || point.first() != Some(&0x04) {
        return Err(JoseError::UnsupportedKey(format!(
            "EC public key is not an uncompressed {} point",
            curve.jwk_name()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::testutil::*;

    #[test]
    fn bit_len_table() {
        let cases: &[(&[u8], usize)] = &[
            (&[], 0),
            (&[0], 0),
            (&[1], 1),
            (&[0, 0x80], 8),
            (&[0x01, 0x00, 0x01], 17),
        ];
        for (input, want) in cases {
            assert_eq!(bit_len(input), *want, "{input:?}");
        }
    }

    // UDAP-3, UDAP-52: key kinds from certificates.
    #[test]
    fn from_certificate_kinds() {
        let cases = [
            (&*RSA2048, KeyKind::Rsa { bits: 2048 }),
            (&*P256, KeyKind::Ec(Curve::P256)),
            (&*P384, KeyKind::Ec(Curve::P384)),
        ];
        for (fx, want) in cases {
            let k = VerifyingKey::from_certificate_der(&fx.cert_der).unwrap();
            assert_eq!(k.kind(), want);
            assert_eq!(k.kid(), None);
        }
    }

    // UDAP-52: RSA keys below 2048 bits are refused when the key is built.
    #[test]
    fn weak_rsa_certificate_rejected() {
        let e = VerifyingKey::from_certificate_der(&RSA1024.cert_der).unwrap_err();
        assert_eq!(e, JoseError::WeakKey { bits: 1024 });
    }

    #[test]
    fn unsupported_and_garbage_certificates() {
        let e = VerifyingKey::from_certificate_der(&P521_CERT_DER).unwrap_err();
        assert!(matches!(e, JoseError::UnsupportedKey(_)), "{e:?}");
        let e = VerifyingKey::from_certificate_der(&ED25519_CERT_DER).unwrap_err();
        assert!(matches!(e, JoseError::UnsupportedKey(_)), "{e:?}");
        let e = VerifyingKey::from_certificate_der(b"not a certificate").unwrap_err();
        assert!(matches!(e, JoseError::BadCertificate(_)), "{e:?}");
    }

    // UDAP-52: fit table.
    #[test]
    fn fit_table() {
        let rsa = KeyKind::Rsa { bits: 2048 };
        let p256 = KeyKind::Ec(Curve::P256);
        let p384 = KeyKind::Ec(Curve::P384);
        let cases = [
            (rsa, Algorithm::RS256, true),
            (rsa, Algorithm::RS384, true),
            (rsa, Algorithm::ES256, false),
            (p256, Algorithm::ES256, true),
            (p256, Algorithm::ES384, false),
            (p256, Algorithm::RS256, false),
            (p384, Algorithm::ES384, true),
            (p384, Algorithm::ES256, false),
        ];
        for (kind, alg, want) in cases {
            assert_eq!(kind.fits(alg), want, "{kind} {alg:?}");
        }
    }
}
