//! A browser stand-in: follows the pages of the authorization flow with a cookie jar.

#![allow(dead_code)]

use base64::Engine;
use serde_json::{json, Value};
use udap_server::oauth::password::hash_password;
use udap_server::store::{ClientRecord, UserRecord};

use crate::common::{now, TestServer};

pub const REDIRECT: &str = "https://app.example/callback";
pub const PASSWORD: &str = "correct horse battery staple";

/// RFC 7636 Appendix B pair.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

pub fn add_user(s: &TestServer, username: &str, fhir_user: Option<&str>, patients: &[&str]) {
    let t = now();
    s.store
        .users()
        .put(&UserRecord {
            username: username.into(),
            password_hash: hash_password(PASSWORD).unwrap(),
            fhir_user: fhir_user.map(String::from),
            patients: patients.iter().map(|p| p.to_string()).collect(),
            created_at: t,
            updated_at: t,
        })
        .unwrap();
}

/// An administrator-registered SMART app. `auth`: none | client_secret_basic.
pub fn add_app(s: &TestServer, client_id: &str, auth: &str, secret: Option<&str>, scope: &str) {
    let mut client = ClientRecord::admin(
        client_id,
        &format!("App {client_id}"),
        auth,
        &["authorization_code", "refresh_token"],
        scope,
        now(),
    );
    client.metadata.response_types = vec!["code".into()];
    client.metadata.redirect_uris = vec![REDIRECT.into()];
    client.secret_hash = secret.map(udap_server::oauth::client_auth::hash_secret);
    s.store.clients().put(&client).unwrap();
}

/// A browser: cookies, no automatic redirects.
pub struct Browser {
    pub http: reqwest::blocking::Client,
}

impl Browser {
    pub fn new() -> Self {
        Browser {
            http: reqwest::blocking::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    pub fn get(&self, url: &str) -> reqwest::blocking::Response {
        self.http.get(url).send().unwrap()
    }

    pub fn post(&self, url: &str, form: &[(&str, &str)]) -> reqwest::blocking::Response {
        self.http.post(url).form(form).send().unwrap()
    }
}

pub fn location(res: &reqwest::blocking::Response) -> String {
    assert_eq!(res.status().as_u16(), 302, "expected a redirect");
    res.headers()["location"].to_str().unwrap().to_string()
}

/// The value of a hidden input in a page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no hidden {name} in page"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].replace("&amp;", "&")
}

/// Query parameters of a URL.
pub fn query(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Standard SMART authorize parameters; `patch` overrides (empty string removes).
pub fn authorize_url(
    s: &TestServer,
    client_id: &str,
    scope: &str,
    patch: &[(&str, &str)],
) -> String {
    let mut params: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), client_id.into()),
        ("redirect_uri".into(), REDIRECT.into()),
        ("scope".into(), scope.into()),
        ("state".into(), "st4te-xyz".into()),
        ("aud".into(), s.base.clone()),
        ("code_challenge".into(), CHALLENGE.into()),
        ("code_challenge_method".into(), "S256".into()),
    ];
    for (k, v) in patch {
        params.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            params.push((k.to_string(), v.to_string()));
        }
    }
    let q = serde_urlencoded::to_string(&params).unwrap();
    format!("{}?{q}", s.ep.authorization)
}

/// Outcome of walking the flow.
pub enum Walk {
    /// The app's redirect URI was reached with these query parameters.
    Redirected(std::collections::HashMap<String, String>),
}

/// Walks from an authorize URL to the app's redirect: logs in as `username`, picks `patient`
/// when asked, and on the consent page keeps `keep` (None = all pre-checked) and presses `decision`.
pub fn walk(
    b: &Browser,
    s: &TestServer,
    authorize: &str,
    username: &str,
    patient: Option<&str>,
    keep: Option<&[&str]>,
    decision: &str,
) -> std::collections::HashMap<String, String> {
    let mut next = location(&b.get(authorize));
    for _ in 0..6 {
        if next.starts_with(REDIRECT) {
            return query(&next);
        }
        let res = b.get(&next);
        if res.status().as_u16() == 302 {
            next = location(&res);
            continue;
        }
        assert_eq!(res.status().as_u16(), 200, "page {next}");
        let html = res.text().unwrap();
        let interaction = hidden(&html, "interaction");
        let csrf = hidden(&html, "csrf");
        let posted = if html.contains("id=\"login\"") {
            b.post(
                &format!("{}/login", s.base),
                &[
                    ("username", username),
                    ("password", PASSWORD),
                    ("csrf", &csrf),
                    ("interaction", &interaction),
                ],
            )
        } else if html.contains("id=\"continue\"") {
            let p = patient.expect("the picker asked for a patient");
            b.post(
                &format!("{}/authorize/patient", s.base),
                &[
                    ("patient", p),
                    ("csrf", &csrf),
                    ("interaction", &interaction),
                ],
            )
        } else if html.contains("id=\"approve\"") {
            let offered = checkbox_values(&html);
            let chosen: Vec<String> = match keep {
                Some(k) => k.iter().map(|s| s.to_string()).collect(),
                None => offered
                    .iter()
                    .filter(|(_, checked)| *checked)
                    .map(|(v, _)| v.clone())
                    .collect(),
            };
            let mut form: Vec<(&str, &str)> = vec![
                ("csrf", &csrf),
                ("interaction", &interaction),
                ("decision", decision),
            ];
            for c in &chosen {
                form.push(("scope", c));
            }
            b.post(&format!("{}/authorize/consent", s.base), &form)
        } else {
            panic!("unexpected page: {html}");
        };
        next = location(&posted);
    }
    panic!("the flow did not reach the app");
}

/// `(value, checked)` of every enabled scope checkbox on the consent page.
pub fn checkbox_values(html: &str) -> Vec<(String, bool)> {
    html.split("<input type=\"checkbox\"")
        .skip(1)
        .filter_map(|chunk| {
            let tag = &chunk[..chunk.find('>')?];
            if tag.contains("disabled") {
                return None;
            }
            let start = tag.find("value=\"")? + 7;
            let end = tag[start..].find('"')? + start;
            Some((
                tag[start..end].replace("&amp;", "&"),
                tag.contains("checked"),
            ))
        })
        .collect()
}

/// POSTs the code exchange for a public client.
pub fn exchange_public(
    s: &TestServer,
    client_id: &str,
    code: &str,
    verifier: &str,
) -> reqwest::blocking::Response {
    s.post_form(
        &s.ep.token,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id),
            ("code_verifier", verifier),
        ],
    )
}

pub fn claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

pub fn json_of(res: reqwest::blocking::Response) -> Value {
    let status = res.status().as_u16();
    let v: Value = res.json().unwrap_or(json!(null));
    assert_eq!(status, 200, "{v}");
    v
}
