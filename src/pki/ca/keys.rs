//! Key generation for the CA tooling. Keys are generated with OpenSSL (the brief's crypto backend)
//! and handed to rcgen as PKCS#8, so one code path serves RSA and EC alike.

use std::fmt;
use std::str::FromStr;

use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;

use super::super::error::CaError;

/// The key type of a generated certificate (UDAP-52: RSA >= 2048 bits or EC P-256/P-384).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyKind {
    /// RSA 2048 bits, RS256: the most interoperable choice (Inferno, udap-dotnet).
    #[default]
    Rsa2048,
    /// RSA 3072 bits.
    Rsa3072,
    /// EC P-256, ES256.
    EcP256,
    /// EC P-384, ES384.
    EcP384,
    /// RSA 1024 bits. Deliberately weak: only for negative tests (UDAP-52 must reject it). Cannot
    /// sign certificates (rcgen refuses such keys), so it is usable for leaves only.
    InsecureRsa1024,
}

impl KeyKind {
    /// The spelling used on the command line and in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Rsa2048 => "rsa2048",
            KeyKind::Rsa3072 => "rsa3072",
            KeyKind::EcP256 => "ec-p256",
            KeyKind::EcP384 => "ec-p384",
            KeyKind::InsecureRsa1024 => "insecure-rsa1024",
        }
    }

    /// Generates a fresh private key of this kind.
    pub fn generate(self) -> Result<PKey<Private>, CaError> {
        let key = |e: openssl::error::ErrorStack| {
            CaError::Key(format!("generating a {} key: {e}", self.as_str()))
        };
        match self {
            KeyKind::Rsa2048 => PKey::from_rsa(Rsa::generate(2048).map_err(key)?).map_err(key),
            KeyKind::Rsa3072 => PKey::from_rsa(Rsa::generate(3072).map_err(key)?).map_err(key),
            KeyKind::InsecureRsa1024 => {
                PKey::from_rsa(Rsa::generate(1024).map_err(key)?).map_err(key)
            }
            KeyKind::EcP256 | KeyKind::EcP384 => {
                let nid = if self == KeyKind::EcP256 {
                    Nid::X9_62_PRIME256V1
                } else {
                    Nid::SECP384R1
                };
                let group = EcGroup::from_curve_name(nid).map_err(key)?;
                PKey::from_ec_key(EcKey::generate(&group).map_err(key)?).map_err(key)
            }
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyKind {
    type Err = CaError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "rsa2048" | "rsa-2048" => Ok(KeyKind::Rsa2048),
            "rsa3072" | "rsa-3072" => Ok(KeyKind::Rsa3072),
            "ec-p256" | "p256" | "p-256" | "es256" => Ok(KeyKind::EcP256),
            "ec-p384" | "p384" | "p-384" | "es384" => Ok(KeyKind::EcP384),
            other => Err(CaError::BadSpec(format!(
                "unknown key kind `{other}` (use rsa2048, rsa3072, ec-p256 or ec-p384)"
            ))),
        }
    }
}

/// PKCS#8 PEM of a private key.
pub(crate) fn private_pem(key: &PKey<Private>) -> Result<String, CaError> {
    let pem = key
        .private_key_to_pem_pkcs8()
        .map_err(|e| CaError::Key(format!("encoding the private key: {e}")))?;
    String::from_utf8(pem).map_err(|_| CaError::Key("private key PEM is not UTF-8".into()))
}

/// Reads any PEM private key OpenSSL understands (PKCS#8, PKCS#1, SEC1) and returns it as an
/// rcgen signing key; rcgen itself only takes some of these encodings.
pub(crate) fn signing_key(pem: &str) -> Result<(rcgen::KeyPair, PKey<Private>), CaError> {
    let key = PKey::private_key_from_pem(pem.as_bytes()).map_err(|e| CaError::BadInput {
        what: "issuer private key",
        detail: e.to_string(),
    })?;
    let pkcs8 = private_pem(&key)?;
    let pair = rcgen::KeyPair::from_pem(&pkcs8).map_err(|e| {
        CaError::Key(format!(
            "the key cannot sign certificates (RSA >= 2048 or EC P-256/P-384 needed): {e}"
        ))
    })?;
    Ok((pair, key))
}

/// The SubjectPublicKeyInfo of `key` in the form rcgen embeds in a certificate. Works for any key
/// OpenSSL can encode, including the deliberately weak ones negative tests need.
pub(crate) fn subject_public_key(
    key: &PKey<Private>,
) -> Result<rcgen::SubjectPublicKeyInfo, CaError> {
    let der = key
        .public_key_to_der()
        .map_err(|e| CaError::Key(format!("encoding the public key: {e}")))?;
    rcgen::SubjectPublicKeyInfo::from_der(&der)
        .map_err(|e| CaError::Key(format!("unsupported public key: {e}")))
}
