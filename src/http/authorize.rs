//! The user-facing authorization flow: `/authorize` (GET and POST, SMART-12), login, patient
//! picker and consent pages, and the redirect back to the app with a code or an error.
//!
//! Every page carries anti-clickjacking headers; every form a CSRF token (the login form a
//! double-submit cookie, later forms the session's token) (UDAP-23, RFC 6749 §10.12/10.13).
//!
//! Each handler parses the request, runs one `oauth::flow` function on the blocking pool (all
//! store I/O is there, issue 8 item 5) and maps its outcome to a page or a redirect. `POST /login`
//! first asks the `LoginThrottle` (in memory, cheap) whether a password may be checked at all.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::oauth::authorize::{self, AuthorizeContext, AuthorizeError, AuthorizeParams};
use crate::oauth::flow::{self, Begin, LoginPage, SignIn, SignedIn, Step, StepRequest};
use crate::oauth::login_throttle::{Admission, LOGIN_FAILED, TOO_MANY_ATTEMPTS};
use crate::oauth::OAuthError;

use super::body::{blocking, read_limited};
use super::pages::{self, ConsentView, LoginView, PickerView};
use super::session;
use super::state::AppState;

fn page(
    state: &AppState,
    status: StatusCode,
    body: String,
    redirect_uri: Option<&str>,
) -> HttpResponse {
    pages::html_response(
        status,
        body,
        session::page_headers(&state.settings.frame_ancestors, redirect_uri),
    )
}

fn error_page(state: &AppState, status: StatusCode, title: &str, message: &str) -> HttpResponse {
    page(state, status, pages::error_page(title, message), None)
}

fn redirect(location: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header(("Location", location))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

pub(super) fn url(state: &AppState, path: &str) -> String {
    format!("{}{}", state.endpoints.base.trim_end_matches('/'), path)
}

fn continue_url(state: &AppState, interaction: &str) -> String {
    format!(
        "{}?interaction={}",
        url(state, "/authorize/continue"),
        urlencode(interaction)
    )
}

fn login_url(state: &AppState, interaction: &str) -> String {
    format!(
        "{}?interaction={}",
        url(state, "/login"),
        urlencode(interaction)
    )
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub(super) fn server_error(state: &AppState, e: impl std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "authorization flow failed");
    error_page(
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The server could not complete the request. Please try again.",
    )
}

fn expired(state: &AppState) -> HttpResponse {
    error_page(
        state,
        StatusCode::BAD_REQUEST,
        "This sign-in has expired",
        "Return to the application and start again.",
    )
}

pub(super) fn csrf_blocked(state: &AppState) -> HttpResponse {
    error_page(
        state,
        StatusCode::FORBIDDEN,
        "Request blocked",
        "The form expired or did not come from this site. Go back and try again.",
    )
}

/// `prompt` is read beside the OAuth parameters (OIDC Core §3.1.2.1).
#[derive(Deserialize)]
struct PromptParam {
    prompt: Option<String>,
}

fn parse_authorize(raw: &[u8]) -> Option<(AuthorizeParams, Option<String>)> {
    let params = serde_urlencoded::from_bytes::<AuthorizeParams>(raw).ok()?;
    let prompt = serde_urlencoded::from_bytes::<PromptParam>(raw)
        .ok()?
        .prompt;
    Some((params, prompt))
}

/// GET /authorize (query) — SMART-12.
pub async fn authorize_get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match parse_authorize(req.query_string().as_bytes()) {
        Some((p, prompt)) => authorize(state, req, p, prompt).await,
        None => error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "The authorization request could not be read.",
        ),
    }
}

/// POST /authorize (form body) — SMART-12 `authorize-post`.
pub async fn authorize_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let parsed = match read_limited(payload).await {
        Ok(body) => parse_authorize(&body),
        Err(_) => None,
    };
    match parsed {
        Some((p, prompt)) => authorize(state, req, p, prompt).await,
        None => error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "The authorization request could not be read.",
        ),
    }
}

async fn authorize(
    state: web::Data<AppState>,
    req: HttpRequest,
    params: AuthorizeParams,
    prompt: Option<String>,
) -> HttpResponse {
    let now = state.now();
    let st = state.clone();
    let session_id = session::session_cookie_value(&req);
    let started = blocking(move || {
        let ctx = AuthorizeContext {
            store: &st.store,
            communities: st.communities.current(),
            fhir_bases: std::slice::from_ref(&st.endpoints.base),
        };
        Ok(flow::begin(
            &ctx,
            &params,
            prompt.as_deref(),
            session_id.as_deref(),
            crate::oauth::random_token(24),
            now,
        ))
    })
    .await;
    match started {
        Ok(Ok(Begin::Continue { interaction_id })) => {
            redirect(&continue_url(&state, &interaction_id))
        }
        Ok(Ok(Begin::Login { interaction_id })) => redirect(&login_url(&state, &interaction_id)),
        Ok(Ok(Begin::Redirect(location))) => {
            tracing::info!("authorization request answered without interaction (prompt)");
            redirect(&location)
        }
        Ok(Err(AuthorizeError::Page { message })) => {
            tracing::info!(%message, "authorization request refused without redirect");
            error_page(
                &state,
                StatusCode::BAD_REQUEST,
                "This request cannot be completed",
                &message,
            )
        }
        Ok(Err(AuthorizeError::Redirect {
            redirect_uri,
            error,
            description,
            state: st_param,
        })) => {
            tracing::info!(error = %error, %description, "authorization request refused");
            let mut params = vec![
                ("error", error.as_str()),
                ("error_description", description.as_str()),
            ];
            if let Some(s) = st_param.as_deref() {
                params.push(("state", s));
            }
            redirect(&authorize::redirect_url(&redirect_uri, &params))
        }
        Ok(Err(AuthorizeError::Store(e))) => server_error(&state, e),
        Err(e) => server_error(&state, e),
    }
}

#[derive(Deserialize)]
pub struct InteractionQuery {
    interaction: String,
}

/// GET /login?interaction=ID
pub async fn login_get(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<InteractionQuery>,
) -> HttpResponse {
    let now = state.now();
    let st = state.clone();
    let session_id = session::session_cookie_value(&req);
    let id = q.into_inner().interaction;
    match blocking(move || {
        Ok(flow::login_page(
            &st.store,
            &id,
            session_id.as_deref(),
            now,
        )?)
    })
    .await
    {
        Ok(LoginPage::Expired) => expired(&state),
        Ok(LoginPage::SignedIn { interaction_id }) => {
            redirect(&continue_url(&state, &interaction_id))
        }
        Ok(LoginPage::Form {
            interaction_id,
            client_name,
        }) => login_form(
            &state,
            &req,
            StatusCode::OK,
            &interaction_id,
            &client_name,
            None,
            None,
        ),
        Err(e) => server_error(&state, e),
    }
}

fn login_form(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    interaction: &str,
    client_name: &str,
    error: Option<&str>,
    username: Option<&str>,
) -> HttpResponse {
    let (secure, path) = session::cookie_scope(&state.endpoints.base);
    let (csrf, cookie) = session::login_csrf(req, secure, &path);
    let action = url(state, "/login");
    let body = pages::login_page(&LoginView {
        action: &action,
        interaction,
        client_name,
        csrf: &csrf,
        error,
        username,
    });
    let mut res = page(state, status, body, None);
    if let Some(c) = cookie {
        let _ = res.add_cookie(&c);
    }
    res
}

/// Reads a form body into (name, value) pairs (repeated names kept: consent's `scope`).
pub(super) async fn form_pairs(payload: web::Payload) -> Result<Vec<(String, String)>, OAuthError> {
    let body = read_limited(payload).await?;
    serde_urlencoded::from_bytes(&body).map_err(|_| {
        OAuthError::new(
            crate::oauth::ErrorCode::InvalidRequest,
            "the form could not be read",
        )
    })
}

pub(super) fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// 429 for a refused login attempt (every hashing slot busy, or a lockout): the same text for
/// both, and no password was checked.
fn too_many_attempts(state: &AppState, retry_after: i64) -> HttpResponse {
    let mut res = error_page(
        state,
        StatusCode::TOO_MANY_REQUESTS,
        "Too many sign-in attempts",
        TOO_MANY_ATTEMPTS,
    );
    res.headers_mut().insert(
        actix_web::http::header::RETRY_AFTER,
        actix_web::http::header::HeaderValue::from(retry_after.max(1)),
    );
    res
}

/// POST /login: CSRF, the throttle, then the password (memory-hard hash; same work for unknown
/// users) and the new session.
pub async fn login_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let Ok(form) = form_pairs(payload).await else {
        return error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "The form could not be read.",
        );
    };
    let Some(interaction_id) = field(&form, "interaction") else {
        return error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "The form is incomplete.",
        );
    };
    if !session::verify_login_csrf(&req, field(&form, "csrf").unwrap_or("")) {
        return csrf_blocked(&state);
    }
    let now = state.now();
    let attempt = SignIn {
        interaction_id: interaction_id.to_string(),
        username: field(&form, "username").unwrap_or("").trim().to_string(),
        password: field(&form, "password").unwrap_or("").to_string(),
        // The TCP peer. X-Forwarded-For is not trusted: behind a proxy every client shares the
        // proxy's address and only the per-username backoff and the hashing cap apply.
        addr: req.peer_addr().map(|a| a.ip()),
        previous_session: session::session_cookie_value(&req),
    };
    let permit = match state
        .login_throttle
        .admit(&attempt.username, attempt.addr, now)
    {
        Admission::Proceed(p) => p,
        Admission::Busy => {
            // Debug only: a flood must not turn into a flood of log lines.
            tracing::debug!("login refused: every password-hashing slot is busy");
            return too_many_attempts(&state, 1);
        }
        Admission::LockedOut { retry_after } => {
            tracing::debug!(username = ?attempt.username, retry_after, "login refused: locked out");
            return too_many_attempts(&state, retry_after);
        }
    };
    let username = attempt.username.clone();
    let addr = attempt.addr;
    let st = state.clone();
    let outcome = blocking(move || {
        Ok(flow::sign_in(
            &st.store,
            &st.login_throttle,
            permit,
            &attempt,
            now,
        )?)
    })
    .await
    .map(|a| {
        // Issue 10 item 5: the login or its failure (throttled attempts, refused above without a
        // password check, are not recorded: the lockout itself is logged when it starts).
        state
            .audit
            .record_opt(a.audit.map(|e| e.with_address(addr)));
        a.outcome
    });
    let (secure, path) = session::cookie_scope(&state.endpoints.base);
    match outcome {
        Ok(SignedIn::Ok {
            interaction_id,
            session_id,
        }) => {
            tracing::info!(username = ?username, "login succeeded");
            let mut res = redirect(&continue_url(&state, &interaction_id));
            let _ = res.add_cookie(&session::session_cookie(session_id, secure, &path));
            let _ = res.add_removal_cookie(&session::removal_cookie(
                session::LOGIN_CSRF_COOKIE,
                secure,
                &path,
            ));
            res
        }
        Ok(SignedIn::Failed {
            interaction_id,
            client_name,
        }) => {
            tracing::info!(username = ?username, "login failed");
            login_form(
                &state,
                &req,
                StatusCode::UNAUTHORIZED,
                &interaction_id,
                &client_name,
                Some(LOGIN_FAILED),
                Some(&username),
            )
        }
        Ok(SignedIn::Expired) => expired(&state),
        Err(e) => server_error(&state, e),
    }
}

/// Maps a step's outcome to the response.
fn step_response(state: &AppState, step: Result<Step, OAuthError>) -> HttpResponse {
    let step = match step {
        Ok(s) => s,
        Err(e) => return server_error(state, e),
    };
    match step {
        Step::Expired => expired(state),
        Step::NeedLogin { interaction_id } => redirect(&login_url(state, &interaction_id)),
        Step::NotYours => error_page(
            state,
            StatusCode::FORBIDDEN,
            "Not your request",
            "This authorization was started by another user.",
        ),
        Step::UnknownUser => error_page(
            state,
            StatusCode::FORBIDDEN,
            "Unknown user",
            "Your account no longer exists.",
        ),
        Step::CsrfMismatch => csrf_blocked(state),
        Step::BadPatient => error_page(
            state,
            StatusCode::BAD_REQUEST,
            "Choose a patient",
            "Go back and choose one of the listed patients.",
        ),
        Step::AlreadyCompleted => {
            tracing::info!("consent submitted again after the request was completed");
            error_page(
                state,
                StatusCode::BAD_REQUEST,
                "Already answered",
                "This request has already been answered. Return to the application.",
            )
        }
        Step::Redirect(location) => redirect(&location),
        Step::Continue { interaction_id } => redirect(&continue_url(state, &interaction_id)),
        Step::PickPatient(p) => {
            let action = url(state, "/authorize/patient");
            let labelled: Vec<(String, String)> = p
                .patients
                .iter()
                .map(|id| (id.clone(), format!("Patient {id}")))
                .collect();
            let body = pages::patient_picker_page(&PickerView {
                action: &action,
                interaction: &p.interaction_id,
                client_name: &p.client_name,
                csrf: &p.csrf,
                patients: &labelled,
            });
            page(state, StatusCode::OK, body, None)
        }
        Step::Consent(c) => {
            let action = url(state, "/authorize/consent");
            let body = pages::consent_page(&ConsentView {
                action: &action,
                interaction: &c.interaction_id,
                csrf: &c.csrf,
                client_name: &c.client_name,
                logo_uri: c.logo_uri.as_deref(),
                username: &c.username,
                patient: c.patient.as_deref(),
                items: &c.items,
            });
            page(state, StatusCode::OK, body, Some(&c.redirect_uri))
        }
    }
}

/// GET /authorize/continue?interaction=ID: the next step for the signed-in user.
pub async fn continue_get(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<InteractionQuery>,
) -> HttpResponse {
    let now = state.now();
    let st = state.clone();
    let step = StepRequest {
        interaction_id: q.into_inner().interaction,
        session_id: session::session_cookie_value(&req),
        csrf: None,
    };
    let outcome = blocking(move || Ok(flow::next(&st.store, &step, now)?)).await;
    step_response(&state, outcome)
}

/// Common start of the POST steps: the form and the step request (CSRF checked by the flow).
async fn posted_step(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<(Vec<(String, String)>, StepRequest), HttpResponse> {
    let form = form_pairs(payload).await.map_err(|_| {
        error_page(
            state,
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "The form could not be read.",
        )
    })?;
    let id = field(&form, "interaction").ok_or_else(|| {
        error_page(
            state,
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "The form is incomplete.",
        )
    })?;
    let step = StepRequest {
        interaction_id: id.to_string(),
        session_id: session::session_cookie_value(req),
        csrf: Some(field(&form, "csrf").unwrap_or("").to_string()),
    };
    Ok((form, step))
}

/// POST /authorize/patient: the standalone patient choice (SMART-17).
pub async fn patient_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let (form, step) = match posted_step(&state, &req, payload).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let patient = field(&form, "patient").map(String::from);
    let now = state.now();
    let st = state.clone();
    let outcome = blocking(move || {
        Ok(flow::choose_patient(
            &st.store,
            &step,
            patient.as_deref(),
            now,
        )?)
    })
    .await;
    step_response(&state, outcome)
}

/// POST /authorize/consent: approve (the scopes left selected) or deny (`access_denied`).
pub async fn consent_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let (form, step) = match posted_step(&state, &req, payload).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let approve = field(&form, "decision") == Some("approve");
    let selected: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let now = state.now();
    let st = state.clone();
    let outcome = blocking(move || Ok(flow::decide(&st.store, &step, approve, &selected, now)?))
        .await
        .map(|a| {
            // Issue 10 item 5: consent given or denied.
            state.audit.record_opt(a.audit);
            a.outcome
        });
    step_response(&state, outcome)
}

/// GET /smart-style.json (`smart_style_url`, SMART-22).
pub async fn smart_style() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .json(serde_json::json!({
            "color_background": "#f3f4f6", "color_error": "#b3261e", "color_highlight": "#0b57d0",
            "color_modal_backdrop": "", "color_success": "#146c2e", "color_text": "#1b1b1b",
            "dim_border_radius": "8px", "dim_font_size": "16px", "dim_spacing_size": "16px",
            "font_family_body": "system-ui, sans-serif", "font_family_heading": "system-ui, sans-serif"
        }))
}
