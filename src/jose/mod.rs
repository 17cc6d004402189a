//! JWT/JWS for UDAP and SMART (UDAP-1..6, UDAP-52).
//!
//! - `policy`: the algorithm allow-list (RS256, RS384, ES256, ES384; never `none` or HMAC).
//! - `compact`: compact-serialization parsing, the JOSE header, `x5c`, verification.
//! - `keys`: verification keys from certificates; `jwk`: from JWKs, thumbprints, JWKS.
//! - `sign`: the server's signing keys; `private_key`: loading them, and the aws-lc backend.
//! - `claims`: registered claims and the shared time rules.
//!
//! Knows nothing of HTTP or storage; time is always passed in. Crypto is aws-lc (verification
//! through jsonwebtoken's `aws_lc_rs` provider, signing with pre-parsed aws-lc keys); openssl only
//! reads PEM keys and certificates and checks JWK points.

mod claims;
mod compact;
mod error;
mod jwk;
mod keys;
mod policy;
mod private_key;
mod sign;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

pub use claims::{
    check_time, random_jti, RegisteredClaims, TimeRules, CLOCK_SKEW, MAX_JTI_LEN, MAX_URI_CLAIM_LEN,
};
pub use compact::{parse_compact, JoseHeader, UnverifiedJws, MAX_COMPACT_LEN};
pub use error::JoseError;
pub use jsonwebtoken::Algorithm;
pub use jwk::jwks;
pub use keys::{Curve, KeyKind, VerifyingKey};
pub use policy::AlgPolicy;
pub use sign::{SignOptions, Signer};
