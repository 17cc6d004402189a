//! The UDAP consumer-facing flow (UDAP-23..25): a client registered by UDAP DCR for
//! authorization_code runs the code flow and authenticates at the token endpoint with an x5c
//! assertion and `udap=1`; refresh works the same way.

use serde_json::{json, Value};

use super::flow::{add_user, authorize_url, json_of, walk, Browser, REDIRECT, VERIFIER};
use crate::common::{error_of, Options, TestServer};

const SAN: &str = "https://consumer.example.org/app";
const SCOPE: &str = "openid fhirUser launch/patient patient/*.rs offline_access";

fn register(s: &TestServer) -> (crate::common::Identity, String) {
    let id = s.community.client(SAN);
    let st = s.statement(&id, json!({"grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "redirect_uris": [REDIRECT], "logo_uri": "https://consumer.example.org/logo.png", "scope": SCOPE}));
    let res = s.post_json(
        &s.ep.registration,
        &json!({"software_statement": st, "udap": "1"}),
    );
    assert_eq!(res.status().as_u16(), 201);
    let client_id = res.json::<Value>().unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    (id, client_id)
}

fn udap_exchange(
    s: &TestServer,
    id: &crate::common::Identity,
    client_id: &str,
    form: &[(&str, &str)],
) -> reqwest::blocking::Response {
    let assertion = s.assertion(id, client_id, json!({"extensions": null}));
    let mut f: Vec<(&str, &str)> = form.to_vec();
    f.extend([
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
        ("udap", "1"),
    ]);
    s.post_form(&s.ep.token, &f)
}

#[test]
fn udap_registered_app_completes_the_code_flow_with_an_x5c_assertion() {
    let s = TestServer::start();
    let (id, client_id) = register(&s);
    add_user(&s, "alice", Some("Patient/p1"), &["p1"]);
    let b = Browser::new();
    let q = walk(
        &b,
        &s,
        &authorize_url(&s, &client_id, SCOPE, &[]),
        "alice",
        None,
        None,
        "approve",
    );
    let res = udap_exchange(
        &s,
        &id,
        &client_id,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    );
    assert!(res.headers()["pragma"]
        .to_str()
        .unwrap()
        .contains("no-cache")); // UDAP-35
    let t = json_of(res);
    assert_eq!(t["patient"], "p1");
    assert!(t["expires_in"].as_i64().unwrap() <= 3600); // UDAP-24
                                                        // UDAP-25: refresh with a new assertion.
    let r = udap_exchange(
        &s,
        &id,
        &client_id,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
        ],
    );
    assert_eq!(json_of(r)["patient"], "p1");
    // Without udap=1 the exchange is refused (UDAP-34).
    let q = walk(
        &b,
        &s,
        &authorize_url(&s, &client_id, SCOPE, &[]),
        "alice",
        None,
        None,
        "approve",
    );
    let assertion = s.assertion(&id, &client_id, json!({"extensions": null}));
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
    assert_eq!(error_of(res), (400, "invalid_request".into()));
}

#[test]
fn pkce_exemption_is_a_per_community_setting_for_udap_clients() {
    // HTI1-1: required by default; a community may exempt UDAP private_key_jwt clients (Inferno STU1 sends no PKCE).
    let s = TestServer::start();
    let (_, client_id) = register(&s);
    add_user(&s, "alice", None, &["p1"]);
    let b = Browser::new();
    let no_pkce = authorize_url(
        &s,
        &client_id,
        SCOPE,
        &[
            ("code_challenge", ""),
            ("code_challenge_method", ""),
            ("aud", ""),
        ],
    );
    let q = super::flow::query(&super::flow::location(&b.get(&no_pkce)));
    assert_eq!(q["error"], "invalid_request");

    let mut settings = serde_json::Map::new();
    settings.insert("pkce_exempt_udap".into(), json!(true));
    let s = TestServer::start_with(Options {
        community_settings: settings,
        ..Default::default()
    });
    let (id, client_id) = register(&s);
    add_user(&s, "alice", None, &["p1"]);
    // Inferno's request: no PKCE, no aud.
    let no_pkce = authorize_url(
        &s,
        &client_id,
        SCOPE,
        &[
            ("code_challenge", ""),
            ("code_challenge_method", ""),
            ("aud", ""),
        ],
    );
    let q = walk(&b, &s, &no_pkce, "alice", None, None, "approve");
    let res = udap_exchange(
        &s,
        &id,
        &client_id,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", REDIRECT),
        ],
    );
    assert!(json_of(res)["access_token"].is_string());
    // An admin-registered SMART app is never exempt.
    super::flow::add_app(&s, "smart-app", "none", None, SCOPE);
    let q = super::flow::query(&super::flow::location(&b.get(&authorize_url(
        &s,
        "smart-app",
        SCOPE,
        &[("code_challenge", ""), ("code_challenge_method", "")],
    ))));
    assert_eq!(q["error"], "invalid_request");
}
