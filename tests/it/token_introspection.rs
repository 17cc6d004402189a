//! `POST /introspect` (RFC 7662, SMART-58..63) and `POST /revoke` (RFC 7009).

use serde_json::{json, Value};
use udap_server::oauth::client_auth::hash_secret;
use udap_server::store::ClientRecord;

use crate::common::{error_of, now, TestServer};

/// A resource server registered by an administrator with client_secret_basic and the
/// introspection scope.
fn resource_server(s: &TestServer) -> (String, String) {
    let secret = "rs-secret-0123456789abcdef0123456789abcdef";
    let mut client = ClientRecord::admin(
        "fhir-resource-server",
        "FHIR server",
        "client_secret_basic",
        &["client_credentials"],
        "udap-server/introspect",
        now(),
    );
    client.secret_hash = Some(hash_secret(secret));
    s.store.clients().put(&client).unwrap();
    (client.client_id, secret.to_string())
}

fn introspect(s: &TestServer, auth: &(String, String), token: &str) -> Value {
    let res = s
        .http
        .post(&s.ep.introspection)
        .basic_auth(&auth.0, Some(&auth.1))
        .form(&[("token", token)])
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    res.json().unwrap()
}

fn b2b_token(s: &TestServer) -> (crate::common::Identity, String, String) {
    let id = s.community.client("https://client.example.org/b2b");
    let client_id = s.register(&id);
    let b: Value = s
        .udap_token(&s.assertion(&id, &client_id, json!({})))
        .json()
        .unwrap();
    (
        id,
        client_id,
        b["access_token"].as_str().unwrap().to_string(),
    )
}

#[test]
fn active_token_introspects_with_its_claims_and_hl7_b2b() {
    // SMART-58..63
    let s = TestServer::start();
    let rs = resource_server(&s);
    let (_, client_id, token) = b2b_token(&s);
    let r = introspect(&s, &rs, &token);
    assert_eq!(r["active"], true);
    assert_eq!(r["client_id"], client_id.as_str());
    assert_eq!(r["scope"], "system/Patient.rs system/Observation.rs");
    assert_eq!(r["token_type"], "Bearer");
    assert_eq!(r["iss"], s.base.as_str());
    assert!(r["exp"].is_i64() && r["iat"].is_i64() && r["sub"].is_string());
    assert_eq!(r["hl7-b2b"]["version"], "1");
}

#[test]
fn garbage_expired_and_revoked_tokens_are_just_inactive() {
    let s = TestServer::start();
    let rs = resource_server(&s);
    for garbage in ["garbage", "a.b.c"] {
        assert_eq!(
            introspect(&s, &rs, garbage),
            json!({"active": false}),
            "{garbage}"
        );
    }
    // A token signed with our key but already expired.
    let key = s
        .store
        .server_keys()
        .get_or_create("token-rs256", now(), || {
            panic!("the server created its key at start")
        })
        .unwrap();
    let signer = udap_server::jose::Signer::from_pem(&key.key_pem, None).unwrap();
    let t = now() - 7200;
    let claims = json!({"iss": s.base, "sub": "x", "aud": s.base, "client_id": rs.0, "scope": "system/Patient.rs", "iat": t, "exp": t + 300, "jti": "expired-jti"});
    let expired = signer.sign(&claims, Default::default()).unwrap();
    assert_eq!(introspect(&s, &rs, &expired), json!({"active": false}));
    // Revoked by its client: inactive at once (RFC 7009).
    let (id, client_id, token) = b2b_token(&s);
    assert_eq!(introspect(&s, &rs, &token)["active"], true);
    let assertion = s.assertion(&id, &client_id, json!({}));
    let res = s.post_form(
        &s.ep.revocation,
        &[
            ("token", &token),
            ("udap", "1"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ],
    );
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(introspect(&s, &rs, &token), json!({"active": false}));
}

#[test]
fn revocation_of_unknown_tokens_is_200_and_needs_client_auth() {
    let s = TestServer::start();
    let rs = resource_server(&s);
    let res = s
        .http
        .post(&s.ep.revocation)
        .basic_auth(&rs.0, Some(&rs.1))
        .form(&[("token", "not-a-token")])
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let res = s.post_form(&s.ep.revocation, &[("token", "not-a-token")]);
    assert_eq!(error_of(res), (400, "invalid_client".into()));
}

#[test]
fn introspection_requires_authentication() {
    let s = TestServer::start();
    let (_, _, token) = b2b_token(&s);
    let res = s.post_form(&s.ep.introspection, &[("token", &token)]);
    assert_eq!(error_of(res).1, "invalid_client");
    // Wrong secret: 401 with a challenge.
    let rs = resource_server(&s);
    let res = s
        .http
        .post(&s.ep.introspection)
        .basic_auth(&rs.0, Some("wrong"))
        .form(&[("token", &token)])
        .send()
        .unwrap();
    assert!(res.headers().contains_key("www-authenticate"));
    assert_eq!(error_of(res), (401, "invalid_client".into()));
}

#[test]
fn a_client_without_the_introspection_scope_sees_only_its_own_tokens() {
    let s = TestServer::start();
    let (id, client_id, token) = b2b_token(&s);
    let (id2, client2, token2) = {
        let id2 = s.community.client("https://client.example.org/second");
        let c2 = s.register(&id2);
        let b: Value = s
            .udap_token(&s.assertion(&id2, &c2, json!({})))
            .json()
            .unwrap();
        (id2, c2, b["access_token"].as_str().unwrap().to_string())
    };
    let ask = |who: &crate::common::Identity, cid: &str, tok: &str| -> Value {
        s.post_form(
            &s.ep.introspection,
            &[
                ("token", tok),
                ("udap", "1"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &s.assertion(who, cid, json!({}))),
            ],
        )
        .json()
        .unwrap()
    };
    assert_eq!(ask(&id, &client_id, &token)["active"], true);
    assert_eq!(ask(&id, &client_id, &token2), json!({"active": false}));
    assert_eq!(ask(&id2, &client2, &token2)["active"], true);
}

#[test]
fn bearer_token_with_the_introspection_scope_can_introspect() {
    let s = TestServer::start();
    let rs = resource_server(&s);
    // The resource server gets a token for the introspection scope with client_credentials.
    let res = s
        .http
        .post(&s.ep.token)
        .basic_auth(&rs.0, Some(&rs.1))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "udap-server/introspect"),
        ])
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let rs_token = res.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, _, token) = b2b_token(&s);
    let res = s
        .http
        .post(&s.ep.introspection)
        .bearer_auth(&rs_token)
        .form(&[("token", &token)])
        .send()
        .unwrap();
    assert_eq!(res.json::<Value>().unwrap()["active"], true);
    let res = s
        .http
        .post(&s.ep.introspection)
        .bearer_auth("forged")
        .form(&[("token", &token)])
        .send()
        .unwrap();
    assert_eq!(error_of(res), (401, "invalid_client".into()));
}

#[test]
fn self_registration_never_grants_administrative_scopes() {
    // Issue 8 item 1 (critical): a member registering `udap-server/introspect udap-server/launch`
    // used to get them, then introspected every client's tokens and created launches.
    let s = TestServer::start();
    let (_, _, victim_token) = b2b_token(&s);
    let attacker = s.community.client("https://attacker.example.org/b2b");
    let st = s.statement(
        &attacker,
        json!({"scope": "udap-server/launch udap-server/introspect system/*.rs"}),
    );
    let res = s.post_json(
        &s.ep.registration,
        &json!({"software_statement": st, "udap": "1"}),
    );
    assert_eq!(res.status().as_u16(), 201);
    let body: Value = res.json().unwrap();
    // The registration response carries the granted scope.
    assert_eq!(body["scope"], "system/*.rs");
    let client_id = body["client_id"].as_str().unwrap().to_string();
    // Even a record that holds the scope string (an old registration) grants nothing: force it.
    let mut record = s.store.clients().get(&client_id).unwrap().unwrap();
    record.metadata.scope = "udap-server/launch udap-server/introspect system/*.rs".into();
    s.store.clients().put(&record).unwrap();
    let assertion = |scope: Option<&str>| {
        let mut form = vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            (
                "client_assertion_type".into(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ),
            (
                "client_assertion".into(),
                s.assertion(&attacker, &client_id, json!({})),
            ),
            ("udap".into(), "1".into()),
        ];
        if let Some(sc) = scope {
            form.push(("scope".into(), sc.into()));
        }
        form
    };
    let res = s
        .http
        .post(&s.ep.token)
        .form(&assertion(Some("udap-server/introspect")))
        .send()
        .unwrap();
    assert_eq!(error_of(res), (400, "invalid_scope".into()));
    // Introspecting another client's token with client authentication: inactive.
    let mut form = assertion(None);
    form.retain(|(k, _)| k != "grant_type");
    form.push(("token".into(), victim_token.clone()));
    let res = s.http.post(&s.ep.introspection).form(&form).send().unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.json::<Value>().unwrap(), json!({"active": false}));
    // And no launches.
    let mut form = assertion(None);
    form.retain(|(k, _)| k != "grant_type");
    form.push(("patient".into(), "p1".into()));
    let res = s
        .http
        .post(format!("{}/launch", s.base))
        .form(&form)
        .send()
        .unwrap();
    assert_eq!(error_of(res), (400, "unauthorized_client".into()));
}
