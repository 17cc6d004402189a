//! SMART and OpenID discovery documents (with CORS for any origin, SMART-10), and the EHR launch
//! endpoint (`POST {base}/launch`, for an EHR client with the `udap-server/launch` scope).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::oauth::admin_scopes;
use crate::oauth::launch::{self, LaunchRequest, LAUNCH_SCOPE};
use crate::oauth::smart_config;
use crate::oauth::OAuthError;

use super::body::{blocking, read_limited};
use super::form::{bearer, Form};
use super::state::AppState;

fn discovery(body: serde_json::Value) -> HttpResponse {
    // SMART-2: application/json whatever the Accept header says.
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(body)
}

pub async fn smart_configuration(state: web::Data<AppState>) -> HttpResponse {
    discovery(smart_config::smart_configuration(
        &state.endpoints,
        &state.alg_policy,
    ))
}

pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    discovery(smart_config::openid_configuration(
        &state.endpoints,
        &state.alg_policy,
    ))
}

/// CORS preflight for the endpoints browser apps call.
pub async fn preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .insert_header(("Access-Control-Allow-Methods", "GET, POST, OPTIONS"))
        .insert_header((
            "Access-Control-Allow-Headers",
            "Authorization, Content-Type",
        ))
        .insert_header(("Access-Control-Max-Age", "600"))
        .finish()
}

/// POST {base}/launch: an EHR holding `udap-server/launch` creates a launch context for one app
/// (`target_client_id`, `patient`, optional `encounter`) and receives the opaque, single-use
/// `launch` value (SMART-13). The caller authenticates as a client, or with a Bearer token.
pub async fn create_launch(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let body = read_limited(payload).await?;
    let form = Form::parse(&req, &body)?;
    let creds = form.credentials(&req);
    let bearer_token = bearer(&req);
    let request = LaunchRequest {
        client_id: form.get("target_client_id").map(String::from),
        patient: form.get("patient").map(String::from),
        encounter: form.get("encounter").map(String::from),
    };
    let now = state.now();
    let st = state.clone();
    let (id, expires_at) = blocking(move || {
        admin_scopes::authorize_admin_call(
            &st.auth_context(),
            &st.tokens,
            &creds,
            bearer_token.as_deref(),
            LAUNCH_SCOPE,
            now,
        )?;
        Ok(launch::create(&st.store, &request, now)?)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({"launch": id, "expires_in": expires_at - now})))
}
