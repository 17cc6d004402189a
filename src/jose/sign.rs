//! The server's signing key: access tokens, id tokens and UDAP `signed_metadata` (UDAP-1, UDAP-3).
//!
//! Keys are loaded with openssl (which reads PKCS#1, PKCS#8 and SEC1 PEM alike), checked once
//! (type, size, curve, chain/key match, a signing self-test), and signed with aws-lc through
//! jsonwebtoken's provider. The `kid` is the RFC 7638 thumbprint, so it is stable across restarts
//! and distinct per key, which is what rotation through `/jwks` needs.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use openssl::bn::{BigNum, BigNumContext};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::x509::X509;
use serde::Serialize;
use serde_json::Value;

use super::error::JoseError;
use super::jwk::PublicParams;
use super::keys::{Curve, KeyKind, MAX_RSA_BITS, MIN_RSA_BITS};
use super::policy::alg_name;

/// Per-token choices for [`Signer::sign`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignOptions {
    /// UDAP-3: put our certificate chain in the header (required for `signed_metadata`).
    pub include_x5c: bool,
    /// The `typ` header, e.g. `Some("JWT")` or `Some("at+jwt")`.
    pub typ: Option<&'static str>,
}

/// UDAP-1, UDAP-3: a private key ready to sign compact JWS, with its `kid` and optional chain.
pub struct Signer {
    alg: Algorithm,
    alg_name: &'static str,
    kind: KeyKind,
    kid: String,
    params: PublicParams,
    /// Standard-base64 DER certificates, leaf first (UDAP-3).
    x5c: Vec<String>,
    key: EncodingKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("alg", &self.alg_name)
            .field("kind", &self.kind)
            .field("kid", &self.kid)
            .field("x5c_len", &self.x5c.len())
            .finish_non_exhaustive()
    }
}

/// The JOSE header we emit. Field order is fixed so equal inputs give equal bytes.
#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    typ: Option<&'static str>,
    kid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    x5c: Option<&'a [String]>,
}

impl Signer {
    /// UDAP-2, UDAP-3, UDAP-52: load a PEM private key and, optionally, its PEM certificate chain
    /// (leaf first).
    ///
    /// RSA (PKCS#1 or PKCS#8, 2048–8192 bits) signs RS256; EC P-256 signs ES256 and P-384 ES384
    /// (PKCS#8 or SEC1). Encrypted keys are refused rather than prompting for a passphrase. The
    /// leaf certificate must hold this key, since relying parties verify with the `x5c` leaf.
    pub fn from_pem(key_pem: &str, cert_chain_pem: Option<&str>) -> Result<Self, JoseError> {
        // A callback that supplies no passphrase: without it openssl would prompt on the TTY.
        let pkey = PKey::private_key_from_pem_callback(key_pem.as_bytes(), |_| Ok(0))
            .map_err(|e| JoseError::BadPem(format!("cannot read private key (encrypted keys are not supported): {e}")))?;
        let (kind, params, der, alg) = load_key(&pkey)?;
        let x5c = match cert_chain_pem {
            None => Vec::new(),
            Some(pem) => load_chain(pem, &pkey)?,
        };
        let key = match kind {
            KeyKind::Rsa { .. } => EncodingKey::from_rsa_der(&der),
            KeyKind::Ec(_) => EncodingKey::from_ec_der(&der),
        };
        let signer = Self {
            alg,
            alg_name: alg_name(alg)?,
            kind,
            kid: params.thumbprint(),
            params,
            x5c,
            key,
        };
        signer.self_test()?;
        Ok(signer)
    }

    /// UDAP-2, UDAP-52: choose another algorithm for the same key (RS384 on RSA); it must fit.
    pub fn with_alg(mut self, alg: Algorithm) -> Result<Self, JoseError> {
        let name = alg_name(alg)?;
        self.kind.check_fit(alg)?;
        self.alg = alg;
        self.alg_name = name;
        Ok(self)
    }

    /// The JWS algorithm this signer uses.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The `kid`: RFC 7638 SHA-256 JWK thumbprint, base64url.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key's type and size.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// UDAP-3: the certificate chain as it goes into `x5c` (standard base64 DER, leaf first).
    pub fn x5c(&self) -> &[String] {
        &self.x5c
    }

    /// UDAP-1: sign `claims` (which must serialize to a JSON object) as a compact JWS whose
    /// header carries `alg`, `kid`, and optionally `typ` and `x5c`.
    ///
    /// UDAP-6: callers put a fresh `jti` in every token (see [`crate::jose::random_jti`]).
    pub fn sign(&self, claims: &impl Serialize, opts: SignOptions) -> Result<String, JoseError> {
        let x5c = if opts.include_x5c {
            if self.x5c.is_empty() {
                return Err(JoseError::Sign("x5c requested but no certificate chain is configured".into()));
            }
            Some(self.x5c.as_slice())
        } else {
            None
        };
        let header = Header { alg: self.alg_name, typ: opts.typ, kid: &self.kid, x5c };
        let header_json = serde_json::to_vec(&header).map_err(|e| JoseError::Sign(e.to_string()))?;
        let payload = serde_json::to_vec(claims).map_err(|e| JoseError::Sign(e.to_string()))?;
        if payload.first() != Some(&b'{') {
            return Err(JoseError::Sign("claims must serialize to a JSON object".into()));
        }
        // One buffer for the whole token: header and payload are encoded straight into it.
        let mut token = String::with_capacity(
            (header_json.len() + payload.len()) * 4 / 3 + 8 + self.signature_b64_len(),
        );
        URL_SAFE_NO_PAD.encode_string(&header_json, &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = jsonwebtoken::crypto::sign(token.as_bytes(), &self.key, self.alg)
            .map_err(|e| JoseError::Sign(e.to_string()))?;
        token.push('.');
        token.push_str(&signature);
        Ok(token)
    }

    /// The public JWK: `kty`, `n`/`e` or `crv`/`x`/`y`, `kid`, `alg`, `use: "sig"`.
    pub fn public_jwk(&self) -> Value {
        self.params.to_jwk(&self.kid, self.alg_name)
    }

    /// Upper bound of the base64url signature length, to size the token buffer once.
    fn signature_b64_len(&self) -> usize {
        let raw = match self.kind {
            KeyKind::Rsa { bits } => bits.div_ceil(8),
            KeyKind::Ec(c) => 2 * c.coordinate_len(),
        };
        raw.div_ceil(3) * 4
    }

    /// Fail at start-up, not on the first request, if the backend cannot use this key.
    fn self_test(&self) -> Result<(), JoseError> {
        let token = self.sign(&serde_json::json!({"self_test": true}), SignOptions::default())?;
        let jws = super::compact::parse_compact(&token)?;
        let key = super::keys::VerifyingKey::new(self.kind, self.decoding_key()?);
        let policy = super::policy::AlgPolicy::default();
        jws.verify(&key, &policy)
            .map(|_| ())
            .map_err(|e| JoseError::Sign(format!("signing self-test failed: {e}")))
    }

    fn decoding_key(&self) -> Result<jsonwebtoken::DecodingKey, JoseError> {
        Ok(match &self.params {
            PublicParams::Rsa { n, e } => jsonwebtoken::DecodingKey::from_rsa_raw_components(n, e),
            PublicParams::Ec { x, y, .. } => {
                let mut point = Vec::with_capacity(1 + x.len() + y.len());
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                jsonwebtoken::DecodingKey::from_ec_der(&point)
            }
        })
    }
}

/// Classify the key and extract what the JWK, the thumbprint and the backend need:
/// (kind, public parameters, private DER in the form jsonwebtoken wants, default alg).
fn load_key(pkey: &PKey<Private>) -> Result<(KeyKind, PublicParams, Vec<u8>, Algorithm), JoseError> {
    let ossl = |e: openssl::error::ErrorStack| JoseError::BadPem(e.to_string());
    match pkey.id() {
        Id::RSA => {
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
            if !rsa.check_key().map_err(ossl)? {
                return Err(JoseError::BadPem("RSA private key is inconsistent".into()));
            }
            let params = PublicParams::Rsa { n: rsa.n().to_vec(), e: rsa.e().to_vec() };
            // jsonwebtoken's aws-lc RSA signer takes PKCS#1 RSAPrivateKey DER.
            let der = rsa.private_key_to_der().map_err(ossl)?;
            Ok((KeyKind::Rsa { bits }, params, der, Algorithm::RS256))
        }
        Id::EC => {
            let ec = pkey.ec_key().map_err(ossl)?;
            let curve = match ec.group().curve_name() {
                Some(Nid::X9_62_PRIME256V1) => Curve::P256,
                Some(Nid::SECP384R1) => Curve::P384,
                other => {
                    return Err(JoseError::UnsupportedKey(format!(
                        "EC curve {}; use P-256 or P-384",
                        other.and_then(|n| n.short_name().ok()).unwrap_or("unnamed")
                    )))
                }
            };
            ec.check_key().map_err(|_| JoseError::BadPem("EC private key is inconsistent".into()))?;
            let mut ctx = BigNumContext::new().map_err(ossl)?;
            let mut x = BigNum::new().map_err(ossl)?;
            let mut y = BigNum::new().map_err(ossl)?;
            ec.public_key().affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx).map_err(ossl)?;
            let len = i32::try_from(curve.coordinate_len()).unwrap_or(i32::MAX);
            let params = PublicParams::Ec {
                curve,
                x: x.to_vec_padded(len).map_err(ossl)?,
                y: y.to_vec_padded(len).map_err(ossl)?,
            };
            // jsonwebtoken's aws-lc ECDSA signer takes PKCS#8 only, so a SEC1
            // "EC PRIVATE KEY" is re-encoded here.
            let der = pkey.private_key_to_pkcs8().map_err(ossl)?;
            Ok((KeyKind::Ec(curve), params, der, curve.alg()))
        }
        other => Err(JoseError::UnsupportedKey(format!(
            "private key type {other:?}; use RSA (2048+ bits) or EC P-256/P-384"
        ))),
    }
}

/// UDAP-3: the chain as `x5c` entries, after checking that the leaf holds our key.
fn load_chain(pem: &str, pkey: &PKey<Private>) -> Result<Vec<String>, JoseError> {
    let certs = X509::stack_from_pem(pem.as_bytes())
        .map_err(|e| JoseError::BadPem(format!("cannot read certificate chain: {e}")))?;
    let leaf = certs
        .first()
        .ok_or_else(|| JoseError::BadPem("certificate chain contains no certificate".into()))?;
    let leaf_key = leaf.public_key().map_err(|e| JoseError::BadPem(e.to_string()))?;
    if !leaf_key.public_eq(pkey) {
        return Err(JoseError::CertKeyMismatch);
    }
    certs
        .iter()
        .map(|c| c.to_der().map(|der| STANDARD.encode(der)))
        .collect::<Result<_, _>>()
        .map_err(|e| JoseError::BadPem(e.to_string()))
}
