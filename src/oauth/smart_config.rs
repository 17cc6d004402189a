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
    "openid",
    "fhirUser",
    "profile",
    "launch",
    "launch/patient",
    "launch/encounter",
    "offline_access",
    "online_access",
    "patient/*.rs",
    "patient/*.read",
    "user/*.rs",
    "user/*.read",
    "system/*.rs",
    "system/*.read",
];

/// Grant types the token endpoint serves; both discovery documents list the same ones.
pub const GRANT_TYPES: &[&str] = &["authorization_code", "client_credentials", "refresh_token"];

/// Client authentication methods the token endpoint accepts.
pub const AUTH_METHODS: &[&str] = &["private_key_jwt", "client_secret_basic", "none"];

/// The endpoints and protocol members both discovery documents publish, with the same values:
/// OIDC discovery clients (openid-client, oauth4webapi) read only the OIDC document, so an
/// endpoint missing there breaks their introspection and revocation calls.
fn shared_members(ep: &Endpoints, policy: &AlgPolicy) -> serde_json::Map<String, Value> {
    let v = json!({
        "issuer": ep.base,
        "jwks_uri": ep.jwks,
        "authorization_endpoint": ep.authorization,
        "token_endpoint": ep.token,
        "introspection_endpoint": ep.introspection,
        "revocation_endpoint": ep.revocation,
        "registration_endpoint": ep.registration,
        "grant_types_supported": GRANT_TYPES,
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": policy.names(),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
    });
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// `GET {base}/.well-known/smart-configuration`.
pub fn smart_configuration(ep: &Endpoints, policy: &AlgPolicy) -> Value {
    let mut doc = shared_members(ep, policy);
    doc.insert("scopes_supported".into(), json!(SCOPES));
    doc.insert("capabilities".into(), json!(CAPABILITIES));
    Value::Object(doc)
}

/// `GET {base}/.well-known/openid-configuration` (SMART-11): RS256 id_tokens, and every endpoint
/// the SMART document lists.
pub fn openid_configuration(ep: &Endpoints, policy: &AlgPolicy) -> Value {
    let mut doc = shared_members(ep, policy);
    // OIDC RP-initiated logout (issue 8 item 8).
    doc.insert(
        "end_session_endpoint".into(),
        json!(format!("{}/logout", ep.base.trim_end_matches('/'))),
    );
    doc.insert("subject_types_supported".into(), json!(["public"]));
    doc.insert(
        "id_token_signing_alg_values_supported".into(),
        json!(["RS256"]),
    );
    doc.insert(
        "scopes_supported".into(),
        json!(["openid", "fhirUser", "profile"]),
    );
    doc.insert(
        "claims_supported".into(),
        json!(["iss", "sub", "aud", "exp", "iat", "nonce", "fhirUser"]),
    );
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oidc_document_lists_every_endpoint_of_the_smart_document_with_the_same_value() {
        // SMART-11; issue 8 item 9: openid-client reads only the OIDC document, so its
        // introspection and revocation calls need these members there.
        let ep = Endpoints::new("https://as.example.org/fhir");
        let policy = AlgPolicy::default();
        let smart = smart_configuration(&ep, &policy);
        let oidc = openid_configuration(&ep, &policy);
        let smart = smart.as_object().unwrap();
        let shared: Vec<&String> = smart
            .keys()
            .filter(|k| {
                k.ends_with("_endpoint") || k.as_str() == "jwks_uri" || k.as_str() == "issuer"
            })
            .collect();
        for key in [
            "introspection_endpoint",
            "revocation_endpoint",
            "registration_endpoint",
            "token_endpoint",
            "authorization_endpoint",
        ] {
            assert!(
                shared.iter().any(|k| k.as_str() == key),
                "{key} missing from the SMART document"
            );
        }
        for key in shared {
            assert_eq!(oidc.get(key), smart.get(key), "{key}");
        }
        assert_eq!(
            oidc["grant_types_supported"],
            smart["grant_types_supported"]
        );
        assert!(oidc["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("client_credentials")));
        assert_eq!(
            oidc["token_endpoint_auth_methods_supported"],
            smart["token_endpoint_auth_methods_supported"]
        );
    }
}
