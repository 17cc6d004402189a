//! Community records and their repository, with the default-community rule: whenever any
//! community exists, exactly one is the default. Every change that moves the flag rewrites the
//! affected rows in one write transaction, so no reader ever sees zero or two defaults.

use serde::{Deserialize, Serialize};

use super::kv::JsonTable;
use super::{Store, StoreError};

/// `CommunityRecord::revocation` value: an unavailable or stale CRL rejects the certificate.
pub const REVOCATION_FAIL_CLOSED: &str = "fail-closed";
/// `CommunityRecord::revocation` value: an unavailable or stale CRL is logged and tolerated.
pub const REVOCATION_FAIL_OPEN: &str = "fail-open";

pub(crate) const TABLE: JsonTable<CommunityRecord> = JsonTable::new("communities");

/// A trust community: its anchors, intermediates and CRLs, and the certificate and key this
/// server signs metadata with for it. Keyed by `uri`.
#[derive(Serialize, Deserialize, Clone)]
pub struct CommunityRecord {
    pub uri: String,
    pub anchors_pem: Vec<String>,
    pub intermediates_pem: Vec<String>,
    pub crls_pem: Vec<String>,
    pub signing_chain_pem: String,
    /// Private key; never printed by `Debug`.
    pub signing_key_pem: String,
    /// `REVOCATION_FAIL_CLOSED` or `REVOCATION_FAIL_OPEN`.
    pub revocation: String,
    /// Maintained by the repository; see `Communities::put`.
    pub is_default: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Per-community policy settings.
    #[serde(default)]
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Issue 10 item 3: CRLs configured by file path, served alongside `crls_pem` and re-read by
    /// the server when the file changes (`community::CrlFileWatcher`). Absent in older records.
    #[serde(default)]
    pub crl_files: Vec<CrlFile>,
}

/// Issue 10 item 3: a CRL file and the content last read from it. The stamp (`modified`, `len`)
/// is what the watcher compares with the file's metadata to decide whether to read it again.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CrlFile {
    /// Absolute path on the server's host.
    pub path: String,
    /// The CRL(s) read from it, as PEM.
    pub pem: String,
    /// The file's modification time when read, in nanoseconds since the Unix epoch (seconds
    /// would miss two writes within one second).
    pub modified: i64,
    /// The file's length in bytes when read.
    pub len: u64,
}

impl std::fmt::Debug for CommunityRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommunityRecord")
            .field("uri", &self.uri)
            .field("anchors_pem", &self.anchors_pem)
            .field("intermediates_pem", &self.intermediates_pem)
            .field("crls_pem", &self.crls_pem)
            .field("signing_chain_pem", &self.signing_chain_pem)
            .field("signing_key_pem", &"<redacted>")
            .field("revocation", &self.revocation)
            .field("is_default", &self.is_default)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("settings", &self.settings)
            .field("crl_files", &self.crl_files)
            .finish()
    }
}

/// The communities repository, from `Store::communities()`.
pub struct Communities<'s> {
    store: &'s Store,
}

impl<'s> Communities<'s> {
    pub(super) fn new(store: &'s Store) -> Self {
        Communities { store }
    }

    /// Insert or replace the community `record.uri`; returns the record as stored.
    ///
    /// The repository owns two fields: `created_at` is kept from the stored row on replace (the
    /// default hand-over picks the oldest community), and `is_default` is true if this is the only
    /// community, if the caller asked for it (the others are cleared in the same transaction), or
    /// if it already was the default (clearing it would leave none; use `set_default` to move it).
    pub fn put(&self, record: CommunityRecord) -> Result<CommunityRecord, StoreError> {
        self.store.write(|txn| {
            let mut record = record;
            let all = TABLE.list(txn)?;
            let mut others_exist = false;
            let mut was_default = false;
            for (uri, stored) in &all {
                if *uri == record.uri {
                    record.created_at = stored.created_at;
                    was_default = stored.is_default;
                } else {
                    others_exist = true;
                }
            }
            record.is_default = !others_exist || record.is_default || was_default;
            if record.is_default {
                for (uri, mut other) in all {
                    if uri != record.uri && other.is_default {
                        other.is_default = false;
                        TABLE.put(txn, &uri, &other)?;
                    }
                }
            }
            TABLE.put(txn, &record.uri, &record)?;
            Ok(record)
        })
    }

    /// The community `uri`, if configured.
    pub fn get(&self, uri: &str) -> Result<Option<CommunityRecord>, StoreError> {
        self.store.read(|txn| TABLE.get(txn, uri))
    }

    /// All communities, ordered by URI.
    pub fn list(&self) -> Result<Vec<CommunityRecord>, StoreError> {
        self.store
            .read(|txn| Ok(TABLE.list(txn)?.into_iter().map(|(_, r)| r).collect()))
    }

    /// Delete the community `uri`; true if it existed. If it was the default, the oldest remaining
    /// community (by `created_at`, then URI) becomes the default in the same transaction.
    pub fn remove(&self, uri: &str) -> Result<bool, StoreError> {
        self.store.write(|txn| {
            let Some(removed) = TABLE.get(txn, uri)? else {
                return Ok(false);
            };
            TABLE.remove(txn, uri)?;
            if removed.is_default {
                let heir = TABLE
                    .list(txn)?
                    .into_iter()
                    .min_by(|(a_uri, a), (b_uri, b)| {
                        (a.created_at, a_uri).cmp(&(b.created_at, b_uri))
                    });
                if let Some((heir_uri, mut heir)) = heir {
                    heir.is_default = true;
                    TABLE.put(txn, &heir_uri, &heir)?;
                    tracing::info!(removed = uri, default = %heir_uri, "default community handed over");
                }
            }
            Ok(true)
        })
    }

    /// Make `uri` the default community, clearing the flag on all others in one transaction.
    /// `NotFound` if there is no such community.
    pub fn set_default(&self, uri: &str) -> Result<(), StoreError> {
        self.store.write(|txn| {
            let all = TABLE.list(txn)?;
            if !all.iter().any(|(u, _)| u == uri) {
                return Err(StoreError::NotFound {
                    table: TABLE.name(),
                    key: uri.to_owned(),
                });
            }
            for (u, mut record) in all {
                let should_be = u == uri;
                if record.is_default != should_be {
                    record.is_default = should_be;
                    TABLE.put(txn, &u, &record)?;
                }
            }
            Ok(())
        })
    }

    /// Issue 10 item 3: replaces the entry for `file.path` in community `uri`'s `crl_files` with
    /// `file` and sets `updated_at` to `now`, in one write transaction that reads the record
    /// afresh (a concurrent admin change to the record is kept). Returns false, writing nothing,
    /// when the community or the entry is gone or the entry already holds `file`'s content (so
    /// several instances watching one file write it once).
    pub fn update_crl_file(&self, uri: &str, file: &CrlFile, now: i64) -> Result<bool, StoreError> {
        self.store.write(|txn| {
            let Some(mut record) = TABLE.get(txn, uri)? else {
                return Ok(false);
            };
            let Some(entry) = record.crl_files.iter_mut().find(|f| f.path == file.path) else {
                return Ok(false);
            };
            if entry.pem == file.pem {
                return Ok(false);
            }
            *entry = file.clone();
            record.updated_at = now;
            TABLE.put(txn, uri, &record)?;
            Ok(true)
        })
    }

    /// The default community; `None` only when no community exists.
    pub fn default(&self) -> Result<Option<CommunityRecord>, StoreError> {
        Ok(self.list()?.into_iter().find(|r| r.is_default))
    }
}
