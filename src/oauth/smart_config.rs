//! SMART discovery (`.well-known/smart-configuration`, SMART-1..11) and OpenID Connect discovery
//! (`.well-known/openid-configuration`, SMART-11), listing only what the server does.

use serde_json::{json, Value};

use crate::jose::AlgPolicy;

use super::urls::Endpoints;

/// Capabilities implemented (SMART-9); each is exercised by a test.
pub const CAPABILITIES: &[&str] = &[
    "launch-ehr",
    "launch-standalone",
    "authorize-post",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "sso-openid-connect",
    "context-banner",
    "context-style",
    "context-ehr-patient",
    "context-ehr-encounter",
    "context-standalone-patient",
    "permission-offline",
    "permission-online",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
];

/// Scopes listed in `scopes_supported` (SMART-6: every listed scope works).
pub const SCOPES: &[&str] = &[
    "openid", "fhirUser", "profile", "launch", "launch/patient", "launch/encounter", "offline_access", "online_access",
    "patient/*.rs", "patient/*.read", "user/*.rs", "user/*.read", "system/*.rs", "system/*.read",
];

/// `GET {base}/.well-known/smart-configuration`.
pub fn smart_configuration(ep: &Endpoints, policy: &AlgPolicy) -> Value {
    let algs = policy.names();
    json!({
        "issuer": ep.base,
        "jwks_uri": ep.jwks,
        "authorization_endpoint": ep.authorization,
        "token_endpoint": ep.token,
        "introspection_endpoint": ep.introspection,
        "revocation_endpoint": ep.revocation,
        "registration_endpoint": ep.registration,
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic", "none"],
        "token_endpoint_auth_signing_alg_values_supported": algs,
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": CAPABILITIES,
    })
}

/// `GET {base}/.well-known/openid-configuration` (SMART-11): RS256 id_tokens.
pub fn openid_configuration(ep: &Endpoints) -> Value {
    json!({
        "issuer": ep.base,
        "authorization_endpoint": ep.authorization,
        "token_endpoint": ep.token,
        "jwks_uri": ep.jwks,
        "end_session_endpoint": format!("{}/logout", ep.base.trim_end_matches('/')), // issue 8 item 8
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "fhirUser", "profile"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "fhirUser"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic", "none"],
    })
}
