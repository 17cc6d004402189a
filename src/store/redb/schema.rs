//! Schema version and table creation, done once at open in one write transaction.

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::jti_tables;
use super::kv::def;
use crate::store::{StoreError, JSON_TABLES};

/// Version of the table layout this build reads and writes. Bump it, and add a migration here,
/// whenever a table's key or value type changes incompatibly.
pub const SCHEMA_VERSION: u64 = 1;

pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(crate) const SCHEMA_VERSION_KEY: &str = "schema_version";

/// Check the stored version, then create all tables. Runs in the caller's transaction, which is
/// dropped (aborted) on error so a file from a newer release is never modified.
pub(crate) fn init(txn: &WriteTransaction) -> Result<(), StoreError> {
    {
        let mut meta = txn.open_table(META)?;
        let found = meta.get(SCHEMA_VERSION_KEY)?.map(|v| v.value());
        match found {
            None => {
                // A new file: nothing else has been written yet.
                meta.insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION)?;
            }
            Some(v) if v == SCHEMA_VERSION => {}
            Some(found) => {
                return Err(StoreError::SchemaVersion {
                    found,
                    supported: SCHEMA_VERSION,
                })
            }
        }
    }
    for table in JSON_TABLES {
        txn.open_table(def(table))?;
    }
    txn.open_table(jti_tables::JTI)?;
    txn.open_table(jti_tables::JTI_BY_EXP)?;
    // Issue 10 item 5: new tables need no version bump (an older release ignores them).
    txn.open_table(super::audit::AUDIT)?;
    txn.open_table(super::audit::AUDIT_BY_CLIENT)?;
    Ok(())
}

/// The stored schema version (health check).
pub(crate) fn read_version(txn: &redb::ReadTransaction) -> Result<Option<u64>, StoreError> {
    let meta = txn.open_table(META)?;
    let v = meta.get(SCHEMA_VERSION_KEY)?.map(|v| v.value());
    Ok(v)
}
