//! Liveness/readiness (`GET /health`) and metrics (`GET /metrics`).

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::state::AppState;

/// 200 when the store answers a read; 503 otherwise, so a load balancer takes the node out.
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let store_ok = state.store.check_readable().is_ok();
    let body = json!({
        "status": if store_ok { "ok" } else { "degraded" },
        "store": if store_ok { "ok" } else { "unreadable" },
        "version": env!("CARGO_PKG_VERSION"),
        "communities": state.communities.current().len(),
        "uptime_secs": state.started_at.elapsed().as_secs(),
    });
    if store_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let extra = [
        (
            "communities",
            "Configured trust communities",
            state.communities.current().len() as u64,
        ),
        (
            "uptime_seconds",
            "Seconds since the server started",
            state.started_at.elapsed().as_secs(),
        ),
        (
            "jti_commits",
            "Write transactions committed by the replay store (group commit)",
            state.store.jti().commit_count(),
        ),
        (
            "store_round_trips",
            "Statements sent to PostgreSQL by this instance (0 on the embedded store)",
            crate::store::postgres_counters().0,
        ),
        (
            "store_commits",
            "Transactions committed in PostgreSQL by this instance (0 on the embedded store)",
            crate::store::postgres_counters().1,
        ),
    ];
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render(&extra))
}
