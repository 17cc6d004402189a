//! `udap-server ca ...`: a small certificate authority for test and development communities.
//! Thin wrapper over `pki::ca::CaDir`; see that module for the directory layout.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use serde_json::json;

use crate::pki::ca::{CaDir, CaNames, KeyKind, PublishedCrl};

use super::emit;

/// Key types the CA can generate (UDAP-52: RSA >= 2048 bits or EC P-256/P-384).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CaKey {
    /// RSA 2048 bits (RS256); the most interoperable choice.
    Rsa2048,
    /// RSA 3072 bits.
    Rsa3072,
    /// EC P-256 (ES256).
    EcP256,
    /// EC P-384 (ES384).
    EcP384,
}

impl From<CaKey> for KeyKind {
    fn from(k: CaKey) -> Self {
        match k {
            CaKey::Rsa2048 => KeyKind::Rsa2048,
            CaKey::Rsa3072 => KeyKind::Rsa3072,
            CaKey::EcP256 => KeyKind::EcP256,
            CaKey::EcP384 => KeyKind::EcP384,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create a new CA: a root certificate (the community's trust anchor), optionally an
    /// intermediate that issues the leaves, and initial empty CRLs valid for 30 days.
    ///
    /// Writes into DIR: root.pem, root.key (mode 0600), intermediate.pem and intermediate.key
    /// (with --intermediate), root.crl.pem / root.crl (DER), intermediate.crl.pem /
    /// intermediate.crl, and ca.json (state: revoked serials, CRL number). Refuses to touch an
    /// existing CA unless --force is given.
    #[command(after_help = "\
Example:
  udap-server ca init --dir ./my-ca --intermediate --name \"Example Community\" \\
      --crl-url http://ca.example.org/crl
Then configure ./my-ca/root.pem as the community's anchor (udap-server community add --anchor ...)
and serve root.crl and intermediate.crl at the --crl-url base URL.")]
    Init {
        /// Directory to create the CA in (created if missing).
        #[arg(long)]
        dir: PathBuf,
        /// Key type of the CA certificates.
        #[arg(long, value_enum, default_value = "rsa2048")]
        key: CaKey,
        /// Also create an intermediate CA (pathLen 0) that issues all leaves, as real communities do.
        #[arg(long)]
        intermediate: bool,
        /// Community name: becomes O=NAME, CN=NAME Root CA and CN=NAME Intermediate CA.
        #[arg(long, default_value = "udap-server Test Community")]
        name: String,
        /// Base URL where you will serve the CRL files; certificates then carry the CRL
        /// distribution point BASE/root.crl or BASE/intermediate.crl (UDAP-48).
        #[arg(long)]
        crl_url: Option<String>,
        /// Replace an existing CA in DIR. The old keys are lost and every certificate they issued
        /// stops validating.
        #[arg(long)]
        force: bool,
    },
    /// Issue a client (or, with --server-cert, server) certificate with one or more SAN URIs.
    ///
    /// Writes PREFIX.pem (the leaf followed by the issuing intermediate: exactly the x5c a client
    /// sends) and PREFIX.key (its private key, PKCS#8, mode 0600). A UDAP client's `iss` must be
    /// one of the SAN URIs (UDAP-50).
    #[command(after_help = "\
Examples:
  udap-server ca issue --dir ./my-ca --san https://app.example.org/client --out ./client
  udap-server ca issue --dir ./my-ca --server-cert --san https://as.example.org/fhir --out ./server")]
    Issue {
        /// The CA directory (from `ca init`).
        #[arg(long)]
        dir: PathBuf,
        /// SAN URI; repeat for several (`iss` picks one of them).
        #[arg(long = "san", required = true)]
        sans: Vec<String>,
        /// Subject common name (default: the first SAN URI's host).
        #[arg(long)]
        cn: Option<String>,
        /// Key type of the new certificate.
        #[arg(long, value_enum, default_value = "rsa2048")]
        key: CaKey,
        /// Validity in days, starting a day ago (to tolerate clock skew).
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Make a server certificate: extKeyUsage serverAuth and DNS SANs for the URIs' hosts, so
        /// it can also serve TLS. Use it for the authorization server's signing certificate.
        #[arg(long)]
        server_cert: bool,
        /// Output path prefix: writes PREFIX.pem and PREFIX.key.
        #[arg(long)]
        out: PathBuf,
        /// Overwrite existing PREFIX.pem / PREFIX.key.
        #[arg(long)]
        force: bool,
    },
    /// Mark a certificate issued by this CA as revoked. It is listed on the next CRL: run
    /// `ca crl` afterwards to publish it. Revoking twice is harmless.
    #[command(after_help = "\
Example:
  udap-server ca revoke --dir ./my-ca --cert ./client.pem
  udap-server ca crl --dir ./my-ca")]
    Revoke {
        /// The CA directory (from `ca init`).
        #[arg(long)]
        dir: PathBuf,
        /// PEM file of the certificate to revoke (its first certificate is used).
        #[arg(long)]
        cert: PathBuf,
    },
    /// Publish fresh CRLs for the root and (if present) the intermediate, listing every revoked
    /// serial. Writes root.crl.pem, root.crl (DER), intermediate.crl.pem and intermediate.crl in
    /// the CA directory. Re-run before the CRLs' nextUpdate: a stale CRL makes fail-closed
    /// communities reject every certificate of this CA (UDAP-48).
    #[command(after_help = "\
Example:
  udap-server ca crl --dir ./my-ca --days 7
Then give the new .crl.pem files to the server (udap-server community add --crl ...) or serve the
.crl files at the CA's CRL URL.")]
    Crl {
        /// The CA directory (from `ca init`).
        #[arg(long)]
        dir: PathBuf,
        /// Days until nextUpdate.
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
}

/// Runs a `ca` command; human output by default, one JSON object with `--json`.
pub fn run(cmd: CaCommand, json: bool) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp();
    match cmd {
        CaCommand::Init {
            dir,
            key,
            intermediate,
            name,
            crl_url,
            force,
        } => {
            let ca = CaDir::init(
                &dir,
                key.into(),
                intermediate,
                &CaNames::for_community(&name),
                crl_url.as_deref(),
                force,
                now,
            )
            .with_context(|| format!("creating a CA in {}", dir.display()))?;
            let published = read_published(&ca);
            let value = json!({
                "dir": dir,
                "key": KeyKind::from(key).as_str(),
                "root_cert": ca.root_cert_path(),
                "root_key": dir.join("root.key"),
                "intermediate_cert": ca.intermediate_cert_path(),
                "intermediate_key": ca.intermediate_cert_path().map(|_| dir.join("intermediate.key")),
                "crl_url": ca.crl_url(),
                "crls": published,
            });
            emit(json, &value, || {
                let mut out = format!(
                    "Created a CA in {}\n  trust anchor: {}\n",
                    dir.display(),
                    ca.root_cert_path().display()
                );
                if let Some(int) = ca.intermediate_cert_path() {
                    out.push_str(&format!(
                        "  intermediate: {} (issues the leaves)\n",
                        int.display()
                    ));
                }
                out.push_str(&format!(
                    "  CRLs: {} (valid 30 days; refresh with `udap-server ca crl --dir {}`)\n",
                    crl_files(&dir, &ca),
                    dir.display()
                ));
                out.push_str(&format!(
                    "Next: udap-server ca issue --dir {} --san https://app.example.org/client --out ./client",
                    dir.display()
                ));
                out
            })
        }
        CaCommand::Issue {
            dir,
            sans,
            cn,
            key,
            days,
            server_cert: server,
            out,
            force,
        } => {
            let ca = CaDir::open(&dir)?;
            let leaf = ca
                .issue_leaf(&sans, cn.as_deref(), key.into(), days, server, now)
                .with_context(|| format!("issuing a certificate from {}", dir.display()))?;
            let (pem, key_path) = CaDir::write_leaf(&leaf, &out, force)?;
            let value = json!({
                "cert": pem,
                "key": key_path,
                "serial": leaf.cert.serial_hex,
                "subject": leaf.subject,
                "issuer": leaf.issuer,
                "san_uris": leaf.san_uris,
                "not_after": leaf.not_after,
                "not_after_utc": utc(leaf.not_after),
                "server": server,
            });
            emit(json, &value, || {
                format!(
                    "Issued {} certificate `{}`\n  serial:   {}\n  SAN URIs: {}\n  expires:  {}\n  chain:    {} (leaf, then intermediate: send it as x5c)\n  key:      {} (keep it secret)",
                    if server { "a server" } else { "a client" },
                    leaf.subject,
                    leaf.cert.serial_hex,
                    leaf.san_uris.join(", "),
                    utc(leaf.not_after),
                    pem.display(),
                    key_path.display()
                )
            })
        }
        CaCommand::Revoke { dir, cert } => {
            let mut ca = CaDir::open(&dir)?;
            let pem = std::fs::read_to_string(&cert)
                .with_context(|| format!("reading {}", cert.display()))?;
            let revoked = ca
                .revoke(&pem)
                .with_context(|| format!("revoking {}", cert.display()))?;
            let value = json!({
                "serial": revoked.serial_hex,
                "subject": revoked.subject,
                "issuer": revoked.issuer,
                "already_revoked": revoked.already_revoked,
            });
            emit(json, &value, || {
                format!(
                    "{} `{}` (serial {}, listed on the {} CRL).\nPublish it: udap-server ca crl --dir {}",
                    if revoked.already_revoked { "Already revoked:" } else { "Revoked" },
                    revoked.subject,
                    revoked.serial_hex,
                    revoked.issuer,
                    dir.display()
                )
            })
        }
        CaCommand::Crl { dir, days } => {
            let mut ca = CaDir::open(&dir)?;
            let published = ca
                .publish_crl(days, now)
                .with_context(|| format!("publishing CRLs in {}", dir.display()))?;
            let value = json!({ "crls": published.iter().map(crl_json).collect::<Vec<_>>() });
            emit(json, &value, || {
                published
                    .iter()
                    .map(|c| {
                        format!(
                            "{} CRL #{}: {} revoked, next update {}\n  {}\n  {}{}",
                            c.issuer,
                            c.crl_number,
                            c.revoked,
                            utc(c.next_update),
                            c.pem_path.display(),
                            c.der_path.display(),
                            c.url
                                .as_deref()
                                .map(|u| format!(" (serve at {u})"))
                                .unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
    }
}

fn crl_json(c: &PublishedCrl) -> serde_json::Value {
    json!({
        "issuer": c.issuer,
        "pem": c.pem_path,
        "der": c.der_path,
        "url": c.url,
        "crl_number": c.crl_number,
        "revoked": c.revoked,
        "next_update": c.next_update,
        "next_update_utc": utc(c.next_update),
    })
}

/// The CRL files `init` wrote, described for output (re-read from the directory).
fn read_published(ca: &CaDir) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for name in ["root", "intermediate"] {
        let pem = ca.dir().join(format!("{name}.crl.pem"));
        if pem.exists() {
            out.push(json!({
                "issuer": name,
                "pem": pem,
                "der": ca.dir().join(format!("{name}.crl")),
                "url": ca.crl_url().map(|u| format!("{u}/{name}.crl")),
            }));
        }
    }
    out
}

fn crl_files(dir: &Path, ca: &CaDir) -> String {
    let mut files = vec![dir.join("root.crl.pem").display().to_string()];
    if ca.intermediate_cert_path().is_some() {
        files.push(dir.join("intermediate.crl.pem").display().to_string());
    }
    files.join(", ")
}

fn utc(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| unix.to_string())
}
