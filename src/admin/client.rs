//! Clients: register SMART apps, backend services and resource servers by hand, and manage every
//! client (list, show, disable, enable, remove, intended use).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::oauth::client_auth::hash_secret;
use crate::oauth::client_metadata::{
    GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN,
};
use crate::oauth::random_token;
use crate::store::{ClientOrigin, ClientRecord, ClientStatus, IntendedUse};

use super::{AdminContext, AdminError, Output};

/// The token endpoint authentication methods `client add` offers.
pub const AUTH_METHODS: [&str; 3] = ["none", "client_secret_basic", "private_key_jwt"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientOp {
    Add {
        name: String,
        /// `token_endpoint_auth_method`: one of [`AUTH_METHODS`].
        auth: String,
        redirect_uris: Vec<String>,
        /// An inline JWK Set (private_key_jwt).
        jwks: Option<Value>,
        jwks_uri: Option<String>,
        grant_types: Vec<String>,
        scope: String,
        intended_users: Vec<String>,
        intended_purposes: Vec<String>,
    },
    List {
        missing_intended_use: bool,
    },
    Show {
        client_id: String,
    },
    Disable {
        client_id: String,
    },
    Enable {
        client_id: String,
    },
    Remove {
        client_id: String,
    },
    SetIntendedUse {
        client_id: String,
        users: Vec<String>,
        purposes: Vec<String>,
    },
}

impl ClientOp {
    pub fn command(&self) -> &'static str {
        match self {
            ClientOp::Add { .. } => "add",
            ClientOp::List { .. } => "list",
            ClientOp::Show { .. } => "show",
            ClientOp::Disable { .. } => "disable",
            ClientOp::Enable { .. } => "enable",
            ClientOp::Remove { .. } => "remove",
            ClientOp::SetIntendedUse { .. } => "set-intended-use",
        }
    }

    pub fn is_change(&self) -> bool {
        !matches!(self, ClientOp::List { .. } | ClientOp::Show { .. })
    }

    pub fn entity(&self) -> Option<String> {
        match self {
            ClientOp::Add { .. } | ClientOp::List { .. } => None,
            ClientOp::Show { client_id }
            | ClientOp::Disable { client_id }
            | ClientOp::Enable { client_id }
            | ClientOp::Remove { client_id }
            | ClientOp::SetIntendedUse { client_id, .. } => Some(client_id.clone()),
        }
    }
}

fn check_vocabulary(values: &[String], allowed: &[String], what: &str) -> Result<(), AdminError> {
    match values.iter().find(|v| !allowed.contains(v)) {
        Some(v) => Err(AdminError::invalid(format!(
            "{what} `{v}` is not one of: {}",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

fn summary(c: &ClientRecord) -> Value {
    json!({
        "client_id": c.client_id,
        "name": c.metadata.client_name,
        "status": c.status,
        "origin": c.origin,
        "auth": c.metadata.token_endpoint_auth_method,
        "community": c.community,
        "san_uri": c.san_uri,
        "grant_types": c.metadata.grant_types,
        "scope": c.metadata.scope,
        "certificate_not_after": c.certificate_not_after.and_then(super::rfc3339),
        "intended_users": c.intended_use.users,
        "intended_purposes": c.intended_use.purposes,
        "intended_use_complete": c.intended_use.is_complete(),
    })
}

fn human_line(c: &ClientRecord) -> String {
    let cert = c
        .certificate_not_after
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|t| t.format("%Y-%m-%d").to_string());
    format!(
        "{}  {:?}  {}  grants={}  community={}  san={}  cert-expires={}  intended-use={}",
        c.client_id,
        c.status,
        c.metadata.client_name,
        c.metadata.grant_types.join(","),
        c.community.as_deref().unwrap_or("-"),
        c.san_uri.as_deref().unwrap_or("-"),
        cert.as_deref().unwrap_or("-"),
        if c.intended_use.is_complete() {
            format!(
                "{}/{}",
                c.intended_use.users.join(","),
                c.intended_use.purposes.join(",")
            )
        } else {
            "MISSING".into()
        }
    )
}

fn load(ctx: &AdminContext<'_>, client_id: &str) -> Result<ClientRecord, AdminError> {
    ctx.store.clients().get(client_id)?.ok_or_else(|| {
        AdminError::not_found(format!(
            "no client {client_id}; see `udap-server client list`"
        ))
    })
}

/// The checks of `client add`, in the order an administrator fixes them.
fn check_new_client(op: &ClientOp, ctx: &AdminContext<'_>) -> Result<(), AdminError> {
    let ClientOp::Add {
        auth,
        redirect_uris,
        jwks,
        jwks_uri,
        grant_types,
        scope,
        intended_users,
        intended_purposes,
        ..
    } = op
    else {
        return Ok(());
    };
    if !AUTH_METHODS.contains(&auth.as_str()) {
        return Err(AdminError::invalid(format!(
            "auth `{auth}` is not one of: {}",
            AUTH_METHODS.join(", ")
        )));
    }
    for g in grant_types {
        if ![
            GRANT_AUTHORIZATION_CODE,
            GRANT_CLIENT_CREDENTIALS,
            GRANT_REFRESH_TOKEN,
        ]
        .contains(&g.as_str())
        {
            return Err(AdminError::invalid(format!("grant type `{g}` is not supported (authorization_code, refresh_token, client_credentials)")));
        }
    }
    let code = grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE);
    if code && redirect_uris.is_empty() {
        return Err(AdminError::invalid(
            "authorization_code needs at least one --redirect-uri",
        ));
    }
    if let Some(uri) = redirect_uris.iter().find(|u| url::Url::parse(u).is_err()) {
        return Err(AdminError::invalid(format!(
            "--redirect-uri {uri} is not an absolute URI"
        )));
    }
    if auth == "none" && grant_types.iter().any(|g| g == GRANT_CLIENT_CREDENTIALS) {
        return Err(AdminError::invalid(
            "a public client (--auth none) cannot use client_credentials",
        ));
    }
    // Issue 8 item 1: administrative scopes need a client that proves who it is.
    let (_, admin) = crate::oauth::admin_scopes::strip_admin_scopes(scope);
    if !admin.is_empty()
        && !crate::oauth::admin_scopes::may_register_admin_scopes(ClientOrigin::Admin, auth)
    {
        return Err(AdminError::invalid(format!("the administrative scope(s) {} need a confidential client: use --auth client_secret_basic or --auth private_key_jwt", admin.join(" "))));
    }
    if let Some(set) = jwks {
        let keys = set
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| AdminError::invalid("the JWK Set (--jwks) has no \"keys\" array"))?;
        for k in keys {
            crate::jose::VerifyingKey::from_jwk(k).map_err(|e| {
                AdminError::invalid(format!("a key of the JWK Set (--jwks) cannot be used: {e}"))
            })?;
        }
    }
    if auth == "private_key_jwt" && jwks.is_none() && jwks_uri.is_none() {
        return Err(AdminError::invalid(
            "private_key_jwt needs --jwks FILE or --jwks-uri URL",
        ));
    }
    if let Some(u) = jwks_uri.as_ref().filter(|u| url::Url::parse(u).is_err()) {
        return Err(AdminError::invalid(format!(
            "--jwks-uri {u} is not an absolute URL"
        )));
    }
    check_vocabulary(intended_users, &ctx.vocabulary.users, "intended user")?;
    check_vocabulary(
        intended_purposes,
        &ctx.vocabulary.purposes,
        "intended purpose",
    )
}

pub fn execute(op: ClientOp, ctx: &AdminContext<'_>) -> Result<Output, AdminError> {
    let now = ctx.now;
    check_new_client(&op, ctx)?;
    match op {
        ClientOp::Add {
            name,
            auth,
            redirect_uris,
            jwks,
            jwks_uri,
            grant_types,
            scope,
            intended_users,
            intended_purposes,
        } => {
            let code = grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE);
            let secret = (auth == "client_secret_basic").then(|| random_token(32));
            let grants: Vec<&str> = grant_types.iter().map(String::as_str).collect();
            let mut client = ClientRecord::admin(
                &crate::oauth::registration::new_client_id(),
                &name,
                &auth,
                &grants,
                &scope,
                now,
            );
            client.metadata.response_types = if code { vec!["code".into()] } else { vec![] };
            client.metadata.redirect_uris = redirect_uris;
            client.intended_use = IntendedUse {
                users: intended_users,
                purposes: intended_purposes,
            };
            client.jwks = jwks;
            client.jwks_uri = jwks_uri;
            client.secret_hash = secret.as_deref().map(hash_secret);
            ctx.store.clients().put(&client)?;
            let mut out = summary(&client);
            let mut text = format!("client_id: {}", client.client_id);
            if let Some(s) = &secret {
                out["client_secret"] = json!(s);
                text.push_str(&format!(
                    "\nclient_secret: {s}\n(shown once; only its hash is stored)"
                ));
            }
            if !client.intended_use.is_complete() {
                text.push_str("\nnote: no intended users/purposes declared (HTI1-2); set them with `client set-intended-use`");
            }
            Ok(Output::new(out, text))
        }
        ClientOp::List {
            missing_intended_use,
        } => {
            let clients: Vec<ClientRecord> = ctx
                .store
                .clients()
                .list()?
                .into_iter()
                .filter(|c| !missing_intended_use || !c.intended_use.is_complete())
                .collect();
            let text = if clients.is_empty() {
                "no clients".to_string()
            } else {
                let missing = clients
                    .iter()
                    .filter(|c| !c.intended_use.is_complete())
                    .count();
                let mut lines: Vec<String> = clients.iter().map(human_line).collect();
                if missing > 0 {
                    lines.push(format!("{missing} client(s) have not declared intended users and purposes (HTI1-2)"));
                }
                lines.join("\n")
            };
            Ok(Output::new(
                Value::Array(clients.iter().map(summary).collect()),
                text,
            ))
        }
        ClientOp::Show { client_id } => {
            let c = load(ctx, &client_id)?;
            let mut v = summary(&c);
            v["metadata"] = serde_json::to_value(&c.metadata).map_err(anyhow::Error::from)?;
            v["jwks_uri"] = json!(c.jwks_uri);
            v["has_inline_jwks"] = json!(c.jwks.is_some());
            v["created_at"] = json!(c.created_at);
            v["updated_at"] = json!(c.updated_at);
            Ok(Output::pretty(v))
        }
        ClientOp::Disable { client_id } => set_status(ctx, &client_id, ClientStatus::Disabled),
        ClientOp::Enable { client_id } => set_status(ctx, &client_id, ClientStatus::Active),
        ClientOp::Remove { client_id } => {
            if !ctx.store.clients().remove(&client_id)? {
                load(ctx, &client_id)?;
            }
            Ok(Output::new(
                json!({"removed": client_id}),
                format!("client {client_id} removed"),
            ))
        }
        ClientOp::SetIntendedUse {
            client_id,
            users,
            purposes,
        } => {
            check_vocabulary(&users, &ctx.vocabulary.users, "intended user")?;
            check_vocabulary(&purposes, &ctx.vocabulary.purposes, "intended purpose")?;
            let mut c = load(ctx, &client_id)?;
            c.intended_use = IntendedUse { users, purposes };
            c.updated_at = now;
            ctx.store.clients().put(&c)?;
            Ok(Output::new(
                summary(&c),
                format!("client {client_id}: intended use recorded"),
            ))
        }
    }
}

fn set_status(
    ctx: &AdminContext<'_>,
    client_id: &str,
    status: ClientStatus,
) -> Result<Output, AdminError> {
    let mut c = load(ctx, client_id)?;
    if c.status == ClientStatus::Cancelled && status == ClientStatus::Active {
        return Err(AdminError::conflict(format!(
            "client {client_id} cancelled its own registration; it must register again"
        )));
    }
    c.status = status;
    c.updated_at = ctx.now;
    ctx.store.clients().put(&c)?;
    Ok(Output::new(
        summary(&c),
        format!("client {client_id} is now {status:?}"),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn client_ids_never_start_like_an_option() {
        // 2,000 ids: with the plain base64url alphabet about 62 of them would start with - or _.
        for _ in 0..2000 {
            let id = crate::oauth::registration::new_client_id();
            assert_eq!(id.len(), 22, "{id}");
            assert!(id.starts_with(|c: char| c.is_ascii_alphanumeric()), "{id}");
        }
    }
}
