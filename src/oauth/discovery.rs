//! UDAP server metadata (`/.well-known/udap`, UDAP-7..12), derived from what the server supports.

use serde_json::{json, Map, Value};

use crate::community::Community;
use crate::jose::{AlgPolicy, JoseError, SignOptions};

use super::urls::Endpoints;

/// Grant types the token endpoint implements; discovery advertises exactly these (UDAP-9).
pub const SUPPORTED_GRANTS: &[&str] =
    &["authorization_code", "client_credentials", "refresh_token"];

/// Scopes advertised in `scopes_supported` (UDAP-9; SMART-6: every listed scope works).
pub const SUPPORTED_SCOPES: &[&str] = super::smart_config::SCOPES;

/// Lifetime of `signed_metadata` (UDAP-10: `exp - iat` at most one year; short keeps key rollover quick).
pub const SIGNED_METADATA_LIFETIME: i64 = 3600;

/// Authorization extensions the server understands (UDAP-9, UDAP-29).
pub const EXTENSIONS_SUPPORTED: &[&str] = &["hl7-b2b"];

/// Builds the metadata document for `community`, including a freshly signed `signed_metadata`
/// (UDAP-6: a new `jti` every time, so a cached document never reuses one).
pub fn udap_metadata(
    community: &Community,
    endpoints: &Endpoints,
    policy: &AlgPolicy,
    now: i64,
) -> Result<Value, JoseError> {
    let grants: Vec<&str> = SUPPORTED_GRANTS.to_vec();
    let mut profiles = vec!["udap_dcr", "udap_authn"];
    if grants.contains(&"client_credentials") {
        profiles.push("udap_authz");
    }
    let algs = policy.names();
    let extensions_required: Vec<&str> = if community.policy.b2b_required {
        vec!["hl7-b2b"]
    } else {
        vec![]
    };

    let mut m = Map::new();
    m.insert("udap_versions_supported".into(), json!(["1"]));
    m.insert("udap_profiles_supported".into(), json!(profiles));
    m.insert(
        "udap_authorization_extensions_supported".into(),
        json!(EXTENSIONS_SUPPORTED),
    );
    m.insert(
        "udap_authorization_extensions_required".into(),
        json!(extensions_required),
    );
    m.insert(
        "udap_certifications_supported".into(),
        json!(community.policy.certifications_supported),
    );
    if !community.policy.certifications_supported.is_empty() {
        m.insert(
            "udap_certifications_required".into(),
            json!(community.policy.certifications_required),
        );
    }
    m.insert("grant_types_supported".into(), json!(grants));
    m.insert("scopes_supported".into(), json!(SUPPORTED_SCOPES));
    if grants.contains(&"authorization_code") {
        m.insert(
            "authorization_endpoint".into(),
            json!(endpoints.authorization),
        );
    }
    m.insert("token_endpoint".into(), json!(endpoints.token));
    m.insert(
        "token_endpoint_auth_methods_supported".into(),
        json!(["private_key_jwt"]),
    );
    m.insert(
        "token_endpoint_auth_signing_alg_values_supported".into(),
        json!(algs),
    );
    m.insert(
        "registration_endpoint".into(),
        json!(endpoints.registration),
    );
    m.insert(
        "registration_endpoint_jwt_signing_alg_values_supported".into(),
        json!(algs),
    );
    m.insert(
        "signed_metadata".into(),
        json!(signed_metadata(community, endpoints, &m, now)?),
    );
    Ok(Value::Object(m))
}

/// UDAP-10: RS256, x5c = the community signing chain, `iss` = `sub` = the base URL (a SAN URI of
/// the signing leaf), endpoints repeated inside.
fn signed_metadata(
    community: &Community,
    endpoints: &Endpoints,
    unsigned: &Map<String, Value>,
    now: i64,
) -> Result<String, JoseError> {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(endpoints.base));
    claims.insert("sub".into(), json!(endpoints.base));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + SIGNED_METADATA_LIFETIME));
    claims.insert("jti".into(), json!(super::random_token(16)));
    for key in [
        "token_endpoint",
        "registration_endpoint",
        "authorization_endpoint",
    ] {
        if let Some(v) = unsigned.get(key) {
            claims.insert(key.into(), v.clone());
        }
    }
    community.signer.sign(
        &claims,
        SignOptions {
            include_x5c: true,
            typ: None,
        },
    )
}
