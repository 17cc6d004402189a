//! `JtiStore`: the replay cache for client assertions and software statements. UDAP-5.

use super::kv::check_key;
use super::postgres::jti::PgJti;
use super::redb::jti::RedbJti;
use super::StoreError;

const TABLE: &str = "jti";

/// Replay cache keyed by `(iss, jti)`, each entry kept until that JWT's `keep_until`. UDAP-5.
///
/// On redb, inserts go through one writer thread that group-commits them; on PostgreSQL, each is
/// one atomic statement. Either way a call blocks until the entry is durably committed; from
/// async code, call it on a blocking thread (`actix_web::web::block`).
pub struct JtiStore {
    backend: Backend,
}

enum Backend {
    Redb(RedbJti),
    Postgres(PgJti),
}

impl JtiStore {
    pub(crate) fn redb(jti: RedbJti) -> Self {
        JtiStore {
            backend: Backend::Redb(jti),
        }
    }

    pub(crate) fn postgres(jti: PgJti) -> Self {
        JtiStore {
            backend: Backend::Postgres(jti),
        }
    }

    /// UDAP-5: atomically record `(iss, jti)` until `keep_until`.
    ///
    /// `keep_until` is the last time at which the server could still accept that JWT: its `exp`
    /// plus the clock skew the verifier allows (`jose::TimeRules::accepted_until`). Keeping the
    /// entry only until `exp` would let the same JWT be accepted again inside the skew window.
    ///
    /// Returns `Ok(true)` if the pair is fresh (now recorded and durably committed), `Ok(false)` if
    /// it is a replay of a JWT that could still be accepted. An entry whose `keep_until < now` is
    /// spent and is replaced, since the IG requires allowing reuse after expiration. Of concurrent
    /// calls with the same pair exactly one returns true (across instances, on PostgreSQL). On
    /// `Err` nothing is known to be recorded; treat the request as failed (never as fresh).
    pub fn insert_if_absent(
        &self,
        iss: &str,
        jti: &str,
        keep_until: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        check_pair(iss, jti)?;
        match &self.backend {
            Backend::Redb(j) => j.insert_if_absent(iss, jti, keep_until, now),
            Backend::Postgres(j) => j.insert_if_absent(iss, jti, keep_until, now),
        }
    }

    /// `insert_if_absent` for async code (issue 11), with the same guarantees: the future resolves
    /// after the entry is durably committed, and holds no thread meanwhile (redb: a oneshot reply
    /// from the group-commit writer; PostgreSQL: the statement runs on the driver's runtime).
    pub async fn insert_if_absent_async(
        &self,
        iss: &str,
        jti: &str,
        keep_until: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        check_pair(iss, jti)?;
        match &self.backend {
            Backend::Redb(j) => j.insert_if_absent_async(iss, jti, keep_until, now).await,
            Backend::Postgres(j) => j.insert_if_absent_async(iss, jti, keep_until, now).await,
        }
    }

    /// Delete entries with `keep_until < now`; returns how many. Runs in chunks, each its own
    /// transaction, so inserts are never held up for long.
    pub fn prune_expired(&self, now: i64) -> Result<usize, StoreError> {
        match &self.backend {
            Backend::Redb(j) => j.prune_expired(now),
            Backend::Postgres(j) => j.prune_expired(now),
        }
    }

    /// Commits of replay entries since start (redb: group commits, so with `insert_count` the mean
    /// batch size; PostgreSQL: one per insert).
    pub fn commit_count(&self) -> u64 {
        match &self.backend {
            Backend::Redb(j) => j.commit_count(),
            Backend::Postgres(j) => j.commit_count(),
        }
    }

    /// Inserts submitted since start.
    pub fn insert_count(&self) -> u64 {
        match &self.backend {
            Backend::Redb(j) => j.insert_count(),
            Backend::Postgres(j) => j.insert_count(),
        }
    }

    /// Entries currently stored (live, or expired and not yet pruned).
    pub fn len(&self) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Redb(j) => j.len(),
            Backend::Postgres(j) => j.len(),
        }
    }

    /// True if no entries are stored.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }
}

/// Both parts of a replay key are bounded like every store key.
fn check_pair(iss: &str, jti: &str) -> Result<(), StoreError> {
    check_key(TABLE, iss)?;
    check_key(TABLE, jti)
}
