//! Revoked access tokens (RFC 7009, HTI1-4): a revoked token must introspect inactive at once,
//! even though it is a self-contained JWT. Keyed by the token's `jti`; the value is its `exp` so
//! entries can be dropped once the token would have expired anyway.

use super::kv::JsonTable;
use super::{Store, StoreError};

pub(crate) const REVOKED: JsonTable<i64> = JsonTable::new("revoked_tokens");

/// The revoked-tokens repository, from `Store::revoked_tokens()`.
pub struct RevokedTokens<'s> {
    store: &'s Store,
}

impl<'s> RevokedTokens<'s> {
    pub(super) fn new(store: &'s Store) -> Self {
        RevokedTokens { store }
    }

    /// Marks the token with this `jti` revoked until `exp`.
    pub fn revoke(&self, jti: &str, exp: i64) -> Result<(), StoreError> {
        self.store.write(|txn| REVOKED.put(txn, jti, &exp))
    }

    pub fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.store.read(|txn| Ok(REVOKED.get(txn, jti)?.is_some()))
    }
}
