//! Administrator operations (issue 10): every admin command is one [`AdminOp`], executed by one
//! function, [`execute`], whether the CLI opened the store itself (server stopped, or a shared
//! PostgreSQL database) or a running server received it on its admin API (`http::admin`).
//!
//! The CLI turns its arguments into an op on the administrator's machine (it reads the PEM files
//! and hashes passwords there), so an op carries only values, never local paths to open, and never
//! a password. The result is an [`Output`]: the `--json` document and the human text, so both paths
//! print the same thing.

pub mod api;
pub mod audit;
pub mod client;
pub mod community;
pub mod error;
pub mod grant;
pub mod keys;
pub mod launch;
pub mod remote;
pub mod tokens;
pub mod user;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::oauth::client_metadata::IntendedUseVocabulary;
use crate::store::Store;

pub use error::AdminError;

/// What an operation produced: the `--json` document and the text a person reads.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Output {
    pub json: Value,
    pub text: String,
}

impl Output {
    pub fn new(json: Value, text: impl Into<String>) -> Self {
        Output {
            json,
            text: text.into(),
        }
    }

    /// Output whose human text is the pretty-printed JSON (the `show` commands).
    pub fn pretty(json: Value) -> Self {
        let text = serde_json::to_string_pretty(&json).unwrap_or_default();
        Output { json, text }
    }
}

/// One administrator operation. Externally tagged by group, then by command:
/// `{"client": {"disable": {"client_id": "..."}}}` is `udap-server client disable ...`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AdminOp {
    Community(community::CommunityOp),
    Client(client::ClientOp),
    User(user::UserOp),
    Launch(launch::LaunchOp),
    Grant(grant::GrantOp),
    AdminToken(tokens::AdminTokenOp),
    Keys(keys::KeysOp),
    Audit(audit::AuditOp),
}

/// What a change affects in a running server, so it can apply it at once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Effects {
    /// The stored communities changed: rebuild the served set now rather than at the next poll.
    pub communities: bool,
    /// The signing-key ring changed: reload the token issuer.
    pub keys: bool,
}

impl AdminOp {
    /// `group.command`, as in audit records and logs (never a value from the op).
    pub fn name(&self) -> String {
        let (group, command) = match self {
            AdminOp::Community(op) => ("community", op.command()),
            AdminOp::Client(op) => ("client", op.command()),
            AdminOp::User(op) => ("user", op.command()),
            AdminOp::Launch(op) => ("launch", op.command()),
            AdminOp::Grant(op) => ("grant", op.command()),
            AdminOp::AdminToken(op) => ("admin-token", op.command()),
            AdminOp::Keys(op) => ("keys", op.command()),
            AdminOp::Audit(op) => ("audit", op.command()),
        };
        format!("{group}.{command}")
    }

    /// Whether the op changes anything (audited as an admin change) or only reads.
    pub fn is_change(&self) -> bool {
        match self {
            AdminOp::Community(op) => op.is_change(),
            AdminOp::Client(op) => op.is_change(),
            AdminOp::User(op) => op.is_change(),
            AdminOp::Launch(_) => true,
            AdminOp::Grant(op) => op.is_change(),
            AdminOp::AdminToken(op) => op.is_change(),
            AdminOp::Keys(op) => op.is_change(),
            AdminOp::Audit(_) => false,
        }
    }

    /// The record the op is about, as (kind, id), for the audit trail.
    pub fn entity(&self) -> Option<(&'static str, String)> {
        match self {
            AdminOp::Community(op) => op.entity().map(|id| ("community", id)),
            AdminOp::Client(op) => op.entity().map(|id| ("client", id)),
            AdminOp::User(op) => op.entity().map(|id| ("user", id)),
            AdminOp::Launch(op) => Some(("client", op.client_id().to_string())),
            AdminOp::Grant(op) => Some(("user", op.username().to_string())),
            AdminOp::AdminToken(op) => op.entity().map(|id| ("admin-token", id)),
            AdminOp::Keys(op) => op.entity().map(|id| ("key", id)),
            AdminOp::Audit(_) => None,
        }
    }

    pub fn effects(&self) -> Effects {
        Effects {
            communities: matches!(self, AdminOp::Community(op) if op.is_change()),
            keys: matches!(self, AdminOp::Keys(op) if op.is_change()),
        }
    }
}

/// Where and as whom an op runs.
pub struct AdminContext<'a> {
    pub store: &'a Store,
    pub now: i64,
    /// Who asked: the admin token's name, or `local` for the CLI on the store.
    pub actor: &'a str,
    /// HTI1-2 vocabularies: the server's own when it runs the op, else the CLI's configuration.
    pub vocabulary: &'a IntendedUseVocabulary,
}

/// Runs `op`. The one implementation behind both the CLI and the admin API.
pub fn execute(op: AdminOp, ctx: &AdminContext<'_>) -> Result<Output, AdminError> {
    match op {
        AdminOp::Community(op) => community::execute(op, ctx),
        AdminOp::Client(op) => client::execute(op, ctx),
        AdminOp::User(op) => user::execute(op, ctx),
        AdminOp::Launch(op) => launch::execute(op, ctx),
        AdminOp::Grant(op) => grant::execute(op, ctx),
        AdminOp::AdminToken(op) => tokens::execute(op, ctx),
        AdminOp::Keys(op) => keys::execute(op, ctx),
        AdminOp::Audit(op) => audit::execute(op, ctx),
    }
}

/// The audit record of an admin request: who (the admin token's name), which op, its outcome, and
/// the record it concerns; never a value from the op (keys, hashes, PEMs stay out). Reads are
/// `admin_read` records, changes `admin_change`.
pub fn audit_event(
    actor: &str,
    op: &AdminOp,
    result: Result<(), &AdminError>,
) -> crate::audit::AuditEvent {
    if !op.is_change() {
        return crate::audit::AuditEvent::admin_read(
            &op.name(),
            actor,
            result.is_ok(),
            result.err().map(|e| e.code().0),
        );
    }
    let entity = op.entity();
    crate::audit::AuditEvent::admin_change(
        &op.name(),
        actor,
        result.is_ok(),
        entity.as_ref().map(|(kind, id)| (*kind, id.as_str())),
        result.err().map(|e| e.code().0),
    )
}

/// A timestamp as RFC 3339, for listings.
pub(crate) fn rfc3339(t: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(t, 0).map(|t| t.to_rfc3339())
}

/// A secret value an op carries (a private key, a password hash): serialized as a plain string,
/// never shown by `Debug`, so an op can be logged or traced without it.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}
