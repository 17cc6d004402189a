//! `grant_type=authorization_code` (SMART-20..28, UDAP-24, RFC 6749 §4.1.3). Checklist, after
//! client authentication:
//! 1. `code` present; consumed atomically: unknown or expired → `invalid_grant`; a second use
//!    → `invalid_grant` and the grant it produced is revoked (RFC 6749 §4.1.2);
//! 2. the code was issued to this client, and `redirect_uri` is the one from the request;
//! 3. PKCE: the verifier matches the S256 challenge (SMART-15; `invalid_grant`);
//! 4. the grant still stands;
//! 5. an access token (≤ 60 min), a refresh token for `offline_access`/`online_access` when the
//!    client registered `refresh_token`, an id_token for `openid` + `fhirUser`/`profile`, and the
//!    launch context (SMART-22).

use serde_json::{json, Map, Value};

use crate::oauth::client_auth::AuthenticatedClient;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::interaction::context_members;
use crate::oauth::pkce;
use crate::oauth::tokens::{token_response, Grant, TokenIssuer};
use crate::store::{CodeUse, GrantRecord, RefreshRecord, Store};

use super::client_credentials::check_intended_use;
use super::GrantPolicy;

/// Sliding lifetime of `offline_access` refresh tokens: at least 90 days, renewed on use (HTI1-5).
pub const OFFLINE_REFRESH_LIFETIME: i64 = 90 * 86_400;
/// `online_access` refresh tokens: a working day, renewed on use.
pub const ONLINE_REFRESH_LIFETIME: i64 = 8 * 3600;

fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, description)
}

/// The token-request parameters of this grant.
pub struct CodeRequest<'a> {
    pub code: Option<&'a str>,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
}

/// Exchanges a code for tokens.
pub fn exchange(
    store: &Store,
    issuer: &TokenIssuer,
    auth: &AuthenticatedClient,
    req: &CodeRequest<'_>,
    policy: &GrantPolicy,
    now: i64,
) -> Result<Value, OAuthError> {
    let client = &auth.client;
    if !client
        .metadata
        .grant_types
        .iter()
        .any(|g| g == "authorization_code")
    {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client is not registered for authorization_code",
        ));
    }
    check_intended_use(auth, policy, now)?;
    let code = req
        .code
        .filter(|c| !c.is_empty())
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, "code is required"))?;
    let record = match store.authz().consume_code(code, now)? {
        CodeUse::Fresh(r) => r,
        CodeUse::Replayed { grant_id } => {
            tracing::warn!(client_id = %client.client_id, grant_id = %grant_id, "authorization code reused: grant revoked");
            return Err(invalid_grant(
                "the authorization code has already been used; tokens issued from it are revoked",
            ));
        }
        CodeUse::Unknown => {
            return Err(invalid_grant(
                "the authorization code is invalid or expired",
            ))
        }
    };
    if record.client_id != client.client_id {
        return Err(invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    // RFC 6749 §4.1.3: required, and identical, when the authorization request included it;
    // when it did not, a value sent anyway must still be the one the code was issued for.
    match req.redirect_uri {
        Some(r) if r != record.redirect_uri => {
            return Err(invalid_grant(
                "redirect_uri does not match the authorization request",
            ))
        }
        None if record.redirect_uri_sent => {
            return Err(invalid_grant(
                "redirect_uri is required: the authorization request included it",
            ))
        }
        _ => {}
    }
    if let Some(challenge) = &record.code_challenge {
        pkce::verify(req.code_verifier, challenge).map_err(|e| invalid_grant(&e.to_string()))?;
    }
    let grant = store
        .authz()
        .grant(&record.grant_id)?
        .filter(|g| !g.revoked)
        .ok_or_else(|| invalid_grant("the authorization was revoked"))?;
    respond(
        store,
        issuer,
        auth,
        &grant,
        &grant.scope,
        record.nonce.as_deref(),
        None,
        now,
    )
}

/// Builds the token response for a user grant: access token, optional refresh token and id_token,
/// and the launch context. `rotated_refresh` is the new refresh token when refreshing.
#[allow(clippy::too_many_arguments)]
pub fn respond(
    store: &Store,
    issuer: &TokenIssuer,
    auth: &AuthenticatedClient,
    grant: &GrantRecord,
    scope: &str,
    nonce: Option<&str>,
    rotated_refresh: Option<String>,
    now: i64,
) -> Result<Value, OAuthError> {
    let client = &auth.client;
    let token_grant = Grant {
        client_id: client.client_id.clone(),
        subject: grant.username.clone(),
        scope: scope.to_string(),
        community: client.community.clone(),
        b2b: None,
        grant_id: Some(grant.grant_id.clone()),
        patient: grant.context.patient.clone(),
        encounter: grant.context.encounter.clone(),
        fhir_user: grant.fhir_user.clone(),
    };
    let (access, claims) = issuer
        .issue(&token_grant, now)
        .map_err(OAuthError::internal)?;
    let mut body: Map<String, Value> = match token_response(&access, &claims) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let has = |s: &str| scope.split_ascii_whitespace().any(|x| x == s);
    let offline = has("offline_access");
    let may_refresh = (offline || has("online_access"))
        && client
            .metadata
            .grant_types
            .iter()
            .any(|g| g == "refresh_token");
    let refresh = match rotated_refresh {
        Some(r) => Some(r),
        None if may_refresh => {
            let token = crate::oauth::random_token(32);
            let lifetime = if offline {
                OFFLINE_REFRESH_LIFETIME
            } else {
                ONLINE_REFRESH_LIFETIME
            };
            let rec = RefreshRecord {
                grant_id: grant.grant_id.clone(),
                client_id: client.client_id.clone(),
                scope: scope.to_string(),
                offline,
                expires_at: now + lifetime,
                rotated: false,
            };
            store.authz().put_refresh(&token, &rec)?;
            Some(token)
        }
        None => None,
    };
    if let Some(r) = refresh {
        body.insert("refresh_token".into(), json!(r));
    }
    // SMART-27: an id_token for openid with fhirUser or profile.
    if has("openid") && (has("fhirUser") || has("profile")) {
        let fhir_user = if has("fhirUser") {
            grant.fhir_user.as_deref()
        } else {
            None
        };
        let id_token = issuer
            .id_token(&client.client_id, &grant.username, fhir_user, nonce, now)
            .map_err(OAuthError::internal)?;
        body.insert("id_token".into(), json!(id_token));
    }
    body.extend(context_members(grant, issuer.issuer()));
    tracing::info!(client_id = %client.client_id, grant_id = %grant.grant_id, scope = %scope, "user access token issued");
    Ok(Value::Object(body))
}
