//! A CA kept in a directory, for the `udap-server ca` commands.
//!
//! Layout (all PEM unless noted):
//! - `root.pem`, `root.key`: the self-signed root (the community's trust anchor);
//! - `intermediate.pem`, `intermediate.key`: optional issuing CA (leaves are issued by it when present);
//! - `ca.json`: state: names, key kind, CRL base URL, next CRL number, revoked serials per issuer;
//! - `root.crl.pem` / `root.crl` (DER) and `intermediate.crl.pem` / `intermediate.crl`: the CRLs,
//!   written by [`CaDir::publish_crl`]. Serve the DER files at the `--crl-url` base URL.
//!
//! Private keys are written with mode 0600. Nothing is overwritten without an explicit `force`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use openssl::x509::X509;
use serde::{Deserialize, Serialize};

use super::{
    crl, issue, self_signed, CertSpec, ExtendedKeyUsagePurpose, IssuedCert, KeyKind,
    KeyUsagePurpose, DAY,
};
use crate::pki::certinfo::{normalize_serial, CertFacts};
use crate::pki::error::CaError;

/// The state file inside a CA directory.
pub const CA_STATE_FILE: &str = "ca.json";
const ROOT: &str = "root";
const INTERMEDIATE: &str = "intermediate";

/// Subject names for a new CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaNames {
    /// Subject O of every CA certificate, e.g. the community's name.
    pub organization: String,
    pub root_cn: String,
    pub intermediate_cn: String,
}

impl CaNames {
    /// `O=<name>`, `CN=<name> Root CA` and `CN=<name> Intermediate CA`.
    pub fn for_community(name: &str) -> Self {
        CaNames {
            organization: name.to_string(),
            root_cn: format!("{name} Root CA"),
            intermediate_cn: format!("{name} Intermediate CA"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CaState {
    version: u32,
    organization: String,
    key: String,
    /// Base URL the CRL files are served from; embedded as cRLDistributionPoints.
    crl_url: Option<String>,
    /// The number the next published CRLs get.
    next_crl_number: u64,
    revoked_by_root: Vec<String>,
    revoked_by_intermediate: Vec<String>,
}

/// A certificate issued from a CA directory.
#[derive(Debug, Clone)]
pub struct IssuedLeaf {
    pub cert: IssuedCert,
    /// The leaf followed by the issuing intermediate (if any): what a client sends as x5c.
    pub chain_pem: String,
    pub subject: String,
    pub issuer: String,
    pub san_uris: Vec<String>,
    pub not_after: i64,
}

/// The result of [`CaDir::revoke`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedCert {
    pub serial_hex: String,
    pub subject: String,
    /// `root` or `intermediate`: whose CRL will list it.
    pub issuer: String,
    /// True when it was already on the list (revoking is idempotent).
    pub already_revoked: bool,
}

/// One CRL written by [`CaDir::publish_crl`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedCrl {
    /// `root` or `intermediate`.
    pub issuer: String,
    pub pem_path: PathBuf,
    pub der_path: PathBuf,
    /// Where clients fetch it, when the CA has a CRL base URL.
    pub url: Option<String>,
    pub crl_number: u64,
    pub this_update: i64,
    pub next_update: i64,
    pub revoked: usize,
}

/// A CA directory (see the module documentation for the layout).
#[derive(Debug)]
pub struct CaDir {
    dir: PathBuf,
    state: CaState,
}

impl CaDir {
    /// Creates a new CA in `dir`: a root, optionally an intermediate, the state file, and initial
    /// (empty) CRLs valid for 30 days. Refuses an existing CA directory unless `force`.
    pub fn init(
        dir: &Path,
        key: KeyKind,
        with_intermediate: bool,
        names: &CaNames,
        crl_url: Option<&str>,
        force: bool,
        now: i64,
    ) -> Result<Self, CaError> {
        if key == KeyKind::InsecureRsa1024 {
            return Err(CaError::BadSpec(
                "a CA key must be rsa2048, rsa3072, ec-p256 or ec-p384".into(),
            ));
        }
        let crl_url = match crl_url {
            Some(u) => Some(check_crl_base(u)?),
            None => None,
        };
        if dir.join(CA_STATE_FILE).exists() || dir.join("root.pem").exists() {
            if !force {
                return Err(CaError::Dir {
                    path: dir.display().to_string(),
                    problem:
                        "already holds a CA; pass --force to replace it (the old keys are lost)"
                            .into(),
                });
            }
            // A replaced CA must not leave the old intermediate or CRLs behind.
            for name in [
                "intermediate.pem",
                "intermediate.key",
                "root.crl",
                "root.crl.pem",
                "intermediate.crl",
                "intermediate.crl.pem",
            ] {
                let path = dir.join(name);
                if path.exists() {
                    fs::remove_file(&path).map_err(|e| io(&path, e))?;
                }
            }
        }
        fs::create_dir_all(dir).map_err(|e| io(dir, e))?;

        let root_spec = CertSpec {
            organization: Some(names.organization.clone()),
            key,
            not_after: now + 20 * 365 * DAY,
            ..CertSpec::ca(&names.root_cn, now)
        };
        let root = self_signed(&root_spec)?;
        write_file(&dir.join("root.pem"), &root.cert_pem, false)?;
        write_file(&dir.join("root.key"), &root.key_pem, true)?;

        if with_intermediate {
            let spec = CertSpec {
                organization: Some(names.organization.clone()),
                key,
                path_len: Some(0),
                crl_distribution_points: crl_url.iter().map(|u| format!("{u}/root.crl")).collect(),
                not_after: now + 10 * 365 * DAY,
                ..CertSpec::ca(&names.intermediate_cn, now)
            };
            let intermediate = issue(&spec, &root.cert_pem, &root.key_pem)?;
            write_file(&dir.join("intermediate.pem"), &intermediate.cert_pem, false)?;
            write_file(&dir.join("intermediate.key"), &intermediate.key_pem, true)?;
        }

        let mut ca = CaDir {
            dir: dir.to_path_buf(),
            state: CaState {
                version: 1,
                organization: names.organization.clone(),
                key: key.as_str().to_string(),
                crl_url,
                next_crl_number: 1,
                revoked_by_root: Vec::new(),
                revoked_by_intermediate: Vec::new(),
            },
        };
        ca.save()?;
        ca.publish_crl(30, now)?;
        Ok(ca)
    }

    /// Opens an existing CA directory.
    pub fn open(dir: &Path) -> Result<Self, CaError> {
        let path = dir.join(CA_STATE_FILE);
        let text = fs::read_to_string(&path).map_err(|e| CaError::Dir {
            path: dir.display().to_string(),
            problem: format!("cannot read {CA_STATE_FILE} ({e}); create a CA with `udap-server ca init --dir {}`", dir.display()),
        })?;
        let state: CaState = serde_json::from_str(&text).map_err(|e| CaError::Dir {
            path: path.display().to_string(),
            problem: format!("malformed state file: {e}"),
        })?;
        Ok(CaDir {
            dir: dir.to_path_buf(),
            state,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the root certificate (the trust anchor to configure in the community).
    pub fn root_cert_path(&self) -> PathBuf {
        self.dir.join("root.pem")
    }

    /// Path of the intermediate certificate, if this CA has one.
    pub fn intermediate_cert_path(&self) -> Option<PathBuf> {
        let path = self.dir.join("intermediate.pem");
        path.exists().then_some(path)
    }

    /// The CRL base URL, if any.
    pub fn crl_url(&self) -> Option<&str> {
        self.state.crl_url.as_deref()
    }

    fn issuer_name(&self) -> &'static str {
        if self.intermediate_cert_path().is_some() {
            INTERMEDIATE
        } else {
            ROOT
        }
    }

    fn read(&self, name: &str) -> Result<String, CaError> {
        let path = self.dir.join(name);
        fs::read_to_string(&path).map_err(|e| io(&path, e))
    }

    /// Issues a leaf with SAN URIs `san_uris` (UDAP-50: the client's `iss` must be one of them),
    /// valid from a day before `now` for `days` days, by the intermediate if present, else the root.
    /// A `server` certificate also gets extKeyUsage serverAuth and DNS SANs for the URIs' hosts
    /// (usable for TLS); a client certificate gets clientAuth.
    pub fn issue_leaf(
        &self,
        san_uris: &[String],
        cn: Option<&str>,
        key: KeyKind,
        days: u32,
        server: bool,
        now: i64,
    ) -> Result<IssuedLeaf, CaError> {
        if san_uris.is_empty() {
            return Err(CaError::BadSpec(
                "at least one SAN URI is required (UDAP-50)".into(),
            ));
        }
        let mut hosts = Vec::new();
        for uri in san_uris {
            let parsed = url::Url::parse(uri)
                .map_err(|e| CaError::BadSpec(format!("SAN URI `{uri}` is not a URI: {e}")))?;
            if let Some(url::Host::Domain(host)) = parsed.host() {
                if !hosts.iter().any(|h| h == host) {
                    hosts.push(host.to_string());
                }
            }
        }
        if days == 0 {
            return Err(CaError::BadSpec("--days must be at least 1".into()));
        }
        let common_name = match cn {
            Some(cn) => cn.to_string(),
            None => hosts
                .first()
                .or(san_uris.first())
                .map(|s| s.chars().take(64).collect())
                .unwrap_or_default(),
        };
        let issuer = self.issuer_name();
        let spec = CertSpec {
            organization: Some(self.state.organization.clone()),
            san_uris: san_uris.to_vec(),
            dns_names: if server { hosts } else { Vec::new() },
            key,
            not_after: now + i64::from(days) * DAY,
            key_usage: Some(
                if server && !matches!(key, KeyKind::EcP256 | KeyKind::EcP384) {
                    vec![
                        KeyUsagePurpose::DigitalSignature,
                        KeyUsagePurpose::KeyEncipherment,
                    ]
                } else {
                    vec![KeyUsagePurpose::DigitalSignature]
                },
            ),
            extended_key_usage: vec![if server {
                ExtendedKeyUsagePurpose::ServerAuth
            } else {
                ExtendedKeyUsagePurpose::ClientAuth
            }],
            crl_distribution_points: self
                .state
                .crl_url
                .iter()
                .map(|u| format!("{u}/{issuer}.crl"))
                .collect(),
            ..CertSpec::leaf(&common_name, "", now)
        };
        let issuer_pem = self.read(&format!("{issuer}.pem"))?;
        let cert = issue(&spec, &issuer_pem, &self.read(&format!("{issuer}.key"))?)?;
        let facts = CertFacts::parse(&cert.der).map_err(CaError::Generate)?;
        let issuer_facts = X509::from_pem(issuer_pem.as_bytes())
            .ok()
            .map(|c| crate::pki::subject_string(&c))
            .unwrap_or_default();
        let chain_pem = if issuer == INTERMEDIATE {
            format!("{}{}", cert.cert_pem, issuer_pem)
        } else {
            cert.cert_pem.clone()
        };
        Ok(IssuedLeaf {
            chain_pem,
            subject: facts.subject,
            issuer: issuer_facts,
            san_uris: facts.san_uris,
            not_after: facts.not_after,
            cert,
        })
    }

    /// Writes `PREFIX.pem` (the chain: leaf, then intermediate) and `PREFIX.key` (mode 0600).
    /// Refuses to overwrite existing files unless `force`.
    pub fn write_leaf(
        leaf: &IssuedLeaf,
        prefix: &Path,
        force: bool,
    ) -> Result<(PathBuf, PathBuf), CaError> {
        let pem = with_suffix(prefix, "pem");
        let key = with_suffix(prefix, "key");
        if !force {
            for path in [&pem, &key] {
                if path.exists() {
                    return Err(CaError::Dir {
                        path: path.display().to_string(),
                        problem: "exists; pass --force to overwrite".into(),
                    });
                }
            }
        }
        if let Some(parent) = prefix.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        write_file(&pem, &leaf.chain_pem, false)?;
        write_file(&key, &leaf.cert.key_pem, true)?;
        Ok((pem, key))
    }

    /// Records `cert_pem` (its first certificate) as revoked by whichever CA of this directory
    /// issued it (decided by signature, not by name). Publish with [`CaDir::publish_crl`].
    pub fn revoke(&mut self, cert_pem: &str) -> Result<RevokedCert, CaError> {
        let cert = X509::from_pem(cert_pem.as_bytes()).map_err(|e| CaError::BadInput {
            what: "certificate to revoke",
            detail: e.to_string(),
        })?;
        let facts = CertFacts::of(&cert).map_err(|e| CaError::BadInput {
            what: "certificate to revoke",
            detail: e,
        })?;
        let root =
            X509::from_pem(self.read("root.pem")?.as_bytes()).map_err(|e| CaError::BadInput {
                what: "root.pem",
                detail: e.to_string(),
            })?;
        if cert.to_der().ok() == root.to_der().ok() {
            return Err(CaError::BadSpec(
                "the root cannot revoke itself; remove it from the community's anchors instead"
                    .into(),
            ));
        }
        let mut issuer = None;
        for name in [INTERMEDIATE, ROOT] {
            let path = self.dir.join(format!("{name}.pem"));
            if !path.exists() {
                continue;
            }
            let ca =
                X509::from_pem(self.read(&format!("{name}.pem"))?.as_bytes()).map_err(|e| {
                    CaError::BadInput {
                        what: "CA certificate",
                        detail: e.to_string(),
                    }
                })?;
            let signed = ca
                .public_key()
                .ok()
                .is_some_and(|k| cert.verify(&k).unwrap_or(false));
            if signed && ca.to_der().ok() != cert.to_der().ok() {
                issuer = Some(name);
                break;
            }
        }
        let Some(issuer) = issuer else {
            return Err(CaError::BadSpec(format!(
                "`{}` was not issued by this CA",
                facts.subject
            )));
        };
        let serial_hex = hex::encode(normalize_serial(&facts.serial));
        let list = if issuer == ROOT {
            &mut self.state.revoked_by_root
        } else {
            &mut self.state.revoked_by_intermediate
        };
        let already_revoked = list.contains(&serial_hex);
        if !already_revoked {
            list.push(serial_hex.clone());
            self.save()?;
        }
        Ok(RevokedCert {
            serial_hex,
            subject: facts.subject,
            issuer: issuer.to_string(),
            already_revoked,
        })
    }

    /// Writes fresh CRLs for the root and (if present) the intermediate, valid from `now` for
    /// `next_update_days`, each as PEM and DER, and advances the CRL number.
    pub fn publish_crl(
        &mut self,
        next_update_days: u32,
        now: i64,
    ) -> Result<Vec<PublishedCrl>, CaError> {
        if next_update_days == 0 {
            return Err(CaError::BadSpec(
                "the CRL must be valid for at least 1 day".into(),
            ));
        }
        let number = self.state.next_crl_number;
        let next_update = now + i64::from(next_update_days) * DAY;
        let mut out = Vec::new();
        for name in [ROOT, INTERMEDIATE] {
            if name == INTERMEDIATE && self.intermediate_cert_path().is_none() {
                continue;
            }
            let revoked = if name == ROOT {
                &self.state.revoked_by_root
            } else {
                &self.state.revoked_by_intermediate
            };
            let pem = crl(
                &self.read(&format!("{name}.pem"))?,
                &self.read(&format!("{name}.key"))?,
                revoked,
                number,
                now,
                next_update,
            )?;
            let der = crate::pki::pem::parse_blocks(&pem)
                .ok()
                .and_then(|b| b.into_iter().next())
                .map(|b| b.der)
                .ok_or_else(|| CaError::Generate("the generated CRL is not PEM".into()))?;
            let pem_path = self.dir.join(format!("{name}.crl.pem"));
            let der_path = self.dir.join(format!("{name}.crl"));
            write_file(&pem_path, &pem, false)?;
            write_bytes(&der_path, &der, false)?;
            out.push(PublishedCrl {
                issuer: name.to_string(),
                url: self
                    .state
                    .crl_url
                    .as_ref()
                    .map(|u| format!("{u}/{name}.crl")),
                pem_path,
                der_path,
                crl_number: number,
                this_update: now,
                next_update,
                revoked: revoked.len(),
            });
        }
        self.state.next_crl_number = number.saturating_add(1);
        self.save()?;
        Ok(out)
    }

    fn save(&self) -> Result<(), CaError> {
        let text = serde_json::to_string_pretty(&self.state)
            .map_err(|e| CaError::Generate(e.to_string()))?;
        // Write then rename, so a crash never leaves a truncated state file.
        let tmp = self.dir.join(format!("{CA_STATE_FILE}.tmp"));
        write_file(&tmp, &text, false)?;
        let path = self.dir.join(CA_STATE_FILE);
        fs::rename(&tmp, &path).map_err(|e| io(&path, e))
    }
}

fn check_crl_base(url: &str) -> Result<String, CaError> {
    let parsed =
        url::Url::parse(url).map_err(|e| CaError::BadSpec(format!("--crl-url `{url}`: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(CaError::BadSpec(format!(
            "--crl-url `{url}` must be http or https"
        )));
    }
    Ok(url.trim_end_matches('/').to_string())
}

fn with_suffix(prefix: &Path, ext: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

fn io(path: &Path, source: std::io::Error) -> CaError {
    CaError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn write_file(path: &Path, text: &str, secret: bool) -> Result<(), CaError> {
    write_bytes(path, text.as_bytes(), secret)
}

/// Writes a file; secrets get mode 0600 from creation on (never world-readable, not even briefly).
fn write_bytes(path: &Path, bytes: &[u8], secret: bool) -> Result<(), CaError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| io(path, e))?;
    // `mode` applies only when the file is created; tighten an existing file too.
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(|e| io(path, e))?;
    }
    file.write_all(bytes).map_err(|e| io(path, e))?;
    file.sync_all().map_err(|e| io(path, e))
}
