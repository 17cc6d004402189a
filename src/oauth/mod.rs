//! Protocol rules as plain functions over typed inputs: no HTTP types here (design habit 4).

pub mod admin_scopes;
pub mod authorize;
pub mod b2b;
pub mod certification;
pub mod client_auth;
pub mod client_metadata;
pub mod consent;
pub mod discovery;
pub mod error;
pub mod grants;
pub mod interaction;
pub mod introspection;
pub mod jwks_cache;
pub mod launch;
pub mod password;
pub mod pkce;
pub mod registration;
pub mod scopes;
pub mod smart_config;
pub mod tokens;
pub mod udap_jwt;
pub mod urls;
// Issue 8 items 3, 5, 8: login throttling, the browser steps over the store, logout.
pub mod flow;
pub mod login_throttle;
pub mod logout;

pub use error::{ErrorCode, OAuthError, Reason};

use base64::Engine;

/// `n` random bytes from the system CSPRNG (aws-lc), base64url without padding: ids, codes and `jti`s.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        // Without randomness no token we issue is safe; stopping is the only correct answer.
        std::process::abort();
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
