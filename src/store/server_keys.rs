//! The server's own signing keys (access tokens, id_tokens), generated on first start and kept in
//! the database so every restart publishes the same `kid`s.
//!
//! Two tables. `server_keys` holds the private keys by name, never changed once written (the
//! name is bound to a sealed key as associated data, see `kek`). `server_key_ring` (issue 10
//! item 4) says what each key is for: one entry per (purpose, kid) with its state, active,
//! previous or retired. A key adopted from a release before rotation can serve both purposes, so
//! the two entries then name the same key record.

use serde::{Deserialize, Serialize};

use super::kv::JsonTable;
use super::{Store, StoreError};

pub(crate) const TABLE: JsonTable<ServerKey> = JsonTable::new("server_keys");
/// Issue 10 item 4: the key ring, keyed `<purpose>/<kid>`.
pub(crate) const RING: JsonTable<KeyEntry> = JsonTable::new("server_key_ring");

/// A private key (PKCS#8 PEM, sealed when a KEK is configured) under a name such as `token-rs256`.
#[derive(Clone, Serialize, Deserialize)]
pub struct ServerKey {
    pub key_pem: String,
    pub created_at: i64,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKey")
            .field("key_pem", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// What a server key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyPurpose {
    /// Access tokens (`at+jwt`), RS256 or ES256.
    Access,
    /// OpenID Connect id_tokens, always RS256 (SMART-28).
    IdToken,
}

impl KeyPurpose {
    pub const ALL: [KeyPurpose; 2] = [KeyPurpose::Access, KeyPurpose::IdToken];

    /// `access` or `id_token`, as in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::Access => "access",
            KeyPurpose::IdToken => "id_token",
        }
    }
}

impl std::fmt::Display for KeyPurpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A purpose name that is neither `access` nor `id_token`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a key purpose; use `access` or `id_token`")]
pub struct UnknownPurpose(pub String);

impl std::str::FromStr for KeyPurpose {
    type Err = UnknownPurpose;

    /// `access`, `id_token` (also `id-token`, any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "access" => Ok(KeyPurpose::Access),
            "id_token" => Ok(KeyPurpose::IdToken),
            _ => Err(UnknownPurpose(s.to_string())),
        }
    }
}

/// Where a key is in its life: it signs (active), it only verifies and is published (previous),
/// or it is kept for the record only (retired).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    Active,
    Previous,
    Retired,
}

/// One key in the ring, for one purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    /// RFC 7638 thumbprint of the public key: the JWS `kid` and the JWKS entry.
    pub kid: String,
    pub purpose: KeyPurpose,
    /// `RS256` or `ES256`.
    pub alg: String,
    /// The `server_keys` record holding the private key.
    pub key_name: String,
    pub created_at: i64,
    pub state: KeyState,
    /// When it stopped signing (state previous or retired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<i64>,
}

impl KeyEntry {
    fn ring_key(&self) -> String {
        format!("{}/{}", self.purpose, self.kid)
    }
}

/// The ring and the key records as one transaction saw them (input of `ServerKeys::change_ring`).
#[derive(Debug, Clone, Default)]
pub struct RingSnapshot {
    /// Sorted by purpose, then kid.
    pub entries: Vec<KeyEntry>,
    /// Every key record by name, adopted or not.
    pub keys: Vec<(String, ServerKey)>,
}

impl RingSnapshot {
    pub fn key(&self, name: &str) -> Option<&ServerKey> {
        self.keys.iter().find(|(n, _)| n == name).map(|(_, k)| k)
    }
}

/// What one ring change writes: new key records (an existing name is never overwritten) and ring
/// entries (inserted or replaced, by purpose and kid).
#[derive(Debug, Clone, Default)]
pub struct RingChange {
    pub new_keys: Vec<(String, ServerKey)>,
    pub entries: Vec<KeyEntry>,
}

impl RingChange {
    pub fn is_empty(&self) -> bool {
        self.new_keys.is_empty() && self.entries.is_empty()
    }
}

/// The server keys repository, from `Store::server_keys()`.
pub struct ServerKeys<'s> {
    store: &'s Store,
}

impl<'s> ServerKeys<'s> {
    pub(super) fn new(store: &'s Store) -> Self {
        ServerKeys { store }
    }

    /// The key named `name`, creating it with `generate` (in the same transaction) if absent.
    pub fn get_or_create(
        &self,
        name: &str,
        now: i64,
        generate: impl FnOnce() -> Result<String, StoreError>,
    ) -> Result<ServerKey, StoreError> {
        self.store.write(|txn| {
            if let Some(k) = TABLE.get(txn, name)? {
                return Ok(k);
            }
            let key = ServerKey {
                key_pem: generate()?,
                created_at: now,
            };
            TABLE.put(txn, name, &key)?;
            Ok(key)
        })
    }

    /// The key record named `name`.
    pub fn get(&self, name: &str) -> Result<Option<ServerKey>, StoreError> {
        self.store.read(|txn| TABLE.get(txn, name))
    }

    /// The ring (no private keys), sorted by purpose, then kid.
    pub fn ring(&self) -> Result<Vec<KeyEntry>, StoreError> {
        self.store
            .read(|txn| Ok(RING.list(txn)?.into_iter().map(|(_, e)| e).collect()))
    }

    /// Reads the ring and the key records, lets `decide` choose a change, and writes it, all in one
    /// write transaction (so two instances or an instance and the CLI never both make a key
    /// active). On `Err` from `decide` nothing is written and the error is returned.
    ///
    /// Refused with `Aborted` (nothing written) if the result would have more than one active
    /// entry for a purpose, or an entry naming a key record that does not exist.
    pub fn change_ring<R, E: From<StoreError>>(
        &self,
        decide: impl FnOnce(&RingSnapshot) -> Result<(RingChange, R), E>,
    ) -> Result<R, E> {
        let mut refused: Option<E> = None;
        let result = self.store.write(|txn| {
            let snapshot = RingSnapshot {
                entries: RING.list(txn)?.into_iter().map(|(_, e)| e).collect(),
                keys: TABLE.list(txn)?,
            };
            let (change, out) = match decide(&snapshot) {
                Ok(decided) => decided,
                Err(e) => {
                    refused = Some(e);
                    // Dropping the transaction uncommitted writes nothing.
                    return Err(StoreError::Aborted);
                }
            };
            if change.is_empty() {
                return Ok(out);
            }
            let mut entries = snapshot.entries;
            for e in &change.entries {
                match entries
                    .iter_mut()
                    .find(|x| x.purpose == e.purpose && x.kid == e.kid)
                {
                    Some(x) => *x = e.clone(),
                    None => entries.push(e.clone()),
                }
            }
            let known = |name: &str| {
                snapshot
                    .keys
                    .iter()
                    .chain(&change.new_keys)
                    .any(|(n, _)| n == name)
            };
            let one_active_each = KeyPurpose::ALL.iter().all(|p| {
                entries
                    .iter()
                    .filter(|e| e.purpose == *p && e.state == KeyState::Active)
                    .count()
                    <= 1
            });
            if !one_active_each || !entries.iter().all(|e| known(&e.key_name)) {
                tracing::error!("a server key ring change was refused: it breaks the ring's rules");
                return Err(StoreError::Aborted);
            }
            for (name, key) in &change.new_keys {
                if TABLE.get(txn, name)?.is_none() {
                    TABLE.put(txn, name, key)?;
                }
            }
            for e in &change.entries {
                RING.put(txn, &e.ring_key(), e)?;
            }
            Ok(out)
        });
        match (result, refused) {
            (_, Some(e)) => Err(e),
            (Ok(out), None) => Ok(out),
            (Err(e), None) => Err(e.into()),
        }
    }
}
