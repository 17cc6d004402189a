//! Zero configuration: when no community is configured, `serve` creates a development community
//! (root and intermediate CA, CRLs, a server certificate whose SAN URI is the base URL, and one
//! client certificate to try registration with) in `<data-dir>/certs/dev-community`, and says so
//! in the log. Later starts keep it working: a changed base URL gets a new server certificate and
//! CRLs are re-published before they go stale (the community is fail-closed like any other).
//!
//! Never used once an administrator has added a community of their own (design habit 8: no silent
//! fallback to self-made trust).

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Settings;
use crate::pki::ca::{CaDir, CaNames, KeyKind};
use crate::store::{CommunityRecord, Store, REVOCATION_FAIL_CLOSED};

/// The development community's URI.
pub const DEV_COMMUNITY_URI: &str = "urn:udap-server:dev-community";
/// SAN URI of the development client certificate.
pub const DEV_CLIENT_SAN: &str = "https://dev-client.localhost/udap";
const CRL_DAYS: u32 = 30;
/// Re-publish the CRLs when fewer than this many seconds of validity remain.
const CRL_REFRESH_MARGIN: i64 = 7 * 86_400;

/// Where the development CA lives.
pub fn ca_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("certs").join("dev-community")
}

/// Creates the development community if no community exists; keeps an existing one usable.
pub fn ensure(store: &Store, settings: &Settings, now: i64) -> anyhow::Result<()> {
    let communities = store.communities().list()?;
    if communities.is_empty() {
        return create(store, settings, now);
    }
    if let Some(record) = communities.into_iter().find(|c| c.uri == DEV_COMMUNITY_URI) {
        refresh(store, settings, record, now)?;
    }
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn create(store: &Store, settings: &Settings, now: i64) -> anyhow::Result<()> {
    let dir = ca_dir(&settings.data_dir);
    let mut ca = if dir.join(crate::pki::ca::CA_STATE_FILE).exists() {
        CaDir::open(&dir)?
    } else {
        CaDir::init(
            &dir,
            KeyKind::Rsa2048,
            true,
            &CaNames::for_community("udap-server development"),
            None,
            false,
            now,
        )?
    };
    let crls = ca.publish_crl(CRL_DAYS, now)?;
    let server = ca.issue_leaf(
        std::slice::from_ref(&settings.base_url),
        Some("udap-server development server"),
        KeyKind::Rsa2048,
        365,
        true,
        now,
    )?;
    let (server_pem, server_key) = CaDir::write_leaf(&server, &dir.join("server"), true)?;
    let client = ca.issue_leaf(
        &[DEV_CLIENT_SAN.to_string()],
        Some("udap-server development client"),
        KeyKind::Rsa2048,
        365,
        false,
        now,
    )?;
    let (client_pem, client_key) = CaDir::write_leaf(&client, &dir.join("client"), true)?;
    let intermediate = ca
        .intermediate_cert_path()
        .context("the development CA has no intermediate")?;
    let record = CommunityRecord {
        uri: DEV_COMMUNITY_URI.to_string(),
        anchors_pem: vec![read(&ca.root_cert_path())?],
        intermediates_pem: vec![read(&intermediate)?],
        crls_pem: crls
            .iter()
            .map(|c| read(&c.pem_path))
            .collect::<Result<_, _>>()?,
        signing_chain_pem: read(&server_pem)?,
        signing_key_pem: crate::kek::seal_community_key(DEV_COMMUNITY_URI, &read(&server_key)?)?,
        revocation: REVOCATION_FAIL_CLOSED.to_string(),
        is_default: true,
        created_at: now,
        updated_at: now,
        settings: Default::default(),
        crl_files: Vec::new(),
    };
    store.communities().put(record)?;
    tracing::warn!(
        community = DEV_COMMUNITY_URI,
        ca_dir = %dir.display(),
        anchor = %ca.root_cert_path().display(),
        server_certificate = %server_pem.display(),
        client_certificate = %client_pem.display(),
        client_key = %client_key.display(),
        client_san = DEV_CLIENT_SAN,
        "no trust community was configured: created a DEVELOPMENT community (for testing only; add your own with `udap-server community add`). Issue more client certificates with `udap-server ca issue --dir {}`",
        dir.display()
    );
    Ok(())
}

fn refresh(
    store: &Store,
    settings: &Settings,
    mut record: CommunityRecord,
    now: i64,
) -> anyhow::Result<()> {
    let dir = ca_dir(&settings.data_dir);
    if !dir.join(crate::pki::ca::CA_STATE_FILE).exists() {
        return Ok(()); // CA files removed by hand: leave the record as the administrator left it.
    }
    let mut ca = CaDir::open(&dir)?;
    let mut changed = false;
    let sans = openssl::x509::X509::from_pem(record.signing_chain_pem.as_bytes())
        .ok()
        .and_then(|c| c.to_der().ok())
        .and_then(|der| crate::pki::san_uris(&der).ok())
        .unwrap_or_default();
    if !sans.contains(&settings.base_url) {
        let server = ca.issue_leaf(
            std::slice::from_ref(&settings.base_url),
            Some("udap-server development server"),
            KeyKind::Rsa2048,
            365,
            true,
            now,
        )?;
        let (pem, key) = CaDir::write_leaf(&server, &dir.join("server"), true)?;
        record.signing_chain_pem = read(&pem)?;
        record.signing_key_pem = crate::kek::seal_community_key(DEV_COMMUNITY_URI, &read(&key)?)?;
        tracing::info!(base_url = %settings.base_url, "development community: issued a server certificate for the new base URL");
        changed = true;
    }
    let stale = record
        .crls_pem
        .iter()
        .any(|pem| crl_next_update(pem).is_none_or(|next| next < now + CRL_REFRESH_MARGIN));
    if stale || record.crls_pem.is_empty() {
        let crls = ca.publish_crl(CRL_DAYS, now)?;
        record.crls_pem = crls
            .iter()
            .map(|c| read(&c.pem_path))
            .collect::<Result<_, _>>()?;
        tracing::info!("development community: re-published its CRLs");
        changed = true;
    }
    if changed {
        record.updated_at = now;
        store.communities().put(record)?;
    }
    Ok(())
}

/// A PEM CRL's nextUpdate (unix seconds), read with x509-parser as `pki` does.
fn crl_next_update(pem: &str) -> Option<i64> {
    let der = openssl::x509::X509Crl::from_pem(pem.as_bytes())
        .ok()?
        .to_der()
        .ok()?;
    use x509_parser::prelude::{CertificateRevocationList, FromDer};
    let (_, crl) = CertificateRevocationList::from_der(&der).ok()?;
    crl.next_update().map(|t| t.timestamp())
}
