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
    let mut text = state.metrics.render(&extra);
    // Issue 10 item 6: outbound downloads, CRL ages, CRL files.
    crate::fetch::OUTBOUND_METRICS.render(&mut text);
    render_crl_ages(&mut text, &state.communities.current(), state.now());
    render_crl_files(
        &mut text,
        state.crl_file_watcher.as_ref().map(|w| w.stats()),
    );
    render_audit(&mut text, state.audit.counters());
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}

/// Issue 10 item 6: `udap_crl_age_seconds{community}`: now − thisUpdate of the oldest CRL
/// configured for each community (the one most likely to be stale; CRLs fetched from
/// distribution points are shared by communities and not counted here). Communities without a
/// configured CRL have no sample. Community URIs come from administrators, so the label set is
/// bounded; they are escaped all the same.
fn render_crl_ages(out: &mut String, communities: &crate::community::CommunitySet, now: i64) {
    crate::prometheus::header(
        out,
        "udap_crl_age_seconds",
        "gauge",
        "Seconds since thisUpdate of the oldest CRL configured for the community",
    );
    for c in communities.iter() {
        if let Some(this_update) = c.trust.oldest_crl_this_update() {
            out.push_str(&format!(
                "udap_crl_age_seconds{{community=\"{}\"}} {}\n",
                crate::prometheus::escape_label(&c.uri),
                now - this_update
            ));
        }
    }
}

/// Issue 10 item 3: problems with CRL files and the updates read from them (zeros when the
/// watcher is off).
fn render_crl_files(out: &mut String, stats: Option<&crate::community::CrlFileStats>) {
    use std::sync::atomic::Ordering;
    let load = |f: fn(&crate::community::CrlFileStats) -> &std::sync::atomic::AtomicU64| {
        stats.map_or(0, |s| f(s).load(Ordering::Relaxed))
    };
    for (name, kind, help, value) in [
        (
            "udap_crl_file_errors_total",
            "counter",
            "Distinct problems found with CRL files (missing, unreadable, not a CRL); the previous CRL stays in force",
            load(|s| &s.errors),
        ),
        (
            "udap_crl_files_failing",
            "gauge",
            "CRL files that cannot be used now",
            load(|s| &s.failing),
        ),
        (
            "udap_crl_file_updates_total",
            "counter",
            "Changed CRL files whose new CRL was stored",
            load(|s| &s.updates),
        ),
    ] {
        crate::prometheus::header(out, name, kind, help);
        out.push_str(&format!("{name} {value}\n"));
    }
}

/// Issue 10 item 5: the audit writer's counters; `dropped` above 0 means records were lost (the
/// queue stayed full, or the store refused them).
fn render_audit(out: &mut String, c: crate::audit::AuditCounters) {
    for (name, help, value) in [
        (
            "audit_events_committed_total",
            "Audit records committed to the store",
            c.committed,
        ),
        (
            "audit_events_dropped_total",
            "Audit records lost (queue full or store failing); see the log",
            c.dropped,
        ),
        (
            "audit_batches_total",
            "Store commits of the audit writer",
            c.batches,
        ),
    ] {
        out.push_str(&format!(
            "# HELP udap_{name} {help}\n# TYPE udap_{name} counter\nudap_{name} {value}\n"
        ));
    }
}
