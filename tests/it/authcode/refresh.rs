//! Refresh tokens (SMART-40..45, HTI1-4, HTI1-5): rotation, family revocation, scope subsets,
//! context re-emitted, client binding; revocation ends the grant.

use serde_json::Value;

use super::flow::{
    add_app, add_user, authorize_url, exchange_public, json_of, walk, Browser, VERIFIER,
};
use crate::common::{error_of, now, TestServer};

const SCOPE: &str = "launch/patient patient/Observation.rs patient/Condition.rs offline_access";

fn tokens(s: &TestServer) -> Value {
    add_app(s, "app", "none", None, SCOPE);
    add_user(s, "alice", None, &["p1"]);
    let b = Browser::new();
    let q = walk(
        &b,
        s,
        &authorize_url(s, "app", SCOPE, &[]),
        "alice",
        None,
        None,
        "approve",
    );
    json_of(exchange_public(s, "app", &q["code"], VERIFIER))
}

fn refresh(s: &TestServer, token: &str, scope: Option<&str>) -> reqwest::blocking::Response {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", "app"),
    ];
    if let Some(sc) = scope {
        form.push(("scope", sc));
    }
    s.post_form(&s.ep.token, &form)
}

#[test]
fn refresh_rotates_and_re_emits_context() {
    let s = TestServer::start();
    let t = tokens(&s);
    let r1 = t["refresh_token"].as_str().unwrap();
    let res = refresh(&s, r1, None);
    assert!(res.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("no-store")); // SMART-42
    let t2 = json_of(res);
    assert_eq!(t2["scope"], SCOPE); // SMART-41: no scope → same scopes
    assert_eq!(t2["patient"], "p1"); // SMART-40: context re-emitted
    assert!(t2["expires_in"].is_number());
    let r2 = t2["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2); // SMART-43: rotated
                        // HTI1-5: offline refresh tokens live at least 90 days, renewed on use (introspection shows exp).
    let rs_view = s.store.authz().refresh(r2).unwrap().unwrap();
    assert!(rs_view.expires_at >= now() + 89 * 86_400);
}

#[test]
fn reusing_a_rotated_token_revokes_the_whole_family() {
    // SMART-43
    let s = TestServer::start();
    let t = tokens(&s);
    let r1 = t["refresh_token"].as_str().unwrap().to_string();
    let r2 = json_of(refresh(&s, &r1, None))["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        error_of(refresh(&s, &r1, None)),
        (400, "invalid_grant".into())
    );
    assert_eq!(
        error_of(refresh(&s, &r2, None)),
        (400, "invalid_grant".into()),
        "the newer token died with its family"
    );
}

#[test]
fn scope_on_refresh_must_be_a_subset() {
    // SMART-41
    let s = TestServer::start();
    let t = tokens(&s);
    let r1 = t["refresh_token"].as_str().unwrap();
    assert_eq!(
        error_of(refresh(
            &s,
            r1,
            Some("patient/Observation.rs patient/Patient.rs")
        )),
        (400, "invalid_scope".into())
    );
    let t2 = json_of(refresh(&s, r1, Some("patient/Observation.rs")));
    assert_eq!(t2["scope"], "patient/Observation.rs");
}

#[test]
fn refresh_tokens_are_bound_to_their_client_and_random_ones_fail() {
    // SMART-40, SMART-44
    let s = TestServer::start();
    let t = tokens(&s);
    add_app(&s, "thief", "none", None, SCOPE);
    let r1 = t["refresh_token"].as_str().unwrap();
    let res = s.post_form(
        &s.ep.token,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", r1),
            ("client_id", "thief"),
        ],
    );
    assert_eq!(error_of(res), (400, "invalid_grant".into()));
    // The stolen attempt did not burn it for its owner.
    assert_eq!(refresh(&s, r1, None).status().as_u16(), 200);
    assert_eq!(
        error_of(refresh(&s, "3f1b1c2e-6d1f-4b5e-9a57-1b2c3d4e5f60", None)),
        (400, "invalid_grant".into())
    );
}

#[test]
fn revoking_the_refresh_token_ends_the_grant_at_once() {
    // HTI1-4: access tokens stop introspecting as active and the family stops working.
    let s = TestServer::start();
    let t = tokens(&s);
    let access = t["access_token"].as_str().unwrap();
    let r1 = t["refresh_token"].as_str().unwrap();
    let introspect = |tok: &str| -> Value {
        s.post_form(&s.ep.introspection, &[("token", tok), ("client_id", "app")])
            .json()
            .unwrap()
    };
    let active = introspect(access);
    assert_eq!(active["active"], true);
    assert_eq!(active["patient"], "p1"); // SMART-60: the grant's context
    let refresh_view = introspect(r1);
    assert_eq!(refresh_view["active"], true);
    assert_eq!(
        s.post_form(&s.ep.revocation, &[("token", r1), ("client_id", "app")])
            .status()
            .as_u16(),
        200
    );
    assert_eq!(introspect(access), serde_json::json!({"active": false}));
    assert_eq!(
        error_of(refresh(&s, r1, None)),
        (400, "invalid_grant".into())
    );
}
