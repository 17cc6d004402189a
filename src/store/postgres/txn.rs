//! One PostgreSQL transaction behind `ReadTxn::Postgres` / `WriteTxn::Postgres`.
//!
//! Read transactions are `REPEATABLE READ READ ONLY`: one snapshot for the whole closure, like a
//! redb read transaction. Write transactions are `READ COMMITTED` and take advisory locks (held
//! until commit or rollback) before touching data, which gives the repositories what redb's single
//! writer gives them:
//!
//! - a key read or written in a write transaction is locked first (`pg_advisory_xact_lock`), even
//!   when its row does not exist, so two transactions deciding on one key (two creators of one
//!   client identity, two exchanges of one code) run one after the other, and the second reads
//!   what the first committed (READ COMMITTED takes a fresh snapshot per statement);
//! - such a key lock also holds its table's lock in shared mode, and `list` in a write
//!   transaction takes the table's lock exclusively, so a decision over a whole table (the
//!   default community, pruning sessions) excludes every concurrent writer of that table.
//!
//! Lock ids are 64-bit hashes of (table, key) and of the table; a collision only serializes two
//! unrelated transactions. A transaction that reads one key and then lists the same table
//! upgrades a lock and can deadlock with another doing the same; PostgreSQL then aborts one of
//! them with an error (repositories list first). Advisory locks are PostgreSQL-specific: see
//! docs/architecture.md for the portable alternative.

use std::cell::RefCell;
use std::collections::HashSet;

use deadpool_postgres::Transaction;

use super::bridge::Bridge;
use crate::store::StoreError;

pub(crate) struct PgTxn<'a> {
    tx: Transaction<'a>,
    bridge: &'a Bridge,
    write: bool,
    /// Lock ids this transaction holds exclusively (keys and whole tables).
    exclusive: RefCell<HashSet<i64>>,
    /// Table lock ids it holds in shared mode.
    shared: RefCell<HashSet<i64>>,
}

const GET: &str = "SELECT value::text FROM kv WHERE tbl = $1 AND key = $2";
const LIST: &str = "SELECT key, value::text FROM kv WHERE tbl = $1 ORDER BY key";
const PUT: &str = "INSERT INTO kv (tbl, key, value) VALUES ($1, $2, $3::text::jsonb) \
                   ON CONFLICT (tbl, key) DO UPDATE SET value = EXCLUDED.value";
const REMOVE: &str = "DELETE FROM kv WHERE tbl = $1 AND key = $2";

fn lock_id(parts: &[&str]) -> i64 {
    let mut h = openssl::sha::Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(&[0]);
    }
    let d = h.finish();
    i64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

fn table_lock(table: &str) -> i64 {
    lock_id(&["udap-table", table])
}

fn key_lock(table: &str, key: &str) -> i64 {
    lock_id(&["udap-key", table, key])
}

impl<'a> PgTxn<'a> {
    pub(crate) fn new(tx: Transaction<'a>, bridge: &'a Bridge, write: bool) -> Self {
        PgTxn {
            tx,
            bridge,
            write,
            exclusive: RefCell::default(),
            shared: RefCell::default(),
        }
    }

    pub(crate) fn commit(self) -> Result<(), StoreError> {
        super::count_round_trip();
        self.bridge.block_on(self.tx.commit())?;
        super::count_commit();
        Ok(())
    }

    fn execute(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        self.bridge.block_on(async {
            let st = self.tx.prepare_cached(sql).await?;
            super::count_round_trip();
            Ok(self.tx.execute(&st, params).await?)
        })
    }

    fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        self.bridge.block_on(async {
            let st = self.tx.prepare_cached(sql).await?;
            super::count_round_trip();
            Ok(self.tx.query(&st, params).await?)
        })
    }

    /// In a write transaction: the table in shared mode and the key exclusively (once each).
    fn lock_key(&self, table: &str, key: &str) -> Result<(), StoreError> {
        if !self.write {
            return Ok(());
        }
        let (t, k) = (table_lock(table), key_lock(table, key));
        let need_table = {
            let ex = self.exclusive.borrow();
            if ex.contains(&t) || ex.contains(&k) {
                return Ok(());
            }
            !self.shared.borrow().contains(&t)
        };
        if need_table {
            self.execute(
                "SELECT pg_advisory_xact_lock_shared($1), pg_advisory_xact_lock($2)",
                &[&t, &k],
            )?;
            self.shared.borrow_mut().insert(t);
        } else {
            self.execute("SELECT pg_advisory_xact_lock($1)", &[&k])?;
        }
        self.exclusive.borrow_mut().insert(k);
        Ok(())
    }

    /// In a write transaction: the whole table exclusively (once).
    fn lock_table(&self, table: &str) -> Result<(), StoreError> {
        if !self.write {
            return Ok(());
        }
        let t = table_lock(table);
        if self.exclusive.borrow().contains(&t) {
            return Ok(());
        }
        self.execute("SELECT pg_advisory_xact_lock($1)", &[&t])?;
        self.exclusive.borrow_mut().insert(t);
        Ok(())
    }

    pub(crate) fn get(
        &self,
        table: &'static str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        if key.contains('\0') {
            return Ok(None); // `text` cannot hold it, so no such row was ever stored.
        }
        self.lock_key(table, key)?;
        let rows = self.query(GET, &[&table, &key])?;
        Ok(rows.first().map(|r| r.get::<_, String>(0).into_bytes()))
    }

    pub(crate) fn list(&self, table: &'static str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.lock_table(table)?;
        let rows = self.query(LIST, &[&table])?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1).into_bytes()))
            .collect())
    }

    pub(crate) fn put(
        &self,
        table: &'static str,
        key: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        if key.contains('\0') {
            return Err(StoreError::KeyNotStorable { table });
        }
        let text = std::str::from_utf8(value).map_err(StoreError::backend)?;
        self.lock_key(table, key)?;
        self.execute(PUT, &[&table, &key, &text])?;
        Ok(())
    }

    pub(crate) fn remove(&self, table: &'static str, key: &str) -> Result<bool, StoreError> {
        if key.contains('\0') {
            return Ok(false);
        }
        self.lock_key(table, key)?;
        Ok(self.execute(REMOVE, &[&table, &key])? > 0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lock_ids_separate_tables_keys_and_boundaries() {
        use super::{key_lock, table_lock};
        assert_ne!(key_lock("a", "bc"), key_lock("ab", "c"));
        assert_ne!(table_lock("codes"), key_lock("codes", ""));
        assert_eq!(key_lock("codes", "k"), key_lock("codes", "k"));
    }
}
