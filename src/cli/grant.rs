//! `udap-server grant ...`: what users have allowed apps, and revoking it (HTI1-4: a patient's
//! revocation takes effect at once: access tokens introspect inactive, refresh tokens stop working).

use anyhow::bail;
use clap::Subcommand;
use serde_json::{json, Value};

use crate::store::GrantRecord;

use super::emit;

#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// List a user's grants (optionally for one client).
    List {
        username: String,
        #[arg(long)]
        client: Option<String>,
    },
    /// Revoke every grant a user gave a client.
    #[command(after_help = "Example:\n  udap-server grant revoke alice --client 9cK2...")]
    Revoke {
        username: String,
        #[arg(long)]
        client: String,
    },
}

fn row(g: &GrantRecord) -> Value {
    json!({"grant_id": g.grant_id, "client_id": g.client_id, "username": g.username, "scope": g.scope,
        "patient": g.context.patient, "revoked": g.revoked,
        "created_at": chrono::DateTime::from_timestamp(g.created_at, 0).map(|t| t.to_rfc3339())})
}

pub fn run(cmd: GrantCommand, target: &super::StoreTarget, json_out: bool) -> anyhow::Result<()> {
    let store = target.open()?;
    match cmd {
        GrantCommand::List { username, client } => {
            let grants = store.authz().grants_of(&username, client.as_deref())?;
            emit(
                json_out,
                &Value::Array(grants.iter().map(row).collect()),
                || {
                    if grants.is_empty() {
                        return format!("{username} has no grants");
                    }
                    grants
                        .iter()
                        .map(|g| {
                            format!(
                                "{}  client={}  {}  scope={}",
                                g.grant_id,
                                g.client_id,
                                if g.revoked { "REVOKED" } else { "active" },
                                g.scope
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            )
        }
        GrantCommand::Revoke { username, client } => {
            let grants = store.authz().grants_of(&username, Some(&client))?;
            if grants.is_empty() {
                bail!("{username} has no grants for client {client}; see `udap-server grant list {username}`");
            }
            let mut revoked = 0;
            for g in &grants {
                if store.authz().revoke_grant(&g.grant_id)? {
                    revoked += 1;
                }
            }
            emit(
                json_out,
                &json!({"username": username, "client_id": client, "revoked": revoked}),
                || format!("revoked {revoked} grant(s) of {username} for {client}"),
            )
        }
    }
}
