//! Browser sessions, CSRF protection and the security headers of the HTML pages shown during the
//! authorization-code flow (login, patient picker, consent: SMART-17, SMART-18).
//!
//! - Session: a random 256-bit id in the cookie `udap_session` (HttpOnly, SameSite=Lax so the
//!   top-level redirect from the app to `/authorize` still carries it, Path = the base URL's path,
//!   Secure on https), stored only as its SHA-256 with the username and the session's CSRF token,
//!   for `SESSION_LIFETIME_SECS`. A login always starts a new session (no session fixation).
//! - CSRF before login: double submit. A random token in the cookie `udap_csrf` (HttpOnly,
//!   SameSite=Strict, one hour) and the same value in the form's hidden `csrf` field; another site
//!   can neither read the cookie nor make the browser send it cross-site.
//! - CSRF after login: the session's own token in the hidden `csrf` field (synchronizer token).
//! - Tokens are compared in constant time and never logged.
//! - `page_headers`: anti-clickjacking (`frame-ancestors`, `X-Frame-Options`), a CSP that allows no
//!   script at all, `no-store` caching.
//!
//! This module only reads and builds cookies and headers; it never touches the store. Sessions are
//! created, read and ended by `oauth::flow` / `oauth::logout`, which handlers run on the blocking
//! pool (a durable commit must not stall an async worker, issue 8 item 5).

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use subtle::ConstantTimeEq;

use crate::oauth::random_token;

pub use crate::oauth::flow::SESSION_LIFETIME_SECS;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "udap_session";
/// Name of the pre-login CSRF cookie.
pub const LOGIN_CSRF_COOKIE: &str = "udap_csrf";
/// How long a login form stays submittable.
pub const LOGIN_CSRF_LIFETIME_SECS: i64 = 3600;

/// Random bytes in session ids and CSRF tokens (256 bits).
const TOKEN_BYTES: usize = 32;
/// Length of `random_token(TOKEN_BYTES)`: base64url without padding.
const TOKEN_CHARS: usize = 43;

/// Cookie attributes derived from the base URL: `(secure, path)`. `Secure` when the base URL is
/// https; the path is the base URL's path (`/fhir`), or `/`.
pub fn cookie_scope(base_url: &str) -> (bool, String) {
    match url::Url::parse(base_url) {
        Ok(u) => {
            let path = u.path().trim_end_matches('/');
            (
                u.scheme() == "https",
                if path.is_empty() {
                    "/".to_string()
                } else {
                    path.to_string()
                },
            )
        }
        // The base URL is validated at start-up; this is only a safe default.
        Err(_) => (true, "/".to_string()),
    }
}

/// True for values shaped like our tokens (43 base64url characters). Anything else is rejected
/// before it reaches the store or a comparison.
fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_CHARS
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn tokens_equal(a: &str, b: &str) -> bool {
    // Lengths are public (fixed by `well_formed`); contents are compared in constant time.
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn cookie(
    name: &'static str,
    value: String,
    secure: bool,
    path: &str,
    same_site: SameSite,
    max_age: i64,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .http_only(true)
        .secure(secure)
        .same_site(same_site)
        .path(path.to_string())
        .max_age(CookieDuration::seconds(max_age))
        .finish()
}

/// A cookie that deletes `name` (logout, or a used login CSRF cookie).
pub fn removal_cookie(name: &'static str, secure: bool, path: &str) -> Cookie<'static> {
    let same_site = if name == LOGIN_CSRF_COOKIE {
        SameSite::Strict
    } else {
        SameSite::Lax
    };
    let mut c = cookie(name, String::new(), secure, path, same_site, 0);
    c.make_removal();
    c
}

/// The session cookie's value, if present and well formed. Cheap; no store access.
pub fn session_cookie_value(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| well_formed(v))
}

/// The cookie that carries a new session's id (from `oauth::flow::create_session`).
pub fn session_cookie(session_id: String, secure: bool, path: &str) -> Cookie<'static> {
    cookie(
        SESSION_COOKIE,
        session_id,
        secure,
        path,
        SameSite::Lax,
        SESSION_LIFETIME_SECS,
    )
}

/// The login form's CSRF token: the one in the request's `udap_csrf` cookie if it is well formed,
/// else a new one together with the cookie to set (HttpOnly, SameSite=Strict, one hour).
pub fn login_csrf(
    req: &HttpRequest,
    secure: bool,
    path: &str,
) -> (String, Option<Cookie<'static>>) {
    if let Some(existing) = req
        .cookie(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| well_formed(v))
    {
        return (existing, None);
    }
    let token = random_token(TOKEN_BYTES);
    let c = cookie(
        LOGIN_CSRF_COOKIE,
        token.clone(),
        secure,
        path,
        SameSite::Strict,
        LOGIN_CSRF_LIFETIME_SECS,
    );
    (token, Some(c))
}

/// Double-submit check for the login form: the `csrf` field equals the `udap_csrf` cookie.
pub fn verify_login_csrf(req: &HttpRequest, form_token: &str) -> bool {
    match req.cookie(LOGIN_CSRF_COOKIE) {
        Some(c) => {
            well_formed(c.value()) && well_formed(form_token) && tokens_equal(c.value(), form_token)
        }
        None => false,
    }
}

/// A CSP source for an origin we were given: `https://host[:port]` for http(s) URLs, `scheme:`
/// for private-use schemes of native apps (RFC 8252), nothing for anything unusable.
fn origin_source(uri: &str) -> Option<String> {
    let u = url::Url::parse(uri).ok()?;
    match u.scheme() {
        "http" | "https" => u.has_host().then(|| u.origin().ascii_serialization()),
        // Scheme characters are [a-z0-9+.-] after parsing: safe inside a header.
        scheme => Some(format!("{scheme}:")),
    }
}

/// `frame-ancestors` sources from the configured EHR origins: http(s) origins and `'self'`;
/// anything else is dropped (it could not be expressed safely in the header).
pub fn frame_ancestor_sources(frame_ancestors: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in frame_ancestors {
        let source = if a == "'self'" {
            Some(a.clone())
        } else {
            origin_source(a).filter(|s| s.starts_with("http"))
        };
        if let Some(s) = source {
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// Security headers for every HTML page.
///
/// `frame_ancestors`: origins allowed to frame the page (an EHR embedding the launch); empty means
/// none, and `X-Frame-Options: DENY` is added for old browsers (it cannot express a list).
///
/// `redirect_uri`: the interaction's (registered, exactly matched) redirect URI, for pages whose
/// form can end in the redirect back to the app. Chrome and Safari apply `form-action` to the
/// redirects that follow a form post, so its origin must be allowed next to `'self'` or the final
/// 302 to the app is blocked.
pub fn page_headers(
    frame_ancestors: &[String],
    redirect_uri: Option<&str>,
) -> Vec<(&'static str, String)> {
    let ancestors = frame_ancestor_sources(frame_ancestors);
    let mut form_action = String::from("'self'");
    if let Some(src) = redirect_uri.and_then(origin_source) {
        form_action.push(' ');
        form_action.push_str(&src);
    }
    let frame = if ancestors.is_empty() {
        "'none'".to_string()
    } else {
        ancestors.join(" ")
    };
    let csp = format!(
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src https: data:; form-action {form_action}; \
         frame-ancestors {frame}; base-uri 'none'"
    );
    let mut headers = vec![
        ("Content-Security-Policy", csp),
        ("Cache-Control", "no-store".to_string()),
        ("Pragma", "no-cache".to_string()),
        ("Referrer-Policy", "no-referrer".to_string()),
        ("X-Content-Type-Options", "nosniff".to_string()),
    ];
    if ancestors.is_empty() {
        headers.push(("X-Frame-Options", "DENY".to_string()));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn login_csrf_double_submit() {
        let plain = TestRequest::default().to_http_request();
        let (token, set) = login_csrf(&plain, true, "/fhir");
        let set = set.expect("a new cookie when the request has none");
        assert_eq!(set.name(), LOGIN_CSRF_COOKIE);
        assert_eq!(set.value(), token);
        assert_eq!(set.http_only(), Some(true));
        assert_eq!(set.secure(), Some(true));
        assert_eq!(set.same_site(), Some(SameSite::Strict));
        assert_eq!(set.path(), Some("/fhir"));

        let with_cookie = TestRequest::default()
            .cookie(Cookie::new(LOGIN_CSRF_COOKIE, token.clone()))
            .to_http_request();
        // Reused, not re-issued.
        let (again, none) = login_csrf(&with_cookie, true, "/fhir");
        assert_eq!((again.as_str(), none), (token.as_str(), None));
        assert!(verify_login_csrf(&with_cookie, &token));
        assert!(!verify_login_csrf(&with_cookie, &random_token(TOKEN_BYTES)));
        assert!(!verify_login_csrf(&with_cookie, ""));
        assert!(!verify_login_csrf(&with_cookie, &token[..42]));
        assert!(!verify_login_csrf(&plain, &token), "no cookie, no login");
        let empty = TestRequest::default()
            .cookie(Cookie::new(LOGIN_CSRF_COOKIE, ""))
            .to_http_request();
        assert!(!verify_login_csrf(&empty, ""));
    }

    #[test]
    fn session_cookie_attributes() {
        let c = session_cookie(random_token(TOKEN_BYTES), false, "/");
        assert_eq!(c.name(), SESSION_COOKIE);
        assert_eq!(
            (c.http_only(), c.secure(), c.same_site(), c.path()),
            (Some(true), Some(false), Some(SameSite::Lax), Some("/"))
        );
        assert_eq!(
            c.max_age(),
            Some(CookieDuration::seconds(SESSION_LIFETIME_SECS))
        );
        let req = TestRequest::default()
            .cookie(Cookie::new(SESSION_COOKIE, c.value().to_string()))
            .to_http_request();
        assert_eq!(session_cookie_value(&req).as_deref(), Some(c.value()));
        let junk = TestRequest::default()
            .cookie(Cookie::new(SESSION_COOKIE, "x"))
            .to_http_request();
        assert_eq!(session_cookie_value(&junk), None);
        let removal = removal_cookie(SESSION_COOKIE, false, "/");
        assert_eq!(removal.max_age(), Some(CookieDuration::ZERO));
    }

    #[test]
    fn cookie_scope_from_base_url() {
        assert_eq!(
            cookie_scope("https://as.example/fhir/"),
            (true, "/fhir".to_string())
        );
        assert_eq!(
            cookie_scope("http://127.0.0.1:8080"),
            (false, "/".to_string())
        );
    }

    #[test]
    fn headers() {
        let h = page_headers(&[], Some("https://app.example:8443/cb?x=1"));
        let get =
            |h: &[(&str, String)], k: &str| h.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        let csp = get(&h, "Content-Security-Policy").unwrap();
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(
            csp.contains("form-action 'self' https://app.example:8443;"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("script-src"));
        assert_eq!(get(&h, "X-Frame-Options").as_deref(), Some("DENY"));
        assert_eq!(get(&h, "Cache-Control").as_deref(), Some("no-store"));
        assert_eq!(get(&h, "Referrer-Policy").as_deref(), Some("no-referrer"));
        assert_eq!(
            get(&h, "X-Content-Type-Options").as_deref(),
            Some("nosniff")
        );

        let ehr = page_headers(
            &[
                "https://ehr.example/".into(),
                "bad; script-src *".into(),
                "'self'".into(),
            ],
            Some("com.example.app:/callback"),
        );
        let csp = get(&ehr, "Content-Security-Policy").unwrap();
        assert!(
            csp.contains("frame-ancestors https://ehr.example 'self';"),
            "{csp}"
        );
        assert!(
            csp.contains("form-action 'self' com.example.app:;"),
            "{csp}"
        );
        assert_eq!(get(&ehr, "X-Frame-Options"), None);
        let none = page_headers(&[], None);
        assert!(get(&none, "Content-Security-Policy")
            .unwrap()
            .contains("form-action 'self';"));
    }
}
