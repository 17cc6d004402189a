//! Raw access to redb's JSON tables: one redb table per `JsonTable`, `&str -> &[u8]`.

use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use crate::store::StoreError;

pub(crate) type RawDef = TableDefinition<'static, &'static str, &'static [u8]>;

pub(crate) const fn def(table: &'static str) -> RawDef {
    TableDefinition::new(table)
}

/// Tables readable from both kinds of transaction.
pub(crate) trait Source {
    fn get(&self, table: &'static str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn list(&self, table: &'static str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
}

impl Source for ReadTransaction {
    fn get(&self, table: &'static str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        get_from(&self.open_table(def(table))?, key)
    }
    fn list(&self, table: &'static str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        list_from(&self.open_table(def(table))?)
    }
}

impl Source for WriteTransaction {
    fn get(&self, table: &'static str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        get_from(&self.open_table(def(table))?, key)
    }
    fn list(&self, table: &'static str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        list_from(&self.open_table(def(table))?)
    }
}

pub(crate) fn get(
    txn: &impl Source,
    table: &'static str,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    txn.get(table, key)
}

pub(crate) fn list(
    txn: &impl Source,
    table: &'static str,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    txn.list(table)
}

pub(crate) fn put(
    txn: &WriteTransaction,
    table: &'static str,
    key: &str,
    value: &[u8],
) -> Result<(), StoreError> {
    let mut t = txn.open_table(def(table))?;
    t.insert(key, value)?;
    Ok(())
}

pub(crate) fn remove(
    txn: &WriteTransaction,
    table: &'static str,
    key: &str,
) -> Result<bool, StoreError> {
    let mut t = txn.open_table(def(table))?;
    let existed = t.remove(key)?.is_some();
    Ok(existed)
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
