//! UDAP discovery (`GET /.well-known/udap`, UDAP-7..12) and dynamic client registration
//! (`POST /register`, UDAP-13..22).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::audit::AuditEvent;
use crate::oauth::discovery;
use crate::oauth::registration::{self, RegistrationKind};
use crate::oauth::{ErrorCode, OAuthError};

use super::body::{blocking, has_media_type, read_limited};
use super::metrics::Metrics;
use super::state::AppState;

#[derive(Deserialize)]
pub struct MetadataQuery {
    community: Option<String>,
}

/// UDAP-7/UDAP-11: no client authentication; `?community=` selects that community's certificate.
/// An unknown community gets the default community's metadata (IG 1.1 allows 204 or the default;
/// the default is the more interoperable choice). No community at all → 404 (UDAP-8).
pub async fn metadata(
    state: web::Data<AppState>,
    query: web::Query<MetadataQuery>,
) -> Result<HttpResponse, OAuthError> {
    let communities = state.communities.current();
    let community = query
        .community
        .as_deref()
        .and_then(|uri| communities.get(uri))
        .or_else(|| communities.default_community())
        .cloned();
    let Some(community) = community else {
        return Ok(HttpResponse::NotFound().json(serde_json::json!({"error": "not_found", "error_description": "no UDAP trust community is configured"})));
    };
    let now = state.now();
    let st = state.clone();
    let doc = blocking(move || {
        discovery::udap_metadata(&community, &st.endpoints, &st.alg_policy, now)
            .map_err(OAuthError::internal)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(doc))
}

/// UDAP-13..22: `application/json` body `{software_statement, certifications?, udap: "1"}`.
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let addr = req.peer_addr().map(|a| a.ip());
    let result = register_inner(state.clone(), req, payload).await;
    // Issue 10 item 5: registrations created, updated, cancelled (recorded below) or refused.
    if let Err(e) = &result {
        state
            .audit
            .record(AuditEvent::registration_refused(e).with_address(addr));
    }
    Metrics::inc(match &result {
        Ok(_) => &state.metrics.registrations_total,
        Err(_) => &state.metrics.registration_errors_total,
    });
    if let Err(e) = &result {
        if e.reason == crate::oauth::Reason::Replay {
            Metrics::inc(&state.metrics.jti_replays_total);
        }
    }
    result
}

async fn register_inner(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    if !has_media_type(&req, "application/json") {
        return Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            "Content-Type must be application/json",
        )
        .with_status(415));
    }
    let body = read_limited(payload).await?;
    let now = state.now();
    let st = state.clone();
    let outcome = blocking(move || {
        registration::register(&st.registration_context(), &body, now).map_err(OAuthError::from)
    })
    .await?;
    tracing::info!(
        client_id = %outcome.client.client_id,
        community = outcome.client.community.as_deref().unwrap_or(""),
        kind = ?outcome.kind,
        "registration accepted"
    );
    state.audit.record(
        AuditEvent::registered(
            outcome.kind,
            &outcome.client.client_id,
            outcome.client.community.as_deref(),
        )
        .with_address(req.peer_addr().map(|a| a.ip())),
    );
    let mut res = match outcome.kind {
        RegistrationKind::Created => HttpResponse::Created(),
        RegistrationKind::Updated | RegistrationKind::Cancelled => HttpResponse::Ok(),
    };
    Ok(res
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"))
        .json(outcome.body))
}
