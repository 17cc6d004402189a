//! UDAP dynamic client registration (UDAP-13..22): create, update (replace-all) and cancel, as a
//! plain function over the request body. The HTTP handler only reads the body and maps errors.
//!
//! Order of checks follows the IG (UDAP-16): signature (4.1), trust (4.2), claims (4.3),
//! registration parameters (4.4). Nothing is written unless every check passes; the statement's
//! `jti` is recorded only then, so a rejected request never blocks a later valid one made with the
//! same certificate (Inferno runs its negative tests first with the same certificate).

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::community::{Community, CommunitySet};
use crate::jose::{check_time, AlgPolicy, TimeRules};
use crate::store::{ClientOrigin, ClientRecord, ClientStatus, Store};

use super::client_metadata::{self, IntendedUseVocabulary, MetadataError};
use super::error::{ErrorCode, OAuthError, Reason};
use super::udap_jwt::{self, UdapJwtError};
use super::urls::same_url;

/// Software statements live at most five minutes (UDAP-15).
pub const MAX_STATEMENT_LIFETIME: i64 = 300;
pub use crate::jose::CLOCK_SKEW;

/// Why a registration was refused; mapped to RFC 7591 / UDAP-19 codes in `From<RegistrationError>`.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("the request body must be a JSON object: {0}")]
    Body(String),
    #[error("the request must carry udap: \"1\" (UDAP Dynamic Client Registration version 1)")]
    UdapVersion,
    #[error("software_statement is required and must be a compact JWS")]
    MissingStatement,
    #[error("software statement: {0}")]
    Statement(UdapJwtError),
    #[error("software statement: {0}")]
    Claim(String),
    #[error("software statement jti has already been used")]
    Replay,
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("grant_types is empty (cancellation), but no registration exists for this iss in this community")]
    CancelUnknown,
    #[error("{0}")]
    Certification(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl From<RegistrationError> for OAuthError {
    /// UDAP-19: signature and claim failures → `invalid_software_statement`; trust failures →
    /// `unapproved_software_statement`; parameters → `invalid_client_metadata` / `invalid_redirect_uri`.
    fn from(e: RegistrationError) -> Self {
        let code = match &e {
            RegistrationError::Body(_) => ErrorCode::InvalidRequest,
            RegistrationError::UdapVersion | RegistrationError::CancelUnknown => {
                ErrorCode::InvalidClientMetadata
            }
            RegistrationError::MissingStatement
            | RegistrationError::Claim(_)
            | RegistrationError::Replay => ErrorCode::InvalidSoftwareStatement,
            // The one ChainError mapping: fixed client text, detail to the log.
            RegistrationError::Statement(UdapJwtError::Untrusted(c)) => {
                return OAuthError::from_chain_error(
                    ErrorCode::UnapprovedSoftwareStatement,
                    "software statement",
                    c,
                )
            }
            RegistrationError::Statement(_) => ErrorCode::InvalidSoftwareStatement,
            RegistrationError::Metadata(MetadataError::RedirectUri(_)) => {
                ErrorCode::InvalidRedirectUri
            }
            RegistrationError::Metadata(_) => ErrorCode::InvalidClientMetadata,
            RegistrationError::Certification(_) => ErrorCode::UnapprovedSoftwareStatement,
            RegistrationError::Store(e) => return OAuthError::internal(e),
        };
        let reason = if matches!(e, RegistrationError::Replay) {
            Reason::Replay
        } else {
            Reason::of_code(code)
        };
        OAuthError::new(code, e.to_string()).with_reason(reason)
    }
}

/// What a successful request did; the HTTP layer picks 201 for `Created`, 200 otherwise (UDAP-18, 20, 21).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationKind {
    Created,
    Updated,
    Cancelled,
}

/// The result: the stored client and the response body.
#[derive(Debug)]
pub struct RegistrationOutcome {
    pub kind: RegistrationKind,
    pub client: ClientRecord,
    pub body: Value,
}

/// What registration needs from the running server.
pub struct RegistrationContext<'a> {
    /// A snapshot of the communities served (`community::LiveCommunities::current`).
    pub communities: std::sync::Arc<CommunitySet>,
    pub policy: &'a AlgPolicy,
    /// This server's registration endpoint URL, which `aud` must contain (UDAP-15).
    pub registration_endpoint: &'a str,
    pub store: &'a Store,
    pub vocabulary: &'a IntendedUseVocabulary,
}

/// Handles one registration request body (UDAP-13..22).
pub fn register(
    ctx: &RegistrationContext<'_>,
    body: &[u8],
    now: i64,
) -> Result<RegistrationOutcome, RegistrationError> {
    let request: Map<String, Value> = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err(RegistrationError::Body("not an object".into())),
        Err(e) => {
            return Err(RegistrationError::Body(format!(
                "malformed JSON at line {} column {}",
                e.line(),
                e.column()
            )))
        }
    };
    // UDAP-14: `udap: "1"` signals UDAP DCR version 1.
    if request.get("udap").and_then(Value::as_str) != Some("1") {
        return Err(RegistrationError::UdapVersion);
    }
    let statement = request
        .get("software_statement")
        .and_then(Value::as_str)
        .ok_or(RegistrationError::MissingStatement)?;

    // UDAP-16 4.1 and 4.2: signature with the x5c leaf, then a trusted path in some community.
    let (community, verified) =
        udap_jwt::verify_in_any_community(statement, ctx.policy, &ctx.communities, now)
            .map_err(RegistrationError::Statement)?;
    let claims = &verified.claims;
    let reg = &verified.registered;

    // UDAP-16 4.3 / UDAP-15: the statement's claims.
    let iss = reg
        .iss
        .as_deref()
        .ok_or_else(|| RegistrationError::Claim("iss is required".into()))?;
    if !verified.chain.san_uris.iter().any(|s| s == iss) {
        return Err(RegistrationError::Claim(
            "iss must equal a subjectAltName URI of the x5c leaf certificate".into(),
        ));
    }
    if reg.sub.as_deref() != Some(iss) {
        return Err(RegistrationError::Claim("sub must equal iss".into()));
    }
    if !reg
        .aud
        .iter()
        .any(|a| same_url(a, ctx.registration_endpoint))
    {
        return Err(RegistrationError::Claim(format!(
            "aud must contain the registration endpoint {}",
            ctx.registration_endpoint
        )));
    }
    let rules = TimeRules {
        now,
        skew: CLOCK_SKEW,
        max_lifetime: Some(MAX_STATEMENT_LIFETIME),
        max_exp_ahead: None,
        require_iat: true,
    };
    check_time(reg, &rules).map_err(|e| RegistrationError::Claim(e.to_string()))?;
    let jti = reg
        .jti
        .as_deref()
        .filter(|j| !j.is_empty())
        .ok_or_else(|| RegistrationError::Claim("jti is required".into()))?;
    // UDAP-5: burned for as long as `check_time` above would accept the statement.
    let keep_until = rules.accepted_until(reg.exp.unwrap_or(now));

    // UDAP-21: an empty grant_types cancels the registration of this iss in this community.
    let grant_types = client_metadata::grant_types(claims)?;
    if grant_types.is_empty() {
        // Nothing to cancel: refused before the jti is burned.
        if ctx
            .store
            .clients()
            .find_by_identity(&community.uri, iss)?
            .is_none_or(|c| c.status == ClientStatus::Cancelled)
        {
            return Err(RegistrationError::CancelUnknown);
        }
        burn_jti(ctx.store, iss, jti, keep_until, now)?;
        // Read, check and write in one transaction (issue 8 item 8).
        let client = ctx
            .store
            .clients()
            .update_identity(&community.uri, iss, |existing| {
                let Some(mut client) = existing.filter(|c| c.status != ClientStatus::Cancelled)
                else {
                    return Err(RegistrationError::CancelUnknown);
                };
                client.status = ClientStatus::Cancelled;
                client.metadata.grant_types.clear();
                client.updated_at = now;
                Ok((Some(client.clone()), client))
            })?;
        let body = json!({"client_id": client.client_id, "software_statement": statement, "grant_types": []});
        return Ok(RegistrationOutcome {
            kind: RegistrationKind::Cancelled,
            client,
            body,
        });
    }

    // UDAP-16 4.4: registration parameters (values inside the statement only; top-level
    // duplicates are ignored, UDAP-14).
    let metadata = client_metadata::validate(claims)?;
    let intended_use = client_metadata::intended_use(claims, ctx.vocabulary)?;
    check_certifications(community, &request, iss, now, ctx.policy)?;
    burn_jti(ctx.store, iss, jti, keep_until, now)?;

    // UDAP-20: same (community, iss) → replace-all update keeping the client_id; never touches
    // a registration made in another community (the identity key includes the community). The
    // existing record is read and replaced in one transaction (issue 8 item 8).
    let certificate_der_b64 =
        base64::engine::general_purpose::STANDARD.encode(&verified.chain.leaf_der);
    let (kind, client) = ctx
        .store
        .clients()
        .update_identity(&community.uri, iss, |existing| {
            let (kind, client_id, created_at, previous_use) = match existing {
                Some(old) => (
                    RegistrationKind::Updated,
                    old.client_id,
                    old.created_at,
                    old.intended_use,
                ),
                None => (
                    RegistrationKind::Created,
                    new_client_id(),
                    now,
                    Default::default(),
                ),
            };
            let client = ClientRecord {
                client_id,
                status: ClientStatus::Active,
                origin: ClientOrigin::UdapRegistration,
                community: Some(community.uri.clone()),
                san_uri: Some(iss.to_string()),
                certificate_der_b64: Some(certificate_der_b64),
                certificate_not_after: Some(verified.chain.not_after),
                software_statement: Some(statement.to_string()),
                developer: None,
                // An update that does not declare intended use keeps what an administrator set (HTI1-2).
                intended_use: if intended_use.users.is_empty() && intended_use.purposes.is_empty() {
                    previous_use
                } else {
                    intended_use
                },
                metadata,
                jwks: None,
                jwks_uri: None,
                secret_hash: None,
                created_at,
                updated_at: now,
            };
            Ok::<_, RegistrationError>((Some(client.clone()), (kind, client)))
        })?;
    let body = response_body(&client, statement);
    Ok(RegistrationOutcome { kind, client, body })
}

/// Records the statement's (iss, jti) (UDAP-4, UDAP-5). A replay is refused.
fn burn_jti(
    store: &Store,
    iss: &str,
    jti: &str,
    keep_until: i64,
    now: i64,
) -> Result<(), RegistrationError> {
    if store.jti().insert_if_absent(iss, jti, keep_until, now)? {
        Ok(())
    } else {
        Err(RegistrationError::Replay)
    }
}

/// UDAP-18: `client_id`, the exact statement, and the registration parameters as top-level members.
/// Registered claim names (iss, sub, aud, exp, iat, jti) are omitted (IG 2.0, FHIR-48921).
fn response_body(client: &ClientRecord, statement: &str) -> Value {
    let mut body = match serde_json::to_value(&client.metadata) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    body.insert("client_id".into(), json!(client.client_id));
    body.insert("software_statement".into(), json!(statement));
    Value::Object(body)
}

/// Client ids: 128 random bits, URL-safe, never starting with `-` or `_` (an id starting with
/// `-` reads as an option to `udap-server client show ID` and to most other tools).
pub fn new_client_id() -> String {
    loop {
        let id = super::random_token(16);
        if id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return id;
        }
    }
}

/// UDAP-17: unrecognised certifications are ignored; certifications the community requires must be
/// present and valid.
fn check_certifications(
    community: &Community,
    request: &Map<String, Value>,
    subject: &str,
    now: i64,
    alg_policy: &AlgPolicy,
) -> Result<(), RegistrationError> {
    let policy = &community.policy;
    if policy.certifications_required.is_empty() {
        return Ok(());
    }
    let submitted: Vec<&str> = match request.get("certifications") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let mut satisfied = std::collections::BTreeSet::new();
    for token in submitted {
        if let Ok(names) =
            super::certification::validate(token, community, subject, now, alg_policy)
        {
            satisfied.extend(names);
        }
    }
    match policy
        .certifications_required
        .iter()
        .find(|r| !satisfied.contains(*r))
    {
        Some(missing) => Err(RegistrationError::Certification(format!(
            "this community requires a valid certification {missing}"
        ))),
        None => Ok(()),
    }
}
