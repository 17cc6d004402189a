//! `.well-known/smart-configuration` and `openid-configuration` (SMART-1..11).

use serde_json::Value;

use crate::common::TestServer;

#[test]
fn smart_configuration_lists_what_works_as_json_with_cors() {
    let s = TestServer::start();
    // SMART-2: application/json whatever the Accept header.
    let res = s
        .http
        .get(&s.ep.smart_configuration)
        .header("accept", "text/html")
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    // SMART-10: CORS for any origin.
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let d: Value = res.json().unwrap();
    // SMART-3/4: absolute URLs and required fields.
    for k in [
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "introspection_endpoint",
        "revocation_endpoint",
        "issuer",
    ] {
        assert!(d[k].as_str().unwrap().starts_with("http"), "{k}");
    }
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    ); // SMART-15
    let grants = d["grant_types_supported"].as_array().unwrap();
    assert!(
        grants.contains(&"authorization_code".into())
            && grants.contains(&"client_credentials".into())
    );
    let caps: Vec<&str> = d["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // SMART-9: the (g)(10) set.
    for c in [
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
        "permission-patient",
        "permission-user",
        "permission-v1",
        "permission-v2",
    ] {
        assert!(caps.contains(&c), "{c}");
    }
    // SMART-7: asymmetric needs private_key_jwt and RS384 or ES384.
    assert!(d["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .contains(&"private_key_jwt".into()));
    let algs = d["token_endpoint_auth_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&"RS384".into()) || algs.contains(&"ES384".into()));
}

#[test]
fn openid_configuration_and_jwks_have_an_rsa_key() {
    // SMART-11
    let s = TestServer::start();
    let d: Value = s.get("/.well-known/openid-configuration").json().unwrap();
    assert_eq!(d["issuer"], s.base.as_str());
    assert!(d["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .contains(&"RS256".into()));
    for k in [
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
    ] {
        assert!(!d[k].is_null(), "{k}");
    }
    let jwks: Value = s
        .http
        .get(d["jwks_uri"].as_str().unwrap())
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["kty"] == "RSA" && k.get("d").is_none()));
}
