//! `GET|POST {base}/logout`: OpenID Connect RP-Initiated Logout (issue 8 item 8). The rules are in
//! `oauth::logout`; this maps them to pages, cookies and redirects.
//!
//! GET changes nothing: with a session it shows a confirmation form carrying the session's CSRF
//! token; without one it finishes at once. POST with that token ends the session on the server and
//! clears the cookie. Either way the browser then goes to the app's registered
//! `post_logout_redirect_uri` (with `state`) or sees the "signed out" page.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::oauth::logout::{self, Confirm, LogoutParams, Submitted};

use super::authorize::{csrf_blocked, field, form_pairs, server_error, url};
use super::body::blocking;
use super::pages::{self, LogoutView};
use super::session;
use super::state::AppState;

fn page(state: &AppState, status: StatusCode, body: String) -> HttpResponse {
    pages::html_response(
        status,
        body,
        session::page_headers(&state.settings.frame_ancestors, None),
    )
}

/// The end of a logout: the cookie removed, then the app's URI or our page.
fn finish(state: &AppState, target: Option<String>) -> HttpResponse {
    let mut res = match target {
        Some(location) => HttpResponse::Found()
            .insert_header(("Location", location))
            .insert_header(("Cache-Control", "no-store"))
            .finish(),
        None => page(state, StatusCode::OK, pages::signed_out_page()),
    };
    let (secure, path) = session::cookie_scope(&state.endpoints.base);
    let _ = res.add_removal_cookie(&session::removal_cookie(
        session::SESSION_COOKIE,
        secure,
        &path,
    ));
    res
}

/// GET /logout
pub async fn logout_get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Ok(params) = serde_urlencoded::from_str::<LogoutParams>(req.query_string()) else {
        return page(
            &state,
            StatusCode::BAD_REQUEST,
            pages::error_page("Invalid request", "The logout request could not be read."),
        );
    };
    let now = state.now();
    let st = state.clone();
    let session_id = session::session_cookie_value(&req);
    let carried = params.clone();
    let looked = blocking(move || {
        Ok(logout::confirm_step(
            &st.store,
            &st.tokens,
            session_id.as_deref(),
            &params,
            now,
        )?)
    })
    .await;
    match looked {
        Ok(Confirm::Ask { csrf }) => {
            let action = url(&state, "/logout");
            let carry: Vec<(&str, &str)> = [
                ("client_id", carried.client_id.as_deref()),
                ("id_token_hint", carried.id_token_hint.as_deref()),
                (
                    "post_logout_redirect_uri",
                    carried.post_logout_redirect_uri.as_deref(),
                ),
                ("state", carried.state.as_deref()),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
            page(
                &state,
                StatusCode::OK,
                pages::logout_confirm_page(&LogoutView {
                    action: &action,
                    csrf: &csrf,
                    carry: &carry,
                }),
            )
        }
        Ok(Confirm::Done { target }) => finish(&state, target),
        Err(e) => server_error(&state, e),
    }
}

/// POST /logout (form: `csrf` and the logout parameters)
pub async fn logout_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let Ok(form) = form_pairs(payload).await else {
        return page(
            &state,
            StatusCode::BAD_REQUEST,
            pages::error_page("Invalid request", "The form could not be read."),
        );
    };
    let get = |k: &str| field(&form, k).map(String::from);
    let params = LogoutParams {
        id_token_hint: get("id_token_hint"),
        client_id: get("client_id"),
        post_logout_redirect_uri: get("post_logout_redirect_uri"),
        state: get("state"),
    };
    let csrf = get("csrf").unwrap_or_default();
    let now = state.now();
    let st = state.clone();
    let session_id = session::session_cookie_value(&req);
    let done = blocking(move || {
        Ok(logout::submit_step(
            &st.store,
            &st.tokens,
            session_id.as_deref(),
            &csrf,
            &params,
            now,
        )?)
    })
    .await;
    match done {
        Ok(Submitted::Blocked) => csrf_blocked(&state),
        Ok(Submitted::Done { target }) => finish(&state, target),
        Err(e) => server_error(&state, e),
    }
}
