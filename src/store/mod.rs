//! Persistence: one redb file in the data directory, typed repositories over it.
//!
//! Values are JSON in typed tables (`kv::JsonTable`); every multi-record change runs in one write
//! transaction; commits are durable (redb's default, `Durability::Immediate`). The replay cache
//! (`JtiStore`) group-commits on its own writer thread. This module knows no protocol rules.

mod authz;
mod clients;
mod community;
mod expiry;
mod error;
mod jti;
mod jti_tables;
mod jti_writer;
mod kv;
mod open;
mod pruner;
mod schema;
mod server_keys;
mod sessions;
mod tokens;
mod users;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use redb::{Database, ReadTransaction, ReadableDatabase, WriteTransaction};

pub use authz::{secret_key, Authz, CodeRecord, CodeUse, Completion, GrantRecord, Interaction, LaunchContext, LaunchRecord, LaunchTake, RefreshRecord, RefreshUse};
pub use clients::{ClientMetadata, ClientOrigin, ClientRecord, ClientStatus, Clients, IntendedUse};
pub use community::{Communities, CommunityRecord, REVOCATION_FAIL_CLOSED, REVOCATION_FAIL_OPEN};
pub use error::StoreError;
pub use jti::JtiStore;
pub use pruner::PRUNE_GRACE_SECS;
pub use schema::SCHEMA_VERSION;
pub use server_keys::ServerKeys;
pub use tokens::RevokedTokens;
pub use sessions::{SessionRecord, Sessions};
pub use users::{UserRecord, Users};

/// Handle to the database. Cheap to clone; all clones share one file, one jti writer thread and
/// the pruners. The file is closed, and the threads stopped, when the last clone is dropped.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

// Fields drop in declaration order: pruners and the jti writer hold `Arc<Database>` and are joined
// before `db` itself drops, so the file lock is released when the last `Store` goes away.
struct Inner {
    pruners: Mutex<Vec<pruner::Pruner>>,
    jti: JtiStore,
    db: Arc<Database>,
    path: PathBuf,
}

impl Store {
    /// Create or open the database at `path`: creates missing parent directories (mode 0700) and
    /// the file (mode 0600, since it holds signing keys and client records), checks the schema
    /// version and creates all tables in one write transaction, and starts the jti writer.
    ///
    /// Errors: `InUse` if another process has the file open, `SchemaVersion` if it was written by
    /// a different release, `Io` for filesystem problems.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = Arc::new(open::open_database(path)?);
        write_txn(&db, schema::init)?;
        let jti = JtiStore::start(Arc::clone(&db))?;
        tracing::debug!(path = %path.display(), schema_version = SCHEMA_VERSION, "store opened");
        Ok(Store {
            inner: Arc::new(Inner {
                pruners: Mutex::new(Vec::new()),
                jti,
                db,
                path: path.to_path_buf(),
            }),
        })
    }

    /// The database file's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Communities: trust anchors, signing material, and the default community.
    pub fn communities(&self) -> Communities<'_> {
        Communities::new(self)
    }

    /// Registered clients (UDAP-18: the client's certificate and its (community, iss) binding).
    pub fn clients(&self) -> Clients<'_> {
        Clients::new(self)
    }

    /// The server's own token-signing keys.
    pub fn server_keys(&self) -> ServerKeys<'_> {
        ServerKeys::new(self)
    }

    /// Access tokens revoked before their expiry (RFC 7009).
    pub fn revoked_tokens(&self) -> RevokedTokens<'_> {
        RevokedTokens::new(self)
    }

    /// Authorization-code flow records: interactions, codes, grants, refresh tokens, launches.
    pub fn authz(&self) -> Authz<'_> {
        Authz::new(self)
    }

    /// Local users who log in for the authorization-code flow (SMART-17).
    pub fn users(&self) -> Users<'_> {
        Users::new(self)
    }

    /// Browser sessions of logged-in users, stored by hash of the session id.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions::new(self)
    }

    /// A cheap read, for the health endpoint.
    pub fn check_readable(&self) -> Result<(), StoreError> {
        self.read(|txn| schema::read_version(txn).map(|_| ()))
    }

    /// The replay cache. UDAP-5.
    pub fn jti(&self) -> &JtiStore {
        &self.inner.jti
    }

    /// Start a background thread that prunes expired jti entries every `interval` (at least one
    /// second), using `clock` for the current unix time and keeping `PRUNE_GRACE_SECS` of margin.
    /// The thread stops when the last clone of this store is dropped. UDAP-5.
    pub fn spawn_pruner(
        &self,
        interval: Duration,
        clock: impl Fn() -> i64 + Send + 'static,
    ) -> Result<(), StoreError> {
        let pruner = pruner::Pruner::spawn(Arc::clone(&self.inner.db), interval, clock)?;
        self.inner.pruners.lock().push(pruner);
        Ok(())
    }

    /// Run `f` in one read transaction (a consistent snapshot).
    pub(crate) fn read<R>(
        &self,
        f: impl FnOnce(&ReadTransaction) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let txn = self.inner.db.begin_read()?;
        f(&txn)
    }

    /// Run `f` in one write transaction, committed durably if `f` succeeds. On error the
    /// transaction is dropped, which aborts it: none of `f`'s writes persist.
    pub(crate) fn write<R>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        write_txn(&self.inner.db, f)
    }

    #[cfg(test)]
    pub(crate) fn database(&self) -> &Database {
        &self.inner.db
    }
}

fn write_txn<R>(
    db: &Database,
    f: impl FnOnce(&WriteTransaction) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let txn = db.begin_write()?;
    let out = f(&txn)?;
    txn.commit()?;
    Ok(out)
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}
