//! The authorization request (`/authorize`, SMART-12..17, UDAP-23, HTI1-1), as a plain function:
//! it either starts an interaction (login, patient choice, consent follow), or says how to fail.
//!
//! Failures before the client and its redirect URI are known never redirect (an error page);
//! later failures go back to the registered redirect URI with `error` and the exact `state`.

use crate::community::CommunitySet;
use crate::store::{ClientOrigin, ClientRecord, ClientStatus, Interaction, Store, StoreError};

use super::error::ErrorCode;
use super::pkce;
use super::scopes::{self, Scope};
use super::urls::same_url;

/// Pending authorizations expire if the user does not finish within this many seconds.
pub const INTERACTION_LIFETIME: i64 = 600;

/// The authorization request parameters (query string or form body, SMART-12).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub aud: Option<String>,
    pub launch: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub nonce: Option<String>,
}

/// How an authorization request fails.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    /// Unknown client or unregistered redirect URI: show an error page, never redirect (UDAP-23).
    #[error("{message}")]
    Page { message: String },
    /// Any later problem: redirect to the client with an OAuth error and the exact state.
    #[error("{error}: {description}")]
    Redirect {
        redirect_uri: String,
        error: ErrorCode,
        description: String,
        state: Option<String>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What `/authorize` needs from the server.
pub struct AuthorizeContext<'a> {
    pub store: &'a Store,
    /// A snapshot of the communities served (`community::LiveCommunities::current`).
    pub communities: std::sync::Arc<CommunitySet>,
    /// The FHIR base URLs this server protects; `aud` must be one of them (SMART-14).
    pub fhir_bases: &'a [String],
}

/// Appends query parameters to a redirect URI that may already have a query.
pub fn redirect_url(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            u.to_string()
        }
        Err(_) => redirect_uri.to_string(),
    }
}

fn page(message: impl Into<String>) -> AuthorizeError {
    AuthorizeError::Page {
        message: message.into(),
    }
}

/// Validates an authorization request and records the pending interaction.
pub fn start(
    ctx: &AuthorizeContext<'_>,
    p: &AuthorizeParams,
    interaction_id: String,
    now: i64,
) -> Result<Interaction, AuthorizeError> {
    // 1. The client and redirect URI: no redirect until both are known good (RFC 6749 §4.1.2.1).
    let client_id = p
        .client_id
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| page("The request has no client_id."))?;
    let client = ctx
        .store
        .clients()
        .get(client_id)?
        .ok_or_else(|| page("This application is not registered with this server."))?;
    if client.status != ClientStatus::Active {
        return Err(page("This application's registration is not active."));
    }
    let registered = &client.metadata.redirect_uris;
    let redirect_uri =
        match p.redirect_uri.as_deref() {
            Some(r) if registered.iter().any(|u| u == r) => r.to_string(),
            Some(_) => return Err(page(
                "The redirect_uri is not registered for this application (exact match required).",
            )),
            None if registered.len() == 1 => registered[0].clone(),
            None => {
                return Err(page(
                    "The request has no redirect_uri and the application registered several.",
                ))
            }
        };
    let state = p.state.clone();
    let fail = |error: ErrorCode, description: &str| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        error,
        description: description.to_string(),
        state: state.clone(),
    };

    // 2. Everything else redirects with the error.
    if p.response_type.as_deref() != Some("code") {
        return Err(fail(
            ErrorCode::UnsupportedResponseType,
            "response_type must be code",
        ));
    }
    if !client
        .metadata
        .grant_types
        .iter()
        .any(|g| g == "authorization_code")
    {
        return Err(fail(
            ErrorCode::UnauthorizedClient,
            "this client is not registered for authorization_code",
        ));
    }
    if state.as_deref().is_none_or(str::is_empty) {
        return Err(fail(ErrorCode::InvalidRequest, "state is required"));
    }
    let code_challenge = match (pkce_exempt(ctx, &client), p.code_challenge.as_deref()) {
        // A per-community exemption for UDAP confidential clients (the public UDAP STU1 kit sends no PKCE).
        (true, None) => None,
        _ => Some(
            pkce::check_challenge(
                p.code_challenge.as_deref(),
                p.code_challenge_method.as_deref(),
            )
            .map_err(|e| fail(ErrorCode::InvalidRequest, &e.to_string()))?,
        ),
    };
    // SMART-14: aud must be a FHIR server we protect, or no code is issued. UDAP clients may omit it.
    match p.aud.as_deref() {
        Some(aud) if ctx.fhir_bases.iter().any(|b| same_url(aud, b)) => {}
        Some(_) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "aud is not a FHIR server protected by this authorization server",
            ))
        }
        None if client.origin == ClientOrigin::UdapRegistration => {}
        None => return Err(fail(ErrorCode::InvalidRequest, "aud is required")),
    }
    let requested = match p.scope.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => s.to_string(),
        None if client.origin == ClientOrigin::UdapRegistration => client.metadata.scope.clone(),
        None => return Err(fail(ErrorCode::InvalidScope, "scope is required")),
    };
    // Only user-facing scopes here: system/ scopes belong to client_credentials, and administrative
    // scopes are never granted to an app through a user's authorization (issue 8 item 1).
    let allowed = scopes::grant(&requested, &client.metadata.scope, |s| {
        !scopes::is_system(s)
            && !matches!(s, scopes::Scope::Other(n) if super::admin_scopes::is_admin_scope(n))
    });
    if allowed.is_empty() {
        return Err(fail(
            ErrorCode::InvalidScope,
            "none of the requested scopes is registered for this client",
        ));
    }

    // SMART-13: an EHR launch binds the context the EHR created; `launch` scope needs it.
    let wants_launch = allowed.iter().any(|s| s == "launch");
    let launch = match p.launch.as_deref().filter(|l| !l.is_empty()) {
        // Single use, and only by the app the EHR created it for.
        Some(id) => Some(
            super::launch::take(ctx.store, id, &client.client_id, now)?.ok_or_else(|| {
                fail(
                    ErrorCode::InvalidRequest,
                    "the launch parameter is unknown, expired, already used, or for another app",
                )
            })?,
        ),
        None if wants_launch => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "the launch scope needs the launch parameter from the EHR",
            ))
        }
        None => None,
    };

    let interaction = Interaction {
        id: interaction_id,
        client_id: client.client_id.clone(),
        redirect_uri,
        redirect_uri_sent: p.redirect_uri.is_some(),
        state,
        scope: allowed.join(" "),
        code_challenge,
        nonce: p.nonce.clone(),
        aud: p
            .aud
            .clone()
            .or_else(|| ctx.fhir_bases.first().cloned())
            .unwrap_or_default(),
        launch,
        username: None,
        selected_patient: None,
        created_at: now,
        expires_at: now + INTERACTION_LIFETIME,
    };
    ctx.store.authz().put_interaction(&interaction)?;
    Ok(interaction)
}

/// HTI1-1: PKCE is required for everyone, except UDAP private_key_jwt clients of a community that
/// exempts them (documented; default: required).
fn pkce_exempt(ctx: &AuthorizeContext<'_>, client: &ClientRecord) -> bool {
    client.origin == ClientOrigin::UdapRegistration
        && client
            .community
            .as_deref()
            .and_then(|c| ctx.communities.get(c))
            .is_some_and(|c| c.policy.pkce_exempt_udap)
}

/// True when the granted scopes need a patient in context (SMART-17): `launch/patient`, or any
/// `patient/` resource scope.
pub fn needs_patient(scope: &str) -> bool {
    scope.split_ascii_whitespace().any(|s| {
        s == "launch/patient" || matches!(scopes::parse(s), Some(Scope::Resource(r)) if r.context == scopes::ScopeContext::Patient)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_url_keeps_an_existing_query() {
        assert_eq!(
            redirect_url(
                "https://app.example/cb?x=1",
                &[("code", "a b"), ("state", "s")]
            ),
            "https://app.example/cb?x=1&code=a+b&state=s"
        );
        assert_eq!(
            redirect_url("https://app.example/cb", &[("error", "access_denied")]),
            "https://app.example/cb?error=access_denied"
        );
    }

    #[test]
    fn patient_context_is_needed_for_patient_scopes() {
        // SMART-17
        assert!(needs_patient("launch/patient openid"));
        assert!(needs_patient("patient/Observation.rs"));
        assert!(!needs_patient("user/Observation.rs openid fhirUser"));
    }
}
