//! JWS Compact Serialization (RFC 7515 §7.1, UDAP-1): parsing, the JOSE header (UDAP-3), and
//! verification under the algorithm policy (UDAP-2, UDAP-52).
//!
//! A token is decoded exactly once. Verification runs over the original `header.payload` bytes
//! kept from the input, never over a re-serialization, so what is verified is what was sent.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{Map, Value};

use super::error::JoseError;
use super::keys::VerifyingKey;
use super::policy::AlgPolicy;

/// UDAP-1: the longest compact JWS we parse. Generous for an `x5c` chain of a few certificates
/// plus a software statement, and a bound on work for hostile input (the HTTP layer also limits
/// body size).
pub const MAX_COMPACT_LEN: usize = 64 * 1024;

/// UDAP-3: the JOSE header, with the members we act on typed and the whole object kept.
#[derive(Debug, Clone, PartialEq)]
pub struct JoseHeader {
    /// `alg` (required). Checked against the policy only in [`UnverifiedJws::verify`].
    pub alg: String,
    /// `kid`, selects a key from a JWKS.
    pub kid: Option<String>,
    /// `typ`.
    pub typ: Option<String>,
    /// `x5c`, standard base64 DER certificates, leaf first (UDAP-3); see [`UnverifiedJws::x5c_der`].
    pub x5c: Option<Vec<String>>,
    /// `jku`. Exposed for logging and policy; this module never fetches it.
    pub jku: Option<String>,
    raw: Map<String, Value>,
}

impl JoseHeader {
    /// The complete header object as sent (e.g. to read `x5u` or `cty`).
    pub fn raw(&self) -> &Map<String, Value> {
        &self.raw
    }

    fn from_object(raw: Map<String, Value>) -> Result<Self, JoseError> {
        // RFC 7515 §4.1.11: we understand no extensions, so any `crit` must be rejected (this
        // also rejects RFC 7797 unencoded payloads, which require `crit: ["b64"]`).
        if raw.contains_key("crit") {
            return Err(JoseError::CritUnsupported);
        }
        let alg = header_str(&raw, "alg", "header alg is missing or not a string")?.ok_or(
            JoseError::Malformed("header alg is missing or not a string"),
        )?;
        let kid = header_str(&raw, "kid", "header kid is not a string")?;
        let typ = header_str(&raw, "typ", "header typ is not a string")?;
        let jku = header_str(&raw, "jku", "header jku is not a string")?;
        let x5c = match raw.get("x5c") {
            None => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or(JoseError::Malformed(
                        "header x5c is not an array of strings",
                    ))?,
            ),
            Some(_) => {
                return Err(JoseError::Malformed(
                    "header x5c is not an array of strings",
                ))
            }
        };
        Ok(Self {
            alg,
            kid,
            typ,
            x5c,
            jku,
            raw,
        })
    }
}

fn header_str(
    raw: &Map<String, Value>,
    name: &str,
    err: &'static str,
) -> Result<Option<String>, JoseError> {
    match raw.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(JoseError::Malformed(err)),
    }
}

/// UDAP-1: a syntactically valid compact JWS whose signature has not been checked yet.
#[derive(Debug, Clone)]
pub struct UnverifiedJws {
    header: JoseHeader,
    claims: Map<String, Value>,
    /// `BASE64URL(header) '.' BASE64URL(payload)` exactly as received: the JWS signing input.
    signing_input: String,
    signature: Vec<u8>,
}

/// UDAP-1: parse a JWS in compact serialization: exactly three base64url (unpadded) parts, a
/// JSON object header with a string `alg`, and a JSON object payload.
///
/// Nothing is trusted yet; the signature may even be empty (an unsecured JWT), which
/// [`UnverifiedJws::verify`] then rejects as `alg: none`.
pub fn parse_compact(token: &str) -> Result<UnverifiedJws, JoseError> {
    if token.len() > MAX_COMPACT_LEN {
        return Err(JoseError::TooLarge {
            max: MAX_COMPACT_LEN,
        });
    }
    if token.is_empty() {
        return Err(JoseError::Malformed("token is empty"));
    }
    if token.trim_start().starts_with('{') {
        return Err(JoseError::Malformed(
            "JWS JSON serialization is not accepted; use compact serialization",
        ));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JoseError::Malformed("expected three dot-separated parts"));
    };

    let header = match decode_json(
        h,
        "header is empty",
        "header is not base64url",
        "header is not JSON",
    )? {
        Value::Object(map) => JoseHeader::from_object(map)?,
        _ => return Err(JoseError::Malformed("header is not a JSON object")),
    };
    let claims = match decode_json(
        p,
        "payload is empty",
        "payload is not base64url",
        "payload is not JSON",
    )? {
        Value::Object(map) => map,
        _ => return Err(JoseError::Malformed("payload is not a JSON object")),
    };
    let signature = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| JoseError::Malformed("signature is not base64url"))?;

    Ok(UnverifiedJws {
        header,
        claims,
        signing_input: token[..h.len() + 1 + p.len()].to_owned(),
        signature,
    })
}

fn decode_json(
    part: &str,
    empty: &'static str,
    not_b64: &'static str,
    not_json: &'static str,
) -> Result<Value, JoseError> {
    if part.is_empty() {
        return Err(JoseError::Malformed(empty));
    }
    // The strict engine rejects padding, `+`/`/`, whitespace and non-canonical trailing bits.
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JoseError::Malformed(not_b64))?;
    serde_json::from_slice(&bytes).map_err(|_| JoseError::Malformed(not_json))
}

impl UnverifiedJws {
    /// UDAP-3: the JOSE header.
    pub fn header(&self) -> &JoseHeader {
        &self.header
    }

    /// UDAP-3: the `x5c` certificates as DER, leaf first.
    ///
    /// Entries are standard base64 with padding (RFC 7515 §4.1.6), not base64url; a missing or
    /// empty array is [`JoseError::MissingX5c`], an undecodable or empty entry
    /// [`JoseError::BadX5c`] with its index.
    pub fn x5c_der(&self) -> Result<Vec<Vec<u8>>, JoseError> {
        let certs = match &self.header.x5c {
            Some(c) if !c.is_empty() => c,
            _ => return Err(JoseError::MissingX5c),
        };
        certs
            .iter()
            .enumerate()
            .map(|(index, b64)| match STANDARD.decode(b64) {
                Ok(der) if !der.is_empty() => Ok(der),
                _ => Err(JoseError::BadX5c { index }),
            })
            .collect()
    }

    /// The claims before verification: for routing only (find the client by `iss`, the key by
    /// `kid`), never for decisions.
    pub fn unverified_claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The JWS signing input (`header.payload` as received).
    pub fn signing_input(&self) -> &str {
        &self.signing_input
    }

    /// UDAP-2, UDAP-52: verify and return the claims.
    ///
    /// Checks, in this order and before any key use: `alg` is not `none`, not HMAC, and on the
    /// policy; then that it fits the key (type, curve, any JWK-pinned `alg`); then the signature
    /// over the exact signing input. The algorithm therefore never comes from the token alone.
    /// Registered claims are checked separately (`claims::check_time`).
    pub fn verify(
        &self,
        key: &VerifyingKey,
        policy: &AlgPolicy,
    ) -> Result<&Map<String, Value>, JoseError> {
        let alg = policy.check(&self.header.alg)?;
        key.check_alg(alg)?;
        key.verify_signature(alg, self.signing_input.as_bytes(), &self.signature)?;
        Ok(&self.claims)
    }
}
