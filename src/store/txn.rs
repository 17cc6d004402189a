//! The storage seam: backend-neutral transactions on which `kv::JsonTable` works.
//!
//! Repositories receive a `&ReadTxn` or `&WriteTxn` from `Store::read` / `Store::write` and only
//! call `JsonTable::{get, list, put, remove}` on it; they never see which backend is underneath.
//! Each variant keeps the atomicity rules of the contract documented on `Store::write`
//! (docs/architecture.md, "Storage seam"): redb by its single writer, PostgreSQL by locks taken
//! inside the transaction (`postgres::txn`).

use super::postgres::txn::PgTxn;
use super::StoreError;

/// A consistent snapshot for reading.
pub(crate) enum ReadTxn<'a> {
    Redb(::redb::ReadTransaction),
    Postgres(PgTxn<'a>),
}

/// A write transaction: everything in it commits together, or nothing does.
#[allow(clippy::large_enum_variant)] // one at a time per call, on the stack; boxing would allocate per transaction
pub(crate) enum WriteTxn<'a> {
    Redb(::redb::WriteTransaction),
    Postgres(PgTxn<'a>),
}

/// Raw reads shared by read and write transactions: JSON bytes under string keys in a named table.
/// Values are copied out (rows are small) so no backend guard outlives the call.
pub(crate) trait Reader {
    fn raw_get(&self, table: &'static str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every row of `table`, in byte order of the key.
    fn raw_list(&self, table: &'static str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
}

impl Reader for ReadTxn<'_> {
    fn raw_get(&self, table: &'static str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            ReadTxn::Redb(t) => super::redb::kv::get(t, table, key),
            ReadTxn::Postgres(t) => t.get(table, key),
        }
    }
    fn raw_list(&self, table: &'static str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        match self {
            ReadTxn::Redb(t) => super::redb::kv::list(t, table),
            ReadTxn::Postgres(t) => t.list(table),
        }
    }
}

impl Reader for WriteTxn<'_> {
    fn raw_get(&self, table: &'static str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            WriteTxn::Redb(t) => super::redb::kv::get(t, table, key),
            WriteTxn::Postgres(t) => t.get(table, key),
        }
    }
    fn raw_list(&self, table: &'static str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        match self {
            WriteTxn::Redb(t) => super::redb::kv::list(t, table),
            WriteTxn::Postgres(t) => t.list(table),
        }
    }
}

impl WriteTxn<'_> {
    /// Insert or replace the JSON `value` at `key`.
    pub(crate) fn raw_put(
        &self,
        table: &'static str,
        key: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        match self {
            WriteTxn::Redb(t) => super::redb::kv::put(t, table, key, value),
            WriteTxn::Postgres(t) => t.put(table, key, value),
        }
    }

    /// Delete the row at `key`; true if it existed.
    pub(crate) fn raw_remove(&self, table: &'static str, key: &str) -> Result<bool, StoreError> {
        match self {
            WriteTxn::Redb(t) => super::redb::kv::remove(t, table, key),
            WriteTxn::Postgres(t) => t.remove(table, key),
        }
    }
}
