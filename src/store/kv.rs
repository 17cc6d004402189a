//! Typed JSON tables: a record type `T` stored as JSON bytes under a string key.
//!
//! Each repository (communities, later clients, codes, ...) is a `JsonTable<T>` constant plus a few
//! lines of rules. JSON keeps rows readable for an administrator with redb tooling and lets a record
//! gain optional fields (`#[serde(default)]`) without a schema migration.
//!
//! Reads work inside either a read or a write transaction (`Reader`), so a multi-record change can
//! read, decide and write in one write transaction.

use std::marker::PhantomData;

use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::StoreError;

/// Longest key accepted in any table. Keys are identifiers (URIs, client ids, hashes); anything
/// longer is hostile or a bug, and would only bloat the file.
pub(crate) const MAX_KEY_LEN: usize = 4096;

pub(crate) type RawDef = TableDefinition<'static, &'static str, &'static [u8]>;

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

    pub(crate) const fn def(&self) -> RawDef {
        TableDefinition::new(self.name)
    }
}

impl<T: Serialize + DeserializeOwned> JsonTable<T> {
    /// The record at `key`, if any.
    pub(crate) fn get(&self, txn: &impl Reader, key: &str) -> Result<Option<T>, StoreError> {
        match txn.raw_get(self.def(), key)? {
            Some(bytes) => self.decode(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Every record, in key order.
    pub(crate) fn list(&self, txn: &impl Reader) -> Result<Vec<(String, T)>, StoreError> {
        txn.raw_list(self.def())?
            .into_iter()
            .map(|(key, bytes)| {
                let record = self.decode(&key, &bytes)?;
                Ok((key, record))
            })
            .collect()
    }

    /// Insert or replace the record at `key`.
    pub(crate) fn put(
        &self,
        txn: &WriteTransaction,
        key: &str,
        record: &T,
    ) -> Result<(), StoreError> {
        check_key(self.name, key)?;
        let bytes = serde_json::to_vec(record).map_err(|source| StoreError::Encode {
            table: self.name,
            source,
        })?;
        let mut table = txn.open_table(self.def())?;
        table.insert(key, bytes.as_slice())?;
        Ok(())
    }

    /// Delete the record at `key`; true if it existed.
    pub(crate) fn remove(&self, txn: &WriteTransaction, key: &str) -> Result<bool, StoreError> {
        let mut table = txn.open_table(self.def())?;
        let existed = table.remove(key)?.is_some();
        Ok(existed)
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

/// Reject over-long keys before they reach redb.
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

/// Raw reads shared by read and write transactions. Values are copied out (rows are small) so no
/// redb guard outlives the call.
pub(crate) trait Reader {
    fn raw_get(&self, def: RawDef, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn raw_list(&self, def: RawDef) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
}

impl Reader for ReadTransaction {
    fn raw_get(&self, def: RawDef, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        get_from(&self.open_table(def)?, key)
    }
    fn raw_list(&self, def: RawDef) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        list_from(&self.open_table(def)?)
    }
}

impl Reader for WriteTransaction {
    fn raw_get(&self, def: RawDef, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        get_from(&self.open_table(def)?, key)
    }
    fn raw_list(&self, def: RawDef) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        list_from(&self.open_table(def)?)
    }
}

fn get_from(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(table.get(key)?.map(|guard| guard.value().to_vec()))
}

fn list_from(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let mut out = Vec::new();
    for row in table.iter()? {
        let (key, value) = row?;
        out.push((key.value().to_owned(), value.value().to_vec()));
    }
    Ok(out)
}
