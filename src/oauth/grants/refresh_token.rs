//! `grant_type=refresh_token` (SMART-40..45, UDAP-25, HTI1-5). Checklist, after client
//! authentication:
//! 1. the token is known, bound to this client (SMART-40), unexpired, and its grant stands;
//! 2. rotation: it is exchanged exactly once; a rotated token presented again revokes the whole
//!    family (the grant) (SMART-43);
//! 3. an `online_access` token (not offline) works only while the browser session that approved
//!    its grant lives: logout, session expiry, a password change or user removal end it (issue 8
//!    item 8; grants from before that binding have no session and fail);
//! 4. `scope`, if sent, is a subset of the grant (SMART-41; else `invalid_scope`), default the same;
//! 5. a new access token and refresh token, the sliding lifetime renewed (≥ 90 days for
//!    offline_access, HTI1-5), and the context re-emitted.

use serde_json::Value;

use crate::oauth::client_auth::AuthenticatedClient;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::tokens::TokenIssuer;
use crate::store::{RefreshUse, Store};

use super::authorization_code::{respond, OFFLINE_REFRESH_LIFETIME, ONLINE_REFRESH_LIFETIME};
use super::client_credentials::check_intended_use;
use super::GrantPolicy;

fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, description)
}

/// True while the session that approved `grant_id` is live (online_access).
fn session_lives(store: &Store, grant_id: &str, now: i64) -> Result<bool, OAuthError> {
    let session = store.authz().grant(grant_id)?.and_then(|g| g.session);
    Ok(match session {
        Some(key) => store.sessions().is_live_key(&key, now)?,
        None => false,
    })
}

/// Exchanges a refresh token.
pub fn refresh(
    store: &Store,
    issuer: &TokenIssuer,
    auth: &AuthenticatedClient,
    token: Option<&str>,
    scope: Option<&str>,
    policy: &GrantPolicy,
    now: i64,
) -> Result<Value, OAuthError> {
    let client = &auth.client;
    check_intended_use(auth, policy, now)?;
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, "refresh_token is required"))?;
    // Checked before rotating, so another client presenting a stolen token cannot burn it.
    let current = store
        .authz()
        .refresh(token)?
        .ok_or_else(|| invalid_grant("the refresh token is invalid"))?;
    if current.client_id != client.client_id {
        return Err(invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if !current.offline && !session_lives(store, &current.grant_id, now)? {
        return Err(invalid_grant(
            "the sign-in session of this online_access token has ended",
        ));
    }
    let granted: Vec<&str> = current.scope.split_ascii_whitespace().collect();
    let scope = match scope.map(str::trim).filter(|s| !s.is_empty()) {
        Some(requested) => {
            if let Some(extra) = requested
                .split_ascii_whitespace()
                .find(|s| !granted.contains(s))
            {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!("{extra} was not part of the original grant"),
                ));
            }
            requested.to_string()
        }
        None => current.scope.clone(),
    };
    let new_token = crate::oauth::random_token(32);
    let lifetime = |r: &crate::store::RefreshRecord| {
        now + if r.offline {
            OFFLINE_REFRESH_LIFETIME
        } else {
            ONLINE_REFRESH_LIFETIME
        }
    };
    match store
        .authz()
        .rotate_refresh(token, &new_token, lifetime, now)?
    {
        RefreshUse::Rotated { grant, .. } => respond(
            store,
            issuer,
            auth,
            &grant,
            &scope,
            None,
            Some(new_token),
            now,
        ),
        RefreshUse::Replayed { grant_id } => {
            tracing::warn!(client_id = %client.client_id, grant_id = %grant_id, "rotated refresh token reused: grant revoked");
            Err(invalid_grant(
                "the refresh token has already been used; the authorization is revoked",
            ))
        }
        RefreshUse::Invalid => Err(invalid_grant(
            "the refresh token is invalid, expired or revoked",
        )),
    }
}
