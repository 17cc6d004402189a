//! The storage layer's single error enum. Callers above `store` translate it once (a 5xx for the
//! HTTP layer, an actionable message for the CLI); nothing here knows about OAuth.

use std::path::PathBuf;
use std::sync::Arc;

/// Everything that can go wrong in `store`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The data directory or database file could not be created or opened.
    /// A read-modify-write was refused by its caller's rule; nothing was written.
    #[error("the change was refused; nothing was written")]
    Aborted,
    #[error("cannot open {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Another process holds redb's lock on the file.
    #[error(
        "the database {path} is in use by another udap-server process (probably `udap-server serve`), \
         and no admin API answered for this data directory; start the server with its admin API \
         (on by default; not `--admin-listen off`) so admin commands go through it, or stop it first"
    )]
    InUse { path: PathBuf },

    /// The file was written by a different (newer or unknown) version of udap-server.
    #[error(
        "the database has schema version {found}, but this udap-server supports version {supported}; \
         run the udap-server release that created it, or restore a backup made by this release \
         (the file was not modified)"
    )]
    SchemaVersion { found: u64, supported: u64 },

    /// A stored row could not be decoded. The key is included so an administrator can find the row;
    /// keys are identifiers (community URIs, client ids, hashes), never secrets.
    #[error("corrupt record in table `{table}` at key `{key}`")]
    Corrupt { table: &'static str, key: String },

    /// A record could not be serialized (a bug: every stored type serializes).
    #[error("cannot encode a record for table `{table}`: {source}")]
    Encode {
        table: &'static str,
        #[source]
        source: serde_json::Error,
    },

    /// A key is longer than the store accepts; such input never comes from a well-behaved client.
    #[error("key for table `{table}` is {len} bytes, longer than the maximum of {max}")]
    KeyTooLong {
        table: &'static str,
        len: usize,
        max: usize,
    },

    /// The requested record does not exist (for operations that need it to, like `set_default`).
    #[error("no record in table `{table}` at key `{key}`")]
    NotFound { table: &'static str, key: String },

    /// The database reported an error (redb, or PostgreSQL and its pool). Backend-neutral: the
    /// driver's error is kept only as a source for the log. Shared (`Arc`) because one failed
    /// group commit answers many callers.
    #[error("storage error: {0}")]
    Backend(#[source] Arc<dyn std::error::Error + Send + Sync>),

    /// The PostgreSQL database was migrated by a newer udap-server than this one.
    #[error(
        "the database has schema version {found}, newer than the version {supported} this udap-server \
         supports; run the udap-server release that migrated it (nothing was changed)"
    )]
    SchemaTooNew { found: i64, supported: i64 },

    /// A key the backend cannot hold (PostgreSQL `text` cannot contain U+0000); nothing was written.
    #[error("key for table `{table}` contains a character the database cannot store")]
    KeyNotStorable { table: &'static str },

    /// The jti writer thread is gone (the store is shutting down, or the thread failed).
    #[error("the replay-cache writer has stopped")]
    WriterStopped,

    /// A background thread could not be started.
    #[error("cannot start the {name} thread: {source}")]
    Thread {
        name: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// Wraps a driver error.
    pub(crate) fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Backend(Arc::new(e))
    }
}

impl From<::redb::Error> for StoreError {
    fn from(e: ::redb::Error) -> Self {
        StoreError::backend(e)
    }
}

/// redb has one error type per operation; they all widen into `redb::Error`.
macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::from(::redb::Error::from(e))
            }
        }
    )*};
}
from_redb!(
    ::redb::StorageError,
    ::redb::TableError,
    ::redb::TransactionError,
    ::redb::CommitError,
    ::redb::DatabaseError
);

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::backend(e)
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::backend(e)
    }
}
