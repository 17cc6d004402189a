//! Developer accounts (issue 12): the people who register SMART apps themselves, through the
//! developer portal or RFC 7591, and may see and change only their own apps. Keyed by the
//! normalized (trimmed, lower-case) e-mail address.
//!
//! Only an argon2id PHC string of the password is stored (see `oauth::password`), and `Debug` never
//! prints it. The developer's app list is kept on the record and changes in the same transaction as
//! the app itself, so "the apps of a developer" needs no scan of every client.

use serde::{Deserialize, Serialize};

use super::clients::{self, ClientRecord};
use super::kv::JsonTable;
use super::{Store, StoreError};

pub(crate) const TABLE: JsonTable<DeveloperRecord> = JsonTable::new("developers");

/// A developer account.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeveloperRecord {
    /// Normalized e-mail address (`normalize_email`); the key.
    pub email: String,
    #[serde(default)]
    pub name: String,
    /// argon2id PHC string; never the password.
    pub password_hash: String,
    /// Client ids of the apps this developer owns.
    #[serde(default)]
    pub apps: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for DeveloperRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The hash is offline-crackable material: keep it out of logs and panic messages.
        f.debug_struct("DeveloperRecord")
            .field("email", &self.email)
            .field("name", &self.name)
            .field("password_hash", &"[redacted]")
            .field("apps", &self.apps)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// The form an e-mail address is stored and looked up in: trimmed and lower-cased. `None` for
/// something that is not shaped like an address (one `@`, non-empty parts, no whitespace or
/// control characters, at most 254 bytes).
pub fn normalize_email(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let shaped = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    shaped.then_some(email)
}

/// The outcome of `Developers::remove`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveDeveloper {
    Removed,
    NotFound,
    /// The developer still owns these apps: remove or hand them over first.
    OwnsApps(Vec<String>),
}

/// The outcome of `Developers::put_app`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutApp {
    Stored,
    /// The client names no developer, or one that does not exist.
    NoSuchDeveloper,
    /// The client id exists and belongs to someone else (another developer or an administrator).
    NotOwned,
}

/// The developers repository, from `Store::developers()`.
pub struct Developers<'s> {
    store: &'s Store,
}

impl<'s> Developers<'s> {
    pub(super) fn new(store: &'s Store) -> Self {
        Developers { store }
    }

    pub fn get(&self, email: &str) -> Result<Option<DeveloperRecord>, StoreError> {
        let Some(key) = normalize_email(email) else {
            return Ok(None);
        };
        self.store.read(|txn| TABLE.get(txn, &key))
    }

    /// Inserts a developer only if the address is free (one transaction); false if it exists.
    /// The record's `email` must already be normalized.
    pub fn create(&self, developer: &DeveloperRecord) -> Result<bool, StoreError> {
        self.store.write(|txn| {
            if TABLE.get(txn, &developer.email)?.is_some() {
                return Ok(false);
            }
            TABLE.put(txn, &developer.email, developer)?;
            Ok(true)
        })
    }

    /// Changes one developer in one write transaction (name, password hash); the record as stored,
    /// `None` if unknown. The app list and the key are not the caller's to change here.
    pub fn modify(
        &self,
        email: &str,
        change: impl FnOnce(&mut DeveloperRecord),
    ) -> Result<Option<DeveloperRecord>, StoreError> {
        let Some(key) = normalize_email(email) else {
            return Ok(None);
        };
        self.store.write(|txn| {
            let Some(mut dev) = TABLE.get(txn, &key)? else {
                return Ok(None);
            };
            let (email, apps) = (dev.email.clone(), dev.apps.clone());
            change(&mut dev);
            dev.email = email;
            dev.apps = apps;
            TABLE.put(txn, &key, &dev)?;
            Ok(Some(dev))
        })
    }

    pub fn list(&self) -> Result<Vec<DeveloperRecord>, StoreError> {
        self.store
            .read(|txn| Ok(TABLE.list(txn)?.into_iter().map(|(_, d)| d).collect()))
    }

    /// Removes a developer who owns no apps.
    pub fn remove(&self, email: &str) -> Result<RemoveDeveloper, StoreError> {
        let Some(key) = normalize_email(email) else {
            return Ok(RemoveDeveloper::NotFound);
        };
        self.store.write(|txn| {
            let Some(dev) = TABLE.get(txn, &key)? else {
                return Ok(RemoveDeveloper::NotFound);
            };
            if !dev.apps.is_empty() {
                return Ok(RemoveDeveloper::OwnsApps(dev.apps));
            }
            TABLE.remove(txn, &key)?;
            Ok(RemoveDeveloper::Removed)
        })
    }

    /// Stores an app (insert or replace) and records it in its developer's app list, in one
    /// transaction. Refuses an app whose client id is already taken by anyone but this developer.
    pub fn put_app(&self, app: &ClientRecord) -> Result<PutApp, StoreError> {
        let Some(key) = app.developer.as_deref().and_then(normalize_email) else {
            return Ok(PutApp::NoSuchDeveloper);
        };
        self.store.write(|txn| {
            let Some(mut dev) = TABLE.get(txn, &key)? else {
                return Ok(PutApp::NoSuchDeveloper);
            };
            if let Some(existing) = clients::TABLE.get(txn, &app.client_id)? {
                if existing.developer.as_deref() != Some(key.as_str()) {
                    return Ok(PutApp::NotOwned);
                }
            }
            let mut app = app.clone();
            app.developer = Some(key.clone());
            clients::TABLE.put(txn, &app.client_id, &app)?;
            if !dev.apps.contains(&app.client_id) {
                dev.apps.push(app.client_id.clone());
                TABLE.put(txn, &key, &dev)?;
            }
            Ok(PutApp::Stored)
        })
    }

    /// The developer's apps, in the order they were created. Empty for an unknown developer.
    pub fn apps(&self, email: &str) -> Result<Vec<ClientRecord>, StoreError> {
        let Some(key) = normalize_email(email) else {
            return Ok(Vec::new());
        };
        self.store.read(|txn| {
            let Some(dev) = TABLE.get(txn, &key)? else {
                return Ok(Vec::new());
            };
            let mut apps = Vec::with_capacity(dev.apps.len());
            for id in &dev.apps {
                if let Some(c) = clients::TABLE.get(txn, id)? {
                    // Ownership is the client's own field: a stale list entry shows nothing.
                    if c.developer.as_deref() == Some(key.as_str()) {
                        apps.push(c);
                    }
                }
            }
            Ok(apps)
        })
    }

    /// Deletes one of the developer's apps and its list entry in one transaction; false when the
    /// app does not exist or belongs to someone else (the caller cannot tell which: no probing of
    /// other developers' client ids).
    pub fn remove_app(&self, email: &str, client_id: &str) -> Result<bool, StoreError> {
        let Some(key) = normalize_email(email) else {
            return Ok(false);
        };
        self.store.write(|txn| {
            let Some(mut dev) = TABLE.get(txn, &key)? else {
                return Ok(false);
            };
            let Some(app) = clients::TABLE.get(txn, client_id)? else {
                return Ok(false);
            };
            if app.developer.as_deref() != Some(key.as_str()) {
                return Ok(false);
            }
            clients::remove_in(txn, &app)?;
            dev.apps.retain(|id| id != client_id);
            TABLE.put(txn, &key, &dev)?;
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_email;

    #[test]
    fn email_normalization_table() {
        let rows = [
            (" Dev@Example.ORG ", Some("dev@example.org")),
            ("a@b.co", Some("a@b.co")),
            ("no-at.example.org", None),
            ("@example.org", None),
            ("a@", None),
            ("a@b@c.org", None),
            ("a@localhost", None),
            ("a@.org", None),
            ("a b@example.org", None),
            ("a\u{0}@example.org", None),
        ];
        for (input, want) in rows {
            assert_eq!(normalize_email(input).as_deref(), want, "{input:?}");
        }
    }
}
