//! The browser steps of the authorization-code flow, one function each over the store: start,
//! login page, sign-in, the next step, the patient choice, the consent decision.
//!
//! Every store read and write of the flow happens here, so `http::authorize` runs exactly one of
//! these on the blocking pool per request and only maps the outcome to a page or a redirect
//! (issue 8 item 5: durable commits never stall the async workers). The decisions themselves are
//! in `interaction` (next step, approval), `consent` (what a form grants) and `login_throttle`.

use std::net::IpAddr;

use subtle::ConstantTimeEq;

use crate::audit::{AuditEvent, Audited};
use crate::store::{secret_key, Interaction, SessionRecord, Store, StoreError};

use super::authorize::{self, AuthorizeContext, AuthorizeError, AuthorizeParams};
use super::consent::{self, ConsentItem};
use super::interaction::{self, Next, User};
use super::login_throttle::{HashPermit, LoginThrottle};
use super::password;

/// OIDC Core §3.1.2.6: `prompt=none` and the user is not signed in.
pub const LOGIN_REQUIRED: &str = "login_required";
/// OIDC Core §3.1.2.6: `prompt=none` and the user would have to approve (always, here: consent is
/// asked for every authorization).
pub const CONSENT_REQUIRED: &str = "consent_required";

/// How long a login lasts: a working day.
pub const SESSION_LIFETIME_SECS: i64 = 8 * 3600;
/// Random bytes in session ids and their CSRF tokens (256 bits).
const SESSION_TOKEN_BYTES: usize = 32;

/// Ids we issue are short base64url strings; anything else is not looked up (and cannot reach the
/// store's key-length limit).
fn plausible_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Constant-time comparison of a session's CSRF token with the one a form carried.
pub fn csrf_matches(expected: &str, given: &str) -> bool {
    !given.is_empty()
        && expected.len() == given.len()
        && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

fn load_interaction(store: &Store, id: &str, now: i64) -> Result<Option<Interaction>, StoreError> {
    if !plausible_id(id) {
        return Ok(None);
    }
    store.authz().interaction(id, now)
}

/// The live session behind a session cookie value.
pub fn load_session(
    store: &Store,
    session_id: Option<&str>,
    now: i64,
) -> Result<Option<SessionRecord>, StoreError> {
    match session_id.filter(|id| plausible_id(id)) {
        Some(id) => store.sessions().get(id, now),
        None => Ok(None),
    }
}

/// Stores a new session for `username`; returns its id (for the cookie) and CSRF token.
pub fn create_session(
    store: &Store,
    username: &str,
    now: i64,
) -> Result<(String, String), StoreError> {
    let id = super::random_token(SESSION_TOKEN_BYTES);
    let csrf_token = super::random_token(SESSION_TOKEN_BYTES);
    let record = SessionRecord {
        username: username.to_string(),
        csrf_token: csrf_token.clone(),
        created_at: now,
        expires_at: now + SESSION_LIFETIME_SECS,
    };
    store.sessions().create(&id, &record, now)?;
    Ok((id, csrf_token))
}

fn client_name(store: &Store, client_id: &str) -> Result<String, StoreError> {
    Ok(store
        .clients()
        .get(client_id)?
        .map(|c| c.metadata.client_name)
        .unwrap_or_else(|| client_id.to_string()))
}

/// Where `/authorize` sends the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// To the login page.
    Login { interaction_id: String },
    /// Signed in already: straight to the next step.
    Continue { interaction_id: String },
    /// Back to the app (an error, e.g. `login_required` for `prompt=none`).
    Redirect(String),
}

/// `/authorize`: validates the request (`authorize::start`), then applies `prompt`
/// (OIDC Core §3.1.2.1): `none` never shows a page; it answers `login_required` without a session
/// and `consent_required` with one, and combined with another value is `invalid_request`. Other
/// values are accepted and change nothing (the login and consent pages are shown anyway).
pub fn begin(
    ctx: &AuthorizeContext<'_>,
    p: &AuthorizeParams,
    prompt: Option<&str>,
    session_id: Option<&str>,
    interaction_id: String,
    now: i64,
) -> Result<Begin, AuthorizeError> {
    let i = authorize::start(ctx, p, interaction_id, now)?;
    let signed_in = load_session(ctx.store, session_id, now)?.is_some();
    let prompts: Vec<&str> = prompt
        .map(|v| v.split_ascii_whitespace().collect())
        .unwrap_or_default();
    if prompts.contains(&"none") {
        ctx.store.authz().remove_interaction(&i.id)?;
        let (error, description) = if prompts.len() > 1 {
            (
                "invalid_request",
                "prompt=none cannot be combined with other values",
            )
        } else if !signed_in {
            (LOGIN_REQUIRED, "the user is not signed in")
        } else {
            (CONSENT_REQUIRED, "the user must approve this request")
        };
        return Ok(Begin::Redirect(interaction::error_url(
            &i,
            error,
            description,
        )));
    }
    Ok(if signed_in {
        Begin::Continue {
            interaction_id: i.id,
        }
    } else {
        Begin::Login {
            interaction_id: i.id,
        }
    })
}

/// What `GET /login` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginPage {
    Expired,
    /// A session exists: go on to the next step.
    SignedIn {
        interaction_id: String,
    },
    Form {
        interaction_id: String,
        client_name: String,
    },
}

pub fn login_page(
    store: &Store,
    interaction_id: &str,
    session_id: Option<&str>,
    now: i64,
) -> Result<LoginPage, StoreError> {
    let Some(i) = load_interaction(store, interaction_id, now)? else {
        return Ok(LoginPage::Expired);
    };
    if load_session(store, session_id, now)?.is_some() {
        return Ok(LoginPage::SignedIn {
            interaction_id: i.id,
        });
    }
    Ok(LoginPage::Form {
        client_name: client_name(store, &i.client_id)?,
        interaction_id: i.id,
    })
}

/// A login form as posted (after its CSRF check).
#[derive(Clone)]
pub struct SignIn {
    pub interaction_id: String,
    pub username: String,
    pub password: String,
    /// The client's address (the TCP peer), for the per-address backoff.
    pub addr: Option<IpAddr>,
    /// The browser's current session cookie, ended on success.
    pub previous_session: Option<String>,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("interaction_id", &self.interaction_id)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// What a sign-in attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedIn {
    Expired,
    /// Wrong password or unknown user (the same answer, `login_throttle::LOGIN_FAILED`).
    Failed {
        interaction_id: String,
        client_name: String,
    },
    /// A new session: set its cookie and go on.
    Ok {
        interaction_id: String,
        session_id: String,
    },
}

/// `POST /login`, once `LoginThrottle::admit` gave `permit`: the argon2id check (the dummy hash
/// for unknown users, so both cost the same and hold a slot), the throttle's bookkeeping, and the
/// new session. Audited: the login or its failure (the username only when such a user exists).
pub fn sign_in(
    store: &Store,
    throttle: &LoginThrottle,
    mut permit: HashPermit,
    attempt: &SignIn,
    now: i64,
) -> Result<Audited<SignedIn>, StoreError> {
    let Some(i) = load_interaction(store, &attempt.interaction_id, now)? else {
        return Ok(Audited::plain(SignedIn::Expired));
    };
    let user = store.users().get(&attempt.username)?;
    let known = user.is_some();
    let ok = match user {
        Some(u) => {
            password::verify_password_in(&attempt.password, &u.password_hash, permit.memory())
        }
        None => {
            password::dummy_verify_in(&attempt.password, permit.memory());
            false
        }
    };
    // The memory-hard part is over: free the slot before the durable commit.
    drop(permit);
    if !ok {
        let lockout = throttle.failed(&attempt.username, attempt.addr, now);
        if lockout > 0 {
            // Once per failure that starts or extends a lockout; refused attempts are not logged.
            tracing::warn!(username = ?attempt.username, addr = ?attempt.addr, lockout_secs = lockout, "login lockout");
        }
        let audit = AuditEvent::login_failed(
            known.then_some(attempt.username.as_str()),
            Some(&i.client_id),
        );
        return Ok(Audited::new(
            SignedIn::Failed {
                client_name: client_name(store, &i.client_id)?,
                interaction_id: i.id,
            },
            Some(audit),
        ));
    }
    throttle.succeeded(&attempt.username);
    if let Some(old) = attempt
        .previous_session
        .as_deref()
        .filter(|id| plausible_id(id))
    {
        store.sessions().remove(old)?;
    }
    let (session_id, _) = create_session(store, &attempt.username, now)?;
    let audit = AuditEvent::login_succeeded(&attempt.username, Some(&i.client_id));
    Ok(Audited::new(
        SignedIn::Ok {
            interaction_id: i.id,
            session_id,
        },
        Some(audit),
    ))
}

/// A step after login: which interaction, which session, and (for posted forms) the form's CSRF
/// token.
#[derive(Debug, Clone)]
pub struct StepRequest {
    pub interaction_id: String,
    pub session_id: Option<String>,
    /// `Some` for POSTed steps: must equal the session's token.
    pub csrf: Option<String>,
}

/// The patient picker's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickerPage {
    pub interaction_id: String,
    pub client_name: String,
    pub csrf: String,
    pub patients: Vec<String>,
}

/// The consent page's content.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentPage {
    pub interaction_id: String,
    pub client_name: String,
    pub logo_uri: Option<String>,
    pub csrf: String,
    pub username: String,
    pub patient: Option<String>,
    pub items: Vec<ConsentItem>,
    /// The app's redirect URI (the page's form may end in a redirect there).
    pub redirect_uri: String,
}

/// What a step leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The interaction is unknown, expired, or already finished.
    Expired,
    /// No session: to the login page.
    NeedLogin {
        interaction_id: String,
    },
    /// The interaction belongs to another signed-in user.
    NotYours,
    /// The session's user no longer exists.
    UnknownUser,
    /// The form's CSRF token is not the session's.
    CsrfMismatch,
    /// The posted patient is not one of the user's.
    BadPatient,
    /// A concurrent submission completed this interaction first: no second code.
    AlreadyCompleted,
    /// Back to the app: a code or an error.
    Redirect(String),
    /// To `/authorize/continue`.
    Continue {
        interaction_id: String,
    },
    PickPatient(PickerPage),
    Consent(Box<ConsentPage>),
}

struct Signed {
    i: Interaction,
    session: SessionRecord,
    session_key: String,
    user: User,
}

/// Interaction, session, CSRF (posted steps), then binds the interaction to the session's user (a
/// link opened by another user cannot continue someone else's authorization).
fn signed_step(
    store: &Store,
    req: &StepRequest,
    now: i64,
) -> Result<Result<Signed, Step>, StoreError> {
    let Some(mut i) = load_interaction(store, &req.interaction_id, now)? else {
        return Ok(Err(Step::Expired));
    };
    let Some(session_id) = req.session_id.as_deref().filter(|id| plausible_id(id)) else {
        return Ok(Err(Step::NeedLogin {
            interaction_id: i.id,
        }));
    };
    let Some(session) = store.sessions().get(session_id, now)? else {
        return Ok(Err(Step::NeedLogin {
            interaction_id: i.id,
        }));
    };
    if let Some(given) = &req.csrf {
        if !csrf_matches(&session.csrf_token, given) {
            return Ok(Err(Step::CsrfMismatch));
        }
    }
    match &i.username {
        Some(u) if *u != session.username => return Ok(Err(Step::NotYours)),
        Some(_) => {}
        None => {
            i.username = Some(session.username.clone());
            store.authz().put_interaction(&i)?;
        }
    }
    let Some(u) = store.users().get(&session.username)? else {
        return Ok(Err(Step::UnknownUser));
    };
    let user = User {
        username: u.username,
        fhir_user: u.fhir_user,
        patients: u.patients,
    };
    Ok(Ok(Signed {
        i,
        session,
        session_key: secret_key(session_id),
        user,
    }))
}

/// Ends the interaction and sends the app `access_denied`.
fn deny(store: &Store, i: &Interaction, description: &str) -> Result<Step, StoreError> {
    store.authz().remove_interaction(&i.id)?;
    Ok(Step::Redirect(interaction::deny_url(i, description)))
}

fn refusal(next: &Next) -> Option<&'static str> {
    match next {
        Next::NoPatient => Some("no patient is available to this user"),
        Next::PatientNotAllowed => Some("the signed-in user may not access the launch's patient"),
        _ => None,
    }
}

/// `GET /authorize/continue`: the picker, the consent page, or the end of the request.
pub fn next(store: &Store, req: &StepRequest, now: i64) -> Result<Step, StoreError> {
    let s = match signed_step(store, req, now)? {
        Ok(s) => s,
        Err(step) => return Ok(step),
    };
    let next = interaction::next_step(&s.i, &s.user);
    if let Some(why) = refusal(&next) {
        return deny(store, &s.i, why);
    }
    let client = store.clients().get(&s.i.client_id)?;
    let client_name = client
        .as_ref()
        .map(|c| c.metadata.client_name.clone())
        .unwrap_or_else(|| s.i.client_id.clone());
    Ok(match next {
        Next::PickPatient(patients) => Step::PickPatient(PickerPage {
            interaction_id: s.i.id,
            client_name,
            csrf: s.session.csrf_token,
            patients,
        }),
        Next::Consent { patient } => {
            let requested: Vec<String> =
                s.i.scope
                    .split_ascii_whitespace()
                    .map(String::from)
                    .collect();
            Step::Consent(Box::new(ConsentPage {
                items: consent::consent_items(&requested),
                logo_uri: client.and_then(|c| c.metadata.logo_uri),
                interaction_id: s.i.id,
                client_name,
                csrf: s.session.csrf_token,
                username: s.user.username,
                patient,
                redirect_uri: s.i.redirect_uri,
            }))
        }
        Next::NoPatient | Next::PatientNotAllowed => Step::Expired, // handled by `refusal`
    })
}

/// `POST /authorize/patient` (SMART-17): only one of the user's own patients.
pub fn choose_patient(
    store: &Store,
    req: &StepRequest,
    patient: Option<&str>,
    now: i64,
) -> Result<Step, StoreError> {
    let mut s = match signed_step(store, req, now)? {
        Ok(s) => s,
        Err(step) => return Ok(step),
    };
    match patient {
        Some(p) if s.user.patients.iter().any(|x| x == p) => {
            s.i.selected_patient = Some(p.to_string());
            store.authz().put_interaction(&s.i)?;
            Ok(Step::Continue {
                interaction_id: s.i.id,
            })
        }
        _ => Ok(Step::BadPatient),
    }
}

/// `POST /authorize/consent`: deny → `access_denied`; approve → the scopes left selected (only
/// values that were on the page) become a grant and one code, once per interaction. Audited: the
/// user's decision (consent given, or denied, also by leaving nothing selected); a refusal by
/// policy (the user may not act for the patient) is not a consent decision.
pub fn decide(
    store: &Store,
    req: &StepRequest,
    approve: bool,
    selected: &[String],
    now: i64,
) -> Result<Audited<Step>, StoreError> {
    let s = match signed_step(store, req, now)? {
        Ok(s) => s,
        Err(step) => return Ok(Audited::plain(step)),
    };
    let denied = || Some(AuditEvent::consent_denied(&s.user.username, &s.i.client_id));
    if !approve {
        tracing::info!(client_id = %s.i.client_id, username = ?s.user.username, "authorization denied by the user");
        let audit = denied();
        return Ok(Audited::new(
            deny(store, &s.i, "the user denied the request")?,
            audit,
        ));
    }
    let next = interaction::next_step(&s.i, &s.user);
    if let Some(why) = refusal(&next) {
        return deny(store, &s.i, why).map(Audited::plain);
    }
    let Next::Consent { patient } = next else {
        // The patient was not settled (form posted out of order): go through the steps again.
        return Ok(Audited::plain(Step::Continue {
            interaction_id: s.i.id,
        }));
    };
    let requested: Vec<String> =
        s.i.scope
            .split_ascii_whitespace()
            .map(String::from)
            .collect();
    let granted = consent::granted_from_form(&requested, selected);
    if interaction::grants_nothing(&granted) {
        let audit = denied();
        return Ok(Audited::new(
            deny(store, &s.i, "the user granted no access")?,
            audit,
        ));
    }
    let given = AuditEvent::consent_given(&s.user.username, &s.i.client_id, patient.as_deref());
    match interaction::approve(
        store,
        &s.i,
        &s.user,
        patient,
        &granted,
        Some(s.session_key),
        now,
    )? {
        Some(location) => Ok(Audited::new(Step::Redirect(location), Some(given))),
        None => Ok(Audited::plain(Step::AlreadyCompleted)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_csrf() {
        assert!(plausible_id("abc-DEF_123"));
        assert!(!plausible_id(""));
        assert!(!plausible_id(&"a".repeat(129)));
        assert!(!plausible_id("a/b"));
        assert!(csrf_matches("tok", "tok"));
        assert!(!csrf_matches("tok", "toK"));
        assert!(!csrf_matches("tok", "to"));
        assert!(!csrf_matches("", ""));
    }
}
