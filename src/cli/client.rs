//! `udap-server client ...`: register clients by hand (SMART apps, backend services, resource
//! servers) and manage every client: list, show, disable, enable, remove, set intended use.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use serde_json::{json, Value};

use crate::oauth::client_auth::hash_secret;
use crate::oauth::client_metadata::{
    IntendedUseVocabulary, GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN,
};
use crate::oauth::random_token;
use crate::store::{ClientRecord, ClientStatus, IntendedUse, Store};

use super::emit;

/// How a client authenticates at the token endpoint: the OAuth registered names
/// (`token_endpoint_auth_method`), with the kebab-case spellings kept as aliases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthKind {
    /// Public client (SMART-47): no secret; authorization_code with PKCE only.
    #[value(name = "none")]
    None,
    /// HTTP Basic with a generated secret (SMART-48).
    #[value(name = "client_secret_basic", alias = "client-secret-basic")]
    ClientSecretBasic,
    /// A signed JWT verified with a registered JWK Set or JWKS URL (SMART-49).
    #[value(name = "private_key_jwt", alias = "private-key-jwt")]
    PrivateKeyJwt,
}

impl AuthKind {
    fn as_str(self) -> &'static str {
        match self {
            AuthKind::None => "none",
            AuthKind::ClientSecretBasic => "client_secret_basic",
            AuthKind::PrivateKeyJwt => "private_key_jwt",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client by hand (SMART app, backend service, or a resource server that introspects).
    ///
    /// Prints the client_id; for client_secret_basic also the generated secret, once: it is
    /// stored only as a hash.
    #[command(after_help = "\
Examples:
  # SMART backend service with a JWKS URL
  udap-server client add --name \"Nightly export\" --auth private_key_jwt \\
      --jwks-uri https://service.example/jwks.json --grant-types client_credentials --scope \"system/*.rs\"
  # A FHIR server that validates tokens by introspection
  udap-server client add --name \"FHIR API\" --auth client_secret_basic \\
      --grant-types client_credentials --scope udap-server/introspect")]
    Add {
        /// Human-readable name shown to users and administrators.
        #[arg(long)]
        name: String,
        /// How the client authenticates.
        #[arg(long, value_enum)]
        auth: AuthKind,
        /// Redirect URI for authorization_code (exact match); repeat for several.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Inline JWK Set file (private_key_jwt).
        #[arg(long, conflicts_with = "jwks_uri")]
        jwks: Option<PathBuf>,
        /// URL of the client's JWK Set (private_key_jwt).
        #[arg(long)]
        jwks_uri: Option<String>,
        /// Comma-separated grant types: authorization_code, refresh_token, client_credentials.
        #[arg(long, value_delimiter = ',', required = true)]
        grant_types: Vec<String>,
        /// Space-separated scopes the client may be granted.
        #[arg(long)]
        scope: String,
        /// Intended users (HTI1-2), comma-separated, e.g. patient,clinician.
        #[arg(long, value_delimiter = ',')]
        intended_users: Vec<String>,
        /// Intended purposes (HTI1-2), comma-separated, e.g. treatment,individual-access.
        #[arg(long, value_delimiter = ',')]
        intended_purposes: Vec<String>,
        #[command(flatten)]
        vocabulary: VocabularyArgs,
    },
    /// List clients: community, SAN URI, grant types, certificate expiry, intended use.
    List {
        /// Only clients that have not declared intended users and purposes (HTI1-2).
        #[arg(long)]
        missing_intended_use: bool,
    },
    /// Show one client in full.
    Show { client_id: String },
    /// Stop a client from getting tokens (its tokens stop introspecting as active).
    Disable { client_id: String },
    /// Allow a disabled client again.
    Enable { client_id: String },
    /// Delete a client.
    Remove { client_id: String },
    /// Set a client's intended users and purposes (HTI1-2).
    SetIntendedUse {
        client_id: String,
        #[arg(long, value_delimiter = ',', required = true)]
        users: Vec<String>,
        #[arg(long, value_delimiter = ',', required = true)]
        purposes: Vec<String>,
        #[command(flatten)]
        vocabulary: VocabularyArgs,
    },
}

/// The HTI1-2 vocabularies, as configured for `serve` (same variables and flags).
#[derive(Debug, clap::Args)]
pub struct VocabularyArgs {
    /// Accepted intended users, comma-separated [default: the built-in list].
    #[arg(long, env = "UDAP_INTENDED_USERS_VOCABULARY", value_delimiter = ',')]
    intended_users_vocabulary: Option<Vec<String>>,
    /// Accepted intended purposes, comma-separated [default: the built-in list].
    #[arg(long, env = "UDAP_INTENDED_PURPOSES_VOCABULARY", value_delimiter = ',')]
    intended_purposes_vocabulary: Option<Vec<String>>,
}

impl VocabularyArgs {
    fn resolve(self) -> anyhow::Result<IntendedUseVocabulary> {
        IntendedUseVocabulary::with_overrides(
            self.intended_users_vocabulary,
            self.intended_purposes_vocabulary,
        )
        .map_err(anyhow::Error::msg)
    }
}

fn check_vocabulary(values: &[String], allowed: &[String], what: &str) -> anyhow::Result<()> {
    if let Some(v) = values.iter().find(|v| !allowed.contains(v)) {
        bail!("{what} `{v}` is not one of: {}", allowed.join(", "));
    }
    Ok(())
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
        "certificate_not_after": c.certificate_not_after.and_then(|t| chrono::DateTime::from_timestamp(t, 0)).map(|t| t.to_rfc3339()),
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

fn load(store: &Store, client_id: &str) -> anyhow::Result<ClientRecord> {
    store
        .clients()
        .get(client_id)?
        .with_context(|| format!("no client {client_id}; see `udap-server client list`"))
}

pub fn run(cmd: ClientCommand, target: &super::StoreTarget, json_out: bool) -> anyhow::Result<()> {
    let store = target.open()?;
    let now = chrono::Utc::now().timestamp();
    match cmd {
        ClientCommand::Add {
            name,
            auth,
            redirect_uris,
            jwks,
            jwks_uri,
            grant_types,
            scope,
            intended_users,
            intended_purposes,
            vocabulary,
        } => {
            let vocab = vocabulary.resolve()?;
            for g in &grant_types {
                if ![
                    GRANT_AUTHORIZATION_CODE,
                    GRANT_CLIENT_CREDENTIALS,
                    GRANT_REFRESH_TOKEN,
                ]
                .contains(&g.as_str())
                {
                    bail!("grant type `{g}` is not supported (authorization_code, refresh_token, client_credentials)");
                }
            }
            let code = grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE);
            if code && redirect_uris.is_empty() {
                bail!("authorization_code needs at least one --redirect-uri");
            }
            for uri in &redirect_uris {
                url::Url::parse(uri)
                    .with_context(|| format!("--redirect-uri {uri} is not an absolute URI"))?;
            }
            if auth == AuthKind::None && grant_types.iter().any(|g| g == GRANT_CLIENT_CREDENTIALS) {
                bail!("a public client (--auth none) cannot use client_credentials");
            }
            // Issue 8 item 1: administrative scopes need a client that proves who it is.
            let (_, admin) = crate::oauth::admin_scopes::strip_admin_scopes(&scope);
            if !admin.is_empty()
                && !crate::oauth::admin_scopes::may_register_admin_scopes(
                    crate::store::ClientOrigin::Admin,
                    auth.as_str(),
                )
            {
                bail!("the administrative scope(s) {} need a confidential client: use --auth client_secret_basic or --auth private_key_jwt", admin.join(" "));
            }
            let jwks_value = match &jwks {
                Some(path) => {
                    let v: Value = serde_json::from_str(
                        &std::fs::read_to_string(path)
                            .with_context(|| format!("cannot read {}", path.display()))?,
                    )
                    .with_context(|| format!("{} is not JSON", path.display()))?;
                    let keys = v.get("keys").and_then(Value::as_array).with_context(|| {
                        format!("{} is not a JWK Set (no \"keys\" array)", path.display())
                    })?;
                    for k in keys {
                        crate::jose::VerifyingKey::from_jwk(k)
                            .with_context(|| format!("{}: a key cannot be used", path.display()))?;
                    }
                    Some(v)
                }
                None => None,
            };
            if auth == AuthKind::PrivateKeyJwt && jwks_value.is_none() && jwks_uri.is_none() {
                bail!("private_key_jwt needs --jwks FILE or --jwks-uri URL");
            }
            if let Some(u) = &jwks_uri {
                url::Url::parse(u)
                    .with_context(|| format!("--jwks-uri {u} is not an absolute URL"))?;
            }
            check_vocabulary(&intended_users, &vocab.users, "intended user")?;
            check_vocabulary(&intended_purposes, &vocab.purposes, "intended purpose")?;
            let secret = (auth == AuthKind::ClientSecretBasic).then(|| random_token(32));
            let grants: Vec<&str> = grant_types.iter().map(String::as_str).collect();
            let mut client = ClientRecord::admin(
                &random_token(16),
                &name,
                auth.as_str(),
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
            client.jwks = jwks_value;
            client.jwks_uri = jwks_uri;
            client.secret_hash = secret.as_deref().map(hash_secret);
            store.clients().put(&client)?;
            let mut out = summary(&client);
            if let Some(s) = &secret {
                out["client_secret"] = json!(s);
            }
            emit(json_out, &out, || {
                let mut text = format!("client_id: {}", client.client_id);
                if let Some(s) = &secret {
                    text.push_str(&format!(
                        "\nclient_secret: {s}\n(shown once; only its hash is stored)"
                    ));
                }
                if !client.intended_use.is_complete() {
                    text.push_str("\nnote: no intended users/purposes declared (HTI1-2); set them with `client set-intended-use`");
                }
                text
            })
        }
        ClientCommand::List {
            missing_intended_use,
        } => {
            let clients: Vec<ClientRecord> = store
                .clients()
                .list()?
                .into_iter()
                .filter(|c| !missing_intended_use || !c.intended_use.is_complete())
                .collect();
            emit(
                json_out,
                &Value::Array(clients.iter().map(summary).collect()),
                || {
                    if clients.is_empty() {
                        return "no clients".into();
                    }
                    let missing = clients
                        .iter()
                        .filter(|c| !c.intended_use.is_complete())
                        .count();
                    let mut lines: Vec<String> = clients.iter().map(human_line).collect();
                    if missing > 0 {
                        lines.push(format!("{missing} client(s) have not declared intended users and purposes (HTI1-2)"));
                    }
                    lines.join("\n")
                },
            )
        }
        ClientCommand::Show { client_id } => {
            let c = load(&store, &client_id)?;
            let mut v = summary(&c);
            v["metadata"] = serde_json::to_value(&c.metadata)?;
            v["jwks_uri"] = json!(c.jwks_uri);
            v["has_inline_jwks"] = json!(c.jwks.is_some());
            v["created_at"] = json!(c.created_at);
            v["updated_at"] = json!(c.updated_at);
            emit(json_out, &v, || {
                serde_json::to_string_pretty(&v).unwrap_or_default()
            })
        }
        ClientCommand::Disable { client_id } => {
            set_status(&store, &client_id, ClientStatus::Disabled, now, json_out)
        }
        ClientCommand::Enable { client_id } => {
            set_status(&store, &client_id, ClientStatus::Active, now, json_out)
        }
        ClientCommand::Remove { client_id } => {
            if !store.clients().remove(&client_id)? {
                bail!("no client {client_id}; see `udap-server client list`");
            }
            emit(json_out, &json!({"removed": client_id}), || {
                format!("client {client_id} removed")
            })
        }
        ClientCommand::SetIntendedUse {
            client_id,
            users,
            purposes,
            vocabulary,
        } => {
            let vocab = vocabulary.resolve()?;
            check_vocabulary(&users, &vocab.users, "intended user")?;
            check_vocabulary(&purposes, &vocab.purposes, "intended purpose")?;
            let mut c = load(&store, &client_id)?;
            c.intended_use = IntendedUse { users, purposes };
            c.updated_at = now;
            store.clients().put(&c)?;
            emit(json_out, &summary(&c), || {
                format!("client {client_id}: intended use recorded")
            })
        }
    }
}

fn set_status(
    store: &Store,
    client_id: &str,
    status: ClientStatus,
    now: i64,
    json_out: bool,
) -> anyhow::Result<()> {
    let mut c = load(store, client_id)?;
    if c.status == ClientStatus::Cancelled && status == ClientStatus::Active {
        bail!("client {client_id} cancelled its own registration; it must register again");
    }
    c.status = status;
    c.updated_at = now;
    store.clients().put(&c)?;
    emit(json_out, &summary(&c), || {
        format!("client {client_id} is now {status:?}")
    })
}
