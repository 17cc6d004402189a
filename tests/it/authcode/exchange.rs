//! Code exchange (SMART-20..28, SMART-15, RFC 6749 §4.1.3): tokens, context, id_token, PKCE,
//! single use with revocation on reuse, redirect_uri match.

use serde_json::Value;
use udap_server::jose::{self, AlgPolicy, VerifyingKey};

use super::flow::{
    add_app, add_user, authorize_url, claims, exchange_public, json_of, walk, Browser, CHALLENGE,
    REDIRECT, VERIFIER,
};
use crate::common::{error_of, TestServer};

const SCOPE: &str =
    "launch/patient patient/Observation.rs patient/Condition.rs openid fhirUser offline_access";

fn setup() -> TestServer {
    let s = TestServer::start();
    add_app(&s, "app", "none", None, SCOPE);
    add_user(&s, "alice", Some("Patient/p1"), &["p1"]);
    add_user(&s, "dr-bob", Some("Practitioner/pr7"), &["p1", "p2", "p3"]);
    s
}

fn code_for(s: &TestServer, user: &str, patient: Option<&str>) -> String {
    let b = Browser::new();
    let q = walk(
        &b,
        s,
        &authorize_url(s, "app", SCOPE, &[]),
        user,
        patient,
        None,
        "approve",
    );
    assert_eq!(q["state"], "st4te-xyz");
    q["code"].clone()
}

#[test]
fn standalone_launch_as_a_public_client_returns_tokens_context_and_id_token() {
    let s = setup();
    let code = code_for(&s, "alice", None); // one patient: the picker is skipped
    assert!(
        code.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "URL-safe code"
    );
    let res = exchange_public(&s, "app", &code, VERIFIER);
    // SMART-23 and SMART-25.
    assert!(res.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("no-store"));
    assert!(res.headers()["pragma"]
        .to_str()
        .unwrap()
        .contains("no-cache"));
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let t = json_of(res);
    // SMART-22
    assert_eq!(t["token_type"], "Bearer");
    assert!(t["expires_in"].is_number());
    assert_eq!(t["scope"], SCOPE);
    assert_eq!(t["patient"], "p1");
    assert_eq!(t["need_patient_banner"], true);
    assert!(t["smart_style_url"].as_str().unwrap().starts_with(&s.base));
    assert!(t["refresh_token"].is_string()); // offline_access (SMART-37)
                                             // SMART-27/28: RS256 id_token verifying with the JWKS, aud = client_id, fhirUser absolute.
    let id_token = t["id_token"].as_str().unwrap();
    let header = super::flow::claims(&format!("x.{}", id_token.split('.').next().unwrap()));
    assert_eq!(header["alg"], "RS256");
    let jwks: Value = s.get("/jwks").json().unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap()
        .clone();
    let c = jose::parse_compact(id_token)
        .unwrap()
        .verify(
            &VerifyingKey::from_jwk(&jwk).unwrap(),
            &AlgPolicy::default(),
        )
        .unwrap()
        .clone();
    assert_eq!(c["iss"], s.base.as_str());
    assert_eq!(c["aud"], "app");
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["fhirUser"], format!("{}/Patient/p1", s.base));
    // The access token carries the context for the resource server.
    let at = claims(t["access_token"].as_str().unwrap());
    assert_eq!(at["patient"], "p1");
    assert_eq!(at["sub"], "alice");
}

#[test]
fn nonce_is_echoed_in_the_id_token() {
    let s = setup();
    let b = Browser::new();
    let q = walk(
        &b,
        &s,
        &authorize_url(&s, "app", SCOPE, &[("nonce", "n-0S6_WzA2Mj")]),
        "alice",
        None,
        None,
        "approve",
    );
    let t = json_of(exchange_public(&s, "app", &q["code"], VERIFIER));
    assert_eq!(
        claims(t["id_token"].as_str().unwrap())["nonce"],
        "n-0S6_WzA2Mj"
    );
}

#[test]
fn patient_picker_for_users_with_several_patients() {
    // SMART-17: the user picks the patient.
    let s = setup();
    let code = code_for(&s, "dr-bob", Some("p2"));
    let t = json_of(exchange_public(&s, "app", &code, VERIFIER));
    assert_eq!(t["patient"], "p2");
    assert_eq!(
        claims(t["id_token"].as_str().unwrap())["fhirUser"],
        format!("{}/Practitioner/pr7", s.base)
    );
}

#[test]
fn consent_grants_only_what_the_user_left_selected_including_category_sub_scopes() {
    // SMART-18, HTI1-6: deselect a resource type; pick a Condition category instead.
    let s = setup();
    let b = Browser::new();
    let problem_list = "patient/Condition.rs?category=http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item";
    let keep = ["patient/Observation.rs", problem_list, "openid", "fhirUser"];
    let q = walk(
        &b,
        &s,
        &authorize_url(&s, "app", SCOPE, &[]),
        "alice",
        None,
        Some(&keep),
        "approve",
    );
    let t = json_of(exchange_public(&s, "app", &q["code"], VERIFIER));
    let granted: Vec<&str> = t["scope"].as_str().unwrap().split(' ').collect();
    assert!(granted.contains(&"patient/Observation.rs"));
    assert!(granted.contains(&problem_list));
    assert!(!granted.contains(&"patient/Condition.rs"));
    assert!(!granted.contains(&"offline_access"));
    assert!(granted.contains(&"launch/patient"), "context scopes stay");
    assert!(
        t.get("refresh_token").is_none(),
        "offline_access was deselected"
    );
    // A tampered form cannot widen the grant.
    let q = walk(
        &b,
        &s,
        &authorize_url(&s, "app", SCOPE, &[]),
        "alice",
        None,
        Some(&["patient/*.cruds", "patient/Observation.rs"]),
        "approve",
    );
    let t = json_of(exchange_public(&s, "app", &q["code"], VERIFIER));
    assert!(!t["scope"].as_str().unwrap().contains("cruds"));
}

#[test]
fn pkce_failures_at_the_token_endpoint_are_invalid_grant() {
    // SMART-15: missing, wrong, or equal to the challenge.
    let s = setup();
    for verifier in [
        "",
        "wrong-verifier-wrong-verifier-wrong-verifier-00",
        CHALLENGE,
    ] {
        let code = code_for(&s, "alice", None);
        let (status, error) = error_of(exchange_public(&s, "app", &code, verifier));
        assert_eq!(
            (status, error.as_str()),
            (400, "invalid_grant"),
            "{verifier:?}"
        );
    }
}

#[test]
fn a_code_is_single_use_and_reuse_revokes_what_it_issued() {
    // RFC 6749 §4.1.2, SMART-16, UDAP-23.
    let s = setup();
    let code = code_for(&s, "alice", None);
    let first = json_of(exchange_public(&s, "app", &code, VERIFIER));
    let (status, error) = error_of(exchange_public(&s, "app", &code, VERIFIER));
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    // The refresh token from the first exchange no longer works.
    let res = s.post_form(
        &s.ep.token,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
            ("client_id", "app"),
        ],
    );
    assert_eq!(error_of(res), (400, "invalid_grant".into()));
}

#[test]
fn redirect_uri_and_client_must_match_the_authorization() {
    let s = setup();
    add_app(&s, "other", "none", None, SCOPE);
    let code = code_for(&s, "alice", None);
    let res = s.post_form(
        &s.ep.token,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example/other"),
            ("client_id", "app"),
            ("code_verifier", VERIFIER),
        ],
    );
    assert_eq!(error_of(res), (400, "invalid_grant".into()));
    let code = code_for(&s, "alice", None);
    assert_eq!(
        error_of(exchange_public(&s, "other", &code, VERIFIER)),
        (400, "invalid_grant".into())
    );
    // An unknown code is exactly 400 invalid_grant (SMART-26).
    assert_eq!(
        error_of(exchange_public(&s, "app", "not-a-code", VERIFIER)),
        (400, "invalid_grant".into())
    );
    let _ = REDIRECT;
}

#[test]
fn redirect_uri_is_required_at_the_token_endpoint_only_when_it_was_sent_to_authorize() {
    // RFC 6749 §4.1.3 (issue 8 item 8): "required, if the redirect_uri parameter was included in
    // the authorization request".
    let s = setup();
    let exchange = |code: &str, redirect: Option<&str>| {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", "app"),
            ("code_verifier", VERIFIER),
        ];
        if let Some(r) = redirect {
            form.push(("redirect_uri", r));
        }
        s.post_form(&s.ep.token, &form)
    };
    let b = Browser::new();
    // Not sent at /authorize (one registered URI): not needed at /token.
    let q = walk(
        &b,
        &s,
        &authorize_url(&s, "app", SCOPE, &[("redirect_uri", "")]),
        "alice",
        None,
        None,
        "approve",
    );
    assert_eq!(exchange(&q["code"], None).status().as_u16(), 200);
    // Not sent, but sent at /token: it must still be the right one.
    let q = walk(
        &b,
        &s,
        &authorize_url(&s, "app", SCOPE, &[("redirect_uri", "")]),
        "alice",
        None,
        None,
        "approve",
    );
    assert_eq!(
        error_of(exchange(&q["code"], Some("https://app.example/other"))),
        (400, "invalid_grant".into())
    );
    // Sent at /authorize: required at /token.
    let code = code_for(&s, "alice", None);
    assert_eq!(
        error_of(exchange(&code, None)),
        (400, "invalid_grant".into())
    );
}

#[test]
fn confidential_symmetric_client_exchanges_with_basic_auth() {
    // SMART-48
    let s = setup();
    add_app(
        &s,
        "conf",
        "client_secret_basic",
        Some("s3cret-s3cret-s3cret-s3cret-s3cret-s3cret"),
        SCOPE,
    );
    let b = Browser::new();
    let q = walk(
        &b,
        &s,
        &authorize_url(&s, "conf", SCOPE, &[]),
        "alice",
        None,
        None,
        "approve",
    );
    let res = s
        .http
        .post(&s.ep.token)
        .basic_auth("conf", Some("s3cret-s3cret-s3cret-s3cret-s3cret-s3cret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .unwrap();
    assert_eq!(json_of(res)["patient"], "p1");
    // Without its secret the confidential client gets nothing.
    let q = walk(
        &b,
        &s,
        &authorize_url(&s, "conf", SCOPE, &[]),
        "alice",
        None,
        None,
        "approve",
    );
    assert_eq!(
        error_of(exchange_public(&s, "conf", &q["code"], VERIFIER)),
        (400, "invalid_client".into())
    );
}

#[test]
fn authorize_by_post_works_too() {
    // SMART-12: authorize-post.
    let s = setup();
    let b = Browser::new();
    let url = authorize_url(&s, "app", SCOPE, &[]);
    let (endpoint, query) = url.split_once('?').unwrap();
    let res = b
        .http
        .post(endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query.to_string())
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 302);
    assert!(super::flow::location(&res).contains("/login?interaction="));
}

#[test]
fn confidential_asymmetric_client_exchanges_with_a_private_key_jwt() {
    // SMART-49 for the authorization code grant (client-confidential-asymmetric).
    let s = setup();
    let key = udap_server::pki::ca::KeyKind::EcP384.generate().unwrap();
    let signer = udap_server::jose::Signer::from_pem(
        &String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap(),
        None,
    )
    .unwrap();
    add_app(&s, "asym", "private_key_jwt", None, SCOPE);
    let mut client = s.store.clients().get("asym").unwrap().unwrap();
    client.jwks = Some(serde_json::json!({"keys": [signer.public_jwk()]}));
    s.store.clients().put(&client).unwrap();
    let b = Browser::new();
    let q = walk(
        &b,
        &s,
        &authorize_url(&s, "asym", SCOPE, &[]),
        "alice",
        None,
        None,
        "approve",
    );
    let t = crate::common::now();
    let assertion = signer
        .sign(&serde_json::json!({"iss": "asym", "sub": "asym", "aud": s.ep.token, "exp": t + 120, "iat": t, "jti": "asym-1"}), udap_server::jose::SignOptions { include_x5c: false, typ: Some("JWT") })
        .unwrap();
    let res = s.post_form(
        &s.ep.token,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ],
    );
    assert_eq!(json_of(res)["patient"], "p1");
}
