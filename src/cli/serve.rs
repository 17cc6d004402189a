//! `udap-server serve`: validate the configuration, open the store, make sure a community exists
//! (creating a development one when nothing is configured), and serve.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::community;
use crate::config::{FileConfig, LogFormat, Overrides, Settings};
use crate::fetch::Outbound;
use crate::http::{self, AppState};
use crate::pki::CrlFetcher;
use crate::store::Store;

/// Flags for `serve`; each also reads a `UDAP_*` variable and overrides the configuration file.
#[derive(Debug, Args)]
#[command(after_help = "\
Precedence: configuration file < UDAP_* environment variables < flags.

Examples:
  udap-server serve                                   # dev community, http://127.0.0.1:8080
  udap-server serve --listen 0.0.0.0:8443 --base-url https://as.example.org/fhir \\
      --tls-cert tls.pem --tls-key tls.key")]
pub struct ServeArgs {
    /// TOML configuration file (keys under [server]; see README "Configuration").
    #[arg(long, env = "UDAP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "UDAP_LISTEN")]
    pub listen: Option<String>,
    /// The FHIR base URL this server protects and its issuer; must equal a SAN URI of every
    /// community's signing certificate [default: http(s)://LISTEN].
    #[arg(long, env = "UDAP_BASE_URL")]
    pub base_url: Option<String>,
    /// TLS certificate chain (PEM). With --tls-key, serves HTTPS (TLS 1.2+ only).
    #[arg(long, env = "UDAP_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "UDAP_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// HTTP worker threads [default: number of cores].
    #[arg(long, env = "UDAP_WORKERS")]
    pub workers: Option<usize>,
    /// Access-token lifetime in seconds, at most 3600 [default: 300].
    #[arg(long, env = "UDAP_ACCESS_TOKEN_LIFETIME_SECS")]
    pub access_token_lifetime_secs: Option<u64>,
    /// JWT signature algorithms accepted from clients, comma-separated [default: RS256,RS384,ES256,ES384].
    #[arg(long, env = "UDAP_ALLOWED_ALGS", value_delimiter = ',')]
    pub allowed_algs: Option<Vec<String>>,
    /// Algorithm for access tokens we sign: RS256 or ES256 [default: RS256].
    #[arg(long, env = "UDAP_TOKEN_SIGNING_ALG")]
    pub token_signing_alg: Option<String>,
    /// HTI1-2: from this date (YYYY-MM-DD, UTC) apps without intended users and purposes get no tokens.
    #[arg(long, env = "UDAP_INTENDED_USE_ENFORCEMENT_DATE")]
    pub intended_use_enforcement_date: Option<String>,
    /// EHR origins allowed to frame the login and consent pages, comma-separated [default: none].
    #[arg(long, env = "UDAP_FRAME_ANCESTORS", value_delimiter = ',')]
    pub frame_ancestors: Option<Vec<String>>,
    /// HTI1-2: accepted intended users, comma-separated [default: patient,caregiver,clinician,...].
    #[arg(long, env = "UDAP_INTENDED_USERS_VOCABULARY", value_delimiter = ',')]
    pub intended_users_vocabulary: Option<Vec<String>>,
    /// HTI1-2: accepted intended purposes, comma-separated [default: individual-access,treatment,...].
    #[arg(long, env = "UDAP_INTENDED_PURPOSES_VOCABULARY", value_delimiter = ',')]
    pub intended_purposes_vocabulary: Option<Vec<String>>,
    /// Log one line per request: method, path (never the query), status, milliseconds [default: false].
    #[arg(long, env = "UDAP_ACCESS_LOG")]
    pub access_log: Option<bool>,
    /// Let CRL and JWKS fetches reach loopback and private networks (10/8, 192.168/16, ...) [default: false].
    #[arg(long, env = "UDAP_OUTBOUND_ALLOW_PRIVATE_NETWORKS", num_args = 0..=1, default_missing_value = "true")]
    pub outbound_allow_private_networks: Option<bool>,
    /// Password checks run at once; more attempts get 429 at once [default: cores, at most 4].
    #[arg(long, env = "UDAP_LOGIN_MAX_CONCURRENT_HASHES")]
    pub login_max_concurrent_hashes: Option<usize>,
    /// Failed logins per username (four times as many per address) before a lockout [default: 5].
    #[arg(long, env = "UDAP_LOGIN_LOCKOUT_AFTER")]
    pub login_lockout_after: Option<u32>,
    /// First lockout in seconds, doubled per further failure [default: 1].
    #[arg(long, env = "UDAP_LOGIN_LOCKOUT_BASE_SECS")]
    pub login_lockout_base_secs: Option<i64>,
    /// Longest lockout in seconds [default: 900].
    #[arg(long, env = "UDAP_LOGIN_LOCKOUT_MAX_SECS")]
    pub login_lockout_max_secs: Option<i64>,
    /// Admin API address, or `off` [default: 127.0.0.1:<--listen port + 1>]. Admin commands on this
    /// data directory use it while the server runs; off loopback it needs --tls-cert.
    #[arg(long, env = "UDAP_ADMIN_LISTEN")]
    pub admin_listen: Option<String>,
    /// CA certificate(s) (PEM): the admin API then also requires a TLS client certificate issued
    /// under them (mutual TLS; needs --tls-cert). The CLI presents one with UDAP_ADMIN_CLIENT_CERT
    /// and UDAP_ADMIN_CLIENT_KEY.
    #[arg(long, env = "UDAP_ADMIN_CLIENT_CA")]
    pub admin_client_ca: Option<PathBuf>,
    /// Issue 10 item 3: seconds between checks of CRL files (`community ... --crl FILE`) for
    /// changes; a changed, valid file is served without a restart. 0 turns it off [default: 10].
    #[arg(long, env = "UDAP_CRL_FILE_POLL_SECS")]
    pub crl_file_poll_secs: Option<u64>,
    /// Record security events in the audit trail; `--audit false` only to measure its cost [default: true].
    #[arg(long, env = "UDAP_AUDIT", num_args = 0..=1, default_missing_value = "true")]
    pub audit: Option<bool>,
}

impl ServeArgs {
    fn overrides(&self, log_format: Option<LogFormat>) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            base_url: self.base_url.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            workers: self.workers,
            access_token_lifetime_secs: self.access_token_lifetime_secs,
            allowed_algs: self.allowed_algs.clone(),
            log_format,
            token_signing_alg: self.token_signing_alg.clone(),
            intended_use_enforcement_date: self.intended_use_enforcement_date.clone(),
            frame_ancestors: self.frame_ancestors.clone(),
            intended_users_vocabulary: self.intended_users_vocabulary.clone(),
            intended_purposes_vocabulary: self.intended_purposes_vocabulary.clone(),
            access_log: self.access_log,
            outbound_allow_private_networks: self.outbound_allow_private_networks,
            login_max_concurrent_hashes: self.login_max_concurrent_hashes,
            login_lockout_after: self.login_lockout_after,
            login_lockout_base_secs: self.login_lockout_base_secs,
            login_lockout_max_secs: self.login_lockout_max_secs,
            admin_listen: self.admin_listen.clone(),
            admin_client_ca: self.admin_client_ca.clone(),
            crl_file_poll_secs: self.crl_file_poll_secs,
            audit: self.audit,
        }
    }
}

/// How often cached distribution-point CRLs are checked for a due refresh (issue 8 item 4).
const CRL_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// Path of the embedded database inside the data directory.
pub fn store_path(data_dir: &std::path::Path) -> PathBuf {
    crate::store::embedded_path(data_dir)
}

/// Everything `serve` does before accepting connections; also used by tests to boot the real app.
pub fn prepare(settings: Settings) -> anyhow::Result<AppState> {
    let store = Store::open_at(&settings.store)?;
    let now = chrono::Utc::now().timestamp();
    if store.is_embedded() {
        crate::dev_community::ensure(&store, &settings, now)?;
    } else if store.communities().list()?.is_empty() {
        // No self-made trust in a shared database: the development community is for one machine.
        anyhow::bail!(
            "the PostgreSQL database has no trust community; add one first, e.g. \
             `udap-server --database-url URL community add --uri URI --anchor ROOT.pem --signing-cert SERVER.pem --signing-key SERVER.key` \
             (`udap-server community add --help`), then start the server again"
        );
    }
    let records = store.communities().list()?;
    // Issue 8 item 4: one outbound client (address policy, concurrency bound) for CRLs and JWK Sets.
    let outbound = Outbound::shared(settings.outbound_allow_private);
    let fetcher = Arc::new(CrlFetcher::with_outbound(outbound.clone()));
    fetcher.spawn_refresher(CRL_REFRESH_INTERVAL, || chrono::Utc::now().timestamp())?;
    let communities = community::LiveCommunities::build(&records, &settings.base_url, fetcher, now)
        .context(
            "a configured community cannot be served; fix it with `udap-server community ...`",
        )?;
    store.spawn_pruner(Duration::from_secs(60), || chrono::Utc::now().timestamp())?;
    let kek = crate::kek::configured()?;
    if let Some(k) = kek {
        tracing::info!(
            kek_id = k.id(),
            "private keys are sealed at rest with the configured key-encryption key"
        );
    }
    let tokens = crate::server_keys::token_issuer(&store, &settings, kek, now)?;
    // Issue 10 item 4: key rotations made by an admin command or another instance are served
    // without a restart.
    let key_poller = crate::server_keys::KeyPoller::spawn(
        tokens.live_keys(),
        store.clone(),
        kek,
        crate::server_keys::KEY_POLL_INTERVAL,
        || chrono::Utc::now().timestamp(),
    )?;
    let tokens = tokens.with_key_poller(key_poller);
    let communities = Arc::new(communities);
    // Issue 9 item 4: changes to the stored communities (another instance, an admin command)
    // are picked up without a restart.
    let poller = community::CommunityPoller::spawn(
        communities.clone(),
        store.clone(),
        community::COMMUNITY_POLL_INTERVAL,
        || chrono::Utc::now().timestamp(),
    )?;
    // Issue 10 item 3: CRL files given by path are re-read when they change.
    let crl_files = match settings.crl_file_poll_secs {
        0 => None,
        secs => Some(community::CrlFileWatcher::spawn(
            store.clone(),
            Duration::from_secs(secs),
            || chrono::Utc::now().timestamp(),
        )?),
    };
    Ok(AppState::new(settings, store, communities, tokens)?
        .with_outbound(outbound)
        .with_community_poller(poller)
        .with_crl_file_watcher(crl_files))
}

pub fn run(
    args: ServeArgs,
    target: crate::cli::StoreTarget,
    log_format: Option<LogFormat>,
) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let store = crate::config::store_location(
        &target.data_dir,
        &file.store,
        target.database_url.as_deref(),
        target.pool_size,
    )?;
    let mut settings = Settings::resolve(target.data_dir, file, args.overrides(log_format))?;
    settings.store = store;
    crate::cli::init_tracing(settings.log_format, "info,actix_server=warn");
    let listener = TcpListener::bind(settings.listen).with_context(|| {
        format!(
            "cannot listen on {} (in use, or not an address of this host?)",
            settings.listen
        )
    })?;
    let admin_listener = match settings.admin_listen {
        Some(addr) => Some(TcpListener::bind(addr).with_context(|| {
            format!("cannot listen on {addr} for the admin API (in use? choose another with --admin-listen ADDR, or --admin-listen off)")
        })?),
        None => None,
    };
    let state = prepare(settings)?;
    let (base_url, n) = (
        state.settings.base_url.clone(),
        state.communities.current().len(),
    );
    let data_dir = state.settings.data_dir.clone();
    let scheme = if state.settings.tls.is_some() {
        "https"
    } else {
        "http"
    };
    if admin_listener.is_some() {
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        if crate::admin::tokens::ensure_local_token(
            &state.store,
            &data_dir,
            chrono::Utc::now().timestamp(),
        )? {
            tracing::info!(file = %crate::admin::tokens::token_file(&data_dir).display(), "admin token written");
        }
    }
    // Written before serving: the listener is bound already, so a command that reads the file at
    // once is queued, not refused.
    let endpoint_file = crate::admin::remote::endpoint_file(&data_dir);
    if let Some(admin) = admin_listener
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()?
    {
        let endpoint = crate::admin::remote::Endpoint {
            url: format!("{scheme}://{admin}"),
            pid: std::process::id(),
        };
        crate::admin::tokens::write_private(
            &endpoint_file,
            serde_json::to_string_pretty(&endpoint)?.as_bytes(),
        )?;
        tracing::info!(addr = %admin, "admin API listening");
    }
    let server = http::start_with_admin(state, listener, admin_listener)?;
    tracing::info!(addr = %server.addr, %base_url, communities = n, "udap-server listening");
    let result = server.wait();
    // Only when `admin.json` still names this process (another server may have replaced it).
    if crate::admin::remote::read_endpoint(&data_dir).is_some_and(|e| e.pid == std::process::id()) {
        let _ = std::fs::remove_file(&endpoint_file);
    }
    result?;
    tracing::info!("udap-server stopped");
    Ok(())
}
