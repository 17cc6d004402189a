//! The one error type of the `jose` layer.
//!
//! Variants carry enough context to log and to map onto an OAuth error at the boundary
//! (`oauth` decides whether a variant is `invalid_client`, `invalid_software_statement`, …).
//! Strings taken from a token (an `alg` value) are truncated before they are stored so that a
//! hostile token cannot blow up log lines.

use super::keys::KeyKind;

/// Longest attacker-supplied string kept inside an error, in bytes.
const MAX_ECHO: usize = 32;

/// Every way JOSE parsing, verification, signing and claim checks can fail.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum JoseError {
    /// UDAP-1: the input is not a JWS in compact serialization; the text names the faulty part.
    #[error("malformed JWS: {0}")]
    Malformed(&'static str),

    /// UDAP-1: the compact JWS is longer than we are willing to parse.
    #[error("JWS is longer than {max} bytes")]
    TooLarge {
        /// The limit in bytes.
        max: usize,
    },

    /// RFC 7515 §4.1.11: a `crit` header names extensions; we implement none, so we must reject.
    #[error("JWS header carries \"crit\"; no critical header extensions are supported")]
    CritUnsupported,

    /// UDAP-2: `alg: none` (unsigned JWT) is never accepted nor configurable.
    #[error("alg \"none\" is forbidden: unsigned JWTs are never accepted; use RS256, RS384, ES256 or ES384")]
    AlgNone,

    /// UDAP-2: HMAC algorithms are forbidden (a public key must never serve as a MAC secret).
    #[error("HMAC algorithm \"{alg}\" is forbidden: UDAP JWTs must be signed with RS256, RS384, ES256 or ES384")]
    HmacForbidden {
        /// The algorithm named (truncated).
        alg: String,
    },

    /// UDAP-2: the token's `alg` is not on the configured allow-list.
    #[error("alg \"{alg}\" is not allowed by the algorithm policy")]
    AlgNotAllowed {
        /// The algorithm named in the token (truncated).
        alg: String,
    },

    /// UDAP-2: configuration named an algorithm this server does not implement for UDAP.
    #[error("unsupported JWS algorithm \"{alg}\": UDAP (IG §1.2.2) allows RS256, RS384, ES256 and ES384")]
    AlgUnsupported {
        /// The algorithm named (truncated).
        alg: String,
    },

    /// UDAP-2: an empty algorithm allow-list would reject every token; refuse it at start-up.
    #[error("the algorithm allow-list is empty; list at least RS256 (required by UDAP)")]
    EmptyPolicy,

    /// UDAP-52: the algorithm does not fit the key (RS* on an EC key, ES256 on P-384, …),
    /// or a JWK pins a different `alg`.
    #[error("alg {alg} does not fit a {key} key")]
    AlgKeyMismatch {
        /// The algorithm (already known to be on the allow-list).
        alg: &'static str,
        /// The key it was to be used with.
        key: KeyKind,
    },

    /// UDAP-52: RSA keys must have at least 2048 bits.
    #[error("RSA key of {bits} bits is too weak; at least 2048 bits are required")]
    WeakKey {
        /// Modulus length in bits.
        bits: usize,
    },

    /// UDAP-3: the JOSE header has no `x5c`, or an empty one.
    #[error("JWS header has no x5c certificate chain")]
    MissingX5c,

    /// UDAP-3: an `x5c` entry is not standard (padded, non-URL) base64 of a non-empty DER blob.
    #[error("x5c[{index}] is not valid standard base64")]
    BadX5c {
        /// Position in the `x5c` array (0 = leaf).
        index: usize,
    },

    /// The signature does not verify with the key.
    #[error("JWS signature does not verify")]
    BadSignature,

    /// A key type or curve we do not accept (Ed25519, P-521, DSA, symmetric, …).
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),

    /// A certificate could not be parsed far enough to find its public key.
    #[error("certificate cannot be parsed: {0}")]
    BadCertificate(String),

    /// A JWK is structurally invalid.
    #[error("invalid JWK: {0}")]
    BadJwk(String),

    /// A PEM private key or certificate chain could not be read.
    #[error("invalid PEM: {0}")]
    BadPem(String),

    /// UDAP-3: the first certificate of the signer's chain does not hold the signing key, so
    /// relying parties would verify our JWTs against the wrong key.
    #[error("the leaf certificate's public key does not match the private key")]
    CertKeyMismatch,

    /// UDAP-4: a required claim is absent.
    #[error("claim \"{name}\" is missing")]
    ClaimMissing {
        /// Claim name.
        name: &'static str,
    },

    /// RFC 7519 §4.1: a registered claim has the wrong JSON type.
    #[error("claim \"{name}\" has the wrong type")]
    ClaimType {
        /// Claim name.
        name: &'static str,
    },

    /// A registered claim is longer than the server accepts (bounds what a signed JWT can make
    /// the server store or log).
    #[error("claim \"{name}\" is longer than {max} bytes")]
    ClaimTooLong {
        /// Claim name.
        name: &'static str,
        /// The limit.
        max: usize,
    },

    /// RFC 7519 §4.1.4: `exp` has passed (beyond the allowed skew).
    #[error("token expired at {exp}")]
    Expired {
        /// The token's `exp`.
        exp: i64,
    },

    /// RFC 7519 §4.1.5: `nbf` is still in the future (beyond the allowed skew).
    #[error("token not valid before {nbf}")]
    NotYetValid {
        /// The token's `nbf`.
        nbf: i64,
    },

    /// `iat` lies in the future beyond the allowed skew.
    #[error("token issued in the future (iat {iat})")]
    IatInFuture {
        /// The token's `iat`.
        iat: i64,
    },

    /// UDAP-28: `exp - iat` exceeds the permitted lifetime.
    #[error("token lifetime of {seconds} s is too long")]
    LifetimeTooLong {
        /// `exp - iat`.
        seconds: i64,
    },

    /// SMART-49: `exp` is further ahead of now than permitted.
    #[error("token expires {seconds} s from now, which is too far ahead")]
    ExpTooFar {
        /// `exp - now`.
        seconds: i64,
    },

    /// The crypto backend failed to sign, or the claims do not serialize to a JSON object.
    #[error("signing failed: {0}")]
    Sign(String),
}

/// Copy at most [`MAX_ECHO`] bytes of an attacker-controlled string (on a char boundary).
pub(crate) fn echo(s: &str) -> String {
    if s.len() <= MAX_ECHO {
        return s.to_owned();
    }
    let mut end = MAX_ECHO;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + 3);
    out.push_str(&s[..end]);
    out.push_str("...");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_truncates_on_char_boundary() {
        assert_eq!(echo("RS256"), "RS256");
        let long = "é".repeat(40);
        let e = echo(&long);
        assert!(e.ends_with("..."));
        assert!(e.len() <= MAX_ECHO + 3);
    }
}
