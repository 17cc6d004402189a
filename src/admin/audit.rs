//! The audit trail (issue 10 item 5): `audit list` and `audit export --format ndjson`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audit::{self, AuditKind, AuditQuery};

use super::{AdminContext, AdminError, Output};

/// `audit list` shows the newest this many records unless told otherwise.
pub const DEFAULT_LIST_LIMIT: usize = 100;

/// Which records: all filters are optional; times are unix seconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub client_id: Option<String>,
    /// An `AuditKind` code, e.g. `token_refused`.
    pub kind: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AuditOp {
    List(AuditFilter),
    /// Every matching record, oldest first, one JSON AuditEvent per line.
    Export(AuditFilter),
}

impl AuditOp {
    pub fn command(&self) -> &'static str {
        match self {
            AuditOp::List(_) => "list",
            AuditOp::Export(_) => "export",
        }
    }
}

fn query_of(
    f: &AuditFilter,
    newest_first: bool,
    limit: Option<usize>,
) -> Result<AuditQuery, AdminError> {
    let kind = match &f.kind {
        Some(k) => Some(k.parse::<AuditKind>().map_err(|_| {
            AdminError::invalid(format!(
                "--type {k} is not an audit event type; one of: {}",
                AuditKind::ALL.map(AuditKind::as_str).join(", ")
            ))
        })?),
        None => None,
    };
    Ok(AuditQuery {
        since: f.since,
        until: f.until,
        client_id: f.client_id.clone(),
        kind,
        limit,
        newest_first,
    })
}

fn line(e: &audit::AuditEvent) -> String {
    format!(
        "{}  {}  outcome={}{}  agent={}  client={}",
        e.recorded(),
        e.kind().map_or("?", AuditKind::as_str),
        e.outcome(),
        e.outcome_desc()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default(),
        e.agent_id().unwrap_or("-"),
        e.client_id().unwrap_or("-"),
    )
}

pub fn execute(op: AuditOp, ctx: &AdminContext<'_>) -> Result<Output, AdminError> {
    match op {
        AuditOp::List(f) => {
            let limit = f.limit.unwrap_or(DEFAULT_LIST_LIMIT);
            // The newest `limit`, shown oldest first like a log.
            let mut events = audit::query(ctx.store, &query_of(&f, true, Some(limit))?)?;
            events.reverse();
            let text = if events.is_empty() {
                "no audit records match".to_string()
            } else {
                events.iter().map(line).collect::<Vec<_>>().join("\n")
            };
            let json = serde_json::to_value(&events).unwrap_or(Value::Null);
            Ok(Output::new(json, text))
        }
        AuditOp::Export(f) => {
            let mut out = Vec::new();
            let count = audit::export_ndjson(ctx.store, &query_of(&f, false, f.limit)?, &mut out)
                .map_err(|e| AdminError::Internal(e.into()))?;
            let text = String::from_utf8(out).map_err(|e| AdminError::Internal(e.into()))?;
            Ok(Output::new(
                serde_json::json!({"records": count}),
                text.trim_end().to_string(),
            ))
        }
    }
}
