//! `POST /register` (UDAP-13..22, HTI1-2): success, update, cancel, isolation, and one test per
//! negative rule with the exact status and error code.

use serde_json::{json, Value};
use udap_server::pki::ca::CertSpec;

use crate::common::{error_of, now, untrusted_identity, Options, TestCommunity, TestServer};

const SAN: &str = "https://client.example.org/b2b";

fn body(statement: &str) -> Value {
    json!({"software_statement": statement, "certifications": [], "udap": "1"})
}

fn register_raw(s: &TestServer, statement: &str) -> reqwest::blocking::Response {
    s.post_json(&s.ep.registration, &body(statement))
}

#[test]
fn new_registration_is_201_with_the_parameters_echoed() {
    let s = TestServer::start();
    let id = s.community.client(SAN);
    let statement = s.statement(&id, json!({}));
    let res = register_raw(&s, &statement);
    // UDAP-18
    assert_eq!(res.status().as_u16(), 201);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let b: Value = res.json().unwrap();
    assert!(!b["client_id"].as_str().unwrap().is_empty());
    assert_eq!(b["software_statement"], statement.as_str());
    assert_eq!(b["client_name"], "Test B2B client");
    assert_eq!(b["grant_types"], json!(["client_credentials"]));
    assert_eq!(b["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(b["scope"], "system/Patient.rs system/Observation.rs");
    // FHIR-48921: registered claim names are not echoed.
    for k in ["iss", "sub", "aud", "exp", "iat", "jti"] {
        assert!(b.get(k).is_none(), "{k}");
    }
    // UDAP-18: the certificate and binding are stored.
    let stored = s
        .store
        .clients()
        .get(b["client_id"].as_str().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(stored.san_uri.as_deref(), Some(SAN));
    assert_eq!(stored.community.as_deref(), Some(s.community.uri.as_str()));
    assert!(stored.certificate_der_b64.is_some());
}

#[test]
fn authorization_code_registration_echoes_redirect_uris_and_response_types() {
    let s = TestServer::start();
    let id = s.community.client(SAN);
    let st = s.statement(&id, json!({"grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "redirect_uris": ["https://app.example/cb"], "logo_uri": "https://app.example/logo.png", "scope": "user/*.rs openid"}));
    let res = register_raw(&s, &st);
    assert_eq!(res.status().as_u16(), 201);
    let b: Value = res.json().unwrap();
    assert_eq!(b["redirect_uris"], json!(["https://app.example/cb"]));
    assert_eq!(b["response_types"], json!(["code"]));
    assert_eq!(
        b["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
}

#[test]
fn same_community_and_iss_is_a_replace_all_update_with_the_same_client_id() {
    // UDAP-20
    let s = TestServer::start();
    let id = s.community.client(SAN);
    let first: Value = register_raw(&s, &s.statement(&id, json!({})))
        .json()
        .unwrap();
    // A renewed certificate with the same SAN, new name and scope.
    let renewed = s.community.client(SAN);
    let res = register_raw(
        &s,
        &s.statement(
            &renewed,
            json!({"client_name": "Renamed", "scope": "system/Patient.rs"}),
        ),
    );
    assert_eq!(res.status().as_u16(), 200);
    let second: Value = res.json().unwrap();
    assert_eq!(second["client_id"], first["client_id"]);
    assert_eq!(second["client_name"], "Renamed");
    let stored = s
        .store
        .clients()
        .get(first["client_id"].as_str().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(stored.metadata.scope, "system/Patient.rs");
    assert_eq!(s.store.clients().list().unwrap().len(), 1);
}

#[test]
fn empty_grant_types_cancels_and_the_client_gets_no_more_tokens() {
    // UDAP-21
    let s = TestServer::start();
    let id = s.community.client(SAN);
    let client_id = s.register(&id);
    let res = register_raw(&s, &s.statement(&id, json!({"grant_types": []})));
    assert_eq!(res.status().as_u16(), 200);
    let b: Value = res.json().unwrap();
    assert_eq!(b["client_id"], client_id.as_str());
    assert_eq!(b["grant_types"], json!([]));
    let (status, error) = error_of(s.udap_token(&s.assertion(&id, &client_id, json!({}))));
    assert_eq!((status, error.as_str()), (400, "invalid_client"));
    // Cancelling something never registered is an error.
    let other = s
        .community
        .client("https://client.example.org/never-registered");
    let (status, error) = error_of(register_raw(
        &s,
        &s.statement(&other, json!({"grant_types": []})),
    ));
    assert_eq!((status, error.as_str()), (400, "invalid_client_metadata"));
}

#[test]
fn a_registration_in_one_community_never_overwrites_another() {
    // UDAP-20: the key is (community, iss).
    let second = TestCommunity::new("urn:example:second-community");
    let s = TestServer::start_with(Options {
        extra_communities: vec![second],
        ..Default::default()
    });
    let in_first = s.community.client(SAN);
    let in_second = s.extra[0].client(SAN);
    let a = s.register(&in_first);
    let b = s.register(&in_second);
    assert_ne!(a, b);
    let res = register_raw(
        &s,
        &s.statement(&in_second, json!({"client_name": "Second only"})),
    );
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        s.store
            .clients()
            .get(&a)
            .unwrap()
            .unwrap()
            .metadata
            .client_name,
        "Test B2B client"
    );
    assert_eq!(
        s.store
            .clients()
            .get(&b)
            .unwrap()
            .unwrap()
            .metadata
            .client_name,
        "Second only"
    );
    assert_eq!(
        s.store
            .clients()
            .get(&b)
            .unwrap()
            .unwrap()
            .community
            .as_deref(),
        Some("urn:example:second-community")
    );
}

#[test]
fn top_level_duplicates_are_ignored() {
    // UDAP-14: values inside the statement win.
    let s = TestServer::start();
    let id = s.community.client(SAN);
    let mut b = body(&s.statement(&id, json!({})));
    b["client_name"] = json!("Top-level name");
    b["grant_types"] = json!(["authorization_code"]);
    let res = s.post_json(&s.ep.registration, &b);
    assert_eq!(res.status().as_u16(), 201);
    let out: Value = res.json().unwrap();
    assert_eq!(out["client_name"], "Test B2B client");
    assert_eq!(out["grant_types"], json!(["client_credentials"]));
}

#[test]
fn body_level_errors_are_4xx_json() {
    // UDAP-14 / UDAP-19: never a 5xx for a client mistake.
    let s = TestServer::start();
    let id = s.community.client(SAN);
    let st = s.statement(&id, json!({}));
    let wrong_type = s
        .http
        .post(&s.ep.registration)
        .header("content-type", "text/plain")
        .body(body(&st).to_string())
        .send()
        .unwrap();
    assert_eq!(error_of(wrong_type), (415, "invalid_request".into()));
    let malformed = s
        .http
        .post(&s.ep.registration)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(error_of(malformed), (400, "invalid_request".into()));
    let array = s
        .http
        .post(&s.ep.registration)
        .header("content-type", "application/json")
        .body("[]")
        .send()
        .unwrap();
    assert_eq!(error_of(array), (400, "invalid_request".into()));
    let huge = s
        .http
        .post(&s.ep.registration)
        .header("content-type", "application/json")
        .body(format!("{{\"x\":\"{}\"}}", "a".repeat(200_000)))
        .send()
        .unwrap();
    assert_eq!(error_of(huge), (413, "invalid_request".into()));
    let no_udap = s.post_json(&s.ep.registration, &json!({"software_statement": st}));
    assert_eq!(error_of(no_udap), (400, "invalid_client_metadata".into()));
    let udap2 = s.post_json(
        &s.ep.registration,
        &json!({"software_statement": st, "udap": "2"}),
    );
    assert_eq!(error_of(udap2), (400, "invalid_client_metadata".into()));
    let no_statement = s.post_json(&s.ep.registration, &json!({"udap": "1"}));
    assert_eq!(
        error_of(no_statement),
        (400, "invalid_software_statement".into())
    );
    let not_jws = s.post_json(
        &s.ep.registration,
        &json!({"udap": "1", "software_statement": "abc.def"}),
    );
    assert_eq!(
        error_of(not_jws),
        (400, "invalid_software_statement".into())
    );
}

#[test]
fn statement_claim_rules_are_invalid_software_statement() {
    // UDAP-15 / UDAP-16 (4.3): one row per claim rule.
    let s = TestServer::start();
    let id = s.community.client(SAN);
    let t = now();
    let rows: Vec<(&str, Value)> = vec![
        (
            "iss not a SAN URI (Inferno's invalid_iss)",
            json!({"iss": "invalid_iss", "sub": "invalid_iss"}),
        ),
        (
            "sub differs from iss",
            json!({"sub": "https://client.example.org/other"}),
        ),
        (
            "aud is not the registration endpoint",
            json!({"aud": "https://elsewhere.example/register"}),
        ),
        ("aud missing", json!({"aud": null})),
        ("expired", json!({"iat": t - 400, "exp": t - 100})),
        ("exp - iat over 300 s", json!({"iat": t, "exp": t + 301})),
        ("iat in the future", json!({"iat": t + 600, "exp": t + 700})),
        ("exp missing", json!({"exp": null})),
        ("iat missing", json!({"iat": null})),
        ("jti missing", json!({"jti": null})),
        (
            "IG example with exp before iat",
            json!({"iat": t, "exp": t - 300}),
        ),
    ];
    for (name, patch) in rows {
        let (status, error) = error_of(register_raw(&s, &s.statement(&id, patch)));
        assert_eq!(
            (status, error.as_str()),
            (400, "invalid_software_statement"),
            "{name}"
        );
    }
    // aud as an array containing the endpoint is fine.
    let ok = register_raw(
        &s,
        &s.statement(
            &id,
            json!({"aud": ["https://other.example", s.ep.registration.clone()]}),
        ),
    );
    assert_eq!(ok.status().as_u16(), 201);
}

#[test]
fn signature_and_algorithm_failures_are_invalid_software_statement() {
    // UDAP-16 (4.1), UDAP-2.
    let s = TestServer::start();
    let id = s.community.client(SAN);
    // Signed with a random key, x5c = the real certificate (Inferno's negative test).
    let claims = crate::common::jwt_part(&s.statement(&id, json!({})), 1);
    let (status, error) = error_of(register_raw(
        &s,
        &crate::common::impostor_sign(&id, &claims),
    ));
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_software_statement")
    );
    // alg none and HS256 with the certificate's public key.
    let good = s.statement(&id, json!({}));
    let parts: Vec<&str> = good.split('.').collect();
    let mut header = crate::common::jwt_part(&good, 0);
    for alg in ["none", "HS256"] {
        header["alg"] = json!(alg);
        let h = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            header.to_string(),
        );
        let forged = format!(
            "{h}.{}.{}",
            parts[1],
            if alg == "none" { "" } else { parts[2] }
        );
        let (status, error) = error_of(register_raw(&s, &forged));
        assert_eq!(
            (status, error.as_str()),
            (400, "invalid_software_statement"),
            "{alg}"
        );
    }
    // No x5c.
    let no_x5c = id
        .signer()
        .sign(
            &crate::common::jwt_part(&good, 1),
            udap_server::jose::SignOptions {
                include_x5c: false,
                typ: None,
            },
        )
        .unwrap();
    let (status, error) = error_of(register_raw(&s, &no_x5c));
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_software_statement")
    );
}

#[test]
fn trust_failures_are_unapproved_software_statement() {
    // UDAP-16 (4.2), UDAP-19: untrusted chain, expired, revoked → unapproved_software_statement.
    let s = TestServer::start();
    let untrusted = untrusted_identity(SAN);
    let (status, error) = error_of(register_raw(&s, &s.statement(&untrusted, json!({}))));
    assert_eq!(
        (status, error.as_str()),
        (400, "unapproved_software_statement"),
        "untrusted root"
    );
    let t = s.community.pki.now;
    let expired = s
        .community
        .client_with("https://client.example.org/expired", |c| CertSpec {
            not_before: t - 10 * 86_400,
            not_after: t - 86_400,
            ..c
        });
    let (status, error) = error_of(register_raw(
        &s,
        &s.statement(&expired, json!({"iss": expired.san, "sub": expired.san})),
    ));
    assert_eq!(
        (status, error.as_str()),
        (400, "unapproved_software_statement"),
        "expired"
    );
}

#[test]
fn revoked_certificate_is_unapproved() {
    // UDAP-48 through registration: the community CRL lists the certificate.
    let mut community = TestCommunity::new(udap_server::pki::testing::COMMUNITY_URI);
    let revoked = community.revoked_client("https://client.example.org/revoked");
    let s = TestServer::start_with(Options {
        community: Some(community),
        ..Default::default()
    });
    let (status, error) = error_of(register_raw(
        &s,
        &s.statement(&revoked, json!({"iss": revoked.san, "sub": revoked.san})),
    ));
    assert_eq!(
        (status, error.as_str()),
        (400, "unapproved_software_statement")
    );
}

#[test]
fn registration_parameter_rules_are_invalid_client_metadata() {
    // UDAP-15 / UDAP-16 (4.4) over HTTP; the full table is in oauth::client_metadata's unit tests.
    let s = TestServer::start();
    let id = s.community.client(SAN);
    let rows: Vec<(&str, Value, &str)> = vec![
        (
            "client_name missing",
            json!({"client_name": null}),
            "invalid_client_metadata",
        ),
        (
            "contacts without mailto",
            json!({"contacts": ["https://example.org"]}),
            "invalid_client_metadata",
        ),
        (
            "both grant types",
            json!({"grant_types": ["client_credentials", "authorization_code"]}),
            "invalid_client_metadata",
        ),
        (
            "refresh_token without code",
            json!({"grant_types": ["client_credentials", "refresh_token"]}),
            "invalid_client_metadata",
        ),
        (
            "auth method",
            json!({"token_endpoint_auth_method": "client_secret_basic"}),
            "invalid_client_metadata",
        ),
        (
            "scope missing",
            json!({"scope": null}),
            "invalid_client_metadata",
        ),
        (
            "redirect_uris with client_credentials",
            json!({"redirect_uris": ["https://app.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            "http redirect",
            json!({"grant_types": ["authorization_code"], "response_types": ["code"], "redirect_uris": ["http://app.example/cb"], "logo_uri": "https://app.example/l.png"}),
            "invalid_redirect_uri",
        ),
        (
            "code without logo",
            json!({"grant_types": ["authorization_code"], "response_types": ["code"], "redirect_uris": ["https://app.example/cb"]}),
            "invalid_client_metadata",
        ),
        (
            "code without response_types",
            json!({"grant_types": ["authorization_code"], "redirect_uris": ["https://app.example/cb"], "logo_uri": "https://app.example/l.png"}),
            "invalid_client_metadata",
        ),
        (
            "unknown intended user (HTI1-2)",
            json!({"intended_users": ["robots"]}),
            "invalid_client_metadata",
        ),
    ];
    for (name, patch, code) in rows {
        let (status, error) = error_of(register_raw(&s, &s.statement(&id, patch)));
        assert_eq!((status, error.as_str()), (400, code), "{name}");
    }
    assert!(
        s.store.clients().list().unwrap().is_empty(),
        "nothing written by failed registrations"
    );
}

#[test]
fn replayed_statement_jti_is_refused() {
    // UDAP-4, UDAP-5
    let s = TestServer::start();
    let id = s.community.client(SAN);
    let st = s.statement(&id, json!({}));
    assert_eq!(register_raw(&s, &st).status().as_u16(), 201);
    let (status, error) = error_of(register_raw(&s, &st));
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_software_statement")
    );
}

#[test]
fn a_statement_past_exp_inside_the_skew_window_is_not_accepted_twice() {
    // UDAP-5: the statement's jti is kept for as long as the statement could be accepted
    // (exp + skew); before, a statement 10 s past exp registered again and again.
    let s = TestServer::start();
    let id = s.community.client(SAN);
    let t = now();
    let st = s.statement(&id, json!({"iat": t - 100, "exp": t - 10}));
    assert_eq!(register_raw(&s, &st).status().as_u16(), 201);
    let (status, error) = error_of(register_raw(&s, &st));
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_software_statement")
    );
}

#[test]
fn failed_attempts_do_not_affect_a_later_valid_registration() {
    // Inferno's order: invalid iss, then bad signature, then the valid request, same certificate.
    let s = TestServer::start();
    let id = s.community.client(SAN);
    let jti = "same-jti-in-all-three";
    assert_eq!(
        error_of(register_raw(
            &s,
            &s.statement(
                &id,
                json!({"iss": "invalid_iss", "sub": "invalid_iss", "jti": jti})
            )
        ))
        .0,
        400
    );
    let claims = crate::common::jwt_part(&s.statement(&id, json!({"jti": jti})), 1);
    assert_eq!(
        error_of(register_raw(
            &s,
            &crate::common::impostor_sign(&id, &claims)
        ))
        .0,
        400
    );
    assert_eq!(
        register_raw(&s, &s.statement(&id, json!({"jti": jti})))
            .status()
            .as_u16(),
        201
    );
}

#[test]
fn intended_use_is_recorded_from_extension_claims() {
    // HTI1-2
    let s = TestServer::start();
    let id = s.community.client(SAN);
    let res = register_raw(
        &s,
        &s.statement(
            &id,
            json!({"intended_users": ["payer"], "intended_purposes": ["payment", "operations"]}),
        ),
    );
    let client_id = res.json::<Value>().unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let c = s.store.clients().get(&client_id).unwrap().unwrap();
    assert_eq!(c.intended_use.users, vec!["payer"]);
    assert_eq!(c.intended_use.purposes, vec!["payment", "operations"]);
}

/// Community settings that require the certification `program`, trusting `certifier`'s root.
fn certifier_settings(certifier: &TestCommunity, program: &str) -> serde_json::Map<String, Value> {
    let mut settings = serde_json::Map::new();
    settings.insert("certifications_supported".into(), json!([program]));
    settings.insert("certifications_required".into(), json!([program]));
    settings.insert(
        "certifier_anchors_pem".into(),
        json!([certifier.pki.root.cert_pem]),
    );
    settings.insert(
        "certifier_crls_pem".into(),
        json!([
            certifier.pki.root_crl_pem,
            certifier.pki.intermediate_crl_pem
        ]),
    );
    settings
}

#[test]
fn required_certifications_must_be_present_and_valid_and_unknown_ones_are_ignored() {
    // UDAP-17: listed in udap_certifications_required; validated against the certifier's anchor.
    let certifier = TestCommunity::new("urn:example:certifier");
    let program = "https://certifier.example/programs/security-2026";
    let settings = certifier_settings(&certifier, program);
    let s = TestServer::start_with(Options {
        community_settings: settings,
        ..Default::default()
    });
    let m: Value = s.get("/.well-known/udap").json().unwrap();
    assert_eq!(m["udap_certifications_supported"], json!([program]));
    assert_eq!(m["udap_certifications_required"], json!([program]));

    let id = s.community.client(SAN);
    let certifier_id = certifier.client("https://certifier.example/udap");
    let certification = |sub: &str, uris: Value| {
        let t = now();
        certifier_id.sign(&json!({"iss": certifier_id.san, "sub": sub, "iat": t, "exp": t + 3600, "jti": udap_server::oauth::random_token(8),
            "certification_name": "Security 2026", "certification_uris": uris}))
    };
    let send = |certs: Vec<String>| {
        s.post_json(&s.ep.registration, &json!({"software_statement": s.statement(&id, json!({})), "certifications": certs, "udap": "1"}))
    };
    // Missing, unrecognised, about another app, or from an untrusted certifier: refused.
    assert_eq!(
        error_of(send(vec![])),
        (400, "unapproved_software_statement".into())
    );
    assert_eq!(
        error_of(send(vec![certification(
            SAN,
            json!(["https://other.example/program"])
        )])),
        (400, "unapproved_software_statement".into())
    );
    assert_eq!(
        error_of(send(vec![certification(
            "https://someone.else/app",
            json!([program])
        )])),
        (400, "unapproved_software_statement".into())
    );
    let rogue = untrusted_identity("https://certifier.example/udap");
    let t = now();
    let forged = rogue.sign(&json!({"iss": rogue.san, "sub": SAN, "iat": t, "exp": t + 3600, "jti": "f", "certification_uris": [program]}));
    assert_eq!(
        error_of(send(vec![forged])),
        (400, "unapproved_software_statement".into())
    );
    // Valid, alongside an unrecognised one that is ignored.
    let res = send(vec![
        "not-even-a-jwt".into(),
        certification(SAN, json!([program])),
    ]);
    assert_eq!(res.status().as_u16(), 201);
}

#[test]
fn certifications_are_verified_under_the_configured_algorithm_policy() {
    // Issue 8 item 8: certification JWTs used the default policy; a server that allows only RS256
    // must refuse an ES256-signed certification like any other ES256 JWT.
    let certifier = TestCommunity::new("urn:example:certifier");
    let program = "https://certifier.example/programs/security-2026";
    let settings = certifier_settings(&certifier, program);
    let overrides = udap_server::config::Overrides {
        allowed_algs: Some(vec!["RS256".into()]),
        ..Default::default()
    };
    let s = TestServer::start_with(Options {
        community_settings: settings,
        overrides,
        ..Default::default()
    });
    let id = s.community.client(SAN);
    let certification = |signer: &crate::common::Identity| {
        let t = now();
        signer.sign(&json!({"iss": signer.san, "sub": SAN, "iat": t, "exp": t + 3600, "jti": udap_server::oauth::random_token(8), "certification_uris": [program]}))
    };
    let send = |cert: String| {
        s.post_json(&s.ep.registration, &json!({"software_statement": s.statement(&id, json!({})), "certifications": [cert], "udap": "1"}))
    };
    let ec = certifier.client_with("https://certifier.example/udap", |c| CertSpec {
        key: udap_server::pki::ca::KeyKind::EcP256,
        ..c
    });
    assert_eq!(
        error_of(send(certification(&ec))),
        (400, "unapproved_software_statement".into())
    );
    let rsa = certifier.client("https://certifier.example/udap");
    assert_eq!(send(certification(&rsa)).status().as_u16(), 201);
}

#[test]
fn concurrent_registrations_of_one_identity_make_one_client() {
    // UDAP-20 and issue 8 item 8: read and write of a registration in one transaction.
    let s = std::sync::Arc::new(TestServer::start());
    let id = s.community.client(SAN);
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (s, st) = (s.clone(), s.statement(&id, json!({})));
            std::thread::spawn(move || {
                let res = register_raw(&s, &st);
                (
                    res.status().as_u16(),
                    res.json::<Value>().unwrap()["client_id"]
                        .as_str()
                        .map(String::from),
                )
            })
        })
        .collect();
    let results: Vec<(u16, Option<String>)> =
        handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        results.iter().filter(|(c, _)| *c == 201).count(),
        1,
        "{results:?}"
    );
    assert!(
        results.iter().all(|(c, _)| *c == 201 || *c == 200),
        "{results:?}"
    );
    let ids: std::collections::BTreeSet<_> =
        results.iter().filter_map(|(_, id)| id.clone()).collect();
    assert_eq!(ids.len(), 1, "{results:?}");
    assert_eq!(s.store.clients().list().unwrap().len(), 1);
}

#[test]
fn intended_use_vocabularies_are_configurable() {
    // HTI1-2: vocabularies configurable.
    let overrides = udap_server::config::Overrides {
        intended_users_vocabulary: Some(vec!["payer-staff".into()]),
        ..Default::default()
    };
    let s = TestServer::start_with(Options {
        overrides,
        ..Default::default()
    });
    let id = s.community.client(SAN);
    let (status, error) = error_of(register_raw(
        &s,
        &s.statement(
            &id,
            json!({"intended_users": ["payer"], "intended_purposes": ["payment"]}),
        ),
    ));
    assert_eq!((status, error.as_str()), (400, "invalid_client_metadata"));
    let res = register_raw(
        &s,
        &s.statement(
            &id,
            json!({"intended_users": ["payer-staff"], "intended_purposes": ["payment"]}),
        ),
    );
    assert_eq!(res.status().as_u16(), 201);
}
