//! Logout (OpenID Connect RP-Initiated Logout 1.0, issue 8 item 8): ends the browser session on
//! the server, which also ends the `online_access` refresh tokens approved in it, and sends the
//! browser back to the app only to a URI that app registered.
//!
//! `GET {base}/logout` changes nothing: it shows a confirmation form (the session's CSRF token),
//! or, without a session, goes straight to the end. `POST {base}/logout` with that token ends the
//! session.

use serde::Deserialize;
use serde_json::Value;

use crate::jose::{self, AlgPolicy, VerifyingKey};
use crate::store::{ClientStatus, Store, StoreError};

use super::authorize::redirect_url;
use super::flow::{csrf_matches, load_session};
use super::tokens::TokenIssuer;

/// The request parameters (query for GET, form for POST).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

/// The `aud` of an id_token we signed (signature and issuer checked; an expired one is fine, as
/// OIDC RP-Initiated Logout §2 expects). `None` for anything else.
fn id_token_audience(issuer: &TokenIssuer, token: &str) -> Option<String> {
    let jws = jose::parse_compact(token).ok()?;
    let policy = AlgPolicy::from_names(&["RS256".to_string(), "ES256".to_string()]).ok()?;
    let keys = issuer.public_keys();
    let claims = keys["keys"]
        .as_array()?
        .iter()
        .filter_map(|k| VerifyingKey::from_jwk(k).ok())
        .find_map(|k| jws.verify(&k, &policy).ok().cloned())?;
    if claims.get("iss").and_then(Value::as_str) != Some(issuer.issuer()) {
        return None;
    }
    match claims.get("aud")? {
        Value::String(a) => Some(a.clone()),
        Value::Array(a) if a.len() == 1 => a[0].as_str().map(String::from),
        _ => None,
    }
}

/// Where to send the browser after logout: `post_logout_redirect_uri` (with `state`) only when
/// `client_id` or `id_token_hint` identifies an active client (both, if both are sent, the same)
/// and the URI is exactly one of that client's registered redirect URIs. Otherwise `None`: the
/// server shows its own "signed out" page (never an open redirect).
pub fn post_logout_target(
    store: &Store,
    issuer: &TokenIssuer,
    p: &LogoutParams,
) -> Result<Option<String>, StoreError> {
    let Some(uri) = p
        .post_logout_redirect_uri
        .as_deref()
        .filter(|u| !u.is_empty())
    else {
        return Ok(None);
    };
    let from_hint = match p.id_token_hint.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => match id_token_audience(issuer, t) {
            Some(aud) => Some(aud),
            None => return Ok(None),
        },
        None => None,
    };
    let client_id = match (
        p.client_id.as_deref().filter(|c| !c.is_empty()),
        from_hint.as_deref(),
    ) {
        (Some(a), Some(b)) if a != b => return Ok(None),
        (Some(a), _) => a,
        (None, Some(b)) => b,
        (None, None) => return Ok(None),
    };
    let Some(client) = store.clients().get(client_id)? else {
        return Ok(None);
    };
    if client.status != ClientStatus::Active
        || !client.metadata.redirect_uris.iter().any(|r| r == uri)
    {
        return Ok(None);
    }
    Ok(Some(match p.state.as_deref().filter(|s| !s.is_empty()) {
        Some(state) => redirect_url(uri, &[("state", state)]),
        None => uri.to_string(),
    }))
}

/// `GET /logout`: the CSRF token for the confirmation form when a session is live, else `None`.
pub fn confirm(
    store: &Store,
    session_id: Option<&str>,
    now: i64,
) -> Result<Option<String>, StoreError> {
    Ok(load_session(store, session_id, now)?.map(|s| s.csrf_token))
}

/// What `end_session` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The session is gone.
    Ended,
    /// There was no live session (nothing to end).
    NoSession,
    /// The form did not carry the session's CSRF token: nothing changed.
    CsrfMismatch,
}

/// `POST /logout`: ends the live session if the form carries its CSRF token.
pub fn end_session(
    store: &Store,
    session_id: Option<&str>,
    csrf: &str,
    now: i64,
) -> Result<Ended, StoreError> {
    let Some(session) = load_session(store, session_id, now)? else {
        return Ok(Ended::NoSession);
    };
    if !csrf_matches(&session.csrf_token, csrf) {
        return Ok(Ended::CsrfMismatch);
    }
    if let Some(id) = session_id {
        store.sessions().remove(id)?;
    }
    tracing::info!(username = ?session.username, "signed out");
    Ok(Ended::Ended)
}

/// What `GET /logout` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    /// Signed in: ask, with this CSRF token in the form.
    Ask { csrf: String },
    /// Nothing to end: finish (to the app's registered URI, or the signed-out page).
    Done { target: Option<String> },
}

/// `GET /logout`: changes nothing.
pub fn confirm_step(
    store: &Store,
    issuer: &TokenIssuer,
    session_id: Option<&str>,
    p: &LogoutParams,
    now: i64,
) -> Result<Confirm, StoreError> {
    Ok(match confirm(store, session_id, now)? {
        Some(csrf) => Confirm::Ask { csrf },
        None => Confirm::Done {
            target: post_logout_target(store, issuer, p)?,
        },
    })
}

/// What `POST /logout` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// The CSRF token was wrong: nothing changed.
    Blocked,
    /// Signed out (or was not signed in): finish.
    Done { target: Option<String> },
}

/// `POST /logout`: ends the session (`end_session`) and finds where to go.
pub fn submit_step(
    store: &Store,
    issuer: &TokenIssuer,
    session_id: Option<&str>,
    csrf: &str,
    p: &LogoutParams,
    now: i64,
) -> Result<Submitted, StoreError> {
    Ok(match end_session(store, session_id, csrf, now)? {
        Ended::CsrfMismatch => Submitted::Blocked,
        Ended::Ended | Ended::NoSession => Submitted::Done {
            target: post_logout_target(store, issuer, p)?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::Signer;
    use crate::pki::ca::KeyKind;
    use crate::store::ClientRecord;

    const T0: i64 = 1_700_000_000;
    const CB: &str = "https://app.example/cb";

    fn issuer(base: &str) -> TokenIssuer {
        let pem = |k: KeyKind| {
            String::from_utf8(k.generate().unwrap().private_key_to_pem_pkcs8().unwrap()).unwrap()
        };
        let key = pem(KeyKind::Rsa2048);
        TokenIssuer::new(
            Signer::from_pem(&key, None).unwrap(),
            Signer::from_pem(&key, None).unwrap(),
            base,
            base,
            300,
        )
        .unwrap()
    }

    fn params(
        client_id: Option<&str>,
        hint: Option<&str>,
        uri: Option<&str>,
        state: Option<&str>,
    ) -> LogoutParams {
        LogoutParams {
            client_id: client_id.map(String::from),
            id_token_hint: hint.map(String::from),
            post_logout_redirect_uri: uri.map(String::from),
            state: state.map(String::from),
        }
    }

    #[test]
    fn redirect_only_to_a_uri_the_identified_client_registered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let mut app =
            ClientRecord::admin("app", "App", "none", &["authorization_code"], "openid", T0);
        app.metadata.redirect_uris = vec![CB.into()];
        store.clients().put(&app).unwrap();
        let mut other = ClientRecord::admin(
            "other",
            "Other",
            "none",
            &["authorization_code"],
            "openid",
            T0,
        );
        other.metadata.redirect_uris = vec!["https://other.example/cb".into()];
        store.clients().put(&other).unwrap();
        let iss = issuer("https://as.example");
        let hint = iss.id_token("app", "alice", None, None, T0).unwrap();
        let foreign = issuer("https://as.example")
            .id_token("app", "alice", None, None, T0)
            .unwrap();
        let wrong_iss = issuer("https://evil.example")
            .id_token("app", "alice", None, None, T0)
            .unwrap();
        let table: &[(LogoutParams, Option<&str>)] = &[
            (
                params(Some("app"), None, Some(CB), Some("s1")),
                Some("https://app.example/cb?state=s1"),
            ),
            (params(Some("app"), None, Some(CB), None), Some(CB)),
            (
                params(None, Some(&hint), Some(CB), Some("s")),
                Some("https://app.example/cb?state=s"),
            ),
            (params(Some("app"), Some(&hint), Some(CB), None), Some(CB)),
            // Not registered for that client, or not exactly.
            (params(Some("other"), None, Some(CB), None), None),
            (
                params(Some("app"), None, Some("https://app.example/cb/"), None),
                None,
            ),
            (
                params(Some("app"), None, Some("https://evil.example/"), None),
                None,
            ),
            // No client identified, or disagreeing identifications, or a hint we did not sign.
            (params(None, None, Some(CB), None), None),
            (params(Some("other"), Some(&hint), Some(CB), None), None),
            (params(None, Some(&foreign), Some(CB), None), None),
            (params(None, Some(&wrong_iss), Some(CB), None), None),
            (params(None, Some("not.a.jwt"), Some(CB), None), None),
            (params(Some("unknown"), None, Some(CB), None), None),
            (params(Some("app"), None, None, Some("s")), None),
        ];
        for (i, (p, expected)) in table.iter().enumerate() {
            assert_eq!(
                post_logout_target(&store, &iss, p).unwrap().as_deref(),
                *expected,
                "row {i}"
            );
        }
    }

    #[test]
    fn ending_a_session_needs_its_csrf_token() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let (sid, csrf) = super::super::flow::create_session(&store, "alice", T0).unwrap();
        assert_eq!(
            confirm(&store, Some(&sid), T0).unwrap().as_deref(),
            Some(csrf.as_str())
        );
        assert_eq!(
            end_session(&store, Some(&sid), "wrong", T0).unwrap(),
            Ended::CsrfMismatch
        );
        assert_eq!(
            end_session(&store, Some(&sid), "", T0).unwrap(),
            Ended::CsrfMismatch
        );
        assert!(
            load_session(&store, Some(&sid), T0).unwrap().is_some(),
            "still signed in"
        );
        assert_eq!(
            end_session(&store, Some(&sid), &csrf, T0).unwrap(),
            Ended::Ended
        );
        assert!(load_session(&store, Some(&sid), T0).unwrap().is_none());
        assert_eq!(
            end_session(&store, Some(&sid), &csrf, T0).unwrap(),
            Ended::NoSession
        );
        assert_eq!(end_session(&store, None, "", T0).unwrap(), Ended::NoSession);
        assert_eq!(confirm(&store, None, T0).unwrap(), None);
    }
}
