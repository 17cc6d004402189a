//! Loading the server's private key and certificate chain, and the raw signing backend.
//!
//! openssl reads the PEM (PKCS#1, PKCS#8 and SEC1 alike) and extracts the public parameters;
//! the key is then handed to aws-lc once, as a parsed `RsaKeyPair`/`EcdsaKeyPair`. jsonwebtoken's
//! own RSA signer re-parses the DER key on every signature (measured about 2.5x slower per
//! RS256 token), and RSA signing dominates the token endpoint's cost.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING,
    RSA_PKCS1_SHA256, RSA_PKCS1_SHA384,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use jsonwebtoken::Algorithm;
use openssl::bn::{BigNum, BigNumContext};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::x509::X509;

use super::error::JoseError;
use super::jwk::PublicParams;
use super::keys::{Curve, KeyKind, MAX_RSA_BITS, MIN_RSA_BITS};

/// A private key parsed once into aws-lc (both types are `Send + Sync`).
pub(crate) enum Backend {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

impl Backend {
    /// The raw JWS signature over `message` (RSASSA-PKCS1-v1_5, or ECDSA `r || s` per
    /// RFC 7518 §3.4). `alg` was checked to fit the key when the signer was built.
    pub(crate) fn sign(&self, alg: Algorithm, message: &[u8]) -> Result<Vec<u8>, JoseError> {
        let rng = SystemRandom::new();
        match self {
            Backend::Rsa(key) => {
                let padding = match alg {
                    Algorithm::RS256 => &RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &RSA_PKCS1_SHA384,
                    other => return Err(JoseError::Sign(format!("{other:?} on an RSA key"))),
                };
                let mut sig = vec![0u8; key.public_modulus_len()];
                key.sign(padding, &rng, message, &mut sig)
                    .map_err(|_| JoseError::Sign("RSA signing failed".into()))?;
                Ok(sig)
            }
            Backend::Ec(key) => key
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| JoseError::Sign("ECDSA signing failed".into())),
        }
    }
}

/// A loaded private key: what it is, its public half, and the backend that signs with it.
pub(crate) struct LoadedKey {
    pub kind: KeyKind,
    pub params: PublicParams,
    pub backend: Backend,
    /// The algorithm the key signs with unless told otherwise (RS256, ES256 or ES384).
    pub default_alg: Algorithm,
}

fn ossl(e: openssl::error::ErrorStack) -> JoseError {
    JoseError::BadPem(e.to_string())
}

fn rejected(e: aws_lc_rs::error::KeyRejected) -> JoseError {
    JoseError::UnsupportedKey(format!("rejected by aws-lc: {e}"))
}

/// UDAP-52: read a PEM private key: RSA 2048–8192 bits, or EC P-256/P-384.
pub(crate) fn load_key(key_pem: &str) -> Result<(PKey<Private>, LoadedKey), JoseError> {
    // A callback that supplies no passphrase: without one, openssl would prompt on the TTY.
    let pkey = PKey::private_key_from_pem_callback(key_pem.as_bytes(), |_| Ok(0)).map_err(|e| {
        JoseError::BadPem(format!(
            "cannot read private key (encrypted keys are not supported): {e}"
        ))
    })?;
    let loaded = match pkey.id() {
        Id::RSA => load_rsa(&pkey)?,
        Id::EC => load_ec(&pkey)?,
        other => {
            return Err(JoseError::UnsupportedKey(format!(
                "private key type {other:?}; use RSA (2048+ bits) or EC P-256/P-384"
            )))
        }
    };
    Ok((pkey, loaded))
}

fn load_rsa(pkey: &PKey<Private>) -> Result<LoadedKey, JoseError> {
    let rsa = pkey.rsa().map_err(ossl)?;
    let bits = usize::try_from(pkey.bits()).unwrap_or(0);
    if bits < MIN_RSA_BITS {
        return Err(JoseError::WeakKey { bits });
    }
    if bits > MAX_RSA_BITS {
        return Err(JoseError::UnsupportedKey(format!(
            "RSA key of {bits} bits; at most {MAX_RSA_BITS} bits are supported"
        )));
    }
    let params = PublicParams::Rsa {
        n: rsa.n().to_vec(),
        e: rsa.e().to_vec(),
    };
    // PKCS#1 RSAPrivateKey DER; aws-lc checks the key's consistency while parsing it.
    let der = rsa.private_key_to_der().map_err(ossl)?;
    let key = RsaKeyPair::from_der(&der).map_err(rejected)?;
    Ok(LoadedKey {
        kind: KeyKind::Rsa { bits },
        params,
        backend: Backend::Rsa(key),
        default_alg: Algorithm::RS256,
    })
}

fn load_ec(pkey: &PKey<Private>) -> Result<LoadedKey, JoseError> {
    let ec = pkey.ec_key().map_err(ossl)?;
    let (curve, signing) = match ec.group().curve_name() {
        Some(Nid::X9_62_PRIME256V1) => (Curve::P256, &ECDSA_P256_SHA256_FIXED_SIGNING),
        Some(Nid::SECP384R1) => (Curve::P384, &ECDSA_P384_SHA384_FIXED_SIGNING),
        other => {
            return Err(JoseError::UnsupportedKey(format!(
                "EC curve {}; use P-256 or P-384",
                other.and_then(|n| n.short_name().ok()).unwrap_or("unnamed")
            )))
        }
    };
    let mut ctx = BigNumContext::new().map_err(ossl)?;
    let mut x = BigNum::new().map_err(ossl)?;
    let mut y = BigNum::new().map_err(ossl)?;
    ec.public_key()
        .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
        .map_err(ossl)?;
    let len = i32::try_from(curve.coordinate_len()).unwrap_or(i32::MAX);
    let params = PublicParams::Ec {
        curve,
        x: x.to_vec_padded(len).map_err(ossl)?,
        y: y.to_vec_padded(len).map_err(ossl)?,
    };
    // Re-encoded as PKCS#8 so that a SEC1 "EC PRIVATE KEY" works too.
    let der = pkey.private_key_to_pkcs8().map_err(ossl)?;
    let key = EcdsaKeyPair::from_pkcs8(signing, &der).map_err(rejected)?;
    Ok(LoadedKey {
        kind: KeyKind::Ec(curve),
        params,
        backend: Backend::Ec(key),
        default_alg: curve.alg(),
    })
}

/// UDAP-3: the chain as `x5c` entries (standard base64 DER, leaf first), after checking that the
/// leaf holds our key, since relying parties verify our JWTs with the `x5c` leaf.
pub(crate) fn load_chain(pem: &str, pkey: &PKey<Private>) -> Result<Vec<String>, JoseError> {
    let certs = X509::stack_from_pem(pem.as_bytes())
        .map_err(|e| JoseError::BadPem(format!("cannot read certificate chain: {e}")))?;
    let leaf = certs
        .first()
        .ok_or_else(|| JoseError::BadPem("certificate chain contains no certificate".into()))?;
    let leaf_key = leaf.public_key().map_err(ossl)?;
    if !leaf_key.public_eq(pkey) {
        return Err(JoseError::CertKeyMismatch);
    }
    certs
        .iter()
        .map(|c| c.to_der().map(|der| STANDARD.encode(der)))
        .collect::<Result<_, _>>()
        .map_err(ossl)
}
