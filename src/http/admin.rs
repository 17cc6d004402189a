//! The admin API listener's routes (issue 10 item 1). Served only on `--admin-listen`, never on
//! the public listener: `POST /admin/v1/ops` runs one admin op (`admin::api::handle`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::admin::api::{self, ApiError, LiveServer};
use crate::admin::{AdminError, AdminOp, Effects};
use crate::oauth::client_metadata::IntendedUseVocabulary;
use crate::store::Store;

use super::AppState;

/// Certificates, CRLs and JWK Sets travel in ops; a CRL of a large CA runs to megabytes.
const MAX_OP_BYTES: usize = 16 * 1024 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(crate::admin::remote::OPS_PATH, web::post().to(ops))
        .default_service(web::to(not_found));
}

fn error_response(e: &ApiError) -> HttpResponse {
    let (code, status) = e.code();
    let description = e.to_string();
    if let ApiError::Op(AdminError::Internal(detail)) = e {
        tracing::error!(error = format!("{detail:#}"), "admin operation failed");
    }
    let mut res =
        HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST));
    res.insert_header(("Cache-Control", "no-store"));
    if status == 401 {
        res.insert_header(("WWW-Authenticate", "Bearer realm=\"udap-server admin\""));
    }
    res.json(json!({"error": code, "error_description": description}))
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(json!({"error": "not_found", "error_description": "there is no such admin endpoint; admin commands POST to /admin/v1/ops"}))
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

async fn ops(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let token = bearer(&req);
    let now = state.now();
    // The token first: the body is read only for an admitted caller.
    let admitted = {
        let state = state.clone();
        web::block(move || api::admit(state.get_ref(), token.as_deref(), now)).await
    };
    let admin = match admitted {
        Ok(Ok(admin)) => admin,
        Ok(Err(e)) => return error_response(&e),
        Err(e) => return error_response(&internal(e)),
    };
    let body = match payload.to_bytes_limited(MAX_OP_BYTES).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) | Err(_) => {
            return error_response(&ApiError::Malformed(format!(
                "the body could not be read, or is over {} MiB",
                MAX_OP_BYTES / (1024 * 1024)
            )))
        }
    };
    // Ops hash, build communities and write the store: off the async workers.
    let result = web::block(move || api::handle(state.get_ref(), &admin, &body, now)).await;
    match result {
        Ok(Ok(output)) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(output),
        Ok(Err(e)) => error_response(&e),
        Err(e) => error_response(&internal(e)),
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Op(AdminError::Internal(anyhow::anyhow!(
        "admin operation did not complete: {e}"
    )))
}

impl LiveServer for AppState {
    fn store(&self) -> &Store {
        &self.store
    }

    fn vocabulary(&self) -> &IntendedUseVocabulary {
        &self.vocabulary
    }

    fn apply(&self, effects: Effects, now: i64) {
        if effects.keys {
            let reloaded = crate::kek::configured()
                .map_err(anyhow::Error::from)
                .and_then(|kek| self.tokens.reload(&self.store, kek, now));
            if let Err(e) = reloaded {
                tracing::error!(error = format!("{e:#}"), "the changed signing keys cannot be loaded; still signing with the previous ones");
            }
        }
        if effects.communities {
            match self.store.communities().list() {
                Ok(records) => {
                    if let Err(e) = self.communities.reload(&records, now) {
                        tracing::error!(error = %e, "a changed community cannot be served; still serving the previous set");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the communities after an admin change; the poller will retry")
                }
            }
        }
    }

    fn record_change(&self, admin: &str, op: &AdminOp, result: Result<(), &AdminError>, _now: i64) {
        if op.is_change() {
            self.metrics.admin_change(result.is_ok());
        }
        self.audit.record(
            crate::admin::audit_event(admin, op, result).with_source(&self.settings.base_url),
        );
    }

    fn record_refused_caller(&self, reason: &str) {
        self.audit.record(
            crate::audit::AuditEvent::admin_read("authenticate", "-", false, Some(reason))
                .with_source(&self.settings.base_url),
        );
    }
}
