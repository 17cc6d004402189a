//! Session and flow semantics (issue 8 item 8): logout (OIDC RP-Initiated Logout) ends the
//! session and the online_access refresh tokens approved in it; `prompt=none` never shows a page.

use serde_json::Value;

use super::flow::{
    add_app, add_user, authorize_url, exchange_public, hidden, json_of, location, query, walk,
    Browser, REDIRECT, VERIFIER,
};
use crate::common::{error_of, TestServer};

const ONLINE: &str = "launch/patient patient/Observation.rs online_access";

fn setup(scope: &str) -> TestServer {
    let s = TestServer::start();
    add_app(&s, "app", "none", None, scope);
    add_user(&s, "alice", Some("Patient/p1"), &["p1"]);
    s
}

fn refresh(s: &TestServer, token: &str) -> reqwest::blocking::Response {
    s.post_form(
        &s.ep.token,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", "app"),
        ],
    )
}

/// Signs in, approves `scope` and exchanges the code.
fn tokens(s: &TestServer, b: &Browser, scope: &str) -> Value {
    let q = walk(
        b,
        s,
        &authorize_url(s, "app", scope, &[]),
        "alice",
        None,
        None,
        "approve",
    );
    json_of(exchange_public(s, "app", &q["code"], VERIFIER))
}

/// GET /logout with `query`, then POSTs the confirmation form: the POST's response.
fn logout(s: &TestServer, b: &Browser, query: &str) -> reqwest::blocking::Response {
    let page = b.get(&format!("{}/logout{query}", s.base));
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().unwrap();
    assert!(
        html.contains("id=\"logout\""),
        "a confirmation form: {html}"
    );
    let csrf = hidden(&html, "csrf");
    let mut form = vec![("csrf".to_string(), csrf)];
    for name in [
        "client_id",
        "post_logout_redirect_uri",
        "state",
        "id_token_hint",
    ] {
        if html.contains(&format!("name=\"{name}\"")) {
            form.push((name.to_string(), hidden(&html, name)));
        }
    }
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    b.post(&format!("{}/logout", s.base), &pairs)
}

#[test]
fn online_refresh_tokens_end_with_the_session_at_logout() {
    let s = setup(ONLINE);
    let b = Browser::new();
    let t = tokens(&s, &b, ONLINE);
    let r1 = t["refresh_token"]
        .as_str()
        .expect("online_access gives a refresh token");
    // While the session lives the token rotates as usual.
    let t2 = json_of(refresh(&s, r1));
    let r2 = t2["refresh_token"].as_str().unwrap().to_string();
    let res = logout(&s, &b, "");
    assert_eq!(res.status().as_u16(), 200);
    let cleared = res.headers().get_all("set-cookie").iter().any(|c| {
        c.to_str().unwrap().starts_with("udap_session=;")
            || c.to_str().unwrap().starts_with("udap_session=\"\"")
    });
    assert!(cleared, "the session cookie is removed");
    assert!(res.text().unwrap().contains("id=\"signed-out\""));
    assert_eq!(error_of(refresh(&s, &r2)), (400, "invalid_grant".into()));
    // And the browser must sign in again.
    let next = location(&b.get(&authorize_url(&s, "app", ONLINE, &[])));
    assert!(next.contains("/login?"), "{next}");
}

#[test]
fn online_refresh_tokens_end_when_the_session_is_gone() {
    // A password change or user removal ends the user's sessions: online tokens stop too.
    let s = setup(ONLINE);
    let b = Browser::new();
    let t = tokens(&s, &b, ONLINE);
    let r1 = t["refresh_token"].as_str().unwrap();
    assert_eq!(s.store.sessions().remove_for_user("alice").unwrap(), 1);
    assert_eq!(error_of(refresh(&s, r1)), (400, "invalid_grant".into()));
}

#[test]
fn offline_refresh_tokens_survive_logout() {
    // HTI1-5: offline_access is meant to outlive the session.
    let scope = "launch/patient patient/Observation.rs offline_access";
    let s = setup(scope);
    let b = Browser::new();
    let t = tokens(&s, &b, scope);
    assert_eq!(logout(&s, &b, "").status().as_u16(), 200);
    assert_eq!(
        refresh(&s, t["refresh_token"].as_str().unwrap())
            .status()
            .as_u16(),
        200
    );
}

#[test]
fn logout_redirects_only_to_a_registered_uri_and_needs_the_csrf_token() {
    let s = setup(ONLINE);
    let b = Browser::new();
    tokens(&s, &b, ONLINE);
    // POST without the session's CSRF token: refused, still signed in.
    let res = b.post(&format!("{}/logout", s.base), &[("csrf", "forged")]);
    assert_eq!(res.status().as_u16(), 403);
    // Registered: back to the app with state.
    let q = format!(
        "?client_id=app&post_logout_redirect_uri={}&state=bye",
        urlencoding(REDIRECT)
    );
    let res = logout(&s, &b, &q);
    let to = location(&res);
    assert!(to.starts_with(REDIRECT), "{to}");
    assert_eq!(query(&to)["state"], "bye");
    // Signed out now: GET finishes at once; an unregistered URI gets our page, not a redirect.
    let res = b.get(&format!(
        "{}/logout?client_id=app&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F",
        s.base
    ));
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.headers().get("location").is_none());
    assert!(res.text().unwrap().contains("id=\"signed-out\""));
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn prompt_none_without_a_session_is_login_required() {
    // OIDC Core §3.1.2.6
    let s = setup(ONLINE);
    let b = Browser::new();
    let to = location(&b.get(&authorize_url(&s, "app", ONLINE, &[("prompt", "none")])));
    assert!(to.starts_with(REDIRECT), "no login page: {to}");
    let q = query(&to);
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], "st4te-xyz");
    assert!(!q.contains_key("code"));
}

#[test]
fn prompt_none_with_a_session_is_consent_required() {
    let s = setup(ONLINE);
    let b = Browser::new();
    tokens(&s, &b, ONLINE);
    let q = query(&location(&b.get(&authorize_url(
        &s,
        "app",
        ONLINE,
        &[("prompt", "none")],
    ))));
    assert_eq!(q["error"], "consent_required");
    assert_eq!(q["state"], "st4te-xyz");
    let q = query(&location(&b.get(&authorize_url(
        &s,
        "app",
        ONLINE,
        &[("prompt", "none login")],
    ))));
    assert_eq!(q["error"], "invalid_request");
}

#[test]
fn openid_configuration_lists_the_end_session_endpoint() {
    let s = setup(ONLINE);
    let doc: Value = s.get("/.well-known/openid-configuration").json().unwrap();
    assert_eq!(doc["end_session_endpoint"], format!("{}/logout", s.base));
}
