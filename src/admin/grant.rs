//! Users' grants to apps: list and revoke (HTI1-4: a revocation takes effect at once: access
//! tokens introspect inactive and refresh tokens stop working).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::store::GrantRecord;

use super::{AdminContext, AdminError, Output};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum GrantOp {
    List {
        username: String,
        client: Option<String>,
    },
    Revoke {
        username: String,
        client: String,
    },
}

impl GrantOp {
    pub fn command(&self) -> &'static str {
        match self {
            GrantOp::List { .. } => "list",
            GrantOp::Revoke { .. } => "revoke",
        }
    }

    pub fn is_change(&self) -> bool {
        matches!(self, GrantOp::Revoke { .. })
    }

    pub fn username(&self) -> &str {
        match self {
            GrantOp::List { username, .. } | GrantOp::Revoke { username, .. } => username,
        }
    }
}

fn row(g: &GrantRecord) -> Value {
    json!({"grant_id": g.grant_id, "client_id": g.client_id, "username": g.username, "scope": g.scope,
        "patient": g.context.patient, "revoked": g.revoked,
        "created_at": super::rfc3339(g.created_at)})
}

pub fn execute(op: GrantOp, ctx: &AdminContext<'_>) -> Result<Output, AdminError> {
    match op {
        GrantOp::List { username, client } => {
            let grants = ctx.store.authz().grants_of(&username, client.as_deref())?;
            let text = if grants.is_empty() {
                format!("{username} has no grants")
            } else {
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
            };
            Ok(Output::new(
                Value::Array(grants.iter().map(row).collect()),
                text,
            ))
        }
        GrantOp::Revoke { username, client } => {
            let grants = ctx.store.authz().grants_of(&username, Some(&client))?;
            if grants.is_empty() {
                return Err(AdminError::not_found(format!(
                    "{username} has no grants for client {client}; see `udap-server grant list {username}`"
                )));
            }
            let mut revoked = 0;
            for g in &grants {
                if ctx.store.authz().revoke_grant(&g.grant_id)? {
                    revoked += 1;
                }
            }
            Ok(Output::new(
                json!({"username": username, "client_id": client, "revoked": revoked}),
                format!("revoked {revoked} grant(s) of {username} for {client}"),
            ))
        }
    }
}
