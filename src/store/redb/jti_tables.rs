//! The replay tables and the rules applied inside one write transaction. UDAP-5.
//!
//! `jti`: `(iss, jti) -> exp`. A redb tuple key is length-prefixed, so `("a:b", "c")` and
//! `("a", "b:c")` are different keys (a joined string would conflate them).
//! `jti_by_exp`: `(exp, iss, jti) -> ()`, an expiry index so pruning touches only expired rows
//! instead of scanning the whole table while holding the write lock.

use redb::{Database, ReadableTable, Table, TableDefinition, WriteTransaction};

pub(crate) const JTI: TableDefinition<(&str, &str), i64> = TableDefinition::new("jti");
pub(crate) const JTI_BY_EXP: TableDefinition<(i64, &str, &str), ()> =
    TableDefinition::new("jti_by_exp");

/// Rows deleted per prune transaction, so a large backlog never holds the write lock (and so the
/// token endpoint's jti commits) for long.
const PRUNE_CHUNK: usize = 10_000;

/// Both replay tables, opened in one write transaction.
pub(crate) struct JtiTables<'txn> {
    by_key: Table<'txn, (&'static str, &'static str), i64>,
    by_exp: Table<'txn, (i64, &'static str, &'static str), ()>,
}

impl<'txn> JtiTables<'txn> {
    pub(crate) fn open(txn: &'txn WriteTransaction) -> Result<Self, redb::Error> {
        Ok(JtiTables {
            by_key: txn.open_table(JTI)?,
            by_exp: txn.open_table(JTI_BY_EXP)?,
        })
    }

    /// UDAP-5: record `(iss, jti)` unless a live entry exists. An entry whose `exp < now` is expired
    /// and is replaced ("SHALL allow a jti value to be reused after the expiration"). Returns true
    /// when the pair is fresh and now recorded, false on replay.
    pub(crate) fn insert_if_absent(
        &mut self,
        iss: &str,
        jti: &str,
        exp: i64,
        now: i64,
    ) -> Result<bool, redb::Error> {
        let existing = self.by_key.get((iss, jti))?.map(|g| g.value());
        if let Some(old_exp) = existing {
            if old_exp >= now {
                return Ok(false);
            }
            self.by_exp.remove((old_exp, iss, jti))?;
        }
        self.by_key.insert((iss, jti), exp)?;
        self.by_exp.insert((exp, iss, jti), ())?;
        Ok(true)
    }

    /// Delete up to `PRUNE_CHUNK` entries with `exp < now`; returns how many.
    fn prune_chunk(&mut self, now: i64) -> Result<usize, redb::Error> {
        // `(now, "", "")` is the smallest key with exp == now, so this range is exactly exp < now.
        let mut expired: Vec<(i64, String, String)> = Vec::new();
        for row in self.by_exp.range(..(now, "", ""))? {
            let (key, _) = row?;
            let (exp, iss, jti) = key.value();
            expired.push((exp, iss.to_owned(), jti.to_owned()));
            if expired.len() >= PRUNE_CHUNK {
                break;
            }
        }
        for (exp, iss, jti) in &expired {
            self.by_exp.remove((*exp, iss.as_str(), jti.as_str()))?;
            // The index and the main row are always written together; the check only guards
            // against removing a row that a later write gave a different exp.
            let current = self
                .by_key
                .get((iss.as_str(), jti.as_str()))?
                .map(|g| g.value());
            if current == Some(*exp) {
                self.by_key.remove((iss.as_str(), jti.as_str()))?;
            }
        }
        Ok(expired.len())
    }
}

/// Delete every replay entry with `exp < now`, in chunks of one transaction each.
pub(crate) fn prune_expired(db: &Database, now: i64) -> Result<usize, redb::Error> {
    let mut total = 0;
    loop {
        let txn = db.begin_write()?;
        let removed = {
            let mut tables = JtiTables::open(&txn)?;
            tables.prune_chunk(now)?
        };
        if removed == 0 {
            // Nothing to delete: skip the commit and its fsync.
            txn.abort()?;
            return Ok(total);
        }
        txn.commit()?;
        total += removed;
        if removed < PRUNE_CHUNK {
            return Ok(total);
        }
    }
}

/// Number of replay entries (live and not yet pruned), for metrics.
pub(crate) fn count(db: &Database) -> Result<u64, redb::Error> {
    use redb::{ReadableDatabase, ReadableTableMetadata};
    let txn = db.begin_read()?;
    let table = txn.open_table(JTI)?;
    Ok(table.len()?)
}
