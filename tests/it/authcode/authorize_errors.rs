//! Authorization-request failures: no redirect without a known client and redirect URI (UDAP-23,
//! SMART-13), PKCE (HTI1-1, SMART-15), aud (SMART-14), and the errors that redirect with state.

use super::flow::{add_app, add_user, authorize_url, location, query, walk, Browser, REDIRECT};
use crate::common::TestServer;

fn setup() -> TestServer {
    let s = TestServer::start();
    add_app(
        &s,
        "app",
        "none",
        None,
        "launch/patient patient/*.rs openid fhirUser offline_access",
    );
    add_user(&s, "alice", Some("Patient/p1"), &["p1"]);
    s
}

#[test]
fn unknown_client_or_unregistered_redirect_uri_gets_an_error_page_not_a_redirect() {
    // UDAP-23, SMART-13: never redirect to an unverified redirect URI.
    let s = setup();
    let b = Browser::new();
    for url in [
        authorize_url(&s, "no-such-app", "patient/*.rs", &[]),
        authorize_url(
            &s,
            "app",
            "patient/*.rs",
            &[("redirect_uri", "https://evil.example/cb")],
        ),
        authorize_url(
            &s,
            "app",
            "patient/*.rs",
            &[("redirect_uri", "https://app.example/callback/extra")],
        ),
        authorize_url(&s, "app", "patient/*.rs", &[("client_id", "")]),
    ] {
        let res = b.get(&url);
        assert_eq!(res.status().as_u16(), 400, "{url}");
        assert!(res.headers().get("location").is_none());
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        // Anti-clickjacking on every page.
        assert!(res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
        assert_eq!(res.headers()["x-frame-options"], "DENY");
    }
}

#[test]
fn pkce_is_required_s256_only() {
    // HTI1-1, SMART-15: missing challenge, missing method, plain → invalid_request, no code.
    let s = setup();
    let b = Browser::new();
    for patch in [
        vec![("code_challenge", "")],
        vec![("code_challenge_method", "")],
        vec![("code_challenge_method", "plain")],
        vec![("code_challenge", "too-short")],
    ] {
        let loc = location(&b.get(&authorize_url(&s, "app", "patient/*.rs", &patch)));
        assert!(loc.starts_with(REDIRECT), "{loc}");
        let q = query(&loc);
        assert_eq!(q["error"], "invalid_request", "{patch:?}");
        assert_eq!(q["state"], "st4te-xyz");
        assert!(!q.contains_key("code"));
    }
}

#[test]
fn aud_must_be_a_fhir_server_we_protect() {
    // SMART-14: Inferno's invalid aud → no code reaches the redirect URI.
    let s = setup();
    let b = Browser::new();
    let q = query(&location(&b.get(&authorize_url(
        &s,
        "app",
        "patient/*.rs",
        &[("aud", "https://inferno.healthit.gov/invalid_aud")],
    ))));
    assert_eq!(q["error"], "invalid_request");
    assert!(!q.contains_key("code"));
    let q = query(&location(&b.get(&authorize_url(
        &s,
        "app",
        "patient/*.rs",
        &[("aud", "")],
    ))));
    assert_eq!(q["error"], "invalid_request");
}

#[test]
fn other_request_errors_redirect_with_the_exact_state() {
    let s = setup();
    let b = Browser::new();
    let weird_state = "a b&c=d/é";
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("response_type", "token"), ("state", weird_state)],
            "unsupported_response_type",
        ),
        (
            vec![("scope", "system/*.rs"), ("state", weird_state)],
            "invalid_scope",
        ),
        (
            vec![
                ("launch", "no-such-launch"),
                ("scope", "launch patient/*.rs"),
                ("state", weird_state),
            ],
            "invalid_request",
        ),
    ];
    for (patch, error) in cases {
        let q = query(&location(&b.get(&authorize_url(
            &s,
            "app",
            "patient/*.rs",
            &patch,
        ))));
        assert_eq!(q["error"], error, "{patch:?}");
        assert_eq!(q["state"], weird_state); // SMART-13: echoed exactly
    }
    // Missing state is refused too (UDAP IG 2.0 / SMART).
    let q = query(&location(&b.get(&authorize_url(
        &s,
        "app",
        "patient/*.rs",
        &[("state", "")],
    ))));
    assert_eq!(q["error"], "invalid_request");
}

#[test]
fn deny_redirects_access_denied_with_state() {
    // SMART-16
    let s = setup();
    let b = Browser::new();
    let q = walk(
        &b,
        &s,
        &authorize_url(&s, "app", "launch/patient patient/*.rs", &[]),
        "alice",
        None,
        None,
        "deny",
    );
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st4te-xyz");
    assert!(!q.contains_key("code"));
}

#[test]
fn login_rejects_a_wrong_password_and_a_missing_csrf_token() {
    // CSRF protection on every form (UDAP-23, RFC 6749 §10.12).
    let s = setup();
    let b = Browser::new();
    let login = location(&b.get(&authorize_url(&s, "app", "patient/*.rs", &[])));
    let html = b.get(&login).text().unwrap();
    let interaction = super::flow::hidden(&html, "interaction");
    let csrf = super::flow::hidden(&html, "csrf");
    let res = b.post(
        &format!("{}/login", s.base),
        &[
            ("username", "alice"),
            ("password", "wrong password"),
            ("csrf", &csrf),
            ("interaction", &interaction),
        ],
    );
    assert_eq!(res.status().as_u16(), 401);
    let res = b.post(
        &format!("{}/login", s.base),
        &[
            ("username", "alice"),
            ("password", super::flow::PASSWORD),
            ("interaction", &interaction),
        ],
    );
    assert_eq!(res.status().as_u16(), 403);
    // Another browser (no CSRF cookie) cannot post the same token.
    let other = Browser::new();
    let res = other.post(
        &format!("{}/login", s.base),
        &[
            ("username", "alice"),
            ("password", super::flow::PASSWORD),
            ("csrf", &csrf),
            ("interaction", &interaction),
        ],
    );
    assert_eq!(res.status().as_u16(), 403);
}

#[test]
fn configured_ehr_origins_may_frame_the_login_page() {
    // Anti-clickjacking with an allow-list of EHR origins (UDAP-23, RFC 6749 §10.13).
    let overrides = udap_server::config::Overrides {
        frame_ancestors: Some(vec!["https://ehr.example.org".into()]),
        ..Default::default()
    };
    let s = TestServer::start_with(crate::common::Options {
        overrides,
        ..Default::default()
    });
    add_app(&s, "app", "none", None, "patient/*.rs");
    let b = Browser::new();
    let login = location(&b.get(&authorize_url(&s, "app", "patient/*.rs", &[])));
    let res = b.get(&login);
    assert_eq!(res.status().as_u16(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("frame-ancestors https://ehr.example.org"),
        "{csp}"
    );
    assert!(res.headers().get("x-frame-options").is_none());
    // The session cookie is HttpOnly and SameSite; Secure only over https (this test server is http).
    let html = res.text().unwrap();
    let interaction = super::flow::hidden(&html, "interaction");
    let csrf = super::flow::hidden(&html, "csrf");
    add_user(&s, "carol", None, &[]);
    let res = b.post(
        &format!("{}/login", s.base),
        &[
            ("username", "carol"),
            ("password", super::flow::PASSWORD),
            ("csrf", &csrf),
            ("interaction", &interaction),
        ],
    );
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("udap_session="))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
}
