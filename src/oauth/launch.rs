//! EHR launch contexts (SMART-13, SMART-22): an EHR (or an administrator) creates one and gets an
//! opaque, URL-safe, short-lived launch id to pass to the app.

use crate::store::{LaunchContext, LaunchRecord, Store, StoreError};

/// Launch ids are valid this long (the app must start its authorization promptly).
pub const LAUNCH_LIFETIME: i64 = 600;

/// Scope an EHR client needs to create launches over HTTP.
pub const LAUNCH_SCOPE: &str = "udap-server/launch";

/// Creates a launch context; the id is 128 random bits, base64url (no `+`, `/`, `=`).
pub fn create(store: &Store, context: LaunchContext, now: i64) -> Result<(String, i64), StoreError> {
    let id = super::random_token(16);
    let expires_at = now + LAUNCH_LIFETIME;
    store.authz().put_launch(&id, &LaunchRecord { context, expires_at })?;
    Ok((id, expires_at))
}
