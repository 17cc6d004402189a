//! EHR launch contexts (SMART-13, SMART-22): an EHR (or an administrator) creates one for one app
//! and gets an opaque, URL-safe, short-lived, single-use launch id to pass to that app.
//!
//! Issue 8 item 1: a launch names the patient the app will act for, so it is bound to the app it
//! was created for (`client_id`), used at most once (taken at `/authorize`), short-lived, and its
//! `patient`/`encounter` are FHIR ids. Who may create one: `admin_scopes::authorize_admin_call`.

use crate::store::{ClientStatus, LaunchContext, LaunchRecord, LaunchTake, Store, StoreError};

use super::error::{ErrorCode, OAuthError};

/// Launch ids are valid this long: the EHR opens the app right after creating one.
pub const LAUNCH_LIFETIME: i64 = 300;

/// Scope an EHR client needs to create launches over HTTP.
pub const LAUNCH_SCOPE: &str = "udap-server/launch";

/// FHIR R4 `id`: `[A-Za-z0-9\-\.]{1,64}`. Anything else in a patient or encounter id would reach
/// the token response and the resource server's queries.
pub fn is_fhir_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// What an EHR asks for.
#[derive(Debug, Clone, Default)]
pub struct LaunchRequest {
    /// The app the launch is for (its `client_id`).
    pub client_id: Option<String>,
    pub patient: Option<String>,
    pub encounter: Option<String>,
}

/// Why a launch could not be created.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<LaunchError> for OAuthError {
    fn from(e: LaunchError) -> Self {
        match e {
            LaunchError::Invalid(m) => OAuthError::new(ErrorCode::InvalidRequest, m),
            LaunchError::Store(e) => OAuthError::internal(e),
        }
    }
}

/// Validates the request and stores the launch; returns its id and expiry.
pub fn create(store: &Store, req: &LaunchRequest, now: i64) -> Result<(String, i64), LaunchError> {
    let invalid = |m: &str| LaunchError::Invalid(m.to_string());
    let client_id = req
        .client_id
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| invalid("target_client_id (the app this launch is for) is required"))?;
    let patient = req
        .patient
        .as_deref()
        .ok_or_else(|| invalid("patient is required"))?;
    if !is_fhir_id(patient) {
        return Err(invalid(
            "patient must be a FHIR id ([A-Za-z0-9-.], 1 to 64 characters)",
        ));
    }
    if let Some(e) = req.encounter.as_deref() {
        if !is_fhir_id(e) {
            return Err(invalid(
                "encounter must be a FHIR id ([A-Za-z0-9-.], 1 to 64 characters)",
            ));
        }
    }
    match store.clients().get(client_id)? {
        Some(c)
            if c.status == ClientStatus::Active
                && c.metadata
                    .grant_types
                    .iter()
                    .any(|g| g == "authorization_code") => {}
        _ => {
            return Err(invalid(
                "target_client_id is not an active app registered for authorization_code",
            ))
        }
    }
    let id = super::random_token(16);
    let expires_at = now + LAUNCH_LIFETIME;
    let context = LaunchContext {
        patient: Some(patient.to_string()),
        encounter: req.encounter.clone(),
        ..Default::default()
    };
    store.authz().put_launch(
        &id,
        &LaunchRecord {
            context,
            expires_at,
            client_id: Some(client_id.to_string()),
        },
    )?;
    Ok((id, expires_at))
}

/// Takes the launch `id` for `client_id` at `/authorize`: once, before it expires, and only by the
/// app it was created for. A launch presented by another app is left in place (so a leaked id
/// cannot be burned by someone else) and refused.
pub fn take(
    store: &Store,
    id: &str,
    client_id: &str,
    now: i64,
) -> Result<Option<LaunchContext>, StoreError> {
    Ok(match store.authz().take_launch(id, client_id, now)? {
        LaunchTake::Taken(rec) => Some(rec.context),
        LaunchTake::Missing | LaunchTake::OtherClient => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fhir_id_table() {
        let rows = [
            ("p1", true),
            ("Patient-123.a", true),
            (&*"a".repeat(64), true),
            (&*"a".repeat(65), false),
            ("", false),
            ("p 1", false),
            ("p/1", false),
            ("p1\n", false),
            ("é", false),
            ("../x", false),
        ];
        for (id, ok) in rows {
            assert_eq!(is_fhir_id(id), ok, "{id:?}");
        }
    }
}
