//! Trust communities: add, list, show, remove, choose the default, update anchors, intermediates,
//! CRLs, policy and the server's signing certificate (issue 10 item 3).
//!
//! Every change is built into a servable community before it is saved, so a bad change (an
//! unreadable anchor, a key that does not match its certificate) is refused whole and the running
//! configuration stays as it was.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::community;
use crate::pki::CrlFetcher;
use crate::store::{CommunityRecord, CrlFile};

use super::{AdminContext, AdminError, Output, Secret};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CommunityOp {
    /// Add or replace a community.
    Add {
        uri: String,
        anchors_pem: Vec<String>,
        intermediates_pem: Vec<String>,
        /// CRLs by path: re-read by the server when the file changes.
        crl_files: Vec<CrlFile>,
        signing_chain_pem: String,
        signing_key_pem: Secret,
        revocation: String,
        default: bool,
    },
    List,
    Show {
        uri: String,
    },
    Remove {
        uri: String,
    },
    SetDefault {
        uri: String,
    },
    /// Replace only the parts given; the rest of the community stays.
    Update {
        uri: String,
        anchors_pem: Option<Vec<String>>,
        intermediates_pem: Option<Vec<String>>,
        /// Replaces every configured CRL.
        crl_files: Option<Vec<CrlFile>>,
        /// A renewed signing certificate; with `signing_key_pem` when the key changed too.
        signing_chain_pem: Option<String>,
        signing_key_pem: Option<Secret>,
        revocation: Option<String>,
    },
    SetPolicy {
        uri: String,
        /// Replaces the whole policy when given.
        replace: Option<Map<String, Value>>,
        b2b_required: Option<bool>,
        purpose_of_use: Vec<String>,
    },
    /// Replaces every configured CRL with these files.
    SetCrls {
        uri: String,
        crl_files: Vec<CrlFile>,
    },
}

impl CommunityOp {
    pub fn command(&self) -> &'static str {
        match self {
            CommunityOp::Add { .. } => "add",
            CommunityOp::List => "list",
            CommunityOp::Show { .. } => "show",
            CommunityOp::Remove { .. } => "remove",
            CommunityOp::SetDefault { .. } => "set-default",
            CommunityOp::Update { .. } => "update",
            CommunityOp::SetPolicy { .. } => "set-policy",
            CommunityOp::SetCrls { .. } => "set-crls",
        }
    }

    pub fn is_change(&self) -> bool {
        !matches!(self, CommunityOp::List | CommunityOp::Show { .. })
    }

    pub fn entity(&self) -> Option<String> {
        match self {
            CommunityOp::List => None,
            CommunityOp::Add { uri, .. }
            | CommunityOp::Show { uri }
            | CommunityOp::Remove { uri }
            | CommunityOp::SetDefault { uri }
            | CommunityOp::Update { uri, .. }
            | CommunityOp::SetPolicy { uri, .. }
            | CommunityOp::SetCrls { uri, .. } => Some(uri.clone()),
        }
    }
}

fn missing(uri: &str) -> AdminError {
    AdminError::not_found(format!(
        "no community {uri}; see `udap-server community list`"
    ))
}

/// Checks that `record` can be served (chains, key match, policy) without touching the network.
fn check(record: &CommunityRecord, now: i64) -> Result<community::Community, AdminError> {
    community::build(record, Arc::new(CrlFetcher::offline()), now)
        .map_err(|e| AdminError::invalid(format!("community {}: {e}", record.uri)))
}

fn seal_key(uri: &str, pem: &Secret) -> Result<String, AdminError> {
    crate::kek::seal_community_key(uri, pem.expose())
        .map_err(|e| AdminError::Internal(anyhow::Error::new(e).context("sealing the signing key")))
}

/// Saves a checked record and reports the signing certificate's SAN URIs.
fn save(
    ctx: &AdminContext<'_>,
    record: CommunityRecord,
    make_default: bool,
) -> Result<Output, AdminError> {
    let built = check(&record, ctx.now)?;
    let uri = record.uri.clone();
    ctx.store.communities().put(record)?;
    if make_default {
        ctx.store.communities().set_default(&uri)?;
    }
    let is_default = ctx
        .store
        .communities()
        .get(&uri)?
        .is_some_and(|r| r.is_default);
    Ok(Output::new(
        json!({"uri": uri, "default": is_default, "signing_san_uris": built.signing_sans}),
        format!(
            "community {uri} saved{}\nserver signing certificate SAN URIs: {}\n(the server's --base-url must be one of them)",
            if is_default { " (default)" } else { "" },
            built.signing_sans.join(", ")
        ),
    ))
}

/// Configured CRLs: stored inline plus files.
fn crl_count(r: &CommunityRecord) -> usize {
    r.crls_pem.len() + r.crl_files.len()
}

fn get(ctx: &AdminContext<'_>, uri: &str) -> Result<CommunityRecord, AdminError> {
    ctx.store
        .communities()
        .get(uri)?
        .ok_or_else(|| missing(uri))
}

pub fn execute(op: CommunityOp, ctx: &AdminContext<'_>) -> Result<Output, AdminError> {
    let now = ctx.now;
    match op {
        CommunityOp::Add {
            uri,
            anchors_pem,
            intermediates_pem,
            crl_files,
            signing_chain_pem,
            signing_key_pem,
            revocation,
            default,
        } => {
            let existing = ctx.store.communities().get(&uri)?;
            let record = CommunityRecord {
                uri: uri.clone(),
                anchors_pem,
                intermediates_pem,
                crls_pem: Vec::new(),
                crl_files,
                signing_chain_pem,
                signing_key_pem: seal_key(&uri, &signing_key_pem)?,
                revocation,
                is_default: default || existing.as_ref().is_some_and(|e| e.is_default),
                created_at: existing.as_ref().map_or(now, |e| e.created_at),
                updated_at: now,
                settings: existing.map(|e| e.settings).unwrap_or_default(),
            };
            save(ctx, record, default)
        }
        CommunityOp::List => {
            let list = ctx.store.communities().list()?;
            let rows: Vec<_> = list
                .iter()
                .map(|r| json!({"uri": r.uri, "default": r.is_default, "anchors": r.anchors_pem.len(), "intermediates": r.intermediates_pem.len(), "crls": crl_count(r), "revocation": r.revocation}))
                .collect();
            let text = if list.is_empty() && ctx.store.is_embedded() {
                "no communities (serve creates a development community on first start)".into()
            } else if list.is_empty() {
                "no communities (serve needs one in the shared database: `udap-server community add --help`)".into()
            } else {
                list.iter()
                    .map(|r| {
                        format!(
                            "{}{}  anchors={} intermediates={} crls={} revocation={}",
                            r.uri,
                            if r.is_default { " (default)" } else { "" },
                            r.anchors_pem.len(),
                            r.intermediates_pem.len(),
                            crl_count(r),
                            r.revocation
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Ok(Output::new(json!(rows), text))
        }
        CommunityOp::Show { uri } => {
            let r = get(ctx, &uri)?;
            let describe = |pems: &[String]| -> Vec<Value> {
                pems.iter()
                    .flat_map(|p| openssl::x509::X509::stack_from_pem(p.as_bytes()).unwrap_or_default())
                    .map(|c| json!({"subject": crate::pki::subject_string(&c), "not_after": c.not_after().to_string()}))
                    .collect()
            };
            Ok(Output::pretty(json!({
                "uri": r.uri, "default": r.is_default, "revocation": r.revocation,
                "anchors": describe(&r.anchors_pem), "intermediates": describe(&r.intermediates_pem),
                "signing_chain": describe(std::slice::from_ref(&r.signing_chain_pem)), "crls": crl_count(&r),
                "crl_files": r.crl_files.iter().map(|f| &f.path).collect::<Vec<_>>(),
                "settings": r.settings,
            })))
        }
        CommunityOp::Remove { uri } => {
            if !ctx.store.communities().remove(&uri)? {
                return Err(missing(&uri));
            }
            Ok(Output::new(
                json!({"removed": uri}),
                format!("community {uri} removed"),
            ))
        }
        CommunityOp::SetDefault { uri } => {
            get(ctx, &uri)?;
            ctx.store.communities().set_default(&uri)?;
            Ok(Output::new(
                json!({"default": uri}),
                format!("community {uri} is now the default"),
            ))
        }
        CommunityOp::Update {
            uri,
            anchors_pem,
            intermediates_pem,
            crl_files,
            signing_chain_pem,
            signing_key_pem,
            revocation,
        } => {
            let mut r = get(ctx, &uri)?;
            if anchors_pem.is_none()
                && intermediates_pem.is_none()
                && crl_files.is_none()
                && signing_chain_pem.is_none()
                && signing_key_pem.is_none()
                && revocation.is_none()
            {
                return Err(AdminError::invalid(
                    "nothing to update: give --anchor, --intermediate, --crl, --signing-cert (with --signing-key when the key changed) or --revocation",
                ));
            }
            if let Some(a) = anchors_pem {
                r.anchors_pem = a;
            }
            if let Some(i) = intermediates_pem {
                r.intermediates_pem = i;
            }
            if let Some(files) = crl_files {
                r.crls_pem.clear();
                r.crl_files = files;
            }
            if let Some(c) = signing_chain_pem {
                r.signing_chain_pem = c;
            }
            if let Some(k) = &signing_key_pem {
                r.signing_key_pem = seal_key(&uri, k)?;
            }
            if let Some(p) = revocation {
                r.revocation = p;
            }
            r.updated_at = now;
            save(ctx, r, false)
        }
        CommunityOp::SetPolicy {
            uri,
            replace,
            b2b_required,
            purpose_of_use,
        } => {
            let mut r = get(ctx, &uri)?;
            if let Some(map) = replace {
                r.settings = map;
            }
            if let Some(b) = b2b_required {
                r.settings.insert("b2b_required".into(), json!(b));
            }
            if !purpose_of_use.is_empty() {
                r.settings
                    .insert("purpose_of_use_allowed".into(), json!(purpose_of_use));
            }
            r.updated_at = now;
            // Validates the policy (unknown keys, required-but-unsupported certifications) first.
            check(&r, now)?;
            ctx.store.communities().put(r.clone())?;
            Ok(Output::new(
                json!({"uri": uri, "settings": r.settings}),
                format!(
                    "community {uri}: policy saved\n{}",
                    serde_json::to_string_pretty(&r.settings).unwrap_or_default()
                ),
            ))
        }
        CommunityOp::SetCrls { uri, crl_files } => {
            let mut r = get(ctx, &uri)?;
            r.crls_pem.clear();
            r.crl_files = crl_files;
            r.updated_at = now;
            check(&r, now)?;
            ctx.store.communities().put(r.clone())?;
            Ok(Output::new(
                json!({"uri": uri, "crls": crl_count(&r)}),
                format!(
                    "community {uri}: {} CRL(s) configured (files are re-read when they change)",
                    crl_count(&r)
                ),
            ))
        }
    }
}
