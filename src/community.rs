//! Trust communities as the running server sees them: the stored record turned into a validated
//! trust store (`pki::TrustCommunity`) plus the server's signing identity in that community.
//!
//! Records are checked here both when an administrator adds one and when the server starts, so a
//! half-valid community can never be served (design habit 8: validate at construction, fail closed).

use std::collections::BTreeMap;
use std::sync::Arc;

use openssl::pkey::PKey;
use openssl::x509::X509;

use crate::jose::Signer;
use crate::pki::{self, CrlFetcher, RevocationPolicy, TrustCommunity};
use crate::store::CommunityRecord;

// Issue 10 item 3: CRLs configured by file path, re-read when the file changes.
mod crl_files;
pub use crl_files::{
    read_crl_file, CrlFileError, CrlFileStats, CrlFileWatch, CrlFileWatcher,
    DEFAULT_CRL_FILE_POLL_SECS,
};

/// Why a community cannot be used; each message says what the administrator must fix.
#[derive(Debug, thiserror::Error)]
pub enum CommunityError {
    #[error("community URI `{0}` is not an absolute URI (e.g. urn:example:community or https://community.example)")]
    BadUri(String),
    #[error("community {uri}: {problem}")]
    Trust { uri: String, problem: String },
    #[error("community {uri}: the signing key does not belong to the signing certificate (the first certificate in the signing chain)")]
    KeyMismatch { uri: String },
    #[error("community {uri}: signed metadata must be RS256 (UDAP-10), so the signing key must be RSA of at least 2048 bits; {problem}")]
    SigningKeyNotRsa { uri: String, problem: String },
    #[error("community {uri}: the signing certificate does not chain to the community's anchors: {problem}")]
    SigningCertUntrusted { uri: String, problem: String },
    #[error("community {uri}: the signing certificate's SAN URIs {sans:?} do not include the base URL `{base_url}`; issue a server certificate with SAN URI {base_url} (UDAP-10)")]
    BaseUrlNotInSan {
        uri: String,
        sans: Vec<String>,
        base_url: String,
    },
}

/// Per-community policy, stored in the community record's `settings` (all optional).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommunityPolicy {
    /// Certification URIs this community recognises (UDAP-9 `udap_certifications_supported`).
    #[serde(default)]
    pub certifications_supported: Vec<String>,
    /// Certifications every registration must carry (UDAP-17, listed in `udap_certifications_required`).
    #[serde(default)]
    pub certifications_required: Vec<String>,
    /// Anchors of the certifiers whose certifications count (PEM).
    #[serde(default)]
    pub certifier_anchors_pem: Vec<String>,
    /// Intermediates and CRLs of the certifiers (PEM); revocation follows the community's policy.
    #[serde(default)]
    pub certifier_intermediates_pem: Vec<String>,
    #[serde(default)]
    pub certifier_crls_pem: Vec<String>,
    /// Require the hl7-b2b extension on every client_credentials token request (UDAP-29).
    #[serde(default)]
    pub b2b_required: bool,
    /// Allowed hl7-b2b purpose_of_use codes; empty accepts any (UDAP-30: Inferno sends SYSDEV).
    #[serde(default)]
    pub purpose_of_use_allowed: Vec<String>,
    /// HTI1-1: exempt this community's UDAP (private_key_jwt) clients from PKCE at /authorize.
    /// Default false: PKCE required. The public UDAP STU1 test kit sends no PKCE.
    #[serde(default)]
    pub pkce_exempt_udap: bool,
}

/// A community ready to serve.
pub struct Community {
    pub uri: String,
    pub trust: TrustCommunity,
    pub policy: CommunityPolicy,
    /// Trust store for certifications (UDAP-17), when the community names certifier anchors.
    pub certifier_trust: Option<TrustCommunity>,
    /// Signs `signed_metadata` for this community (UDAP-10, UDAP-11).
    pub signer: Signer,
    pub signing_sans: Vec<String>,
    pub is_default: bool,
    pub record: CommunityRecord,
}

/// All configured communities, keyed by URI, with the default one marked.
#[derive(Default)]
pub struct CommunitySet {
    by_uri: BTreeMap<String, Arc<Community>>,
    default_uri: Option<String>,
}

impl CommunitySet {
    pub fn get(&self, uri: &str) -> Option<&Arc<Community>> {
        self.by_uri.get(uri)
    }
    pub fn default_community(&self) -> Option<&Arc<Community>> {
        self.default_uri.as_deref().and_then(|u| self.by_uri.get(u))
    }
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Community>> {
        self.by_uri.values()
    }
    pub fn len(&self) -> usize {
        self.by_uri.len()
    }
    pub fn is_empty(&self) -> bool {
        self.by_uri.is_empty()
    }
}

/// Community ids are URIs (UDAP-11 `community` parameter).
pub fn check_uri(uri: &str) -> Result<(), CommunityError> {
    match url::Url::parse(uri) {
        Ok(u) if !u.scheme().is_empty() => Ok(()),
        _ => Err(CommunityError::BadUri(uri.to_string())),
    }
}

fn policy_revocation(record: &CommunityRecord) -> Result<RevocationPolicy, CommunityError> {
    record
        .revocation
        .parse()
        .map_err(|_| CommunityError::Trust {
            uri: record.uri.clone(),
            problem: format!(
                "unknown revocation policy `{}` (use fail-closed or fail-open)",
                record.revocation
            ),
        })
}

/// The CRLs a record puts in force: the stored PEM ones, then those read from files (issue 10
/// item 3).
fn crls_in_force(record: &CommunityRecord) -> Vec<String> {
    record
        .crls_pem
        .iter()
        .chain(record.crl_files.iter().map(|f| &f.pem))
        .cloned()
        .collect()
}

/// Builds a servable community from its record, checking everything that can be checked offline.
/// `now` is used for the signing certificate's path check; revocation of our own certificate is
/// not enforced here (an administrator may add a community before its CRL is reachable).
pub fn build(
    record: &CommunityRecord,
    fetcher: Arc<CrlFetcher>,
    now: i64,
) -> Result<Community, CommunityError> {
    let uri = record.uri.clone();
    check_uri(&uri)?;
    let crls = crls_in_force(record);
    let trust = TrustCommunity::from_pem(
        &uri,
        &record.anchors_pem,
        &record.intermediates_pem,
        &crls,
        policy_revocation(record)?,
        fetcher.clone(),
    )
    .map_err(|e| CommunityError::Trust {
        uri: uri.clone(),
        problem: e.to_string(),
    })?;

    let chain = X509::stack_from_pem(record.signing_chain_pem.as_bytes()).map_err(|e| {
        CommunityError::Trust {
            uri: uri.clone(),
            problem: format!("signing chain is not PEM certificates: {e}"),
        }
    })?;
    let leaf = chain.first().ok_or_else(|| CommunityError::Trust {
        uri: uri.clone(),
        problem: "signing chain holds no certificate".into(),
    })?;
    // Sealed at rest when a key-encryption key is configured (issue 9).
    let key_pem = crate::kek::configured()
        .and_then(|k| {
            crate::kek::open_stored(
                k,
                &crate::kek::community_key_context(&uri),
                &record.signing_key_pem,
            )
        })
        .map_err(|e| CommunityError::Trust {
            uri: uri.clone(),
            problem: format!("signing key: {e}"),
        })?;
    let key =
        PKey::private_key_from_pem(key_pem.as_bytes()).map_err(|_| CommunityError::Trust {
            uri: uri.clone(),
            problem: "signing key is not a PEM private key".into(),
        })?;
    let leaf_key = leaf.public_key().map_err(|e| CommunityError::Trust {
        uri: uri.clone(),
        problem: format!("signing certificate has no usable public key: {e}"),
    })?;
    if !leaf_key.public_eq(&key) {
        return Err(CommunityError::KeyMismatch { uri });
    }
    match key.rsa() {
        Ok(rsa) if rsa.size() * 8 >= 2048 => {}
        Ok(rsa) => {
            return Err(CommunityError::SigningKeyNotRsa {
                uri,
                problem: format!("it has {} bits", rsa.size() * 8),
            })
        }
        Err(_) => {
            return Err(CommunityError::SigningKeyNotRsa {
                uri,
                problem: "it is not an RSA key".into(),
            })
        }
    }

    // The signing chain must itself be trusted by the community, or clients will reject our metadata.
    let ders: Vec<Vec<u8>> = chain.iter().filter_map(|c| c.to_der().ok()).collect();
    let path_only = TrustCommunity::from_pem(
        &uri,
        &record.anchors_pem,
        &record.intermediates_pem,
        &crls,
        RevocationPolicy::FailOpen,
        Arc::new(CrlFetcher::offline()),
    )
    .map_err(|e| CommunityError::Trust {
        uri: uri.clone(),
        problem: e.to_string(),
    })?;
    let validated = pki::validate_chain(&ders, &path_only, now).map_err(|e| {
        CommunityError::SigningCertUntrusted {
            uri: uri.clone(),
            problem: e.to_string(),
        }
    })?;

    let policy: CommunityPolicy = serde_json::from_value(serde_json::Value::Object(
        record.settings.clone(),
    ))
    .map_err(|e| CommunityError::Trust {
        uri: uri.clone(),
        problem: format!("settings: {e}"),
    })?;
    if let Some(missing) = policy
        .certifications_required
        .iter()
        .find(|r| !policy.certifications_supported.contains(r))
    {
        return Err(CommunityError::Trust {
            uri,
            problem: format!("required certification {missing} is not listed as supported"),
        });
    }
    let certifier_trust = if policy.certifier_anchors_pem.is_empty() {
        if !policy.certifications_required.is_empty() {
            return Err(CommunityError::Trust {
                uri,
                problem: "certifications are required but no certifier anchors are configured"
                    .into(),
            });
        }
        None
    } else {
        let certifier_uri = format!("{uri}#certifiers");
        Some(
            TrustCommunity::from_pem(
                &certifier_uri,
                &policy.certifier_anchors_pem,
                &policy.certifier_intermediates_pem,
                &policy.certifier_crls_pem,
                policy_revocation(record)?,
                fetcher.clone(),
            )
            .map_err(|e| CommunityError::Trust {
                uri: uri.clone(),
                problem: format!("certifier anchors: {e}"),
            })?,
        )
    };

    let signer = Signer::from_pem(&key_pem, Some(&record.signing_chain_pem)).map_err(|e| {
        CommunityError::Trust {
            uri: uri.clone(),
            problem: format!("signing key: {e}"),
        }
    })?;
    Ok(Community {
        uri,
        trust,
        policy,
        certifier_trust,
        signer,
        signing_sans: validated.san_uris,
        is_default: record.is_default,
        record: record.clone(),
    })
}

/// Builds every stored community and checks that each signing certificate names `base_url` as a
/// SAN URI (UDAP-10: signed metadata `iss` = base URL = a SAN URI of the signing leaf).
pub fn build_all(
    records: &[CommunityRecord],
    base_url: &str,
    fetcher: Arc<CrlFetcher>,
    now: i64,
) -> Result<CommunitySet, CommunityError> {
    let mut set = CommunitySet::default();
    for record in records {
        let c = build(record, fetcher.clone(), now)?;
        if !c.signing_sans.iter().any(|s| s == base_url) {
            return Err(CommunityError::BaseUrlNotInSan {
                uri: c.uri.clone(),
                sans: c.signing_sans.clone(),
                base_url: base_url.to_string(),
            });
        }
        if c.is_default || set.default_uri.is_none() {
            set.default_uri = Some(c.uri.clone());
        }
        set.by_uri.insert(c.uri.clone(), Arc::new(c));
    }
    Ok(set)
}

/// The communities being served, replaced whole when the stored records change, so a change
/// made by an admin command or through another instance on the same database takes effect
/// without a restart (issue 9 item 4). Per-instance caches that belong to a community (its
/// validated chains) go with the old set.
pub struct LiveCommunities {
    current: parking_lot::RwLock<Arc<CommunitySet>>,
    /// SHA-256 of the records the current set was built from.
    digest: parking_lot::Mutex<[u8; 32]>,
    base_url: String,
    fetcher: Arc<CrlFetcher>,
}

/// What [`LiveCommunities::reload`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Reload {
    /// The records are as they were.
    Unchanged,
    /// The records changed and the new set is served.
    Replaced { communities: usize },
}

fn records_digest(records: &[CommunityRecord]) -> [u8; 32] {
    openssl::sha::sha256(&serde_json::to_vec(records).unwrap_or_default())
}

impl LiveCommunities {
    /// Builds the set from `records` (refusing a community that cannot be served).
    pub fn build(
        records: &[CommunityRecord],
        base_url: &str,
        fetcher: Arc<CrlFetcher>,
        now: i64,
    ) -> Result<Self, CommunityError> {
        let set = build_all(records, base_url, fetcher.clone(), now)?;
        Ok(LiveCommunities {
            current: parking_lot::RwLock::new(Arc::new(set)),
            digest: parking_lot::Mutex::new(records_digest(records)),
            base_url: base_url.to_string(),
            fetcher,
        })
    }

    /// The set to use for one request: a snapshot that a concurrent reload does not change.
    pub fn current(&self) -> Arc<CommunitySet> {
        self.current.read().clone()
    }

    /// Rebuilds the set when `records` differ from what is served. A change that cannot be served
    /// (an unreadable anchor, a key that does not match its certificate) is refused whole: the
    /// running set stays, and the error says what to fix.
    pub fn reload(&self, records: &[CommunityRecord], now: i64) -> Result<Reload, CommunityError> {
        let digest = records_digest(records);
        let mut served = self.digest.lock();
        if *served == digest {
            return Ok(Reload::Unchanged);
        }
        let set = build_all(records, &self.base_url, self.fetcher.clone(), now)?;
        // Per-instance caches go with the old set: its validated chains with its
        // `TrustCommunity`s, and the CRLs downloaded for it here (issue 9 item 4).
        self.fetcher.clear();
        let communities = set.len();
        *self.current.write() = Arc::new(set);
        *served = digest;
        Ok(Reload::Replaced { communities })
    }
}

/// How often a serving instance looks for community changes in the store. Changes made through
/// another instance or an admin command take effect within this interval (issue 9: within 5 s).
pub const COMMUNITY_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// A thread that reloads [`LiveCommunities`] when the stored records change. Dropping it stops
/// and joins the thread (and so lets go of its store handle).
pub struct CommunityPoller {
    stop: Option<std::sync::mpsc::SyncSender<()>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl CommunityPoller {
    pub fn spawn(
        live: Arc<LiveCommunities>,
        store: crate::store::Store,
        interval: std::time::Duration,
        clock: fn() -> i64,
    ) -> std::io::Result<Self> {
        let (stop, stop_rx) = std::sync::mpsc::sync_channel::<()>(0);
        let handle = std::thread::Builder::new().name("udap-community-poller".into()).spawn(move || {
            // The last refused change, so a bad record is reported once, not every interval.
            let mut refused: Option<String> = None;
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop_rx.recv_timeout(interval) {
                let records = match store.communities().list() {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the communities; will retry");
                        continue;
                    }
                };
                match live.reload(&records, clock()) {
                    Ok(Reload::Unchanged) => {}
                    Ok(Reload::Replaced { communities }) => {
                        refused = None;
                        tracing::info!(communities, "communities changed in the store; now serving the new set");
                    }
                    Err(e) => {
                        let text = e.to_string();
                        if refused.as_deref() != Some(text.as_str()) {
                            tracing::error!(error = %text, "a changed community cannot be served; still serving the previous set (fix it with `udap-server community ...`)");
                            refused = Some(text);
                        }
                    }
                }
            }
        })?;
        Ok(CommunityPoller {
            stop: Some(stop),
            handle: Some(handle),
        })
    }
}

impl Drop for CommunityPoller {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod live_tests {
    use super::*;
    use crate::pki::ca::CertSpec;
    use crate::pki::testing::TestPki;

    fn record(pki: &TestPki, uri: &str, base_url: &str) -> CommunityRecord {
        let server = pki
            .issue_leaf(&CertSpec::leaf("udap-server", base_url, pki.now))
            .unwrap();
        CommunityRecord {
            uri: uri.into(),
            anchors_pem: vec![pki.root.cert_pem.clone()],
            intermediates_pem: vec![],
            crls_pem: vec![pki.root_crl_pem.clone(), pki.intermediate_crl_pem.clone()],
            signing_chain_pem: format!("{}{}", server.cert_pem, pki.intermediate.cert_pem),
            signing_key_pem: server.key_pem,
            revocation: "fail-closed".into(),
            is_default: true,
            created_at: pki.now,
            updated_at: pki.now,
            settings: Default::default(),
            crl_files: Vec::new(),
        }
    }

    #[test]
    fn a_changed_record_is_served_and_a_bad_change_is_refused_whole() {
        // Issue 9 item 4 / issue 10: changes without restart; a bad change leaves the running set.
        let now = chrono::Utc::now().timestamp();
        let pki = TestPki::new(now).unwrap();
        let base = "https://as.example.org";
        let good = record(&pki, crate::pki::testing::COMMUNITY_URI, base);
        let live = LiveCommunities::build(
            std::slice::from_ref(&good),
            base,
            Arc::new(CrlFetcher::offline()),
            now,
        )
        .unwrap();
        assert_eq!(
            live.reload(std::slice::from_ref(&good), now).unwrap(),
            Reload::Unchanged
        );
        let mut second = record(&pki, "urn:example:second", base);
        second.is_default = false;
        assert_eq!(
            live.reload(&[good.clone(), second.clone()], now).unwrap(),
            Reload::Replaced { communities: 2 }
        );
        assert!(live.current().get("urn:example:second").is_some());
        let mut broken = second.clone();
        broken.signing_key_pem = "not a key".into();
        assert!(live.reload(&[good.clone(), broken], now).is_err());
        assert_eq!(live.current().len(), 2, "the running set stays");
        assert_eq!(
            live.reload(std::slice::from_ref(&good), now).unwrap(),
            Reload::Replaced { communities: 1 }
        );
    }
}
