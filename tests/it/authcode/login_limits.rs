//! Login throttling (issue 8 item 3): one generic failure text, lockouts per username and per
//! client address answered with 429 and no password check, and success clearing the username.
//! Lockouts here last 300 s (`login_lockout_base_secs`), so no assertion depends on timing.

use udap_server::config::Overrides;

use super::flow::{add_app, add_user, authorize_url, hidden, location, Browser, PASSWORD};
use crate::common::{Options, TestServer};

const SCOPE: &str = "openid fhirUser patient/*.rs";
const GENERIC: &str = "The username or password is incorrect.";
const TOO_MANY: &str = "Too many sign-in attempts right now; try again in a moment.";

pub fn server(lockout_after: u32) -> TestServer {
    let overrides = Overrides {
        login_lockout_after: Some(lockout_after),
        login_lockout_base_secs: Some(300),
        ..Default::default()
    };
    let s = TestServer::start_with(Options {
        overrides,
        ..Default::default()
    });
    add_app(&s, "app", "none", None, SCOPE);
    add_user(&s, "alice", Some("Patient/p1"), &["p1"]);
    s
}

/// A login form opened through /authorize: `(interaction, csrf)`.
pub fn open_login(s: &TestServer, b: &Browser) -> (String, String) {
    let login = location(&b.get(&authorize_url(s, "app", SCOPE, &[])));
    assert!(login.contains("/login?"), "{login}");
    let html = b.get(&login).text().unwrap();
    (hidden(&html, "interaction"), hidden(&html, "csrf"))
}

/// POSTs the login form: `(status, body, Retry-After)`.
pub fn post_login(
    s: &TestServer,
    b: &Browser,
    form: &(String, String),
    username: &str,
    password: &str,
) -> (u16, String, Option<String>) {
    let res = b.post(
        &format!("{}/login", s.base),
        &[
            ("username", username),
            ("password", password),
            ("csrf", &form.1),
            ("interaction", &form.0),
        ],
    );
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, res.text().unwrap(), retry)
}

#[test]
fn wrong_username_and_wrong_password_get_the_same_text() {
    let s = server(5);
    let b = Browser::new();
    let form = open_login(&s, &b);
    let (status, body, _) = post_login(&s, &b, &form, "alice", "not the password");
    assert_eq!(status, 401);
    assert!(body.contains(GENERIC), "{body}");
    let (status, body, _) = post_login(&s, &b, &form, "nobody", "not the password");
    assert_eq!(status, 401);
    assert!(body.contains(GENERIC), "{body}");
}

#[test]
fn failures_lock_the_username_even_for_the_right_password() {
    let s = server(5);
    let b = Browser::new();
    let form = open_login(&s, &b);
    for _ in 0..5 {
        assert_eq!(post_login(&s, &b, &form, "alice", "guess").0, 401);
    }
    let (status, body, retry) = post_login(&s, &b, &form, "alice", PASSWORD);
    assert_eq!(status, 429, "locked out: the password is not even checked");
    assert!(body.contains(TOO_MANY), "{body}");
    let retry: i64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
    // The same for a username that does not exist: a lockout tells nothing about accounts.
    for _ in 0..5 {
        assert_eq!(post_login(&s, &b, &form, "ghost", "guess").0, 401);
    }
    assert_eq!(post_login(&s, &b, &form, "ghost", "guess").0, 429);
    // Another user from the same address is not locked (4 x 5 failures per address allowed).
    add_user(&s, "bob", None, &[]);
    assert_eq!(post_login(&s, &b, &form, "bob", PASSWORD).0, 302);
}

#[test]
fn failures_from_one_address_lock_it_for_every_username() {
    // lockout_after 2: the address is locked after 4 x 2 = 8 failures, whatever the usernames.
    let s = server(2);
    let b = Browser::new();
    let form = open_login(&s, &b);
    for n in 0..8 {
        assert_eq!(
            post_login(&s, &b, &form, &format!("user{n}"), "guess").0,
            401,
            "attempt {n}"
        );
    }
    let (status, body, retry) = post_login(&s, &b, &form, "alice", PASSWORD);
    assert_eq!(status, 429);
    assert!(body.contains(TOO_MANY));
    assert!(retry.is_some());
}

#[test]
fn a_successful_login_clears_the_username_count() {
    let s = server(3);
    let b = Browser::new();
    let form = open_login(&s, &b);
    for _ in 0..2 {
        assert_eq!(post_login(&s, &b, &form, "alice", "guess").0, 401);
    }
    assert_eq!(post_login(&s, &b, &form, "alice", PASSWORD).0, 302);
    // Two more failures: 4 in all, but only 2 since the success.
    let b2 = Browser::new();
    let form2 = open_login(&s, &b2);
    for _ in 0..2 {
        assert_eq!(post_login(&s, &b2, &form2, "alice", "guess").0, 401);
    }
    assert_eq!(post_login(&s, &b2, &form2, "alice", PASSWORD).0, 302);
}
