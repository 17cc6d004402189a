//! `udap-server client ...`: register clients by hand (SMART apps, backend services, resource
//! servers) and manage every client: list, show, disable, enable, remove, set intended use.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use serde_json::Value;

use crate::admin::client::ClientOp;
use crate::admin::AdminOp;
use crate::oauth::client_metadata::IntendedUseVocabulary;

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

/// The HTI1-2 vocabularies, as configured for `serve` (same variables and flags). Used when the
/// command opens the store itself; a running server checks against its own.
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

fn read_jwks(path: &std::path::Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

pub fn run(cmd: ClientCommand, target: &super::StoreTarget, json_out: bool) -> anyhow::Result<()> {
    let (op, vocabulary) = match cmd {
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
        } => (
            ClientOp::Add {
                name,
                auth: auth.as_str().to_string(),
                redirect_uris,
                jwks: jwks.as_deref().map(read_jwks).transpose()?,
                jwks_uri,
                grant_types,
                scope,
                intended_users,
                intended_purposes,
            },
            Some(vocabulary.resolve()?),
        ),
        ClientCommand::List {
            missing_intended_use,
        } => (
            ClientOp::List {
                missing_intended_use,
            },
            None,
        ),
        ClientCommand::Show { client_id } => (ClientOp::Show { client_id }, None),
        ClientCommand::Disable { client_id } => (ClientOp::Disable { client_id }, None),
        ClientCommand::Enable { client_id } => (ClientOp::Enable { client_id }, None),
        ClientCommand::Remove { client_id } => (ClientOp::Remove { client_id }, None),
        ClientCommand::SetIntendedUse {
            client_id,
            users,
            purposes,
            vocabulary,
        } => (
            ClientOp::SetIntendedUse {
                client_id,
                users,
                purposes,
            },
            Some(vocabulary.resolve()?),
        ),
    };
    super::run_op(AdminOp::Client(op), target, json_out, vocabulary)
}
