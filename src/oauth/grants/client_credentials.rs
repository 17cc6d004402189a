//! `grant_type=client_credentials`: UDAP B2B (UDAP-27..30) and SMART backend services (SMART-50..57).
//!
//! Checklist, in order, after the client has authenticated (`client_auth`):
//! 1. the client registered this grant (else `unauthorized_client`);
//! 2. HTI1-2: past the enforcement date, intended users and purposes are declared;
//! 3. UDAP clients: `extensions.hl7-b2b` is valid for the community (UDAP-29; `invalid_grant`);
//! 4. scopes: requested ∩ registered, `system/` only (`invalid_scope` when nothing is left);
//! 5. an access token of at most 60 minutes, no refresh token (UDAP-27, UDAP-53, SMART-46).

use crate::oauth::b2b;
use crate::oauth::client_auth::{AuthMethod, AuthenticatedClient};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::scopes;
use serde_json::Value;

use crate::oauth::tokens::{token_response, Grant, TokenIssuer};

use super::GrantPolicy;

/// Decides what a client_credentials request is granted.
pub fn decide(
    auth: &AuthenticatedClient,
    requested_scope: Option<&str>,
    policy: &GrantPolicy,
    now: i64,
) -> Result<Grant, OAuthError> {
    let client = &auth.client;
    if !client
        .metadata
        .grant_types
        .iter()
        .any(|g| g == "client_credentials")
    {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client is not registered for client_credentials",
        ));
    }
    check_intended_use(auth, policy, now)?;

    let b2b = match (&auth.method, &auth.community) {
        (AuthMethod::Udap, Some(community)) => {
            let extensions = auth
                .assertion_claims
                .as_ref()
                .and_then(|c| c.get("extensions"));
            b2b::validate(extensions, &community.policy)
                .map_err(|e| OAuthError::new(ErrorCode::InvalidGrant, e.to_string()))?
        }
        _ => None,
    };

    // No scope requested: the registered system scopes (RFC 6749 §3.3 lets the server pick a default).
    let requested = requested_scope
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(&client.metadata.scope);
    // Administrative scopes only for a client that holds them (issue 8 item 1): a scope string
    // left in an old self-registration grants nothing.
    let keep = |s: &scopes::Scope| {
        scopes::is_system(s)
            || matches!(s, scopes::Scope::Other(n) if crate::oauth::admin_scopes::is_admin_scope(n) && crate::oauth::admin_scopes::client_holds(client, n))
    };
    let granted = scopes::grant(requested, &client.metadata.scope, keep);
    if granted.is_empty() {
        return Err(OAuthError::new(ErrorCode::InvalidScope, "none of the requested scopes is available to this client (client_credentials grants system/ scopes it registered)"));
    }
    Ok(Grant {
        client_id: client.client_id.clone(),
        subject: client.client_id.clone(),
        scope: granted.join(" "),
        community: client.community.clone(),
        b2b,
        ..Default::default()
    })
}

/// Decides the grant and signs its access token: the token response body (UDAP-35, SMART-22).
pub fn issue(
    issuer: &TokenIssuer,
    auth: &AuthenticatedClient,
    requested_scope: Option<&str>,
    policy: &GrantPolicy,
    now: i64,
) -> Result<Value, OAuthError> {
    let grant = decide(auth, requested_scope, policy, now)?;
    let (token, claims) = issuer.issue(&grant, now).map_err(OAuthError::internal)?;
    // Issue 11: debug, not info: no log line per request on the hot path (the audit trail records
    // every token issued).
    tracing::debug!(client_id = %claims.client_id, scope = %claims.scope, jti = %claims.jti, "access token issued");
    Ok(token_response(&token, &claims))
}

/// HTI1-2: after the enforcement date, a client without declared intended users and purposes gets
/// no tokens, and is told why.
pub fn check_intended_use(
    auth: &AuthenticatedClient,
    policy: &GrantPolicy,
    now: i64,
) -> Result<(), OAuthError> {
    match policy.intended_use_enforced_from {
        Some(from) if now >= from && !auth.client.intended_use.is_complete() => Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this app has no declared Intended User(s) and Intended Purpose(s) (required since the enforcement date); ask the administrator or re-register with intended_users and intended_purposes",
        )),
        _ => Ok(()),
    }
}
