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
        "the database {path} is in use by another udap-server process (probably `udap-server serve`); \
         stop that process first, or point this command at a different data directory"
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

    /// redb reported an error. Shared (`Arc`) because one failed group commit answers many callers.
    #[error("storage error: {0}")]
    Backend(#[source] Arc<redb::Error>),

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

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        StoreError::Backend(Arc::new(e))
    }
}

/// redb has one error type per operation; they all widen into `redb::Error`.
macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::from(redb::Error::from(e))
            }
        }
    )*};
}
from_redb!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError
);
