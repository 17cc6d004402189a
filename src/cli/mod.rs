//! The `udap-server` command line: `serve` and the administrator commands.
//!
//! Each command is a thin call into the library modules; output is human-readable by default and a
//! JSON document with `--json`, for scripts.

pub mod admin;
pub mod audit;
pub mod ca;
pub mod client;
pub mod community;
pub mod grant;
pub mod keys;
pub mod launch;
pub mod migrate;
pub mod serve;
pub mod user;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::LogFormat;

const ABOUT: &str = "UDAP trust-community authorization server with SMART App Launch v2";

const LONG_ABOUT: &str = "\
udap-server is the authorization server of a UDAP trust community: clients prove who they are with \
X.509 certificates issued under the community's trust anchors, register with signed software \
statements, and receive OAuth 2.0 access tokens.

Quick start (development): `udap-server serve` creates a development community in the data \
directory and serves plain HTTP on 127.0.0.1:8080.

Administrator commands work the same whether the server runs or not. While `serve` runs on the \
data directory, they go through its admin API (the address in <data-dir>/admin.json, the token in \
<data-dir>/admin-token); `--server URL` with UDAP_ADMIN_TOKEN reaches another server. Otherwise \
they open the store themselves (the embedded file, or PostgreSQL with --database-url).";

/// Top-level options and the command to run.
#[derive(Debug, Parser)]
#[command(name = "udap-server", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    /// Directory holding the database (udap.redb) and generated certificates.
    #[arg(
        long,
        env = "UDAP_DATA_DIR",
        default_value = "./udap-data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Print machine-readable JSON instead of human-readable text (admin commands).
    #[arg(long, global = true)]
    pub json: bool,

    /// Log line format.
    #[arg(long, env = "UDAP_LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<LogFormat>,

    /// PostgreSQL database shared by several instances, e.g.
    /// postgres://udap:PASSWORD@db.example.org:5432/udap (config: [store] url). Without it, the
    /// embedded database in the data directory. Used by `serve` and every admin command.
    #[arg(long, env = "UDAP_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// Most PostgreSQL connections per instance [default: 16] (config: [store] pool_size).
    #[arg(long, env = "UDAP_DATABASE_POOL_SIZE", global = true)]
    pub database_pool_size: Option<usize>,

    /// Admin API of a running server, e.g. http://127.0.0.1:8081 (admin commands); the token comes
    /// from UDAP_ADMIN_TOKEN. Without it, a server running on --data-dir is found through
    /// <data-dir>/admin.json.
    #[arg(long, env = "UDAP_SERVER", global = true)]
    pub server: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the authorization server.
    Serve(serve::ServeArgs),
    /// Manage trust communities (anchors, intermediates, CRLs, the server's signing certificate).
    #[command(subcommand)]
    Community(community::CommunityCommand),
    /// Manage clients: add SMART/backend/resource-server clients by hand; list, show, disable,
    /// enable, remove; record intended users and purposes (HTI1-2).
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Manage local users who log in to authorize apps (add with a password from stdin, list,
    /// remove, set-password).
    #[command(subcommand)]
    User(user::UserCommand),
    /// EHR launch contexts (SMART EHR launch).
    #[command(subcommand)]
    Launch(launch::LaunchCommand),
    /// Users' grants to apps: list and revoke (HTI1-4).
    #[command(subcommand)]
    Grant(grant::GrantCommand),
    /// A small certificate authority for test and development communities (root, intermediate,
    /// client and server certificates, revocation, CRLs).
    #[command(subcommand)]
    Ca(ca::CaCommand),
    /// The server's token-signing keys: list, rotate (new tokens signed with a new key), retire.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// The audit trail of security events: list, export as NDJSON.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Tokens for the admin API of a running server: create, list, revoke.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Create or upgrade the database schema (PostgreSQL with --database-url, else the embedded
    /// file), then exit. `serve` also does this at start.
    Migrate,
}

/// Where the admin commands (and `serve`) find the store: the global options over the `[store]`
/// table of the configuration file named by `UDAP_CONFIG` (admin commands) or `--config` (serve).
#[derive(Debug, Clone)]
pub struct StoreTarget {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub pool_size: Option<usize>,
    /// `--server`: the admin API to use instead of the store.
    pub server: Option<String>,
}

impl StoreTarget {
    /// The location, reading `[store]` from `UDAP_CONFIG` when that names a file.
    pub fn location(&self) -> anyhow::Result<crate::store::StoreLocation> {
        let file = match std::env::var_os("UDAP_CONFIG") {
            Some(path) if !path.is_empty() => {
                crate::config::FileConfig::load(std::path::Path::new(&path))?
            }
            _ => crate::config::FileConfig::default(),
        };
        Ok(crate::config::store_location(
            &self.data_dir,
            &file.store,
            self.database_url.as_deref(),
            self.pool_size,
        )?)
    }

    /// Opens (or connects to) the store.
    pub fn open(&self) -> anyhow::Result<crate::store::Store> {
        Ok(crate::store::Store::open_at(&self.location()?)?)
    }
}

/// Sets up logging: `UDAP_LOG` (or `RUST_LOG`) filters, e.g. `UDAP_LOG=udap_server=debug`.
pub fn init_tracing(format: LogFormat, default_level: &str) {
    let filter = std::env::var("UDAP_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default_level.to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    // Colours only on a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder
            .fmt_fields(crate::logging::escaped_fields())
            .try_init(),
    };
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let target = StoreTarget {
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        pool_size: cli.database_pool_size,
        server: cli.server.clone(),
    };
    let command = match cli.command {
        Command::Serve(args) => return serve::run(args, target, cli.log_format),
        other => other,
    };
    init_tracing(cli.log_format.unwrap_or_default(), "warn");
    let (dir, json) = (&target, cli.json);
    match command {
        Command::Serve(_) => Ok(()),
        Command::Community(cmd) => community::run(cmd, dir, json),
        Command::Client(cmd) => client::run(cmd, dir, json),
        Command::User(cmd) => user::run(cmd, dir, json),
        Command::Launch(cmd) => launch::run(cmd, dir, json),
        Command::Grant(cmd) => grant::run(cmd, dir, json),
        Command::Admin(cmd) => admin::run(cmd, dir, json),
        Command::Keys(cmd) => keys::run(cmd, dir, json),
        Command::Audit(cmd) => audit::run(cmd, dir, json),
        Command::Ca(cmd) => ca::run(cmd, json),
        Command::Migrate => migrate::run(dir, json),
    }
}

/// Runs one admin op where it belongs and prints its output: through the admin API of the server
/// that runs on this data directory (or `--server`), else on the store directly. `vocabulary` is
/// used only on the store path; a server checks with its own.
pub fn run_op(
    op: crate::admin::AdminOp,
    target: &StoreTarget,
    json: bool,
    vocabulary: Option<crate::oauth::client_metadata::IntendedUseVocabulary>,
) -> anyhow::Result<()> {
    let output = perform(op, target, vocabulary)?;
    print_output(&output, json)
}

/// [`run_op`] for ops whose output is text whatever `--json` says (NDJSON exports).
pub fn run_op_text(op: crate::admin::AdminOp, target: &StoreTarget) -> anyhow::Result<()> {
    let output = perform(op, target, None)?;
    print_output(&output, false)
}

fn print_output(output: &crate::admin::Output, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&output.json)?);
    } else {
        println!("{}", output.text);
    }
    Ok(())
}

/// `UDAP_ADMIN_TOKEN`, when set.
fn env_admin_token() -> Option<String> {
    std::env::var("UDAP_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
}

/// The token for the server on this data directory: `UDAP_ADMIN_TOKEN`, else the token file.
fn admin_token_for(target: &StoreTarget) -> Option<String> {
    env_admin_token().or_else(|| {
        std::fs::read_to_string(crate::admin::tokens::token_file(&target.data_dir))
            .ok()
            .map(|t| t.trim().to_string())
    })
}

/// Where `perform` sends an op, and the op's output.
fn perform(
    op: crate::admin::AdminOp,
    target: &StoreTarget,
    vocabulary: Option<crate::oauth::client_metadata::IntendedUseVocabulary>,
) -> anyhow::Result<crate::admin::Output> {
    use crate::admin::remote::{self, RemoteError};
    if let Some(url) = &target.server {
        let token = env_admin_token().ok_or_else(|| {
            anyhow::anyhow!("--server needs an admin token in UDAP_ADMIN_TOKEN (create one with `udap-server admin token create NAME`)")
        })?;
        return Ok(remote::call(url, &token, &op)?);
    }
    if let Some(endpoint) = remote::read_endpoint(&target.data_dir) {
        let token = admin_token_for(target).unwrap_or_default();
        match remote::call(&endpoint.url, &token, &op) {
            // The server that wrote admin.json is gone: the store is ours.
            Err(RemoteError::Unreachable(_)) => {}
            other => return Ok(other?),
        }
    }
    let store = target.open()?;
    let vocabulary = match vocabulary {
        Some(v) => v,
        None => crate::oauth::client_metadata::IntendedUseVocabulary::with_overrides(None, None)
            .map_err(anyhow::Error::msg)?,
    };
    // Who made a change with the store opened directly: the operating-system account.
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let actor = format!("local:{user}");
    let ctx = crate::admin::AdminContext {
        store: &store,
        now: chrono::Utc::now().timestamp(),
        actor: &actor,
        vocabulary: &vocabulary,
    };
    let recorded = op.is_change().then(|| op.clone());
    let result = crate::admin::execute(op, &ctx);
    if let Some(op) = recorded {
        // Issue 10 item 5: changes made with the server stopped are in the trail too.
        let event = crate::admin::audit_event(ctx.actor, &op, result.as_ref().map(|_| ()));
        if let Err(e) = crate::audit::record_now(&store, &event) {
            eprintln!(
                "warning: the change was made, but its audit record could not be written: {e}"
            );
        }
    }
    result.map_err(|e| match e {
        // On the administrator's own machine the store's detail helps; the API hides it.
        crate::admin::AdminError::Internal(source) => source,
        other => anyhow::Error::new(other),
    })
}

/// Prints `value` as JSON, or the human text.
pub fn emit(
    json: bool,
    value: &serde_json::Value,
    human: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", human());
    }
    Ok(())
}
