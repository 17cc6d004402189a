//! `POST /token` with `grant_type=client_credentials` and UDAP JWT client authentication
//! (UDAP-27..35, UDAP-53, UDAP-54), replay protection (UDAP-5) and the access token itself.

use std::sync::Arc;

use serde_json::{json, Value};
use udap_server::jose::{self, AlgPolicy, VerifyingKey};
use udap_server::pki::ca::CertSpec;

use crate::common::{
    error_of, impostor_sign, jwt_part, now, untrusted_identity, Options, TestCommunity, TestServer,
};

const SAN: &str = "https://client.example.org/b2b";

fn setup() -> (TestServer, crate::common::Identity, String) {
    let s = TestServer::start();
    let id = s.community.client(SAN);
    let client_id = s.register(&id);
    (s, id, client_id)
}

#[test]
fn udap_b2b_client_credentials_succeeds_with_no_store_headers() {
    let (s, id, client_id) = setup();
    let res = s.udap_token(&s.assertion(&id, &client_id, json!({})));
    assert_eq!(res.status().as_u16(), 200);
    // UDAP-35 / UDAP-54 (Inferno checks both headers).
    assert!(res.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("no-store"));
    assert!(res.headers()["pragma"]
        .to_str()
        .unwrap()
        .contains("no-cache"));
    let b: Value = res.json().unwrap();
    assert_eq!(b["token_type"], "Bearer");
    // UDAP-53: at most 60 minutes (default 5).
    let expires_in = b["expires_in"].as_i64().unwrap();
    assert!(expires_in > 0 && expires_in <= 3600);
    assert_eq!(b["scope"], "system/Patient.rs system/Observation.rs");
    // UDAP-27: no refresh token for client_credentials.
    assert!(b.get("refresh_token").is_none());
    // The access token verifies with the published JWKS and carries the validated hl7-b2b object.
    let token = b["access_token"].as_str().unwrap();
    let jwks: Value = s.get("/jwks").json().unwrap();
    let kid = jwt_part(token, 0)["kid"].as_str().unwrap().to_string();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("kid published")
        .clone();
    let claims = jose::parse_compact(token)
        .unwrap()
        .verify(
            &VerifyingKey::from_jwk(&jwk).unwrap(),
            &AlgPolicy::default(),
        )
        .unwrap()
        .clone();
    assert_eq!(claims["client_id"], client_id.as_str());
    assert_eq!(claims["sub"], client_id.as_str());
    assert_eq!(claims["iss"], s.base.as_str());
    assert_eq!(claims["aud"], s.base.as_str());
    assert_eq!(claims["hl7-b2b"]["purpose_of_use"], json!(["SYSDEV"]));
    assert_eq!(claims["community"], s.community.uri.as_str());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        expires_in
    );
}

#[test]
fn scope_is_requested_intersected_with_registered() {
    let (s, id, client_id) = setup();
    let res = s.post_form(
        &s.ep.token,
        &[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &s.assertion(&id, &client_id, json!({}))),
            ("udap", "1"),
            ("scope", "system/Patient.cruds system/Condition.rs"),
        ],
    );
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.json::<Value>().unwrap()["scope"], "system/Patient.rs");
    let res = s.post_form(
        &s.ep.token,
        &[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &s.assertion(&id, &client_id, json!({}))),
            ("udap", "1"),
            ("scope", "system/Condition.rs"),
        ],
    );
    assert_eq!(error_of(res), (400, "invalid_scope".into()));
}

#[test]
fn replayed_assertion_is_invalid_client() {
    // UDAP-5, UDAP-33
    let (s, id, client_id) = setup();
    let a = s.assertion(&id, &client_id, json!({}));
    assert_eq!(s.udap_token(&a).status().as_u16(), 200);
    assert_eq!(replay_count(&s), 0.0);
    assert_eq!(error_of(s.udap_token(&a)), (400, "invalid_client".into()));
    // Counted by the error's kind, not by matching its text (issue 8 item 7).
    assert_eq!(replay_count(&s), 1.0);
}

fn replay_count(s: &TestServer) -> f64 {
    let text = s.get_root("/metrics").text().unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("jti_replays_total") && !l.starts_with('#'))
        .expect("replay metric");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn fifty_concurrent_submissions_of_one_assertion_yield_exactly_one_token() {
    // Atomic replay check under concurrency.
    let (s, id, client_id) = setup();
    let a = s.assertion(&id, &client_id, json!({}));
    let statuses = concurrent_copies(&Arc::new(s), &a, 50);
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 49);
}

/// `n` concurrent copies of `assertion`: the statuses, in no particular order.
fn concurrent_copies(s: &Arc<TestServer>, assertion: &str, n: usize) -> Vec<u16> {
    let a = Arc::new(assertion.to_string());
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (s, a) = (s.clone(), a.clone());
            std::thread::spawn(move || s.udap_token(&a).status().as_u16())
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn an_assertion_past_exp_but_inside_the_skew_window_is_accepted_at_most_once() {
    // UDAP-5: the jti stays burned for as long as the server would accept the JWT (exp + skew).
    // Before the fix, the entry lapsed at `exp`, so each copy of an assertion 10 s past its exp
    // got a token.
    let (s, id, client_id) = setup();
    let t = now();
    let a = s.assertion(&id, &client_id, json!({"iat": t - 100, "exp": t - 10}));
    let s = Arc::new(s);
    let statuses = concurrent_copies(&s, &a, 20);
    assert!(
        statuses.iter().filter(|c| **c == 200).count() <= 1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|c| *c == 200 || *c == 400),
        "{statuses:?}"
    );
    // Sequentially too: the one accepted copy burns it for the rest of the window.
    assert_eq!(error_of(s.udap_token(&a)), (400, "invalid_client".into()));
}

#[test]
fn an_over_long_jti_is_a_client_error_not_a_server_error() {
    // A validly signed assertion with a 4 KB jti used to reach the store and fail with a 500.
    let (s, id, client_id) = setup();
    let a = s.assertion(&id, &client_id, json!({"jti": "j".repeat(4096)}));
    let (status, code) = error_of(s.udap_token(&a));
    assert_eq!(status, 400);
    assert!(
        code == "invalid_request" || code == "invalid_client",
        "{code}"
    );
}

#[test]
fn replay_after_a_restart_is_rejected() {
    // The replay store is durable.
    let (mut s, id, client_id) = setup();
    let a = s.assertion(&id, &client_id, json!({}));
    assert_eq!(s.udap_token(&a).status().as_u16(), 200);
    s.restart();
    assert_eq!(error_of(s.udap_token(&a)), (400, "invalid_client".into()));
    assert_eq!(
        s.udap_token(&s.assertion(&id, &client_id, json!({})))
            .status()
            .as_u16(),
        200
    );
}

#[test]
fn a_replayed_assertion_stays_burned_even_when_the_grant_fails() {
    // Design habit 9: the jti is recorded once the client is authenticated.
    let (s, id, client_id) = setup();
    let a = s.assertion(&id, &client_id, json!({"extensions": "not an object"}));
    assert_eq!(error_of(s.udap_token(&a)), (400, "invalid_grant".into()));
    assert_eq!(error_of(s.udap_token(&a)), (400, "invalid_client".into()));
}

#[test]
fn certificate_problems_are_invalid_client() {
    // UDAP-32, UDAP-33, UDAP-35: trust failures → invalid_client.
    let mut community = TestCommunity::new(udap_server::pki::testing::COMMUNITY_URI);
    let revoked = community.revoked_client(SAN);
    let s = TestServer::start_with(Options {
        community: Some(community),
        ..Default::default()
    });
    let id = s.community.client(SAN);
    let client_id = s.register(&id);
    let t = s.community.pki.now;
    let expired = s.community.client_with(SAN, |c| CertSpec {
        not_before: t - 10 * 86_400,
        not_after: t - 60,
        ..c
    });
    let other_san = s
        .community
        .client("https://client.example.org/someone-else");
    let untrusted = untrusted_identity(SAN);
    for (name, identity) in [
        ("expired", &expired),
        ("revoked", &revoked),
        ("untrusted root", &untrusted),
        ("SAN not the registered one", &other_san),
    ] {
        let res = s.udap_token(&s.assertion(identity, &client_id, json!({})));
        assert_eq!(error_of(res), (400, "invalid_client".into()), "{name}");
    }
    // A renewed certificate with the registered SAN is accepted and recorded.
    let renewed = s.community.client(SAN);
    assert_eq!(
        s.udap_token(&s.assertion(&renewed, &client_id, json!({})))
            .status()
            .as_u16(),
        200
    );
    let stored = s.store.clients().get(&client_id).unwrap().unwrap();
    assert_eq!(
        stored.certificate_der_b64.as_deref(),
        Some(renewed.x5c()[0].as_str())
    );
}

#[test]
fn assertion_claim_and_request_rules() {
    // UDAP-28, UDAP-33, UDAP-34, UDAP-35: one row per rule, exact status and code.
    let (s, id, client_id) = setup();
    let t = now();
    let rows: Vec<(&str, Value, &str)> = vec![
        (
            "aud is not the token endpoint",
            json!({"aud": s.ep.registration.clone()}),
            "invalid_client",
        ),
        (
            "exp - iat over 300 s",
            json!({"iat": t, "exp": t + 301}),
            "invalid_client",
        ),
        (
            "expired",
            json!({"iat": t - 400, "exp": t - 100}),
            "invalid_client",
        ),
        (
            "sub is not the client_id",
            json!({"sub": "someone"}),
            "invalid_client",
        ),
        ("jti missing", json!({"jti": null}), "invalid_client"),
        (
            "iss unknown",
            json!({"iss": "unknown-client", "sub": "unknown-client"}),
            "invalid_client",
        ),
        (
            "extensions as a string",
            json!({"extensions": "{\"hl7-b2b\":{}}"}),
            "invalid_grant",
        ),
        (
            "hl7-b2b without organization_id",
            json!({"extensions": {"hl7-b2b": {"version": "1", "purpose_of_use": ["SYSDEV"]}}}),
            "invalid_grant",
        ),
        (
            "hl7-b2b wrong version",
            json!({"extensions": {"hl7-b2b": {"version": "2", "organization_id": "https://x.example", "purpose_of_use": ["SYSDEV"]}}}),
            "invalid_grant",
        ),
    ];
    for (name, patch, code) in rows {
        let (status, error) = error_of(s.udap_token(&s.assertion(&id, &client_id, patch)));
        assert_eq!((status, error.as_str()), (400, code), "{name}");
    }
    // Bad signature → invalid_request (UDAP-35).
    let claims = jwt_part(&s.assertion(&id, &client_id, json!({})), 1);
    assert_eq!(
        error_of(s.udap_token(&impostor_sign(&id, &claims))),
        (400, "invalid_request".into())
    );
    // Missing udap=1 → invalid_request (UDAP-34).
    let res = s.post_form(
        &s.ep.token,
        &[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &s.assertion(&id, &client_id, json!({}))),
        ],
    );
    assert_eq!(error_of(res), (400, "invalid_request".into()));
    // client_id form parameter different from iss.
    let res = s.post_form(
        &s.ep.token,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "other"),
            ("udap", "1"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &s.assertion(&id, &client_id, json!({}))),
        ],
    );
    assert_eq!(error_of(res), (400, "invalid_client".into()));
}

#[test]
fn request_shape_errors() {
    let (s, id, client_id) = setup();
    // Unknown grant type.
    let res = s.post_form(
        &s.ep.token,
        &[("grant_type", "password"), ("username", "u")],
    );
    let headers = res.headers().clone();
    assert_eq!(error_of(res), (400, "unsupported_grant_type".into()));
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-store"),
        "errors carry no-store too"
    );
    assert!(headers["pragma"].to_str().unwrap().contains("no-cache"));
    // Missing grant type, repeated parameter, wrong media type.
    assert_eq!(
        error_of(s.post_form(&s.ep.token, &[("scope", "x")])),
        (400, "invalid_request".into())
    );
    let a = s.assertion(&id, &client_id, json!({}));
    let res = s.http.post(&s.ep.token).header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=client_credentials&grant_type=client_credentials&udap=1&client_assertion={a}")).send().unwrap();
    assert_eq!(error_of(res), (400, "invalid_request".into()));
    let res = s
        .http
        .post(&s.ep.token)
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .unwrap();
    assert_eq!(error_of(res), (400, "invalid_request".into()));
    // Wrong client_assertion_type.
    let res = s.post_form(
        &s.ep.token,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:x"),
            ("client_assertion", &a),
            ("udap", "1"),
        ],
    );
    assert_eq!(error_of(res), (400, "invalid_request".into()));
}

#[test]
fn community_can_require_hl7_b2b_and_restrict_purposes() {
    // UDAP-29 with per-community policy; discovery lists the requirement (UDAP-9).
    let mut settings = serde_json::Map::new();
    settings.insert("b2b_required".into(), json!(true));
    settings.insert("purpose_of_use_allowed".into(), json!(["TREAT"]));
    let s = TestServer::start_with(Options {
        community_settings: settings,
        ..Default::default()
    });
    let m: Value = s.get("/.well-known/udap").json().unwrap();
    assert_eq!(
        m["udap_authorization_extensions_required"],
        json!(["hl7-b2b"])
    );
    let id = s.community.client(SAN);
    let client_id = s.register(&id);
    let missing = s.assertion(&id, &client_id, json!({"extensions": null}));
    assert_eq!(
        error_of(s.udap_token(&missing)),
        (400, "invalid_grant".into())
    );
    let sysdev = s.assertion(&id, &client_id, json!({}));
    assert_eq!(
        error_of(s.udap_token(&sysdev)),
        (400, "invalid_grant".into())
    );
    let treat = s.assertion(&id, &client_id, json!({"extensions": {"hl7-b2b": {"version": "1", "organization_id": "https://org.example", "purpose_of_use": ["urn:oid:2.16.840.1.113883.5.8#TREAT"]}}}));
    assert_eq!(s.udap_token(&treat).status().as_u16(), 200);
}

#[test]
fn intended_use_enforcement_date_stops_undeclared_clients() {
    // HTI1-2: after the enforcement date, apps without intended use get no tokens, and are told why.
    let overrides = udap_server::config::Overrides {
        intended_use_enforcement_date: Some("2000-01-01".into()),
        ..Default::default()
    };
    let s = TestServer::start_with(Options {
        overrides,
        ..Default::default()
    });
    let id = s.community.client(SAN);
    let client_id = s.register(&id);
    let res = s.udap_token(&s.assertion(&id, &client_id, json!({})));
    let body: Value = res.json().unwrap();
    assert_eq!(body["error"], "unauthorized_client");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("Intended"));
    let declared = s.community.client("https://client.example.org/declared");
    let st = s.statement(
        &declared,
        json!({"intended_users": ["payer"], "intended_purposes": ["payment"]}),
    );
    let reg: Value = s
        .post_json(
            &s.ep.registration,
            &json!({"software_statement": st, "udap": "1"}),
        )
        .json()
        .unwrap();
    let declared_id = reg["client_id"].as_str().unwrap();
    assert_eq!(
        s.udap_token(&s.assertion(&declared, declared_id, json!({})))
            .status()
            .as_u16(),
        200
    );
}

#[test]
fn es256_access_tokens_are_configurable_and_published() {
    // Access tokens RS256 by default, ES256 when configured; the kid is in /jwks.
    let overrides = udap_server::config::Overrides {
        token_signing_alg: Some("ES256".into()),
        ..Default::default()
    };
    let s = TestServer::start_with(Options {
        overrides,
        ..Default::default()
    });
    let id = s.community.client(SAN);
    let client_id = s.register(&id);
    let b: Value = s
        .udap_token(&s.assertion(&id, &client_id, json!({})))
        .json()
        .unwrap();
    let token = b["access_token"].as_str().unwrap();
    let header = jwt_part(token, 0);
    assert_eq!(header["alg"], "ES256");
    let jwks: Value = s.get("/jwks").json().unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap()
        .clone();
    assert_eq!(jwk["kty"], "EC");
    assert!(jose::parse_compact(token)
        .unwrap()
        .verify(
            &VerifyingKey::from_jwk(&jwk).unwrap(),
            &AlgPolicy::default()
        )
        .is_ok());
}
