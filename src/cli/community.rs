//! `udap-server community ...`: add, list, show, remove trust communities and choose the default.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use crate::admin::community::CommunityOp;
use crate::admin::{AdminOp, Secret};
use crate::pki::RevocationPolicy;
use crate::store::CrlFile;

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
  udap-server ca issue --dir ./my-ca --server-cert --san https://as.example.org/fhir --out ./server
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
        /// Certificate revocation list file(s) (PEM or DER); repeat for several. A running server
        /// re-reads a file when it changes (--crl-file-poll-secs), so the path must exist on the
        /// server's machine.
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
    /// Change parts of a community while it is served: its anchors, intermediates, revocation
    /// policy, or the server's signing certificate (renewal). Parts not given stay as they are; the
    /// result is checked whole before it is saved.
    #[command(after_help = "\
Examples:
  # A renewed signing certificate for the same key
  udap-server community update urn:example:community --signing-cert ./server-2027.pem
  # A new key too, and a second anchor
  udap-server community update urn:example:community --signing-cert ./server.pem --signing-key ./server.key
  # A second anchor, with every CRL the community needs
  udap-server community update urn:example:community --anchor ./root-a.pem --anchor ./root-b.pem \\
      --crl ./a-root.crl --crl ./a-intermediate.crl --crl ./b-root.crl --crl ./b-intermediate.crl")]
    Update {
        /// The community URI.
        uri: String,
        /// Replace the trust anchors with these (PEM); repeat for several.
        #[arg(long = "anchor")]
        anchors: Vec<PathBuf>,
        /// Replace the intermediates with these (PEM); repeat for several.
        #[arg(long = "intermediate")]
        intermediates: Vec<PathBuf>,
        /// Remove every configured intermediate.
        #[arg(long, conflicts_with = "intermediates")]
        no_intermediates: bool,
        /// Replace the configured CRLs with these (PEM or DER); repeat for several. A new anchor
        /// usually comes with its CRLs (fail-closed revocation needs them).
        #[arg(long = "crl")]
        crls: Vec<PathBuf>,
        /// The server's renewed certificate chain in this community, leaf first (PEM).
        #[arg(long)]
        signing_cert: Option<PathBuf>,
        /// The signing certificate's private key (PEM), when it changed.
        #[arg(long, requires = "signing_cert")]
        signing_key: Option<PathBuf>,
        /// fail-closed or fail-open.
        #[arg(long)]
        revocation: Option<RevocationPolicy>,
    },
    /// Replace a community's configured CRLs (e.g. after `ca crl`).
    SetCrls {
        /// The community URI.
        uri: String,
        /// CRL file(s) (PEM or DER), re-read by the server when they change; none clears the list.
        #[arg(long = "crl")]
        crls: Vec<PathBuf>,
    },
}

fn read_text(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} file {}", path.display()))
}

fn read_all(paths: &[PathBuf], what: &str) -> anyhow::Result<Vec<String>> {
    paths.iter().map(|p| read_text(p, what)).collect()
}

/// CRL files (PEM or DER), remembered by absolute path so the server re-reads them on change.
fn read_crls(paths: &[PathBuf]) -> anyhow::Result<Vec<CrlFile>> {
    paths
        .iter()
        .map(|p| {
            let absolute = std::path::absolute(p)
                .with_context(|| format!("cannot resolve the CRL file path {}", p.display()))?;
            Ok(crate::community::read_crl_file(&absolute)?)
        })
        .collect()
}

/// The op for a command: files are read here, on the administrator's machine.
fn to_op(cmd: CommunityCommand) -> anyhow::Result<CommunityOp> {
    Ok(match cmd {
        CommunityCommand::Add {
            uri,
            anchors,
            intermediates,
            crls,
            signing_cert,
            signing_key,
            revocation,
            default,
        } => CommunityOp::Add {
            anchors_pem: read_all(&anchors, "anchor")?,
            intermediates_pem: read_all(&intermediates, "intermediate")?,
            crl_files: read_crls(&crls)?,
            signing_chain_pem: read_text(&signing_cert, "signing certificate")?,
            signing_key_pem: Secret::new(read_text(&signing_key, "signing key")?),
            revocation: revocation.to_string(),
            default,
            uri,
        },
        CommunityCommand::List => CommunityOp::List,
        CommunityCommand::Show { uri } => CommunityOp::Show { uri },
        CommunityCommand::Remove { uri } => CommunityOp::Remove { uri },
        CommunityCommand::SetDefault { uri } => CommunityOp::SetDefault { uri },
        CommunityCommand::Update {
            uri,
            anchors,
            intermediates,
            no_intermediates,
            crls,
            signing_cert,
            signing_key,
            revocation,
        } => CommunityOp::Update {
            uri,
            anchors_pem: (!anchors.is_empty())
                .then(|| read_all(&anchors, "anchor"))
                .transpose()?,
            intermediates_pem: if no_intermediates {
                Some(Vec::new())
            } else {
                (!intermediates.is_empty())
                    .then(|| read_all(&intermediates, "intermediate"))
                    .transpose()?
            },
            crl_files: (!crls.is_empty()).then(|| read_crls(&crls)).transpose()?,
            signing_chain_pem: signing_cert
                .map(|p| read_text(&p, "signing certificate"))
                .transpose()?,
            signing_key_pem: signing_key
                .map(|p| read_text(&p, "signing key").map(Secret::new))
                .transpose()?,
            revocation: revocation.map(|r| r.to_string()),
        },
        CommunityCommand::SetPolicy {
            uri,
            file,
            b2b_required,
            purpose_of_use,
        } => {
            let replace =
                match file {
                    Some(path) => {
                        let v: serde_json::Value =
                            serde_json::from_str(&read_text(&path, "policy")?)
                                .with_context(|| format!("{} is not JSON", path.display()))?;
                        Some(v.as_object().cloned().with_context(|| {
                            format!("{} must hold a JSON object", path.display())
                        })?)
                    }
                    None => None,
                };
            CommunityOp::SetPolicy {
                uri,
                replace,
                b2b_required,
                purpose_of_use,
            }
        }
        CommunityCommand::SetCrls { uri, crls } => CommunityOp::SetCrls {
            uri,
            crl_files: read_crls(&crls)?,
        },
    })
}

pub fn run(
    cmd: CommunityCommand,
    target: &super::StoreTarget,
    json_out: bool,
) -> anyhow::Result<()> {
    super::run_op(AdminOp::Community(to_op(cmd)?), target, json_out, None)
}
