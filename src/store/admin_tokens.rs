//! Admin API tokens (issue 10 item 1): random bearer tokens, stored under the SHA-256 of the token
//! (`secret_key`), never the token itself, with a name for the audit trail and an optional expiry.

use serde::{Deserialize, Serialize};

use super::kv::JsonTable;
use super::{secret_key, Store, StoreError};

pub(crate) const TABLE: JsonTable<AdminTokenRecord> = JsonTable::new("admin_tokens");

/// A stored admin token (without the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminTokenRecord {
    /// Short public id, to list and revoke the token without knowing it.
    pub id: String,
    /// Who or what holds it; recorded as the agent of every change made with it.
    pub name: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl AdminTokenRecord {
    /// Usable at `now`: not revoked and not expired.
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

/// The admin tokens repository, from `Store::admin_tokens()`. Methods take the raw token and hash
/// it here, so callers cannot store or look it up in the clear by mistake.
pub struct AdminTokens<'s> {
    store: &'s Store,
}

impl<'s> AdminTokens<'s> {
    pub(super) fn new(store: &'s Store) -> Self {
        AdminTokens { store }
    }

    /// Stores a new token's record; false (nothing written) if the id or name is taken.
    pub fn create(&self, token: &str, record: &AdminTokenRecord) -> Result<bool, StoreError> {
        let key = secret_key(token);
        self.store.write(|txn| {
            let clash = TABLE
                .list(txn)?
                .into_iter()
                .any(|(_, r)| r.id == record.id || r.name == record.name);
            if clash || TABLE.get(txn, &key)?.is_some() {
                return Ok(false);
            }
            TABLE.put(txn, &key, record)?;
            Ok(true)
        })
    }

    /// The live record of `token`, if any.
    pub fn authenticate(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Option<AdminTokenRecord>, StoreError> {
        let key = secret_key(token);
        Ok(self
            .store
            .read(|txn| TABLE.get(txn, &key))?
            .filter(|r| r.is_live(now)))
    }

    pub fn list(&self) -> Result<Vec<AdminTokenRecord>, StoreError> {
        let mut all: Vec<_> = self
            .store
            .read(|txn| TABLE.list(txn))?
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(all)
    }

    /// Revokes the token with this id or name; the record after, or None when there is none.
    pub fn revoke(
        &self,
        id_or_name: &str,
        now: i64,
    ) -> Result<Option<AdminTokenRecord>, StoreError> {
        self.store.write(|txn| {
            let found = TABLE
                .list(txn)?
                .into_iter()
                .find(|(_, r)| r.id == id_or_name || r.name == id_or_name);
            let Some((key, mut record)) = found else {
                return Ok(None);
            };
            if record.revoked_at.is_none() {
                record.revoked_at = Some(now);
                TABLE.put(txn, &key, &record)?;
            }
            Ok(Some(record))
        })
    }
}
