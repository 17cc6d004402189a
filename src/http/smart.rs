//! SMART and OpenID discovery documents (with CORS for any origin, SMART-10), and the EHR launch
//! endpoint (`POST {base}/launch`, for an EHR client with the `udap-server/launch` scope).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::oauth::client_auth;
use crate::oauth::launch::{self, LAUNCH_SCOPE};
use crate::oauth::smart_config;
use crate::oauth::{ErrorCode, OAuthError};
use crate::store::LaunchContext;

use super::body::{blocking, read_limited};
use super::form::Form;
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
    discovery(smart_config::smart_configuration(&state.endpoints, &state.alg_policy))
}

pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    discovery(smart_config::openid_configuration(&state.endpoints))
}

/// CORS preflight for the endpoints browser apps call.
pub async fn preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .insert_header(("Access-Control-Allow-Methods", "GET, POST, OPTIONS"))
        .insert_header(("Access-Control-Allow-Headers", "Authorization, Content-Type"))
        .insert_header(("Access-Control-Max-Age", "600"))
        .finish()
}

/// POST {base}/launch: an authenticated EHR creates a launch context (`patient`, optional
/// `encounter`) and receives the opaque `launch` value (SMART-13).
pub async fn create_launch(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> Result<HttpResponse, OAuthError> {
    let body = read_limited(payload).await?;
    let form = Form::parse(&req, &body)?;
    let creds = form.credentials(&req);
    let patient = form.get("patient").map(String::from);
    let encounter = form.get("encounter").map(String::from);
    let now = state.now();
    let st = state.clone();
    let (id, expires_at) = blocking(move || {
        let auth = client_auth::authenticate(&st.auth_context(), &creds, now)?;
        if !auth.client.metadata.scope.split_ascii_whitespace().any(|s| s == LAUNCH_SCOPE) {
            return Err(OAuthError::new(ErrorCode::UnauthorizedClient, format!("creating launches needs the {LAUNCH_SCOPE} scope")));
        }
        let patient = patient.ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, "patient is required"))?;
        let context = LaunchContext { patient: Some(patient), encounter, ..Default::default() };
        Ok(launch::create(&st.store, context, now)?)
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(json!({"launch": id, "expires_in": expires_at - now})))
}
