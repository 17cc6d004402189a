//! The server's own signing keys (access tokens, id_tokens), generated on first start and kept in
//! the database so every restart publishes the same `kid`s.

use serde::{Deserialize, Serialize};

use super::kv::JsonTable;
use super::{Store, StoreError};

pub(crate) const TABLE: JsonTable<ServerKey> = JsonTable::new("server_keys");

/// A private key (PKCS#8 PEM) under a name such as `token-rs256`.
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
}
