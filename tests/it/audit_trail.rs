//! Issue 10 item 5: the audit trail. One record per kind of security event (registration created
//! and refused, token issued and refused, login and its failures, consent given and denied,
//! revocation of a token and of a grant), each with the right outcome, agent and entity, and no
//! secret the test used anywhere in the stored records.

use serde_json::{json, Value};
use udap_server::audit::{
    AuditEvent, AuditKind, AuditQuery, COMMUNITY_SYSTEM, GRANT_SYSTEM, TOKEN_SYSTEM,
};
use udap_server::pki::testing::COMMUNITY_URI;

use crate::authcode::flow::{
    add_app, add_user, authorize_url, hidden, location, walk, Browser, PASSWORD, REDIRECT, VERIFIER,
};
use crate::common::{error_of, eventually, jwt_part, untrusted_identity, TestServer};

const SCOPE: &str = "launch/patient patient/Observation.rs offline_access";
const APP_SECRET: &str = "app-secret-7f3e9c1d2b4a68e0f1d2c3b4a5968778";
const WRONG_PASSWORD: &str = "wrong-password-d41d8cd98f00b204";
/// What a user might type into the username field: never recorded (no such user).
const PASSWORD_AS_USERNAME: &str = "hunter2-typed-as-username-9e107d9d";

fn records(s: &TestServer) -> Vec<AuditEvent> {
    udap_server::audit::query(&s.store, &AuditQuery::default()).expect("audit query")
}

fn of_kind(all: &[AuditEvent], kind: AuditKind) -> Vec<&AuditEvent> {
    all.iter().filter(|e| e.kind() == Some(kind)).collect()
}

fn peer(e: &AuditEvent) -> Value {
    e.to_json()["agent"][0]["network"]["address"].clone()
}

#[test]
fn each_security_event_is_recorded_once_without_secrets() {
    let s = TestServer::start();
    let mut secrets: Vec<String> = vec![
        APP_SECRET.into(),
        PASSWORD.into(),
        WRONG_PASSWORD.into(),
        PASSWORD_AS_USERNAME.into(),
        VERIFIER.into(),
    ];

    // UDAP B2B: registration created, registration refused (untrusted chain).
    let id = s.community.client("https://b2b.example.org/audit");
    let statement = s.statement(&id, json!({}));
    let res = s.post_json(
        &s.ep.registration,
        &json!({"software_statement": statement, "udap": "1"}),
    );
    assert_eq!(res.status().as_u16(), 201);
    let b2b = res.json::<Value>().unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let untrusted = untrusted_identity("https://evil.example.org/audit");
    let bad_statement = s.statement(&untrusted, json!({}));
    let res = s.post_json(
        &s.ep.registration,
        &json!({"software_statement": bad_statement, "udap": "1"}),
    );
    assert_eq!(error_of(res), (400, "unapproved_software_statement".into()));

    // A token issued, then refused (the same assertion again: UDAP-5 replay).
    let assertion = s.assertion(&id, &b2b, json!({}));
    let res = s.udap_token(&assertion);
    assert_eq!(res.status().as_u16(), 200);
    let b2b_token = res.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        error_of(s.udap_token(&assertion)),
        (400, "invalid_client".into())
    );

    // RFC 7009: the B2B client revokes its token.
    let revoke_assertion = s.assertion(&id, &b2b, json!({}));
    let res = s.post_form(
        &s.ep.revocation,
        &[
            ("token", &b2b_token),
            ("udap", "1"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &revoke_assertion),
        ],
    );
    assert_eq!(res.status().as_u16(), 200);

    // The browser flow: two failed logins (a wrong password; a password typed as the username),
    // then a login and consent, the code exchange, and a denial.
    add_app(&s, "app", "client_secret_basic", Some(APP_SECRET), SCOPE);
    add_user(&s, "alice", None, &["p1"]);
    let b = Browser::new();
    let login = location(&b.get(&authorize_url(&s, "app", SCOPE, &[])));
    let page = b.get(&login).text().unwrap();
    let (csrf, interaction) = (hidden(&page, "csrf"), hidden(&page, "interaction"));
    for (user, password) in [("alice", WRONG_PASSWORD), (PASSWORD_AS_USERNAME, PASSWORD)] {
        let res = b.post(
            &format!("{}/login", s.base),
            &[
                ("username", user),
                ("password", password),
                ("csrf", &csrf),
                ("interaction", &interaction),
            ],
        );
        assert_eq!(res.status().as_u16(), 401);
    }
    let q = walk(
        &b,
        &s,
        &authorize_url(&s, "app", SCOPE, &[]),
        "alice",
        None,
        None,
        "approve",
    );
    let code = q["code"].clone();
    let res = s
        .http
        .post(&s.ep.token)
        .basic_auth("app", Some(APP_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let tokens: Value = res.json().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let app_access = tokens["access_token"].as_str().unwrap().to_string();
    // HTI1-4: revoking the refresh token ends the grant.
    let res = s
        .http
        .post(&s.ep.revocation)
        .basic_auth("app", Some(APP_SECRET))
        .form(&[("token", refresh.as_str())])
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let denied = walk(
        &b,
        &s,
        &authorize_url(&s, "app", SCOPE, &[]),
        "alice",
        None,
        None,
        "deny",
    );
    assert_eq!(denied["error"], "access_denied");
    secrets.extend([
        statement,
        bad_statement,
        assertion,
        revoke_assertion,
        b2b_token.clone(),
        code,
        refresh,
        app_access,
    ]);
    if let Some(id_token) = tokens["id_token"].as_str() {
        secrets.push(id_token.into());
    }

    // Recorded asynchronously (within about 20 ms): wait for the last one.
    assert!(
        eventually(|| !of_kind(&records(&s), AuditKind::ConsentDenied).is_empty()),
        "no consent_denied record"
    );
    let all = records(&s);

    let created = of_kind(&all, AuditKind::RegistrationCreated);
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].outcome(), "0");
    assert_eq!(created[0].agent_id(), Some(b2b.as_str()));
    assert_eq!(created[0].entity_id(COMMUNITY_SYSTEM), Some(COMMUNITY_URI));
    assert_eq!(peer(created[0]), "127.0.0.1");

    let refused = of_kind(&all, AuditKind::RegistrationRefused);
    assert_eq!(refused.len(), 1);
    assert_eq!(
        (refused[0].outcome(), refused[0].outcome_desc()),
        ("4", Some("unapproved_software_statement (trust)"))
    );
    assert_eq!(refused[0].agent_id(), None);

    let issued = of_kind(&all, AuditKind::TokenIssued);
    assert_eq!(issued.len(), 2, "one B2B token, one code exchange");
    assert_eq!(issued[0].client_id(), Some(b2b.as_str()));
    assert_eq!(
        (issued[1].client_id(), issued[1].patient()),
        (Some("app"), Some("p1"))
    );

    let token_refused = of_kind(&all, AuditKind::TokenRefused);
    assert_eq!(token_refused.len(), 1);
    assert_eq!(
        (token_refused[0].outcome(), token_refused[0].outcome_desc()),
        ("4", Some("invalid_client (replay)"))
    );
    assert_eq!(token_refused[0].agent_id(), Some(b2b.as_str()));

    let failed = of_kind(&all, AuditKind::LoginFailed);
    assert_eq!(failed.len(), 2);
    assert_eq!(
        (
            failed[0].agent_id(),
            failed[0].outcome(),
            failed[0].outcome_desc()
        ),
        (Some("alice"), "4", Some("wrong_password"))
    );
    assert_eq!(
        (failed[1].agent_id(), failed[1].outcome_desc()),
        (None, Some("unknown_user"))
    );
    assert_eq!(failed[1].client_id(), Some("app"));

    let logins = of_kind(&all, AuditKind::LoginSucceeded);
    assert_eq!(logins.len(), 1);
    assert_eq!(
        (logins[0].agent_id(), logins[0].client_id()),
        (Some("alice"), Some("app"))
    );

    let given = of_kind(&all, AuditKind::ConsentGiven);
    assert_eq!(given.len(), 1);
    assert_eq!(
        (
            given[0].agent_id(),
            given[0].client_id(),
            given[0].patient()
        ),
        (Some("alice"), Some("app"), Some("p1"))
    );
    let denied = of_kind(&all, AuditKind::ConsentDenied);
    assert_eq!(denied.len(), 1);
    assert_eq!(
        (denied[0].agent_id(), denied[0].client_id()),
        (Some("alice"), Some("app"))
    );

    let token_revoked = of_kind(&all, AuditKind::TokenRevoked);
    assert_eq!(token_revoked.len(), 1);
    let jti = jwt_part(&b2b_token, 1)["jti"].as_str().unwrap().to_string();
    assert_eq!(token_revoked[0].agent_id(), Some(b2b.as_str()));
    assert_eq!(token_revoked[0].entity_id(TOKEN_SYSTEM), Some(jti.as_str()));

    let grant_revoked = of_kind(&all, AuditKind::GrantRevoked);
    assert_eq!(grant_revoked.len(), 1);
    assert_eq!(grant_revoked[0].agent_id(), Some("app"));
    let grant_id = grant_revoked[0].entity_id(GRANT_SYSTEM).expect("grant id");
    assert!(s.store.authz().grant(grant_id).unwrap().unwrap().revoked);

    // Every record names this server, and the `--client` index finds the app's records.
    assert!(all
        .iter()
        .all(|e| e.to_json()["source"]["observer"]["identifier"]["value"] == s.base.as_str()));
    let app_only = udap_server::audit::query(
        &s.store,
        &AuditQuery {
            client_id: Some("app".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        app_only.len(),
        7,
        "2 failed logins, login, consent, token, grant revoked, denial"
    );

    // No secret in any record: grep the export, as an auditor's copy would be.
    let mut export = Vec::new();
    udap_server::audit::export_ndjson(&s.store, &AuditQuery::default(), &mut export).unwrap();
    let text = String::from_utf8(export).unwrap();
    assert_eq!(text.lines().count(), all.len());
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret is in the audit trail"
        );
    }
    assert!(
        !text.contains("-----BEGIN") && !text.contains("eyJ"),
        "PEM or JWT text in the trail"
    );
}

/// `--audit false`: nothing is recorded (the benchmark's comparison).
#[test]
fn audit_false_records_nothing() {
    let s = TestServer::start_with(crate::common::Options {
        overrides: udap_server::config::Overrides {
            audit: Some(false),
            ..Default::default()
        },
        ..Default::default()
    });
    let id = s.community.client("https://b2b.example.org/quiet");
    let client_id = s.register(&id);
    let res = s.udap_token(&s.assertion(&id, &client_id, json!({})));
    assert_eq!(res.status().as_u16(), 200);
    // Stopping the server drops its audit log, which would commit anything queued.
    let store = (*s.store).clone();
    drop(s);
    assert!(udap_server::audit::query(&store, &AuditQuery::default())
        .unwrap()
        .is_empty());
}
