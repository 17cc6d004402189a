//! SMART backend-service clients (SMART-49): an admin-registered `private_key_jwt` client, its
//! assertion, and the client_credentials request (used by token_smart and outbound_fetch).

use serde_json::{json, Value};
use udap_server::jose::{SignOptions, Signer};
use udap_server::pki::ca::KeyKind;
use udap_server::store::ClientRecord;

use super::{now, TestServer};

/// A fresh private key (PKCS#8 PEM).
pub fn key(kind: KeyKind) -> String {
    String::from_utf8(kind.generate().unwrap().private_key_to_pem_pkcs8().unwrap()).unwrap()
}

/// Registers a `private_key_jwt` backend client with an inline JWK Set and/or a `jwks_uri`.
pub fn smart_client(s: &TestServer, id: &str, jwks: Option<Value>, jwks_uri: Option<String>) {
    let mut client = ClientRecord::admin(
        id,
        "Backend service",
        "private_key_jwt",
        &["client_credentials"],
        "system/*.rs",
        now(),
    );
    client.jwks = jwks;
    client.jwks_uri = jwks_uri;
    s.store.clients().put(&client).unwrap();
}

/// A client assertion for `client_id` with audience `aud`; `patch` overrides or removes (null) claims.
pub fn assertion(signer: &Signer, client_id: &str, aud: &str, patch: Value) -> String {
    let t = now();
    let mut claims = json!({"iss": client_id, "sub": client_id, "aud": aud, "exp": t + 240, "iat": t, "jti": udap_server::oauth::random_token(16)});
    super::merge(&mut claims, patch);
    signer
        .sign(
            &claims,
            SignOptions {
                include_x5c: false,
                typ: Some("JWT"),
            },
        )
        .unwrap()
}

/// POSTs a client_credentials request authenticated by `assertion`.
pub fn backend_token(s: &TestServer, assertion: &str) -> reqwest::blocking::Response {
    s.post_form(
        &s.ep.token,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "system/Patient.rs system/Observation.rs"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ],
    )
}
