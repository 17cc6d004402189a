//! `udap-server audit ...`: the audit trail (issue 10 item 5).

use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};

use crate::admin::audit::{AuditFilter, AuditOp};
use crate::admin::AdminOp;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// The newest records (100 unless --limit), oldest first: registrations, tokens issued and
    /// refused, logins, consent, revocations, admin changes. Never a token, code or secret.
    #[command(after_help = "\
Examples:
  udap-server audit list --since 24h --type token_refused
  udap-server audit list --client 9cK2... --since 2026-12-01 --json")]
    List(FilterArgs),
    /// Every matching record, oldest first, as FHIR AuditEvent JSON, one per line.
    #[command(
        after_help = "Example:\n  udap-server audit export --format ndjson --since 2026-11-01 > audit.ndjson"
    )]
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value = "ndjson")]
        format: ExportFormat,
        #[command(flatten)]
        filter: FilterArgs,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Ndjson,
}

#[derive(Debug, Args)]
pub struct FilterArgs {
    /// From this time: RFC 3339, a date (YYYY-MM-DD, UTC), or an age such as 30m, 24h, 7d.
    #[arg(long)]
    since: Option<String>,
    /// Until this time (same forms).
    #[arg(long)]
    until: Option<String>,
    /// Only records about this client (as the actor or the subject).
    #[arg(long)]
    client: Option<String>,
    /// Only this event type, e.g. token_refused, login_failed, admin_change.
    #[arg(long = "type")]
    kind: Option<String>,
    /// At most this many records.
    #[arg(long)]
    limit: Option<usize>,
}

/// A time as unix seconds: RFC 3339, YYYY-MM-DD (UTC midnight), or an age (`90s`, `30m`, `24h`,
/// `7d`) before `now`.
pub fn parse_time(text: &str, now: i64) -> anyhow::Result<i64> {
    let t = text.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(t) {
        return Ok(d.timestamp());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        if let Some(dt) = d.and_hms_opt(0, 0, 0) {
            return Ok(dt.and_utc().timestamp());
        }
    }
    let (digits, unit) = t.split_at(t.len().saturating_sub(1));
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    match digits.parse::<i64>() {
        Ok(n) if scale > 0 && n >= 0 => Ok(now - n.saturating_mul(scale)),
        _ => bail!("`{text}` is not a time: use RFC 3339 (2026-12-01T08:00:00Z), a date (2026-12-01) or an age (30m, 24h, 7d)"),
    }
}

impl FilterArgs {
    fn into_filter(self, now: i64) -> anyhow::Result<AuditFilter> {
        Ok(AuditFilter {
            since: self
                .since
                .as_deref()
                .map(|t| parse_time(t, now))
                .transpose()?,
            until: self
                .until
                .as_deref()
                .map(|t| parse_time(t, now))
                .transpose()?,
            client_id: self.client,
            kind: self.kind,
            limit: self.limit,
        })
    }
}

pub fn run(cmd: AuditCommand, target: &super::StoreTarget, json_out: bool) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp();
    let op = match cmd {
        AuditCommand::List(f) => AuditOp::List(f.into_filter(now)?),
        AuditCommand::Export { format: _, filter } => {
            // NDJSON is the output whatever --json says: one record per line.
            let _ = json_out;
            return super::run_op_text(
                AdminOp::Audit(AuditOp::Export(filter.into_filter(now)?)),
                target,
            );
        }
    };
    super::run_op(AdminOp::Audit(op), target, json_out, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_three_forms() {
        let now = 1_764_633_600; // 2025-12-02T00:00:00Z
        assert_eq!(parse_time("2025-12-01", now).unwrap(), now - 86_400);
        assert_eq!(parse_time("2025-12-02T00:00:00Z", now).unwrap(), now);
        assert_eq!(parse_time("2025-12-02T01:00:00+01:00", now).unwrap(), now);
        assert_eq!(parse_time("30m", now).unwrap(), now - 1800);
        assert_eq!(parse_time("24h", now).unwrap(), now - 86_400);
        assert_eq!(parse_time("7d", now).unwrap(), now - 7 * 86_400);
        for bad in ["", "yesterday", "-5m", "5y", "h", "2025-13-01"] {
            assert!(parse_time(bad, now).is_err(), "{bad}");
        }
    }
}
