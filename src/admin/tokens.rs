//! Admin API tokens (issue 10 item 1): `admin token create|list|revoke`, and the token `serve`
//! leaves in the data directory for the CLI on the same machine.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::oauth::random_token;
use crate::store::{AdminTokenRecord, Store, StoreError};

use super::{AdminContext, AdminError, Output};

/// Every admin token starts with this, so a leaked one is recognisable (secret scanners).
pub const TOKEN_PREFIX: &str = "udapadm_";

/// The file in the data directory that holds the local admin token (mode 0600).
pub const TOKEN_FILE: &str = "admin-token";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AdminTokenOp {
    Create {
        name: String,
        /// Lifetime in seconds; none for a token that lasts until revoked.
        expires_in: Option<i64>,
    },
    List,
    Revoke {
        /// The token's id or name.
        token: String,
    },
}

impl AdminTokenOp {
    pub fn command(&self) -> &'static str {
        match self {
            AdminTokenOp::Create { .. } => "create",
            AdminTokenOp::List => "list",
            AdminTokenOp::Revoke { .. } => "revoke",
        }
    }

    pub fn is_change(&self) -> bool {
        !matches!(self, AdminTokenOp::List)
    }

    pub fn entity(&self) -> Option<String> {
        match self {
            AdminTokenOp::Create { name, .. } => Some(name.clone()),
            AdminTokenOp::List => None,
            AdminTokenOp::Revoke { token } => Some(token.clone()),
        }
    }
}

fn check_name(name: &str) -> Result<(), AdminError> {
    let n = name.chars().count();
    if n == 0 || n > 64 || name.chars().any(char::is_control) {
        return Err(AdminError::invalid(
            "an admin token name is 1 to 64 characters, without control characters",
        ));
    }
    Ok(())
}

/// Creates a token; returns the token (to show once) and its record.
pub fn issue(
    store: &Store,
    name: &str,
    expires_in: Option<i64>,
    now: i64,
) -> Result<(String, AdminTokenRecord), AdminError> {
    check_name(name)?;
    if expires_in.is_some_and(|s| s <= 0) {
        return Err(AdminError::invalid(
            "--expires-in must be a positive number of seconds",
        ));
    }
    let token = format!("{TOKEN_PREFIX}{}", random_token(32));
    let record = AdminTokenRecord {
        id: random_token(6),
        name: name.to_string(),
        created_at: now,
        expires_at: expires_in.map(|s| now.saturating_add(s)),
        revoked_at: None,
    };
    if !store.admin_tokens().create(&token, &record)? {
        return Err(AdminError::conflict(format!(
            "an admin token named `{name}` exists already; choose another name or revoke it first"
        )));
    }
    Ok((token, record))
}

fn row(r: &AdminTokenRecord, now: i64) -> Value {
    json!({"id": r.id, "name": r.name, "created_at": super::rfc3339(r.created_at),
        "expires_at": r.expires_at.and_then(super::rfc3339),
        "revoked_at": r.revoked_at.and_then(super::rfc3339), "live": r.is_live(now)})
}

pub fn execute(op: AdminTokenOp, ctx: &AdminContext<'_>) -> Result<Output, AdminError> {
    match op {
        AdminTokenOp::Create { name, expires_in } => {
            let (token, record) = issue(ctx.store, &name, expires_in, ctx.now)?;
            let mut v = row(&record, ctx.now);
            v["token"] = json!(token);
            Ok(Output::new(
                v,
                format!(
                    "admin token `{name}` (id {}):\n{token}\n(shown once; only its hash is stored. Use it as UDAP_ADMIN_TOKEN with --server URL)",
                    record.id
                ),
            ))
        }
        AdminTokenOp::List => {
            let all = ctx.store.admin_tokens().list()?;
            let text = if all.is_empty() {
                "no admin tokens".to_string()
            } else {
                all.iter()
                    .map(|r| {
                        let state = if r.revoked_at.is_some() {
                            "REVOKED".to_string()
                        } else if !r.is_live(ctx.now) {
                            "EXPIRED".to_string()
                        } else {
                            r.expires_at
                                .and_then(super::rfc3339)
                                .map_or("live".to_string(), |e| format!("live until {e}"))
                        };
                        format!("{}  {}  {state}", r.id, r.name)
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Ok(Output::new(
                Value::Array(all.iter().map(|r| row(r, ctx.now)).collect()),
                text,
            ))
        }
        AdminTokenOp::Revoke { token } => {
            let Some(record) = ctx.store.admin_tokens().revoke(&token, ctx.now)? else {
                return Err(AdminError::not_found(format!(
                    "no admin token with id or name `{token}`; see `udap-server admin token list`"
                )));
            };
            Ok(Output::new(
                row(&record, ctx.now),
                format!("admin token `{}` (id {}) revoked", record.name, record.id),
            ))
        }
    }
}

/// The path of the local token file in `data_dir`.
pub fn token_file(data_dir: &Path) -> PathBuf {
    data_dir.join(TOKEN_FILE)
}

/// `serve` at start: keeps `<data-dir>/admin-token` holding a live token, creating one (named
/// after the data directory) when the file is missing or its token no longer works.
pub fn ensure_local_token(store: &Store, data_dir: &Path, now: i64) -> anyhow::Result<bool> {
    let path = token_file(data_dir);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if store
            .admin_tokens()
            .authenticate(existing.trim(), now)?
            .is_some()
        {
            return Ok(false);
        }
    }
    let base = format!("local:{}", data_dir.display());
    let base: String = base.chars().take(48).collect();
    let (token, _) = loop {
        let name = format!("{base}#{}", random_token(3));
        match issue(store, &name, None, now) {
            Ok(t) => break t,
            Err(AdminError::Conflict(_)) => continue,
            Err(AdminError::Internal(e)) => return Err(e),
            Err(e) => return Err(e.into()),
        }
    };
    write_private(&path, token.as_bytes())?;
    Ok(true)
}

/// Writes `bytes` to `path` readable by the owner only (0600), replacing it atomically.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The live admin token record for a bearer `token`, or None.
pub fn authenticate(
    store: &Store,
    token: &str,
    now: i64,
) -> Result<Option<AdminTokenRecord>, StoreError> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
        return Ok(None);
    }
    store.admin_tokens().authenticate(token, now)
}
