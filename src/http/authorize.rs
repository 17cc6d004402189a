//! The user-facing authorization flow: `/authorize` (GET and POST, SMART-12), login, patient
//! picker and consent pages, and the redirect back to the app with a code or an error.
//!
//! Every page carries anti-clickjacking headers; every form a CSRF token (the login form a
//! double-submit cookie, later forms the session's token) (UDAP-23, RFC 6749 §10.12/10.13).

// Page steps return the page to show as their error value; these are not hot paths.
#![allow(clippy::result_large_err)]

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::oauth::authorize::{self, AuthorizeContext, AuthorizeError, AuthorizeParams};
use crate::oauth::consent;
use crate::oauth::interaction::{self, Next, User};
use crate::oauth::password;
use crate::oauth::OAuthError;
use crate::store::Interaction;

use super::body::{blocking, read_limited};
use super::pages::{self, ConsentView, LoginView, PickerView};
use super::session::{self, Session};
use super::state::AppState;

fn page(state: &AppState, status: StatusCode, body: String, redirect_uri: Option<&str>) -> HttpResponse {
    pages::html_response(status, body, session::page_headers(&state.settings.frame_ancestors, redirect_uri))
}

fn error_page(state: &AppState, status: StatusCode, title: &str, message: &str) -> HttpResponse {
    page(state, status, pages::error_page(title, message), None)
}

fn redirect(location: &str) -> HttpResponse {
    HttpResponse::Found().insert_header(("Location", location)).insert_header(("Cache-Control", "no-store")).finish()
}

fn url(state: &AppState, path: &str) -> String {
    format!("{}{}", state.endpoints.base.trim_end_matches('/'), path)
}

fn continue_url(state: &AppState, interaction: &str) -> String {
    format!("{}?interaction={}", url(state, "/authorize/continue"), urlencode(interaction))
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// GET /authorize (query) — SMART-12.
pub async fn authorize_get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match serde_urlencoded::from_str::<AuthorizeParams>(req.query_string()) {
        Ok(p) => authorize(state, req, p).await,
        Err(_) => error_page(&state, StatusCode::BAD_REQUEST, "Invalid request", "The authorization request could not be read."),
    }
}

/// POST /authorize (form body) — SMART-12 `authorize-post`.
pub async fn authorize_post(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let parsed = match read_limited(payload).await {
        Ok(body) => serde_urlencoded::from_bytes::<AuthorizeParams>(&body).ok(),
        Err(_) => None,
    };
    match parsed {
        Some(p) => authorize(state, req, p).await,
        None => error_page(&state, StatusCode::BAD_REQUEST, "Invalid request", "The authorization request could not be read."),
    }
}

async fn authorize(state: web::Data<AppState>, req: HttpRequest, params: AuthorizeParams) -> HttpResponse {
    let now = state.now();
    let st = state.clone();
    let started = blocking(move || {
        let ctx = AuthorizeContext { store: &st.store, communities: &st.communities, fhir_bases: std::slice::from_ref(&st.endpoints.base) };
        Ok(authorize::start(&ctx, &params, crate::oauth::random_token(24), now))
    })
    .await;
    match started {
        Ok(Ok(i)) => {
            // Already signed in: straight on; else the login page.
            if session::current_session(&req, &state.store, now).is_some() {
                redirect(&continue_url(&state, &i.id))
            } else {
                redirect(&format!("{}?interaction={}", url(&state, "/login"), urlencode(&i.id)))
            }
        }
        Ok(Err(AuthorizeError::Page { message })) => {
            tracing::info!(%message, "authorization request refused without redirect");
            error_page(&state, StatusCode::BAD_REQUEST, "This request cannot be completed", &message)
        }
        Ok(Err(AuthorizeError::Redirect { redirect_uri, error, description, state: st_param })) => {
            tracing::info!(error = %error, %description, "authorization request refused");
            let mut params = vec![("error", error.as_str()), ("error_description", description.as_str())];
            if let Some(s) = st_param.as_deref() {
                params.push(("state", s));
            }
            redirect(&authorize::redirect_url(&redirect_uri, &params))
        }
        Ok(Err(AuthorizeError::Store(e))) => server_error(&state, e),
        Err(e) => server_error(&state, e),
    }
}

fn server_error(state: &AppState, e: impl std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "authorization flow failed");
    error_page(state, StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "The server could not complete the request. Please try again.")
}

#[derive(Deserialize)]
pub struct InteractionQuery {
    interaction: String,
}

fn load_interaction(state: &AppState, id: &str, now: i64) -> Result<Interaction, HttpResponse> {
    match state.store.authz().interaction(id, now) {
        Ok(Some(i)) => Ok(i),
        Ok(None) => Err(error_page(state, StatusCode::BAD_REQUEST, "This sign-in has expired", "Return to the application and start again.")),
        Err(e) => Err(server_error(state, e)),
    }
}

fn client_name(state: &AppState, client_id: &str) -> String {
    state.store.clients().get(client_id).ok().flatten().map(|c| c.metadata.client_name).unwrap_or_else(|| client_id.to_string())
}

/// GET /login?interaction=ID
pub async fn login_get(state: web::Data<AppState>, req: HttpRequest, q: web::Query<InteractionQuery>) -> HttpResponse {
    let now = state.now();
    let i = match load_interaction(&state, &q.interaction, now) {
        Ok(i) => i,
        Err(res) => return res,
    };
    if session::current_session(&req, &state.store, now).is_some() {
        return redirect(&continue_url(&state, &i.id));
    }
    login_form(&state, &req, &i, None, None)
}

fn login_form(state: &AppState, req: &HttpRequest, i: &Interaction, error: Option<&str>, username: Option<&str>) -> HttpResponse {
    let (secure, path) = session::cookie_scope(&state.endpoints.base);
    let (csrf, cookie) = session::login_csrf(req, secure, &path);
    let action = url(state, "/login");
    let name = client_name(state, &i.client_id);
    let body = pages::login_page(&LoginView { action: &action, interaction: &i.id, client_name: &name, csrf: &csrf, error, username });
    let status = if error.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    let mut res = page(state, status, body, None);
    if let Some(c) = cookie {
        let _ = res.add_cookie(&c);
    }
    res
}

/// Reads a form body into (name, value) pairs (repeated names kept: consent's `scope`).
async fn form_pairs(payload: web::Payload) -> Result<Vec<(String, String)>, OAuthError> {
    let body = read_limited(payload).await?;
    serde_urlencoded::from_bytes(&body).map_err(|_| OAuthError::new(crate::oauth::ErrorCode::InvalidRequest, "the form could not be read"))
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// POST /login: CSRF, then the password (memory-hard hash; same work for unknown users).
pub async fn login_post(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let Ok(form) = form_pairs(payload).await else {
        return error_page(&state, StatusCode::BAD_REQUEST, "Invalid request", "The form could not be read.");
    };
    let now = state.now();
    let Some(i) = field(&form, "interaction").map(|id| load_interaction(&state, id, now)) else {
        return error_page(&state, StatusCode::BAD_REQUEST, "Invalid request", "The form is incomplete.");
    };
    let i = match i {
        Ok(i) => i,
        Err(res) => return res,
    };
    if !session::verify_login_csrf(&req, field(&form, "csrf").unwrap_or("")) {
        return error_page(&state, StatusCode::FORBIDDEN, "Request blocked", "The form expired or did not come from this site. Go back and try again.");
    }
    let username = field(&form, "username").unwrap_or("").trim().to_string();
    let pw = field(&form, "password").unwrap_or("").to_string();
    let (secure, path) = session::cookie_scope(&state.endpoints.base);
    let cookie_path = path.clone();
    let st = state.clone();
    let user_for_check = username.clone();
    // Password hashing and the session write (a durable commit) stay off the async workers.
    let outcome = blocking(move || {
        let ok = match st.store.users().get(&user_for_check)? {
            Some(u) => password::verify_password(&pw, &u.password_hash),
            None => {
                password::dummy_verify(&pw);
                false
            }
        };
        if !ok {
            return Ok(None);
        }
        let (_, cookie) = session::start_session(&st.store, &user_for_check, secure, &path, now)?;
        Ok(Some(cookie))
    })
    .await;
    match outcome {
        Ok(Some(cookie)) => {
            tracing::info!(username = %username, "login succeeded");
            let mut res = redirect(&continue_url(&state, &i.id));
            let _ = res.add_cookie(&cookie);
            let _ = res.add_removal_cookie(&session::removal_cookie("udap_csrf", secure, &cookie_path));
            res
        }
        Ok(None) => {
            tracing::info!(username = %username, "login failed");
            login_form(&state, &req, &i, Some("Wrong username or password."), Some(&username))
        }
        Err(e) => server_error(&state, e),
    }
}

/// The user behind a session, with the interaction bound to them (a link opened by another user
/// cannot continue someone else's authorization).
fn session_user(state: &AppState, req: &HttpRequest, i: &mut Interaction, now: i64) -> Result<(Session, User), HttpResponse> {
    let Some(session) = session::current_session(req, &state.store, now) else {
        return Err(redirect(&format!("{}?interaction={}", url(state, "/login"), urlencode(&i.id))));
    };
    match &i.username {
        Some(u) if *u != session.username => {
            return Err(error_page(state, StatusCode::FORBIDDEN, "Not your request", "This authorization was started by another user."));
        }
        Some(_) => {}
        None => {
            i.username = Some(session.username.clone());
            if let Err(e) = state.store.authz().put_interaction(i) {
                return Err(server_error(state, e));
            }
        }
    }
    match state.store.users().get(&session.username) {
        Ok(Some(u)) => {
            let user = User { username: u.username, fhir_user: u.fhir_user, patients: u.patients };
            Ok((session, user))
        }
        Ok(None) => Err(error_page(state, StatusCode::FORBIDDEN, "Unknown user", "Your account no longer exists.")),
        Err(e) => Err(server_error(state, e)),
    }
}

/// GET /authorize/continue?interaction=ID: the next step for the signed-in user.
pub async fn continue_get(state: web::Data<AppState>, req: HttpRequest, q: web::Query<InteractionQuery>) -> HttpResponse {
    let now = state.now();
    let mut i = match load_interaction(&state, &q.interaction, now) {
        Ok(i) => i,
        Err(res) => return res,
    };
    let (session, user) = match session_user(&state, &req, &mut i, now) {
        Ok(x) => x,
        Err(res) => return res,
    };
    let name = client_name(&state, &i.client_id);
    match interaction::next_step(&i, &user) {
        Next::NoPatient => {
            let _ = state.store.authz().remove_interaction(&i.id);
            redirect(&interaction::deny_url(&i, "no patient is available to this user"))
        }
        Next::PickPatient(patients) => {
            let action = url(&state, "/authorize/patient");
            let labelled: Vec<(String, String)> = patients.iter().map(|p| (p.clone(), format!("Patient {p}"))).collect();
            let body = pages::patient_picker_page(&PickerView { action: &action, interaction: &i.id, client_name: &name, csrf: &session.csrf_token, patients: &labelled });
            page(&state, StatusCode::OK, body, None)
        }
        Next::Consent { patient } => {
            let action = url(&state, "/authorize/consent");
            let requested: Vec<String> = i.scope.split_ascii_whitespace().map(String::from).collect();
            let items = consent::consent_items(&requested);
            let logo = state.store.clients().get(&i.client_id).ok().flatten().and_then(|c| c.metadata.logo_uri);
            let body = pages::consent_page(&ConsentView {
                action: &action,
                interaction: &i.id,
                csrf: &session.csrf_token,
                client_name: &name,
                logo_uri: logo.as_deref(),
                username: &user.username,
                patient: patient.as_deref(),
                items: &items,
            });
            page(&state, StatusCode::OK, body, Some(&i.redirect_uri))
        }
    }
}

/// Common start of the POST steps: form, interaction, session, CSRF.
async fn posted_step(state: &AppState, req: &HttpRequest, payload: web::Payload) -> Result<(Vec<(String, String)>, Interaction, User), HttpResponse> {
    let form = form_pairs(payload).await.map_err(|_| error_page(state, StatusCode::BAD_REQUEST, "Invalid request", "The form could not be read."))?;
    let now = state.now();
    let id = field(&form, "interaction").ok_or_else(|| error_page(state, StatusCode::BAD_REQUEST, "Invalid request", "The form is incomplete."))?;
    let mut i = load_interaction(state, id, now)?;
    let (session, user) = session_user(state, req, &mut i, now)?;
    if !session::verify_session_csrf(&session, field(&form, "csrf").unwrap_or("")) {
        return Err(error_page(state, StatusCode::FORBIDDEN, "Request blocked", "The form expired or did not come from this site. Go back and try again."));
    }
    Ok((form, i, user))
}

/// POST /authorize/patient: the standalone patient choice (SMART-17).
pub async fn patient_post(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let (form, mut i, user) = match posted_step(&state, &req, payload).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    match field(&form, "patient") {
        Some(p) if user.patients.iter().any(|x| x == p) => {
            i.selected_patient = Some(p.to_string());
            if let Err(e) = state.store.authz().put_interaction(&i) {
                return server_error(&state, e);
            }
            redirect(&continue_url(&state, &i.id))
        }
        _ => error_page(&state, StatusCode::BAD_REQUEST, "Choose a patient", "Go back and choose one of the listed patients."),
    }
}

/// POST /authorize/consent: approve (the scopes left selected) or deny (`access_denied`).
pub async fn consent_post(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let (form, i, user) = match posted_step(&state, &req, payload).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let now = state.now();
    if field(&form, "decision") != Some("approve") {
        let _ = state.store.authz().remove_interaction(&i.id);
        tracing::info!(client_id = %i.client_id, username = %user.username, "authorization denied by the user");
        return redirect(&interaction::deny_url(&i, "the user denied the request"));
    }
    let patient = match interaction::next_step(&i, &user) {
        Next::Consent { patient } => patient,
        // The patient was not settled (form posted out of order): go through the steps again.
        _ => return redirect(&continue_url(&state, &i.id)),
    };
    let requested: Vec<String> = i.scope.split_ascii_whitespace().map(String::from).collect();
    let selected: Vec<String> = form.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v.clone()).collect();
    let granted = consent::granted_from_form(&requested, &selected);
    if interaction::grants_nothing(&granted) {
        let _ = state.store.authz().remove_interaction(&i.id);
        return redirect(&interaction::deny_url(&i, "the user granted no access"));
    }
    let st = state.clone();
    let done = blocking(move || interaction::approve(&st.store, &i, &user, patient, &granted, now).map_err(OAuthError::from)).await;
    match done {
        Ok(location) => redirect(&location),
        Err(e) => server_error(&state, e),
    }
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
