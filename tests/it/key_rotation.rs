//! Issue 10 item 4: signing-key rotation while tokens are live. Old tokens still introspect active
//! and verify with the JWKS, new tokens carry the new `kid`, and the old key cannot be retired
//! while its tokens can still be valid.

use serde_json::{json, Value};
use udap_server::jose::{self, AlgPolicy, VerifyingKey};
use udap_server::server_keys::{self, KeyError, KeyPurpose, KeyState};

use crate::common::{eventually, now, Identity, TestServer};

/// A registered B2B client and a client_credentials token for it.
fn client_and_token(s: &TestServer) -> (Identity, String, String) {
    let id = s.community.client("https://client.example.org/b2b");
    let client_id = s.register(&id);
    let token = new_token(s, &id, &client_id);
    (id, client_id, token)
}

fn new_token(s: &TestServer, id: &Identity, client_id: &str) -> String {
    let res = s.udap_token(&s.assertion(id, client_id, json!({})));
    assert_eq!(res.status().as_u16(), 200);
    res.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The client introspects its own token (RFC 7662; a client sees its own tokens).
fn introspect(s: &TestServer, id: &Identity, client_id: &str, token: &str) -> Value {
    let res = s.post_form(
        &s.ep.introspection,
        &[
            ("token", token),
            ("udap", "1"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &s.assertion(id, client_id, json!({}))),
        ],
    );
    assert_eq!(res.status().as_u16(), 200);
    res.json().unwrap()
}

fn kid_of(token: &str) -> String {
    jose::parse_compact(token)
        .unwrap()
        .header()
        .kid
        .clone()
        .expect("our tokens carry a kid")
}

fn jwks(s: &TestServer) -> Value {
    let res = s.get("/jwks");
    assert_eq!(res.status().as_u16(), 200);
    res.json().unwrap()
}

/// Verifies `token` as a resource server does: the JWKS key with the token's `kid`, its `alg`.
fn verifies_with_jwks(jwks: &Value, token: &str) -> bool {
    let kid = kid_of(token);
    let Some(jwk) = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
    else {
        return false;
    };
    let key = VerifyingKey::from_jwk(jwk).unwrap();
    let policy = AlgPolicy::from_names(&[jwk["alg"].as_str().unwrap().to_string()]).unwrap();
    jose::parse_compact(token)
        .unwrap()
        .verify(&key, &policy)
        .is_ok()
}

#[test]
fn rotation_keeps_live_tokens_valid_and_new_tokens_carry_the_new_kid() {
    // Issue 10 item 4: "Rotate keys while tokens are live".
    let s = TestServer::start();
    let (id, client_id, old_token) = client_and_token(&s);
    let old_kid = kid_of(&old_token);
    assert_eq!(introspect(&s, &id, &client_id, &old_token)["active"], true);

    // What `keys rotate --alg ES256` does through the admin API: rotate in the store, then reload
    // the running server's issuer.
    let t = now();
    let rotated =
        server_keys::rotate(&s.store, None, KeyPurpose::Access, Some("ES256"), t).expect("rotate");
    assert_eq!(
        (rotated.alg.as_str(), rotated.state),
        ("ES256", KeyState::Active)
    );
    assert_ne!(rotated.kid, old_kid);
    // The key poller may have picked the change up already; either way it is served now.
    s.state().tokens.reload(&s.store, None, t).expect("reload");
    assert_eq!(s.state().tokens.active_kid(KeyPurpose::Access), rotated.kid);

    // The old token still introspects active and verifies with the published JWKS.
    assert_eq!(introspect(&s, &id, &client_id, &old_token)["active"], true);
    let published = jwks(&s);
    let kids: Vec<&str> = published["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(kids.contains(&old_kid.as_str()), "{kids:?}");
    assert!(kids.contains(&rotated.kid.as_str()), "{kids:?}");
    assert!(verifies_with_jwks(&published, &old_token));

    // A new token carries the new kid, verifies with the JWKS and introspects active.
    let fresh = new_token(&s, &id, &client_id);
    assert_eq!(kid_of(&fresh), rotated.kid);
    assert_eq!(jose::parse_compact(&fresh).unwrap().header().alg, "ES256");
    assert!(verifies_with_jwks(&published, &fresh));
    assert_eq!(introspect(&s, &id, &client_id, &fresh)["active"], true);

    // The old key cannot be retired while tokens it signed can still be valid.
    let refused = server_keys::retire(&s.store, &old_kid, now()).unwrap_err();
    let KeyError::TooEarly { retirable_at, .. } = &refused else {
        panic!("expected TooEarly, got {refused:?}");
    };
    assert_eq!(*retirable_at, t + server_keys::RETIRE_AFTER);
    assert!(refused.to_string().contains(&old_kid), "{refused}");
    // Nor can the new active one.
    let refused = server_keys::retire(&s.store, &rotated.kid, now()).unwrap_err();
    assert!(matches!(refused, KeyError::ActiveKey { .. }), "{refused}");
    assert_eq!(introspect(&s, &id, &client_id, &old_token)["active"], true);
}

#[test]
fn a_rotation_made_elsewhere_is_served_without_a_reload_call() {
    // Issue 10 item 4: a running server picks up a rotation made by the CLI or another instance
    // (the key poller re-reads the ring every few seconds).
    let s = TestServer::start();
    let (id, client_id, old_token) = client_and_token(&s);
    let rotated =
        server_keys::rotate(&s.store, None, KeyPurpose::Access, None, now()).expect("rotate");
    assert!(
        eventually(|| kid_of(&new_token(&s, &id, &client_id)) == rotated.kid),
        "new tokens are signed with the rotated key"
    );
    assert_eq!(introspect(&s, &id, &client_id, &old_token)["active"], true);
    let listed = server_keys::list_keys(&s.store, now()).unwrap();
    assert_eq!(
        listed
            .iter()
            .filter(|k| k.purpose == KeyPurpose::Access && k.state == KeyState::Active)
            .map(|k| k.kid.as_str())
            .collect::<Vec<_>>(),
        [rotated.kid.as_str()]
    );
}

#[test]
fn keys_rotate_through_the_admin_api_signs_the_very_next_token_with_the_new_key() {
    // Issue 10 items 2 and 4: the CLI against a running server; no poll interval to wait for.
    let s = TestServer::start_with(crate::common::Options {
        admin: true,
        ..Default::default()
    });
    let (id, client_id, old) = client_and_token(&s);
    let listed = s.admin_json(&["keys", "list"]);
    assert!(listed.to_string().contains(&kid_of(&old)));
    let rotated = s.admin_json(&["keys", "rotate", "--alg", "ES256"]);
    let new_kids: Vec<String> = rotated["rotated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(new_kids.len(), 2, "access and id_token keys: {rotated}");
    let fresh = new_token(&s, &id, &client_id);
    assert!(new_kids.contains(&kid_of(&fresh)), "{}", kid_of(&fresh));
    assert_eq!(introspect(&s, &id, &client_id, &old)["active"], json!(true));
    // The old key still signs nothing new but cannot be retired while its tokens live.
    let refused = s.admin_cli(&["keys", "retire", &kid_of(&old)]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("cannot be retired before"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let active = s.admin_cli(&["keys", "retire", &kid_of(&fresh)]);
    assert!(String::from_utf8_lossy(&active.stderr).contains("rotate"));
}
