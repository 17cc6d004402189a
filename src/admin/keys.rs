//! The server's signing keys (issue 10 item 4): list, rotate, retire. Access-token and id_token
//! keys follow the same rules; a rotated key keeps verifying (and stays in the JWKS) until it is
//! retired, and it cannot be retired while tokens it signed can still be valid.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::server_keys::{self, KeyError, KeyInfo, KeyPurpose};

use super::{AdminContext, AdminError, Output};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum KeysOp {
    List,
    Rotate {
        /// Access-token key algorithm (RS256 or ES256); None keeps the current one.
        alg: Option<String>,
        /// Which keys: `access`, `id_token`; None rotates both.
        purpose: Option<KeyPurpose>,
    },
    Retire {
        kid: String,
    },
}

impl KeysOp {
    pub fn command(&self) -> &'static str {
        match self {
            KeysOp::List => "list",
            KeysOp::Rotate { .. } => "rotate",
            KeysOp::Retire { .. } => "retire",
        }
    }

    pub fn is_change(&self) -> bool {
        !matches!(self, KeysOp::List)
    }

    pub fn entity(&self) -> Option<String> {
        match self {
            KeysOp::Retire { kid } => Some(kid.clone()),
            _ => None,
        }
    }
}

impl From<KeyError> for AdminError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::UnknownKid { .. } => AdminError::NotFound(e.to_string()),
            KeyError::ActiveKey { .. }
            | KeyError::TooEarly { .. }
            | KeyError::NoActiveKey { .. } => AdminError::Conflict(e.to_string()),
            KeyError::IdTokenAlg { .. }
            | KeyError::UnsupportedAlg { .. }
            | KeyError::KekRequired => AdminError::Invalid(e.to_string()),
            other => AdminError::Internal(other.into()),
        }
    }
}

fn line(k: &KeyInfo) -> String {
    let when = |t: Option<i64>| t.and_then(super::rfc3339).unwrap_or_else(|| "-".into());
    format!(
        "{}  {}  {}  {:?}  created={}  superseded={}  retirable_at={}",
        k.kid,
        k.purpose,
        k.alg,
        k.state,
        when(Some(k.created_at)),
        when(k.superseded_at),
        when(k.retirable_at),
    )
}

fn rows(keys: &[KeyInfo]) -> Value {
    serde_json::to_value(keys).unwrap_or(Value::Null)
}

pub fn execute(op: KeysOp, ctx: &AdminContext<'_>) -> Result<Output, AdminError> {
    match op {
        KeysOp::List => {
            let keys = server_keys::list_keys(ctx.store, ctx.now)?;
            let text = if keys.is_empty() {
                "no server keys yet (`udap-server serve` creates them)".to_string()
            } else {
                keys.iter().map(line).collect::<Vec<_>>().join("\n")
            };
            Ok(Output::new(rows(&keys), text))
        }
        KeysOp::Rotate { alg, purpose } => {
            let kek = crate::kek::configured().map_err(|e| AdminError::Invalid(e.to_string()))?;
            let purposes = match purpose {
                Some(p) => vec![p],
                None => vec![KeyPurpose::Access, KeyPurpose::IdToken],
            };
            let mut created = Vec::new();
            for p in purposes {
                // --alg names the access-token key's algorithm; id_tokens stay RS256.
                let alg = if p == KeyPurpose::Access {
                    alg.as_deref()
                } else {
                    None
                };
                created.push(server_keys::rotate(ctx.store, kek, p, alg, ctx.now)?);
            }
            let text = created
                .iter()
                .map(|k| {
                    format!(
                        "new active {} key {} ({}); the previous one still verifies until retired",
                        k.purpose, k.kid, k.alg
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            Ok(Output::new(json!({"rotated": rows(&created)}), text))
        }
        KeysOp::Retire { kid } => {
            let k = server_keys::retire(ctx.store, &kid, ctx.now)?;
            Ok(Output::new(
                serde_json::to_value(&k).unwrap_or(Value::Null),
                format!("key {kid} retired: no longer published or accepted"),
            ))
        }
    }
}
