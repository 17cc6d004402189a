//! The replay cache on PostgreSQL: one atomic statement per insert. UDAP-5.
//!
//! `INSERT ... ON CONFLICT (iss, jti) DO UPDATE ... WHERE jti.keep_until < now RETURNING` inserts
//! a fresh pair, or takes over an entry whose time has passed, or does nothing (a replay: no row
//! returned). The primary key serializes concurrent inserts of one pair inside PostgreSQL, so of N
//! concurrent calls exactly one gets a row back, on any number of instances. The statement runs in
//! its own transaction and returns after its commit is durable (synchronous_commit is forced on
//! for our connections).

use std::sync::atomic::{AtomicU64, Ordering};

use super::PgBackend;
use crate::store::StoreError;

const INSERT: &str = "INSERT INTO jti (iss, jti, keep_until) VALUES ($1, $2, $3) \
                      ON CONFLICT (iss, jti) DO UPDATE SET keep_until = EXCLUDED.keep_until \
                      WHERE jti.keep_until < $4 \
                      RETURNING keep_until";

/// Rows deleted per pruning statement, so no statement holds many row locks for long.
const PRUNE_CHUNK: i64 = 10_000;

// The outer `keep_until < $1` is checked again on a row updated concurrently (a take-over with a
// new keep_until), so pruning never deletes an entry that just became live.
const PRUNE: &str = "DELETE FROM jti WHERE keep_until < $1 AND (iss, jti) IN \
                     (SELECT iss, jti FROM jti WHERE keep_until < $1 LIMIT $2)";

pub(crate) struct PgJti {
    backend: PgBackend,
    commits: AtomicU64,
    submitted: AtomicU64,
}

impl PgJti {
    pub(crate) fn new(backend: PgBackend) -> Self {
        PgJti {
            backend,
            commits: AtomicU64::new(0),
            submitted: AtomicU64::new(0),
        }
    }

    pub(crate) fn insert_if_absent(
        &self,
        iss: &str,
        jti: &str,
        keep_until: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.submit(iss, jti)?;
        let fresh = self
            .backend
            .run(|client| insert(client, iss, jti, keep_until, now))?;
        Ok(self.committed(fresh))
    }

    /// Issue 11: `insert_if_absent` awaited on the bridge's runtime instead of blocking the caller.
    pub(crate) async fn insert_if_absent_async(
        &self,
        iss: &str,
        jti: &str,
        keep_until: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.submit(iss, jti)?;
        let (iss, jti) = (iss.to_owned(), jti.to_owned());
        let fresh = self
            .backend
            .run_async(
                move |client| async move { insert(client, &iss, &jti, keep_until, now).await },
            )
            .await?;
        Ok(self.committed(fresh))
    }

    /// Before an insert: PostgreSQL text cannot hold U+0000; count the submission.
    fn submit(&self, iss: &str, jti: &str) -> Result<(), StoreError> {
        if iss.contains('\0') || jti.contains('\0') {
            return Err(StoreError::KeyNotStorable { table: "jti" });
        }
        self.submitted.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// After an insert: one statement, committed on its own (autocommit).
    fn committed(&self, fresh: bool) -> bool {
        self.commits.fetch_add(1, Ordering::Relaxed);
        super::count_round_trip();
        super::count_commit();
        fresh
    }

    pub(crate) fn prune_expired(&self, now: i64) -> Result<usize, StoreError> {
        self.backend.run(|client| async move {
            let st = client.prepare_cached(PRUNE).await?;
            let mut total = 0;
            loop {
                let n = client.execute(&st, &[&now, &PRUNE_CHUNK]).await?;
                total += n as usize;
                if n < PRUNE_CHUNK as u64 {
                    return Ok(total);
                }
            }
        })
    }

    pub(crate) fn commit_count(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    pub(crate) fn insert_count(&self) -> u64 {
        self.submitted.load(Ordering::Relaxed)
    }

    pub(crate) fn len(&self) -> Result<u64, StoreError> {
        self.backend.run(|client| async move {
            let row = client.query_one("SELECT count(*) FROM jti", &[]).await?;
            Ok(row.get::<_, i64>(0).max(0) as u64)
        })
    }
}

/// The insert-or-take-over statement: true when the pair is fresh (a row came back).
async fn insert(
    client: super::Object,
    iss: &str,
    jti: &str,
    keep_until: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let st = client.prepare_cached(INSERT).await?;
    let rows = client.query(&st, &[&iss, &jti, &keep_until, &now]).await?;
    Ok(!rows.is_empty())
}
