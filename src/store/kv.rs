//! Typed JSON tables: a record type `T` stored as JSON under a string key, on any backend.
//!
//! Each repository (communities, clients, codes, ...) is a `JsonTable<T>` constant plus a few
//! lines of rules. JSON keeps rows readable for an administrator (redb tooling, or `psql` on the
//! `kv` table) and lets a record gain optional fields (`#[serde(default)]`) without a migration.
//!
//! Reads work inside either a read or a write transaction (`Reader`), so a multi-record change can
//! read, decide and write in one write transaction. The same code runs on redb and PostgreSQL
//! (`txn::ReadTxn`, `txn::WriteTxn`).

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub(crate) use super::txn::Reader;
use super::txn::WriteTxn;
use super::StoreError;

/// Longest key accepted in any table. Keys are identifiers (URIs, client ids, hashes); anything
/// longer is hostile or a bug, and would only bloat the file.
pub(crate) const MAX_KEY_LEN: usize = 4096;

/// A table of `T` records as JSON, keyed by string.
pub(crate) struct JsonTable<T> {
    name: &'static str,
    _record: PhantomData<fn() -> T>,
}

impl<T> JsonTable<T> {
    pub(crate) const fn new(name: &'static str) -> Self {
        JsonTable {
            name,
            _record: PhantomData,
        }
    }

    pub(crate) const fn name(&self) -> &'static str {
        self.name
    }
}

impl<T: Serialize + DeserializeOwned> JsonTable<T> {
    /// The record at `key`, if any.
    pub(crate) fn get(&self, txn: &impl Reader, key: &str) -> Result<Option<T>, StoreError> {
        match txn.raw_get(self.name, key)? {
            Some(bytes) => self.decode(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Every record, in key order.
    pub(crate) fn list(&self, txn: &impl Reader) -> Result<Vec<(String, T)>, StoreError> {
        txn.raw_list(self.name)?
            .into_iter()
            .map(|(key, bytes)| {
                let record = self.decode(&key, &bytes)?;
                Ok((key, record))
            })
            .collect()
    }

    /// Insert or replace the record at `key`.
    pub(crate) fn put(&self, txn: &WriteTxn, key: &str, record: &T) -> Result<(), StoreError> {
        check_key(self.name, key)?;
        let bytes = serde_json::to_vec(record).map_err(|source| StoreError::Encode {
            table: self.name,
            source,
        })?;
        txn.raw_put(self.name, key, &bytes)
    }

    /// Delete the record at `key`; true if it existed.
    pub(crate) fn remove(&self, txn: &WriteTxn, key: &str) -> Result<bool, StoreError> {
        txn.raw_remove(self.name, key)
    }

    fn decode(&self, key: &str, bytes: &[u8]) -> Result<T, StoreError> {
        serde_json::from_slice(bytes).map_err(|e| {
            // Position and category only: serde's message can quote the row's content, and rows
            // may hold private keys.
            tracing::error!(
                table = self.name,
                key,
                category = ?e.classify(),
                line = e.line(),
                column = e.column(),
                "stored record does not decode"
            );
            StoreError::Corrupt {
                table: self.name,
                key: key.to_owned(),
            }
        })
    }
}

/// Reject over-long keys before they reach the database.
pub(crate) fn check_key(table: &'static str, key: &str) -> Result<(), StoreError> {
    if key.len() > MAX_KEY_LEN {
        return Err(StoreError::KeyTooLong {
            table,
            len: key.len(),
            max: MAX_KEY_LEN,
        });
    }
    Ok(())
}
