//! `udap-server community ...`: add, list, show, remove trust communities and choose the default.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Subcommand;
use serde_json::json;

use crate::community;
use crate::pki::{CrlFetcher, RevocationPolicy};
use crate::store::CommunityRecord;

use super::emit;

#[derive(Debug, Subcommand)]
pub enum CommunityCommand {
    /// Add (or replace) a trust community.
    ///
    /// Reads the PEM files and stores their contents in the database, after checking that the
    /// signing key matches the signing certificate, that the certificate chains to an anchor, and
    /// that the key is RSA (signed metadata is RS256).
    #[command(after_help = "\
Example:
  udap-server ca init --dir ./my-ca --intermediate
  udap-server ca issue --dir ./my-ca --server --san https://as.example.org/fhir --out ./server
  udap-server community add --uri urn:example:community --anchor ./my-ca/root.pem \\
      --intermediate ./my-ca/intermediate.pem --signing-cert ./server.pem --signing-key ./server.key --default")]
    Add {
        /// The community's identifier, a URI (clients send it as ?community=).
        #[arg(long)]
        uri: String,
        /// Trust anchor certificate(s) (PEM); repeat for several.
        #[arg(long = "anchor", required = true)]
        anchors: Vec<PathBuf>,
        /// Intermediate CA certificate(s) clients may omit from x5c (PEM); repeat for several.
        #[arg(long = "intermediate")]
        intermediates: Vec<PathBuf>,
        /// Certificate revocation list(s) (PEM or DER); repeat for several.
        #[arg(long = "crl")]
        crls: Vec<PathBuf>,
        /// The server's certificate chain in this community, leaf first (PEM); its SAN URI must be the base URL.
        #[arg(long)]
        signing_cert: PathBuf,
        /// The private key of the signing certificate (PEM, RSA >= 2048 bits).
        #[arg(long)]
        signing_key: PathBuf,
        /// When a certificate's revocation status cannot be determined: reject (fail-closed) or accept (fail-open).
        #[arg(long, default_value = "fail-closed")]
        revocation: RevocationPolicy,
        /// Make this the default community (served when no ?community= is given).
        #[arg(long)]
        default: bool,
    },
    /// List communities.
    List,
    /// Show one community: anchors, intermediates, CRLs and the signing certificate.
    Show {
        /// The community URI.
        uri: String,
    },
    /// Remove a community (its registered clients stop getting tokens).
    Remove {
        /// The community URI.
        uri: String,
    },
    /// Make a community the default one.
    SetDefault {
        /// The community URI.
        uri: String,
    },
    /// Set a community's policy: hl7-b2b requirement and purposes, certifications.
    #[command(after_help = "\
The policy file is a JSON object with any of: b2b_required (bool), purpose_of_use_allowed (codes or
URIs; empty accepts any), certifications_supported, certifications_required (URIs),
certifier_anchors_pem, certifier_intermediates_pem, certifier_crls_pem (PEM strings).

Examples:
  udap-server community set-policy urn:example:community --b2b-required true --purpose-of-use TREAT --purpose-of-use PAYMENT
  udap-server community set-policy urn:example:community --file policy.json")]
    SetPolicy {
        /// The community URI.
        uri: String,
        /// Replace the whole policy with this JSON file.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Require the hl7-b2b extension on client_credentials requests (UDAP-29).
        #[arg(long)]
        b2b_required: Option<bool>,
        /// Allowed hl7-b2b purpose_of_use codes (repeat); replaces the list.
        #[arg(long = "purpose-of-use")]
        purpose_of_use: Vec<String>,
    },
    /// Replace a community's configured CRLs (e.g. after `ca crl`).
    SetCrls {
        /// The community URI.
        uri: String,
        /// CRL file(s) (PEM or DER); none clears the list.
        #[arg(long = "crl")]
        crls: Vec<PathBuf>,
    },
}

fn read_text(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} file {}", path.display()))
}

/// CRLs may come as PEM or DER; they are stored as PEM.
fn read_crl(path: &Path) -> anyhow::Result<String> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read CRL file {}", path.display()))?;
    let crl = openssl::x509::X509Crl::from_pem(&bytes)
        .or_else(|_| openssl::x509::X509Crl::from_der(&bytes))
        .with_context(|| format!("{} is not a CRL (PEM or DER)", path.display()))?;
    Ok(String::from_utf8(crl.to_pem()?)?)
}

pub fn run(
    cmd: CommunityCommand,
    target: &super::StoreTarget,
    json_out: bool,
) -> anyhow::Result<()> {
    let store = target.open()?;
    let now = chrono::Utc::now().timestamp();
    match cmd {
        CommunityCommand::Add {
            uri,
            anchors,
            intermediates,
            crls,
            signing_cert,
            signing_key,
            revocation,
            default,
        } => {
            let existing = store.communities().get(&uri)?;
            let record = CommunityRecord {
                uri: uri.clone(),
                anchors_pem: anchors
                    .iter()
                    .map(|p| read_text(p, "anchor"))
                    .collect::<Result<_, _>>()?,
                intermediates_pem: intermediates
                    .iter()
                    .map(|p| read_text(p, "intermediate"))
                    .collect::<Result<_, _>>()?,
                crls_pem: crls.iter().map(|p| read_crl(p)).collect::<Result<_, _>>()?,
                signing_chain_pem: read_text(&signing_cert, "signing certificate")?,
                signing_key_pem: crate::kek::seal_community_key(
                    &uri,
                    &read_text(&signing_key, "signing key")?,
                )?,
                revocation: revocation.to_string(),
                is_default: default || existing.as_ref().is_some_and(|e| e.is_default),
                created_at: existing.as_ref().map_or(now, |e| e.created_at),
                updated_at: now,
                settings: existing.map(|e| e.settings).unwrap_or_default(),
                crl_files: Vec::new(),
            };
            let built = community::build(&record, Arc::new(CrlFetcher::new()), now)?;
            store.communities().put(record)?;
            if default {
                store.communities().set_default(&uri)?;
            }
            let is_default = store.communities().get(&uri)?.is_some_and(|r| r.is_default);
            emit(
                json_out,
                &json!({"uri": uri, "default": is_default, "signing_san_uris": built.signing_sans}),
                || {
                    format!(
                    "community {uri} saved{}\nserver signing certificate SAN URIs: {}\n(the server's --base-url must be one of them)",
                    if is_default { " (default)" } else { "" },
                    built.signing_sans.join(", ")
                )
                },
            )
        }
        CommunityCommand::List => {
            let list = store.communities().list()?;
            let rows: Vec<_> = list
                .iter()
                .map(|r| json!({"uri": r.uri, "default": r.is_default, "anchors": r.anchors_pem.len(), "intermediates": r.intermediates_pem.len(), "crls": r.crls_pem.len(), "revocation": r.revocation}))
                .collect();
            let embedded = store.is_embedded();
            emit(json_out, &json!(rows), || {
                if list.is_empty() && embedded {
                    return "no communities (serve creates a development community on first start)"
                        .into();
                }
                if list.is_empty() {
                    return "no communities (serve needs one in the shared database: `udap-server community add --help`)".into();
                }
                list.iter()
                    .map(|r| {
                        format!(
                            "{}{}  anchors={} intermediates={} crls={} revocation={}",
                            r.uri,
                            if r.is_default { " (default)" } else { "" },
                            r.anchors_pem.len(),
                            r.intermediates_pem.len(),
                            r.crls_pem.len(),
                            r.revocation
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        CommunityCommand::Show { uri } => {
            let Some(r) = store.communities().get(&uri)? else {
                bail!("no community {uri}; see `udap-server community list`")
            };
            let describe = |pems: &[String]| -> Vec<serde_json::Value> {
                pems.iter()
                    .flat_map(|p| openssl::x509::X509::stack_from_pem(p.as_bytes()).unwrap_or_default())
                    .map(|c| json!({"subject": crate::pki::subject_string(&c), "not_after": c.not_after().to_string()}))
                    .collect()
            };
            let v = json!({
                "uri": r.uri, "default": r.is_default, "revocation": r.revocation,
                "anchors": describe(&r.anchors_pem), "intermediates": describe(&r.intermediates_pem),
                "signing_chain": describe(std::slice::from_ref(&r.signing_chain_pem)), "crls": r.crls_pem.len(),
                "settings": r.settings,
            });
            emit(json_out, &v, || {
                serde_json::to_string_pretty(&v).unwrap_or_default()
            })
        }
        CommunityCommand::Remove { uri } => {
            if !store.communities().remove(&uri)? {
                bail!("no community {uri}; see `udap-server community list`");
            }
            emit(json_out, &json!({"removed": uri}), || {
                format!("community {uri} removed")
            })
        }
        CommunityCommand::SetDefault { uri } => {
            store.communities().set_default(&uri)?;
            emit(json_out, &json!({"default": uri}), || {
                format!("community {uri} is now the default")
            })
        }
        CommunityCommand::SetPolicy {
            uri,
            file,
            b2b_required,
            purpose_of_use,
        } => {
            let Some(mut r) = store.communities().get(&uri)? else {
                bail!("no community {uri}; see `udap-server community list`")
            };
            if let Some(path) = file {
                let v: serde_json::Value = serde_json::from_str(&read_text(&path, "policy")?)
                    .with_context(|| format!("{} is not JSON", path.display()))?;
                r.settings = v
                    .as_object()
                    .cloned()
                    .with_context(|| format!("{} must hold a JSON object", path.display()))?;
            }
            if let Some(b) = b2b_required {
                r.settings.insert("b2b_required".into(), json!(b));
            }
            if !purpose_of_use.is_empty() {
                r.settings
                    .insert("purpose_of_use_allowed".into(), json!(purpose_of_use));
            }
            r.updated_at = now;
            // Validates the policy (unknown keys, required-but-unsupported certifications) before saving.
            community::build(&r, Arc::new(CrlFetcher::offline()), now)?;
            store.communities().put(r.clone())?;
            emit(
                json_out,
                &json!({"uri": uri, "settings": r.settings}),
                || {
                    format!(
                        "community {uri}: policy saved\n{}",
                        serde_json::to_string_pretty(&r.settings).unwrap_or_default()
                    )
                },
            )
        }
        CommunityCommand::SetCrls { uri, crls } => {
            let Some(mut r) = store.communities().get(&uri)? else {
                bail!("no community {uri}; see `udap-server community list`")
            };
            r.crls_pem = crls.iter().map(|p| read_crl(p)).collect::<Result<_, _>>()?;
            r.updated_at = now;
            community::build(&r, Arc::new(CrlFetcher::new()), now)?;
            store.communities().put(r.clone())?;
            emit(
                json_out,
                &json!({"uri": uri, "crls": r.crls_pem.len()}),
                || format!("community {uri}: {} CRL(s) configured", r.crls_pem.len()),
            )
        }
    }
}
