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
    BaseUrlNotInSan { uri: String, sans: Vec<String>, base_url: String },
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
    record.revocation.parse().map_err(|_| CommunityError::Trust {
        uri: record.uri.clone(),
        problem: format!("unknown revocation policy `{}` (use fail-closed or fail-open)", record.revocation),
    })
}

/// Builds a servable community from its record, checking everything that can be checked offline.
/// `now` is used for the signing certificate's path check; revocation of our own certificate is
/// not enforced here (an administrator may add a community before its CRL is reachable).
pub fn build(record: &CommunityRecord, fetcher: Arc<CrlFetcher>, now: i64) -> Result<Community, CommunityError> {
    let uri = record.uri.clone();
    check_uri(&uri)?;
    let trust = TrustCommunity::from_pem(&uri, &record.anchors_pem, &record.intermediates_pem, &record.crls_pem, policy_revocation(record)?, fetcher.clone())
        .map_err(|e| CommunityError::Trust { uri: uri.clone(), problem: e.to_string() })?;

    let chain = X509::stack_from_pem(record.signing_chain_pem.as_bytes())
        .map_err(|e| CommunityError::Trust { uri: uri.clone(), problem: format!("signing chain is not PEM certificates: {e}") })?;
    let leaf = chain
        .first()
        .ok_or_else(|| CommunityError::Trust { uri: uri.clone(), problem: "signing chain holds no certificate".into() })?;
    let key = PKey::private_key_from_pem(record.signing_key_pem.as_bytes())
        .map_err(|_| CommunityError::Trust { uri: uri.clone(), problem: "signing key is not a PEM private key".into() })?;
    let leaf_key = leaf
        .public_key()
        .map_err(|e| CommunityError::Trust { uri: uri.clone(), problem: format!("signing certificate has no usable public key: {e}") })?;
    if !leaf_key.public_eq(&key) {
        return Err(CommunityError::KeyMismatch { uri });
    }
    match key.rsa() {
        Ok(rsa) if rsa.size() * 8 >= 2048 => {}
        Ok(rsa) => return Err(CommunityError::SigningKeyNotRsa { uri, problem: format!("it has {} bits", rsa.size() * 8) }),
        Err(_) => return Err(CommunityError::SigningKeyNotRsa { uri, problem: "it is not an RSA key".into() }),
    }

    // The signing chain must itself be trusted by the community, or clients will reject our metadata.
    let ders: Vec<Vec<u8>> = chain.iter().filter_map(|c| c.to_der().ok()).collect();
    let path_only = TrustCommunity::from_pem(&uri, &record.anchors_pem, &record.intermediates_pem, &record.crls_pem, RevocationPolicy::FailOpen, Arc::new(CrlFetcher::offline()))
        .map_err(|e| CommunityError::Trust { uri: uri.clone(), problem: e.to_string() })?;
    let validated = pki::validate_chain(&ders, &path_only, now)
        .map_err(|e| CommunityError::SigningCertUntrusted { uri: uri.clone(), problem: e.to_string() })?;

    let policy: CommunityPolicy = serde_json::from_value(serde_json::Value::Object(record.settings.clone()))
        .map_err(|e| CommunityError::Trust { uri: uri.clone(), problem: format!("settings: {e}") })?;
    if let Some(missing) = policy.certifications_required.iter().find(|r| !policy.certifications_supported.contains(r)) {
        return Err(CommunityError::Trust { uri, problem: format!("required certification {missing} is not listed as supported") });
    }
    let certifier_trust = if policy.certifier_anchors_pem.is_empty() {
        if !policy.certifications_required.is_empty() {
            return Err(CommunityError::Trust { uri, problem: "certifications are required but no certifier anchors are configured".into() });
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
                .map_err(|e| CommunityError::Trust { uri: uri.clone(), problem: format!("certifier anchors: {e}") })?,
        )
    };

    let signer = Signer::from_pem(&record.signing_key_pem, Some(&record.signing_chain_pem))
        .map_err(|e| CommunityError::Trust { uri: uri.clone(), problem: format!("signing key: {e}") })?;
    Ok(Community { uri, trust, policy, certifier_trust, signer, signing_sans: validated.san_uris, is_default: record.is_default, record: record.clone() })
}

/// Builds every stored community and checks that each signing certificate names `base_url` as a
/// SAN URI (UDAP-10: signed metadata `iss` = base URL = a SAN URI of the signing leaf).
pub fn build_all(records: &[CommunityRecord], base_url: &str, fetcher: Arc<CrlFetcher>, now: i64) -> Result<CommunitySet, CommunityError> {
    let mut set = CommunitySet::default();
    for record in records {
        let c = build(record, fetcher.clone(), now)?;
        if !c.signing_sans.iter().any(|s| s == base_url) {
            return Err(CommunityError::BaseUrlNotInSan { uri: c.uri.clone(), sans: c.signing_sans.clone(), base_url: base_url.to_string() });
        }
        if c.is_default || set.default_uri.is_none() {
            set.default_uri = Some(c.uri.clone());
        }
        set.by_uri.insert(c.uri.clone(), Arc::new(c));
    }
    Ok(set)
}
