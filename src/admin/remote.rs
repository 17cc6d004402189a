//! The CLI side of the admin API: where a running server's API is, and calling it.
//!
//! `serve` writes `<data-dir>/admin.json` (the API's URL) and `<data-dir>/admin-token`; an admin
//! command with the same data directory finds both and goes through the API, so it works while
//! the server holds the embedded database. `--server URL` with `UDAP_ADMIN_TOKEN` reaches any
//! server. When nothing answers at the recorded address (the server stopped without removing the
//! file), the command opens the store itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AdminOp, Output};

/// The file in the data directory that says where the running server's admin API listens.
pub const ENDPOINT_FILE: &str = "admin.json";

/// The admin API path that runs one op.
pub const OPS_PATH: &str = "/admin/v1/ops";

/// What `serve` records in `admin.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Endpoint {
    /// Base URL of the admin API, e.g. `http://127.0.0.1:8081`.
    pub url: String,
    /// The serving process, for people reading the file.
    pub pid: u32,
}

pub fn endpoint_file(data_dir: &Path) -> PathBuf {
    data_dir.join(ENDPOINT_FILE)
}

/// Reads `admin.json`, if there is one.
pub fn read_endpoint(data_dir: &Path) -> Option<Endpoint> {
    let text = std::fs::read_to_string(endpoint_file(data_dir)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Why a call to the admin API failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// Nothing listens there (connection refused): the server is not running.
    #[error("no admin API answers at {0}")]
    Unreachable(String),
    #[error("the admin API at {url} refused the admin token (missing, wrong, expired or revoked); give a live one in UDAP_ADMIN_TOKEN, or create one with `udap-server admin token create` on the server's data directory")]
    Unauthorized { url: String },
    /// The server refused or failed the op; `message` is its error_description.
    #[error("{message}")]
    Refused { code: String, message: String },
    #[error("cannot reach the admin API at {url}: {detail}")]
    Transport { url: String, detail: String },
}

/// Sends `op` to the admin API at `base` with `token`; the server's output on success.
/// `UDAP_ADMIN_CA` (a PEM file) adds trusted roots for an `https` admin API;
/// `UDAP_ADMIN_CLIENT_CERT` and `UDAP_ADMIN_CLIENT_KEY` (PEM files) present a client certificate.
pub fn call(base: &str, token: &str, op: &AdminOp) -> Result<Output, RemoteError> {
    let url = format!("{}{OPS_PATH}", base.trim_end_matches('/'));
    let transport = |detail: String| RemoteError::Transport {
        url: url.clone(),
        detail,
    };
    let mut builder = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none());
    // A server whose TLS certificate comes from a private CA: trust that CA for this call.
    if let Some(path) = std::env::var_os("UDAP_ADMIN_CA").filter(|p| !p.is_empty()) {
        let pem = std::fs::read(&path).map_err(|e| {
            transport(format!(
                "cannot read UDAP_ADMIN_CA {}: {e}",
                Path::new(&path).display()
            ))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| transport(format!("UDAP_ADMIN_CA is not PEM certificates: {e}")))?;
        builder = builder.tls_certs_merge(certs);
    }
    // An admin API that requires client certificates (--admin-client-ca).
    let cert = std::env::var_os("UDAP_ADMIN_CLIENT_CERT").filter(|p| !p.is_empty());
    let key = std::env::var_os("UDAP_ADMIN_CLIENT_KEY").filter(|p| !p.is_empty());
    if let (Some(cert), Some(key)) = (cert, key) {
        let mut pem = std::fs::read(&cert).map_err(|e| {
            transport(format!(
                "cannot read UDAP_ADMIN_CLIENT_CERT {}: {e}",
                Path::new(&cert).display()
            ))
        })?;
        pem.extend(std::fs::read(&key).map_err(|e| {
            transport(format!(
                "cannot read UDAP_ADMIN_CLIENT_KEY {}: {e}",
                Path::new(&key).display()
            ))
        })?);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
            transport(format!(
                "UDAP_ADMIN_CLIENT_CERT/KEY are not a PEM certificate and key: {e}"
            ))
        })?;
        builder = builder.identity(identity);
    }
    let client = builder.build().map_err(|e| transport(e.to_string()))?;
    let response = client
        .post(&url)
        .bearer_auth(token)
        .json(op)
        .send()
        .map_err(|e| {
            if e.is_connect() {
                RemoteError::Unreachable(url.clone())
            } else {
                RemoteError::Transport {
                    url: url.clone(),
                    detail: e.to_string(),
                }
            }
        })?;
    let status = response.status();
    let body: Value = response.json().map_err(|e| RemoteError::Transport {
        url: url.clone(),
        detail: format!("the answer ({status}) is not JSON: {e}"),
    })?;
    if status.as_u16() == 401 {
        return Err(RemoteError::Unauthorized { url });
    }
    if !status.is_success() {
        let text = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        return Err(RemoteError::Refused {
            code: text("error"),
            message: text("error_description"),
        });
    }
    serde_json::from_value(body).map_err(|e| RemoteError::Transport {
        url,
        detail: format!("unexpected answer: {e}"),
    })
}
