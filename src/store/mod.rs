//! Persistence: typed repositories over one storage seam with two backends.
//!
//! The embedded backend (`redb/`, the default) is one redb file in the data directory; the
//! PostgreSQL backend (`postgres/`) is a database that several instances share. Values are JSON in
//! typed tables (`kv::JsonTable`); every multi-record change runs in one write transaction
//! (`Store::write`) on backend-neutral transactions (`txn`); commits are durable. The replay cache
//! is `JtiStore`. This module knows no protocol rules, and nothing above it sees a backend type.

mod admin_tokens;
// Issue 10 item 5: the audit trail.
mod audit;
mod authz;
mod clients;
mod community;
// Issue 12: developer accounts.
mod developers;
mod error;
mod expiry;
mod jti;
mod kv;
mod location;
pub(crate) mod postgres;
mod pruner;
pub(crate) mod redb;
mod server_keys;
mod sessions;
mod tokens;
mod txn;
mod users;

#[doc(hidden)]
pub mod test_db;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

pub use self::postgres::counters as postgres_counters;
pub use self::postgres::migrate::{Migrated, SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION};
pub use self::redb::schema::SCHEMA_VERSION;
pub use admin_tokens::{AdminTokenRecord, AdminTokens};
pub use audit::AuditTrail;
pub use authz::{
    secret_key, Authz, CodeRecord, CodeUse, Completion, GrantRecord, Interaction, LaunchContext,
    LaunchRecord, LaunchTake, RefreshRecord, RefreshUse,
};
pub use clients::{ClientMetadata, ClientOrigin, ClientRecord, ClientStatus, Clients, IntendedUse};
pub use community::{
    Communities, CommunityRecord, CrlFile, REVOCATION_FAIL_CLOSED, REVOCATION_FAIL_OPEN,
};
pub use developers::{normalize_email, DeveloperRecord, Developers, PutApp, RemoveDeveloper};
pub use error::StoreError;
pub use jti::JtiStore;
pub use location::{
    embedded_path, DatabaseUrl, PgOptions, StoreLocation, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_POOL_SIZE,
};
pub use pruner::PRUNE_GRACE_SECS;
pub use server_keys::ServerKeys;
// Issue 10 item 4: the signing-key ring.
pub use server_keys::{
    KeyEntry, KeyPurpose, KeyState, RingChange, RingSnapshot, ServerKey, UnknownPurpose,
};
pub use sessions::{SessionRecord, Sessions};
pub use tokens::RevokedTokens;
pub use users::{UserRecord, Users};

pub(crate) use txn::{ReadTxn, WriteTxn};

/// Every JSON table. Add new repositories here so the embedded backend creates them at open
/// (redb read transactions cannot create tables). PostgreSQL keeps them all in `kv`.
pub(crate) const JSON_TABLES: &[&str] = &[
    community::TABLE.name(),
    clients::TABLE.name(),
    clients::IDENTITIES.name(),
    server_keys::TABLE.name(),
    server_keys::RING.name(), // issue 10 item 4
    tokens::REVOKED.name(),
    authz::INTERACTIONS.name(),
    authz::CODES.name(),
    authz::GRANTS.name(),
    authz::REFRESH.name(),
    authz::LAUNCHES.name(),
    users::TABLE.name(),
    sessions::TABLE.name(),
    developers::TABLE.name(), // issue 12
];

/// The backend under a `Store`; cheap to clone (the pruner holds a clone).
#[derive(Clone)]
pub(crate) enum Backend {
    Redb(redb::RedbBackend),
    Postgres(postgres::PgBackend),
}

impl Backend {
    fn prune_jti(&self, cutoff: i64) -> Result<usize, StoreError> {
        match self {
            Backend::Redb(b) => b.prune_jti(cutoff),
            Backend::Postgres(b) => postgres::jti::PgJti::new(b.clone()).prune_expired(cutoff),
        }
    }
}

/// Handle to the database. Cheap to clone; all clones share one backend (file or pool), one
/// replay cache and the pruners. The backend is closed, and the threads stopped, when the last
/// clone is dropped.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

// Fields drop in declaration order: pruners and the jti writer hold the backend and are joined
// before `backend` itself drops, so redb's file lock is released when the last `Store` goes away.
struct Inner {
    pruners: Mutex<Vec<pruner::Pruner>>,
    jti: JtiStore,
    backend: Backend,
}

impl Store {
    /// Create or open the embedded database at `path`: creates missing parent directories (mode
    /// 0700) and the file (mode 0600, since it holds signing keys and client records), checks the
    /// schema version and creates all tables in one write transaction, and starts the jti writer.
    ///
    /// Errors: `InUse` if another process has the file open, `SchemaVersion` if it was written by
    /// a different release, `Io` for filesystem problems.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let backend = redb::RedbBackend::open(path)?;
        let jti = JtiStore::redb(redb::jti::RedbJti::start(Arc::clone(&backend.db))?);
        tracing::debug!(path = %path.display(), schema_version = SCHEMA_VERSION, "store opened");
        Ok(Store::with(Backend::Redb(backend), jti))
    }

    /// Connect to PostgreSQL, applying pending migrations first (under a lock, so instances
    /// starting together do not race). `SchemaTooNew` if a newer release migrated the database.
    pub fn connect(opts: &PgOptions) -> Result<Store, StoreError> {
        let (backend, migrated) = postgres::PgBackend::connect(opts)?;
        tracing::info!(database = %opts.url, schema_version = migrated.to, pool_size = opts.pool_size, "store connected to PostgreSQL");
        let jti = JtiStore::postgres(postgres::jti::PgJti::new(backend.clone()));
        Ok(Store::with(Backend::Postgres(backend), jti))
    }

    /// Open whichever backend `location` names.
    pub fn open_at(location: &StoreLocation) -> Result<Store, StoreError> {
        match location {
            StoreLocation::Embedded(path) => Store::open(path),
            StoreLocation::Postgres(opts) => Store::connect(opts),
        }
    }

    /// `udap-server migrate`: bring the schema at `location` up to this release's version.
    pub fn migrate(location: &StoreLocation) -> Result<Migrated, StoreError> {
        match location {
            StoreLocation::Embedded(path) => {
                // Opening creates the tables and checks the version; redb has one version so far.
                let existed = path.exists();
                drop(Store::open(path)?);
                let v = SCHEMA_VERSION as i64;
                Ok(Migrated {
                    from: if existed { v } else { 0 },
                    to: v,
                })
            }
            StoreLocation::Postgres(opts) => postgres::PgBackend::connect(opts).map(|(_, m)| m),
        }
    }

    fn with(backend: Backend, jti: JtiStore) -> Store {
        Store {
            inner: Arc::new(Inner {
                pruners: Mutex::new(Vec::new()),
                jti,
                backend,
            }),
        }
    }

    /// The embedded database file's path; `None` on PostgreSQL.
    pub fn path(&self) -> Option<&Path> {
        match &self.inner.backend {
            Backend::Redb(b) => Some(&b.path),
            Backend::Postgres(_) => None,
        }
    }

    /// True for the embedded (redb) store: one process, a data directory of its own.
    pub fn is_embedded(&self) -> bool {
        matches!(self.inner.backend, Backend::Redb(_))
    }

    /// "redb" or "postgres", for logs and metrics.
    pub fn backend_name(&self) -> &'static str {
        match self.inner.backend {
            Backend::Redb(_) => "redb",
            Backend::Postgres(_) => "postgres",
        }
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

    /// Admin API tokens, stored by hash of the token (issue 10).
    pub fn admin_tokens(&self) -> AdminTokens<'_> {
        AdminTokens::new(self)
    }

    /// Browser sessions of logged-in users, stored by hash of the session id.
    /// Issue 12: developer accounts and their apps.
    pub fn developers(&self) -> Developers<'_> {
        Developers::new(self)
    }

    pub fn sessions(&self) -> Sessions<'_> {
        Sessions::new(self)
    }

    /// Issue 10 item 5: the audit trail (append in batches, query by time, client and kind).
    pub fn audit(&self) -> AuditTrail<'_> {
        AuditTrail::new(self)
    }

    /// A cheap read, for the health endpoint.
    pub fn check_readable(&self) -> Result<(), StoreError> {
        match &self.inner.backend {
            Backend::Redb(b) => b.check_readable(),
            Backend::Postgres(b) => b.check_readable(),
        }
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
        let pruner = pruner::Pruner::spawn(self.inner.backend.clone(), interval, clock)?;
        self.inner.pruners.lock().push(pruner);
        Ok(())
    }

    /// Removes every short-lived record (codes, sessions, launches, ...) that expired before
    /// `cutoff`; returns how many (what the pruner thread does, on demand for tests).
    #[cfg(test)]
    pub(crate) fn prune_expired_records(&self, cutoff: i64) -> Result<usize, StoreError> {
        expiry::prune_expired(&self.inner.backend, cutoff)
    }

    /// Run `f` in one read transaction (a consistent snapshot).
    pub(crate) fn read<R>(
        &self,
        f: impl FnOnce(&ReadTxn) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        match &self.inner.backend {
            Backend::Redb(b) => b.read(f),
            Backend::Postgres(b) => b.read(f),
        }
    }

    /// Run `f` in one write transaction, committed durably if `f` succeeds. On error nothing of
    /// `f`'s writes persists.
    ///
    /// The contract every backend keeps (repositories rely on it; docs/architecture.md, "Storage
    /// seam"): a write transaction that reads a key, present or absent, runs as if alone with
    /// respect to every other write transaction touching that key; one that lists a table runs as
    /// if alone with respect to every other writer of that table. Reads in it see its own writes.
    pub(crate) fn write<R>(
        &self,
        f: impl FnOnce(&WriteTxn) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        match &self.inner.backend {
            Backend::Redb(b) => b.write(f),
            Backend::Postgres(b) => b.write(f),
        }
    }

    /// The redb database, for tests of redb's own mechanics (group commit, raw rows).
    #[cfg(test)]
    pub(crate) fn database(&self) -> &::redb::Database {
        match &self.inner.backend {
            Backend::Redb(b) => &b.db,
            Backend::Postgres(_) => panic!("not an embedded store"),
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend_name())
            .field("path", &self.path())
            .finish_non_exhaustive()
    }
}
