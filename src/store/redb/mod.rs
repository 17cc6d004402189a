//! The embedded backend: one redb file in the data directory, locked by one process.
//!
//! Atomicity comes from redb itself: write transactions are serialized (one writer at a time), so
//! every read-decide-write in `Store::write` runs alone, and commits are durable
//! (`Durability::Immediate`). The replay cache group-commits on its own writer thread (`jti`).

// Issue 10 item 5: the audit trail.
pub(crate) mod audit;
pub(crate) mod jti;
pub(crate) mod jti_tables;
mod jti_writer;
pub(crate) mod kv;
mod open;
pub(crate) mod schema;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase};

use super::txn::{ReadTxn, WriteTxn};
use super::StoreError;

/// The open database file. Cheap to clone (the pruner thread holds a clone).
#[derive(Clone)]
pub(crate) struct RedbBackend {
    pub(crate) db: Arc<Database>,
    pub(crate) path: PathBuf,
}

impl RedbBackend {
    /// Create or open the file, check the schema version and create every table.
    pub(crate) fn open(path: &Path) -> Result<RedbBackend, StoreError> {
        let db = Arc::new(open::open_database(path)?);
        let backend = RedbBackend {
            db,
            path: path.to_path_buf(),
        };
        backend.write(|txn| match txn {
            WriteTxn::Redb(t) => schema::init(t),
            WriteTxn::Postgres(_) => Err(StoreError::Aborted),
        })?;
        Ok(backend)
    }

    pub(crate) fn read<R>(
        &self,
        f: impl FnOnce(&ReadTxn) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let txn = ReadTxn::Redb(self.db.begin_read()?);
        f(&txn)
    }

    /// On error the transaction is dropped, which aborts it: none of `f`'s writes persist.
    pub(crate) fn write<R>(
        &self,
        f: impl FnOnce(&WriteTxn) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let txn = WriteTxn::Redb(self.db.begin_write()?);
        let out = f(&txn)?;
        if let WriteTxn::Redb(t) = txn {
            t.commit()?;
        }
        Ok(out)
    }

    pub(crate) fn check_readable(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_read()?;
        schema::read_version(&txn).map(|_| ())
    }

    pub(crate) fn prune_jti(&self, cutoff: i64) -> Result<usize, StoreError> {
        Ok(jti_tables::prune_expired(&self.db, cutoff)?)
    }

    /// Deletes, in one write transaction, every row of `table` whose expiry (the number at
    /// `field`, or the value itself) is before `cutoff`. Rows without such a number are kept.
    pub(crate) fn delete_expired(
        &self,
        table: &'static str,
        field: Option<&str>,
        cutoff: i64,
    ) -> Result<usize, StoreError> {
        self.write(|txn| {
            let WriteTxn::Redb(t) = txn else { return Ok(0) };
            let mut doomed = Vec::new();
            for (key, bytes) in kv::list(t, table)? {
                let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                    continue;
                };
                let at = match field {
                    Some(f) => value.get(f).and_then(serde_json::Value::as_i64),
                    None => value.as_i64(),
                };
                if at.is_some_and(|at| at < cutoff) {
                    doomed.push(key);
                }
            }
            for key in &doomed {
                kv::remove(t, table, key)?;
            }
            Ok(doomed.len())
        })
    }
}
