//! The server's signing key: access tokens, id tokens and UDAP `signed_metadata` (UDAP-1, UDAP-3).
//!
//! Keys are loaded and checked once (type, size, curve, chain/key match, a signing self-test; see
//! `private_key.rs`) and sign with a pre-parsed aws-lc key. The `kid` is the RFC 7638 thumbprint,
//! so it is stable across restarts and distinct per key, which is what rotation through `/jwks`
//! needs.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Serialize;
use serde_json::Value;

use super::compact::parse_compact;
use super::error::JoseError;
use super::jwk::PublicParams;
use super::keys::{KeyKind, VerifyingKey};
use super::policy::{alg_name, AlgPolicy};
use super::private_key::{load_chain, load_key, Backend};

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
    backend: Backend,
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
        let (pkey, loaded) = load_key(key_pem)?;
        let x5c = match cert_chain_pem {
            None => Vec::new(),
            Some(pem) => load_chain(pem, &pkey)?,
        };
        let signer = Self {
            alg: loaded.default_alg,
            alg_name: alg_name(loaded.default_alg)?,
            kind: loaded.kind,
            kid: loaded.params.thumbprint(),
            params: loaded.params,
            x5c,
            backend: loaded.backend,
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
                return Err(JoseError::Sign(
                    "x5c requested but no certificate chain is configured".into(),
                ));
            }
            Some(self.x5c.as_slice())
        } else {
            None
        };
        let header = Header {
            alg: self.alg_name,
            typ: opts.typ,
            kid: &self.kid,
            x5c,
        };
        let header_json =
            serde_json::to_vec(&header).map_err(|e| JoseError::Sign(e.to_string()))?;
        let payload = serde_json::to_vec(claims).map_err(|e| JoseError::Sign(e.to_string()))?;
        if payload.first() != Some(&b'{') {
            return Err(JoseError::Sign(
                "claims must serialize to a JSON object".into(),
            ));
        }
        // One buffer for the whole token: header and payload are encoded straight into it.
        let mut token = String::with_capacity(
            (header_json.len() + payload.len()) * 4 / 3 + 8 + self.signature_b64_len(),
        );
        URL_SAFE_NO_PAD.encode_string(&header_json, &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = self.backend.sign(self.alg, token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
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

    /// Fail at start-up, not on the first request, if what we sign does not verify with the
    /// public key we publish.
    fn self_test(&self) -> Result<(), JoseError> {
        let token = self.sign(
            &serde_json::json!({"self_test": true}),
            SignOptions::default(),
        )?;
        let public = match &self.params {
            PublicParams::Rsa { n, e } => DecodingKey::from_rsa_raw_components(n, e),
            PublicParams::Ec { x, y, .. } => {
                DecodingKey::from_ec_der(&[&[0x04], &x[..], &y[..]].concat())
            }
        };
        parse_compact(&token)?
            .verify(&VerifyingKey::new(self.kind, public), &AlgPolicy::default())
            .map(|_| ())
            .map_err(|e| JoseError::Sign(format!("signing self-test failed: {e}")))
    }
}
