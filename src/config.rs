//! Server settings: TOML file < `UDAP_*` environment < command-line flags, validated once at start-up.
//!
//! Every problem names the setting (file key, environment variable and flag) and says what to fix, so
//! an administrator never has to read code to start the server. Secrets (key paths are not secrets, key
//! contents are) never pass through here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

/// Longest access-token lifetime any setting may ask for (UDAP-53: at most 60 minutes).
pub const MAX_ACCESS_TOKEN_LIFETIME: u64 = 3600;

/// A setting that could not be accepted; the message names the key and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration file {path} is not valid TOML for udap-server: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("setting `{key}` is invalid: {problem}")]
    Invalid { key: &'static str, problem: String },
}

fn invalid(key: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        problem: problem.into(),
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The `[server]` table of the configuration file. Every field is optional there; flags and
/// environment variables override it.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileServer {
    pub listen: Option<String>,
    pub base_url: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub workers: Option<usize>,
    pub access_token_lifetime_secs: Option<u64>,
    pub allowed_algs: Option<Vec<String>>,
    pub log_format: Option<LogFormat>,
    pub token_signing_alg: Option<String>,
    pub intended_use_enforcement_date: Option<String>,
    pub frame_ancestors: Option<Vec<String>>,
    pub intended_users_vocabulary: Option<Vec<String>>,
    pub intended_purposes_vocabulary: Option<Vec<String>>,
    pub access_log: Option<bool>,
    /// Issue 8 item 4: outbound fetches (CRLs, JWK Sets) may reach loopback and private networks.
    pub outbound_allow_private_networks: Option<bool>,
    // Issue 8 item 3: login throttling (README "Security").
    pub login_max_concurrent_hashes: Option<usize>,
    pub login_lockout_after: Option<u32>,
    pub login_lockout_base_secs: Option<i64>,
    pub login_lockout_max_secs: Option<i64>,
    /// Issue 10: the admin API's address, or "off".
    pub admin_listen: Option<String>,
    /// Issue 10: CA certificate(s) (PEM) whose client certificates the admin API requires.
    pub admin_client_ca: Option<PathBuf>,
    /// Issue 10 item 3: seconds between checks of CRL files for changes; 0 disables.
    pub crl_file_poll_secs: Option<u64>,
    /// Issue 10 item 5: record the audit trail [default: true].
    pub audit: Option<bool>,
}

/// The configuration file as a whole.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: FileServer,
    /// Issue 9: where the store lives.
    #[serde(default)]
    pub store: FileStore,
}

/// Issue 9: the `[store]` table. Without `url`, the embedded redb file in the data directory.
#[derive(Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileStore {
    /// PostgreSQL connection URL (`--database-url`, `UDAP_DATABASE_URL` win over it).
    pub url: Option<String>,
    /// Most pooled connections per instance [default: 16].
    pub pool_size: Option<usize>,
    /// Seconds to wait for a connection [default: 10].
    pub connect_timeout_secs: Option<u64>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("FileStore")
            .field(
                "url",
                &self
                    .url
                    .as_ref()
                    .map(|u| crate::store::DatabaseUrl::new(u.as_str())),
            )
            .field("pool_size", &self.pool_size)
            .field("connect_timeout_secs", &self.connect_timeout_secs)
            .finish()
    }
}

/// Issue 9: the store location from the command line (`--database-url`, `--database-pool-size`,
/// and their `UDAP_*` variables) over the file's `[store]` table over the default (redb in
/// `data_dir`).
pub fn store_location(
    data_dir: &Path,
    file: &FileStore,
    url: Option<&str>,
    pool_size: Option<usize>,
) -> Result<crate::store::StoreLocation, ConfigError> {
    use crate::store::{DatabaseUrl, PgOptions, StoreLocation};
    let Some(url) = url.or(file.url.as_deref()).filter(|u| !u.trim().is_empty()) else {
        return Ok(StoreLocation::Embedded(crate::store::embedded_path(
            data_dir,
        )));
    };
    let mut opts = PgOptions::new(DatabaseUrl::new(url));
    if let Some(n) = pool_size.or(file.pool_size) {
        if n == 0 || n > 1024 {
            return Err(invalid(
                "store.pool_size (UDAP_DATABASE_POOL_SIZE, --database-pool-size)",
                "must be between 1 and 1024",
            ));
        }
        opts.pool_size = n;
    }
    if let Some(secs) = file.connect_timeout_secs {
        if secs == 0 {
            return Err(invalid("store.connect_timeout_secs", "must be at least 1"));
        }
        opts.connect_timeout = std::time::Duration::from_secs(secs);
    }
    Ok(StoreLocation::Postgres(opts))
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::ParseFile {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

/// Values that came from flags or `UDAP_*` variables (clap merges those two); `None` = not
/// given. The same shape as the file's `[server]` table, so both layers stay in step.
pub type Overrides = FileServer;

/// TLS material for the listener (HTI1-7: TLS 1.2 or newer only; enforced in `http::tls`).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Validated settings for `serve`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// The FHIR base URL and issuer, exactly as configured (UDAP-10: compared byte for byte).
    pub base_url: String,
    pub tls: Option<TlsFiles>,
    pub workers: usize,
    pub access_token_lifetime_secs: u64,
    pub allowed_algs: Vec<String>,
    pub log_format: LogFormat,
    /// Algorithm of the access-token signing key: RS256 (default) or ES256.
    pub token_signing_alg: String,
    /// HTI1-2: from this instant (unix seconds) clients without intended use get no tokens.
    pub intended_use_enforced_from: Option<i64>,
    /// Origins (EHRs) allowed to frame the login and consent pages; empty: none (anti-clickjacking).
    pub frame_ancestors: Vec<String>,
    /// HTI1-2: the values accepted for intended users and purposes.
    pub vocabulary: crate::oauth::client_metadata::IntendedUseVocabulary,
    /// One log line per request (method, path without query, status, milliseconds).
    pub access_log: bool,
    /// Issue 8 item 4: outbound fetches may connect to loopback, private, link-local, CGNAT and
    /// unique-local addresses (default: refused; the test harness allows them).
    pub outbound_allow_private: bool,
    /// Issue 8 item 3: the password-hashing cap and login backoff.
    pub login_throttle: crate::oauth::login_throttle::ThrottleSettings,
    /// Issue 9: the store: `[store]` of the file here; `serve` applies the command line over it.
    pub store: crate::store::StoreLocation,
    /// Issue 10: where the admin API listens; None when it is off.
    pub admin_listen: Option<SocketAddr>,
    /// Issue 10: with TLS, the admin API also requires a client certificate issued under these CAs.
    pub admin_client_ca: Option<PathBuf>,
    /// Issue 10 item 3: seconds between checks of the communities' CRL files (0: never re-read).
    pub crl_file_poll_secs: u64,
    /// Issue 10 item 5: record security events in the audit trail (off only to measure its cost).
    pub audit: bool,
}

/// Issue 10 item 3: the longest CRL-file poll interval accepted (a day).
const MAX_CRL_FILE_POLL_SECS: u64 = 86_400;

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_TOKEN_LIFETIME: u64 = 300;

impl Settings {
    /// Merges file < overrides and validates the result.
    pub fn resolve(data_dir: PathBuf, file: FileConfig, o: Overrides) -> Result<Self, ConfigError> {
        let store = store_location(&data_dir, &file.store, None, None)?;
        let f = file.server;
        let login_throttle = login_throttle(&o, &f)?;
        let listen_text = o
            .listen
            .or(f.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            invalid(
                "server.listen (UDAP_LISTEN, --listen)",
                format!("`{listen_text}` is not an address like 127.0.0.1:8080 or [::]:443"),
            )
        })?;
        let tls = match (o.tls_cert.or(f.tls_cert), o.tls_key.or(f.tls_key)) {
            (Some(cert), Some(key)) => {
                for (k, p) in [
                    ("server.tls_cert (UDAP_TLS_CERT, --tls-cert)", &cert),
                    ("server.tls_key (UDAP_TLS_KEY, --tls-key)", &key),
                ] {
                    if let Err(e) = std::fs::metadata(p) {
                        return Err(invalid(k, format!("cannot read {}: {e}", p.display())));
                    }
                }
                Some(TlsFiles { cert, key })
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    "server.tls_key (UDAP_TLS_KEY, --tls-key)",
                    "a TLS certificate was given without its private key",
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "server.tls_cert (UDAP_TLS_CERT, --tls-cert)",
                    "a TLS private key was given without its certificate",
                ))
            }
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base_url = o
            .base_url
            .or(f.base_url)
            .unwrap_or_else(|| format!("{scheme}://{listen}"));
        validate_base_url(&base_url)?;
        let workers = o.workers.or(f.workers).unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        });
        if workers == 0 || workers > 256 {
            return Err(invalid(
                "server.workers (UDAP_WORKERS, --workers)",
                "must be between 1 and 256",
            ));
        }
        let lifetime = o
            .access_token_lifetime_secs
            .or(f.access_token_lifetime_secs)
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        if lifetime == 0 || lifetime > MAX_ACCESS_TOKEN_LIFETIME {
            return Err(invalid(
                "server.access_token_lifetime_secs (UDAP_ACCESS_TOKEN_LIFETIME_SECS, --access-token-lifetime-secs)",
                format!("{lifetime} is outside 1..=3600 (UDAP IG: access tokens live at most 60 minutes)"),
            ));
        }
        let allowed_algs = o.allowed_algs.or(f.allowed_algs).unwrap_or_else(|| {
            crate::jose::AlgPolicy::default()
                .names()
                .into_iter()
                .map(String::from)
                .collect()
        });
        crate::jose::AlgPolicy::from_names(&allowed_algs).map_err(|e| {
            invalid(
                "server.allowed_algs (UDAP_ALLOWED_ALGS, --allowed-algs)",
                e.to_string(),
            )
        })?;
        // UDAP-2: RS256 is mandatory at the registration and token endpoints.
        if !allowed_algs.iter().any(|a| a.trim() == "RS256") {
            return Err(invalid(
                "server.allowed_algs (UDAP_ALLOWED_ALGS, --allowed-algs)",
                "must include RS256 (UDAP requires it)",
            ));
        }
        let token_signing_alg = o
            .token_signing_alg
            .or(f.token_signing_alg)
            .unwrap_or_else(|| "RS256".into());
        if !matches!(token_signing_alg.as_str(), "RS256" | "ES256") {
            return Err(invalid(
                "server.token_signing_alg (UDAP_TOKEN_SIGNING_ALG, --token-signing-alg)",
                format!("`{token_signing_alg}` is not RS256 or ES256"),
            ));
        }
        let intended_use_enforced_from = match o.intended_use_enforcement_date.or(f.intended_use_enforcement_date) {
            None => None,
            Some(d) => Some(
                chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|dt| dt.and_utc().timestamp())
                    .ok_or_else(|| invalid("server.intended_use_enforcement_date (UDAP_INTENDED_USE_ENFORCEMENT_DATE, --intended-use-enforcement-date)", format!("`{d}` is not a date like 2027-01-01")))?,
            ),
        };
        let frame_ancestors = o.frame_ancestors.or(f.frame_ancestors).unwrap_or_default();
        for origin in &frame_ancestors {
            let ok = url::Url::parse(origin).is_ok_and(|u| {
                matches!(u.scheme(), "https" | "http") && u.host_str().is_some() && u.path() == "/"
            });
            if !ok {
                return Err(invalid(
                    "server.frame_ancestors (UDAP_FRAME_ANCESTORS, --frame-ancestors)",
                    format!("`{origin}` is not an origin like https://ehr.example.org"),
                ));
            }
        }
        let vocabulary = crate::oauth::client_metadata::IntendedUseVocabulary::with_overrides(
            o.intended_users_vocabulary.or(f.intended_users_vocabulary),
            o.intended_purposes_vocabulary.or(f.intended_purposes_vocabulary),
        )
        .map_err(|problem| invalid("server.intended_users_vocabulary / intended_purposes_vocabulary (UDAP_INTENDED_*_VOCABULARY)", problem))?;
        let admin_listen = admin_listen(o.admin_listen.or(f.admin_listen), listen, tls.is_some())?;
        let admin_client_ca = o.admin_client_ca.or(f.admin_client_ca);
        if let Some(ca) = &admin_client_ca {
            const KEY: &str = "server.admin_client_ca (UDAP_ADMIN_CLIENT_CA, --admin-client-ca)";
            if tls.is_none() {
                return Err(invalid(
                    KEY,
                    "client certificates need TLS: configure --tls-cert and --tls-key too",
                ));
            }
            if let Err(e) = std::fs::metadata(ca) {
                return Err(invalid(KEY, format!("cannot read {}: {e}", ca.display())));
            }
        }
        // Issue 10 item 3.
        let crl_file_poll_secs = o
            .crl_file_poll_secs
            .or(f.crl_file_poll_secs)
            .unwrap_or(crate::community::DEFAULT_CRL_FILE_POLL_SECS);
        if crl_file_poll_secs > MAX_CRL_FILE_POLL_SECS {
            return Err(invalid(
                "server.crl_file_poll_secs (UDAP_CRL_FILE_POLL_SECS, --crl-file-poll-secs)",
                format!("{crl_file_poll_secs} is over {MAX_CRL_FILE_POLL_SECS} seconds (0 turns re-reading off)"),
            ));
        }
        Ok(Settings {
            admin_listen,
            admin_client_ca,
            crl_file_poll_secs,
            audit: o.audit.or(f.audit).unwrap_or(true),
            login_throttle,
            store,
            data_dir,
            access_log: o.access_log.or(f.access_log).unwrap_or(false),
            outbound_allow_private: o
                .outbound_allow_private_networks
                .or(f.outbound_allow_private_networks)
                .unwrap_or(false),
            frame_ancestors,
            vocabulary,
            token_signing_alg,
            intended_use_enforced_from,
            listen,
            base_url,
            tls,
            workers,
            access_token_lifetime_secs: lifetime,
            allowed_algs,
            log_format: o.log_format.or(f.log_format).unwrap_or_default(),
        })
    }
}

/// Issue 10: the admin API address. Default: loopback, the public port + 1 (port 0 stays 0).
/// Off the loopback interface it must be TLS (the public listener's certificate), because the
/// bearer token travels in every request.
fn admin_listen(
    value: Option<String>,
    listen: SocketAddr,
    tls: bool,
) -> Result<Option<SocketAddr>, ConfigError> {
    const KEY: &str = "server.admin_listen (UDAP_ADMIN_LISTEN, --admin-listen)";
    let addr = match value.as_deref().map(str::trim) {
        Some("off") => return Ok(None),
        Some(text) => text.parse::<SocketAddr>().map_err(|_| {
            invalid(
                KEY,
                format!("`{text}` is not an address like 127.0.0.1:8081, or `off`"),
            )
        })?,
        None => {
            let port = match listen.port() {
                0 | u16::MAX => 0,
                p => p + 1,
            };
            SocketAddr::from(([127, 0, 0, 1], port))
        }
    };
    if !addr.ip().is_loopback() && !tls {
        return Err(invalid(
            KEY,
            format!("`{addr}` is not a loopback address, and the admin API would be plain HTTP: configure --tls-cert/--tls-key (the admin API then uses TLS too), or listen on 127.0.0.1 and reach it through an SSH tunnel"),
        ));
    }
    if addr == listen && addr.port() != 0 {
        return Err(invalid(
            KEY,
            format!("`{addr}` is the public listener's address; the admin API needs its own"),
        ));
    }
    Ok(Some(addr))
}

/// Issue 8 item 3: `login_*` settings over the defaults, each within sane bounds.
fn login_throttle(
    o: &Overrides,
    f: &FileServer,
) -> Result<crate::oauth::login_throttle::ThrottleSettings, ConfigError> {
    let d = crate::oauth::login_throttle::ThrottleSettings::default();
    let s = crate::oauth::login_throttle::ThrottleSettings {
        max_concurrent_hashes: o
            .login_max_concurrent_hashes
            .or(f.login_max_concurrent_hashes)
            .unwrap_or(d.max_concurrent_hashes),
        lockout_after: o
            .login_lockout_after
            .or(f.login_lockout_after)
            .unwrap_or(d.lockout_after),
        lockout_base_secs: o
            .login_lockout_base_secs
            .or(f.login_lockout_base_secs)
            .unwrap_or(d.lockout_base_secs),
        lockout_max_secs: o
            .login_lockout_max_secs
            .or(f.login_lockout_max_secs)
            .unwrap_or(d.lockout_max_secs),
    };
    if !(1..=64).contains(&s.max_concurrent_hashes) {
        return Err(invalid("server.login_max_concurrent_hashes (UDAP_LOGIN_MAX_CONCURRENT_HASHES, --login-max-concurrent-hashes)", "must be between 1 and 64 (each check needs about 19 MiB)"));
    }
    if !(1..=1000).contains(&s.lockout_after) {
        return Err(invalid(
            "server.login_lockout_after (UDAP_LOGIN_LOCKOUT_AFTER, --login-lockout-after)",
            "must be between 1 and 1000 failures",
        ));
    }
    if !(1..=86_400).contains(&s.lockout_base_secs)
        || !(s.lockout_base_secs..=86_400).contains(&s.lockout_max_secs)
    {
        return Err(invalid(
            "server.login_lockout_base_secs / login_lockout_max_secs (UDAP_LOGIN_LOCKOUT_*_SECS)",
            "need 1 <= base <= max <= 86400 seconds",
        ));
    }
    Ok(s)
}

/// The base URL is the issuer and the FHIR base: absolute http(s), no query or fragment (UDAP-10).
pub fn validate_base_url(base_url: &str) -> Result<(), ConfigError> {
    const KEY: &str = "server.base_url (UDAP_BASE_URL, --base-url)";
    let url = Url::parse(base_url)
        .map_err(|e| invalid(KEY, format!("`{base_url}` is not an absolute URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(
            KEY,
            format!("`{base_url}` must use https (or http for local development)"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            KEY,
            format!("`{base_url}` must not carry a query or fragment"),
        ));
    }
    if url.host_str().is_none() {
        return Err(invalid(KEY, format!("`{base_url}` has no host")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(file: &str, o: Overrides) -> Result<Settings, ConfigError> {
        let file: FileConfig = toml::from_str(file).unwrap();
        Settings::resolve(PathBuf::from("/tmp/x"), file, o)
    }

    #[test]
    fn defaults_give_plain_http_on_loopback() {
        let s = resolve("", Overrides::default()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.base_url, "http://127.0.0.1:8080");
        assert!(s.tls.is_none());
        assert_eq!(s.access_token_lifetime_secs, 300);
    }

    #[test]
    fn flags_win_over_file() {
        let o = Overrides {
            listen: Some("127.0.0.1:9000".into()),
            ..Default::default()
        };
        let s = resolve(
            "[server]\nlisten = \"127.0.0.1:7000\"\nbase_url = \"https://as.example/fhir\"\n",
            o,
        )
        .unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.base_url, "https://as.example/fhir");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let cases: &[(&str, Overrides, &str)] = &[
            (
                "",
                Overrides {
                    listen: Some("nope".into()),
                    ..Default::default()
                },
                "server.listen",
            ),
            (
                "",
                Overrides {
                    base_url: Some("ftp://x/".into()),
                    ..Default::default()
                },
                "server.base_url",
            ),
            (
                "",
                Overrides {
                    base_url: Some("https://x/?a=b".into()),
                    ..Default::default()
                },
                "server.base_url",
            ),
            // UDAP-53: never more than 60 minutes.
            (
                "",
                Overrides {
                    access_token_lifetime_secs: Some(3601),
                    ..Default::default()
                },
                "access_token_lifetime_secs",
            ),
            (
                "",
                Overrides {
                    tls_cert: Some("/nonexistent.pem".into()),
                    ..Default::default()
                },
                "server.tls_key",
            ),
            // UDAP-2: `none` and HMAC are never allowed.
            (
                "",
                Overrides {
                    allowed_algs: Some(vec!["none".into()]),
                    ..Default::default()
                },
                "server.allowed_algs",
            ),
            (
                "",
                Overrides {
                    allowed_algs: Some(vec!["HS256".into()]),
                    ..Default::default()
                },
                "server.allowed_algs",
            ),
            // Issue 8 item 3
            (
                "",
                Overrides {
                    login_max_concurrent_hashes: Some(0),
                    ..Default::default()
                },
                "server.login_max_concurrent_hashes",
            ),
            (
                "",
                Overrides {
                    login_lockout_after: Some(0),
                    ..Default::default()
                },
                "server.login_lockout_after",
            ),
            (
                "",
                Overrides {
                    login_lockout_base_secs: Some(10),
                    login_lockout_max_secs: Some(5),
                    ..Default::default()
                },
                "login_lockout_max_secs",
            ),
            (
                "",
                Overrides {
                    allowed_algs: Some(vec!["ES256".into()]),
                    ..Default::default()
                },
                "server.allowed_algs",
            ),
        ];
        for (file, o, key) in cases {
            let err = resolve(file, o.clone()).unwrap_err().to_string();
            assert!(err.contains(key), "{err} should name {key}");
        }
    }

    /// Issue 8 item 4: private networks are refused to outbound fetches unless configured.
    #[test]
    fn outbound_private_networks_setting() {
        let rows: &[(&str, Option<bool>, bool)] = &[
            ("", None, false),
            (
                "[server]\noutbound_allow_private_networks = true\n",
                None,
                true,
            ),
            (
                "[server]\noutbound_allow_private_networks = true\n",
                Some(false),
                false,
            ),
            ("", Some(true), true),
        ];
        for (file, flag, want) in rows {
            let o = Overrides {
                outbound_allow_private_networks: *flag,
                ..Default::default()
            };
            assert_eq!(
                resolve(file, o).unwrap().outbound_allow_private,
                *want,
                "{file:?} {flag:?}"
            );
        }
    }

    /// Issue 10 item 3: the CRL-file poll interval: file < flag, default 10 s, 0 disables, bounded.
    #[test]
    fn crl_file_poll_setting() {
        let rows: &[(&str, Option<u64>, Result<u64, &str>)] = &[
            ("", None, Ok(10)),
            ("[server]\ncrl_file_poll_secs = 0\n", None, Ok(0)),
            ("[server]\ncrl_file_poll_secs = 30\n", Some(5), Ok(5)),
            ("", Some(86_401), Err("server.crl_file_poll_secs")),
        ];
        for (file, flag, want) in rows {
            let o = Overrides {
                crl_file_poll_secs: *flag,
                ..Default::default()
            };
            match (resolve(file, o), want) {
                (Ok(s), Ok(secs)) => assert_eq!(s.crl_file_poll_secs, *secs, "{file:?} {flag:?}"),
                (Err(e), Err(key)) => assert!(e.to_string().contains(key), "{e}"),
                (got, _) => panic!("{file:?} {flag:?}: {got:?}"),
            }
        }
    }

    #[test]
    fn admin_listen_defaults_to_loopback_next_port_and_refuses_plain_http_off_loopback() {
        // Issue 10 item 1: (admin_listen, listen, tls) -> the address or the refusal.
        type Row<'a> = (Option<&'a str>, &'a str, bool, Result<Option<&'a str>, ()>);
        let rows: &[Row] = &[
            (None, "127.0.0.1:8080", false, Ok(Some("127.0.0.1:8081"))),
            (None, "0.0.0.0:443", true, Ok(Some("127.0.0.1:444"))),
            (None, "127.0.0.1:0", false, Ok(Some("127.0.0.1:0"))),
            (Some("off"), "127.0.0.1:8080", false, Ok(None)),
            (
                Some("[::1]:9000"),
                "127.0.0.1:8080",
                false,
                Ok(Some("[::1]:9000")),
            ),
            (
                Some("10.0.0.5:8081"),
                "0.0.0.0:8080",
                true,
                Ok(Some("10.0.0.5:8081")),
            ),
            // The bearer token would cross the network in the clear.
            (Some("10.0.0.5:8081"), "0.0.0.0:8080", false, Err(())),
            (Some("127.0.0.1:8080"), "127.0.0.1:8080", false, Err(())),
            (Some("nope"), "127.0.0.1:8080", false, Err(())),
        ];
        for (value, listen, tls, want) in rows {
            let got = admin_listen(value.map(String::from), listen.parse().unwrap(), *tls);
            match (got, want) {
                (Ok(a), Ok(w)) => {
                    assert_eq!(a.map(|a| a.to_string()).as_deref(), *w, "{value:?}")
                }
                (Err(e), Err(())) => assert!(e.to_string().contains("admin_listen"), "{e}"),
                (got, want) => panic!("{value:?} {listen}: got {got:?}, want {want:?}"),
            }
        }
    }

    /// Issue 10 item 5: the audit trail is on unless turned off; flags win over the file.
    #[test]
    fn audit_setting() {
        let rows: &[(&str, Option<bool>, bool)] = &[
            ("", None, true),
            ("[server]\naudit = false\n", None, false),
            ("[server]\naudit = false\n", Some(true), true),
            ("", Some(false), false),
        ];
        for (file, flag, want) in rows {
            let o = Overrides {
                audit: *flag,
                ..Default::default()
            };
            assert_eq!(resolve(file, o).unwrap().audit, *want, "{file:?} {flag:?}");
        }
    }

    #[test]
    fn unknown_file_keys_are_rejected() {
        let err = toml::from_str::<FileConfig>("[server]\nlisten_addr = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("listen_addr"));
    }

    // Issue 9: the store location.
    #[test]
    fn store_url_from_file_flag_wins_and_password_is_never_shown() {
        use crate::store::StoreLocation;
        let s = resolve("", Overrides::default()).unwrap();
        assert!(matches!(&s.store, StoreLocation::Embedded(p) if p.ends_with("udap.redb")));
        let file: FileConfig =
            toml::from_str("[store]\nurl = \"postgres://u:filepw@db/udap\"\npool_size = 4\n")
                .unwrap();
        let from_file = store_location(Path::new("/d"), &file.store, None, None).unwrap();
        assert!(
            matches!(&from_file, StoreLocation::Postgres(o) if o.pool_size == 4 && o.url.expose() == "postgres://u:filepw@db/udap")
        );
        let from_flag = store_location(
            Path::new("/d"),
            &file.store,
            Some("postgres://u:flagpw@db2/udap"),
            Some(8),
        )
        .unwrap();
        assert!(
            matches!(&from_flag, StoreLocation::Postgres(o) if o.pool_size == 8 && o.url.expose().contains("db2"))
        );
        let shown = format!("{from_flag:?} {:?}", file.store);
        assert!(
            !shown.contains("flagpw") && !shown.contains("filepw"),
            "{shown}"
        );
        let err = store_location(Path::new("/d"), &file.store, None, Some(0))
            .unwrap_err()
            .to_string();
        assert!(err.contains("store.pool_size"), "{err}");
        let settings = Settings::resolve(PathBuf::from("/d"), file, Overrides::default()).unwrap();
        assert!(!format!("{settings:?}").contains("filepw"));
    }
}
