//! Local users: the people who log in at the authorization endpoint of the authorization-code flow
//! (SMART-17, SMART-18) and on whose behalf a grant is made. Keyed by username.
//!
//! Only an argon2id PHC string of the password is stored (see `oauth::password`), and `Debug`
//! never prints it. Removing a user ends the user's browser sessions in the same transaction, so a
//! removed user cannot keep approving authorizations with a session cookie.

use serde::{Deserialize, Serialize};

use super::kv::JsonTable;
use super::{sessions, Store, StoreError};

pub(crate) const TABLE: JsonTable<UserRecord> = JsonTable::new("users");

/// A local user.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub username: String,
    /// argon2id PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`); never the password.
    pub password_hash: String,
    /// The user's FHIR resource (`Practitioner/123`, `Patient/p1`, ...), returned as the `fhirUser`
    /// claim (SMART-36).
    #[serde(default)]
    pub fhir_user: Option<String>,
    /// Patient ids this user may act for: offered in the standalone patient picker (SMART-17).
    #[serde(default)]
    pub patients: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The hash is offline-crackable material: keep it out of logs and panic messages.
        f.debug_struct("UserRecord")
            .field("username", &self.username)
            .field("password_hash", &"[redacted]")
            .field("fhir_user", &self.fhir_user)
            .field("patients", &self.patients)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// The users repository, from `Store::users()`.
pub struct Users<'s> {
    store: &'s Store,
}

impl<'s> Users<'s> {
    pub(super) fn new(store: &'s Store) -> Self {
        Users { store }
    }

    pub fn get(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        self.store.read(|txn| TABLE.get(txn, username))
    }

    /// Inserts or replaces a user.
    pub fn put(&self, user: &UserRecord) -> Result<(), StoreError> {
        self.store.write(|txn| TABLE.put(txn, &user.username, user))
    }

    /// Inserts a user only if the username is free (one transaction, so two administrators cannot
    /// both create it); false if it already exists.
    pub fn create(&self, user: &UserRecord) -> Result<bool, StoreError> {
        self.store.write(|txn| {
            if TABLE.get(txn, &user.username)?.is_some() {
                return Ok(false);
            }
            TABLE.put(txn, &user.username, user)?;
            Ok(true)
        })
    }

    /// Replaces a user's password hash and ends the user's sessions, in one transaction (a changed
    /// password must log out whoever held the old one). False if there is no such user.
    pub fn set_password_hash(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.store.write(|txn| {
            let Some(mut user) = TABLE.get(txn, username)? else {
                return Ok(false);
            };
            user.password_hash = password_hash.to_owned();
            user.updated_at = now;
            TABLE.put(txn, username, &user)?;
            sessions::remove_for_user_in(txn, username)?;
            Ok(true)
        })
    }

    /// Every user, in username order.
    pub fn list(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.store
            .read(|txn| Ok(TABLE.list(txn)?.into_iter().map(|(_, u)| u).collect()))
    }

    /// Deletes a user and the user's sessions, in one transaction; true if the user existed.
    /// Grants the user made are not touched here (revoke them with `grant revoke`, HTI1-4).
    pub fn remove(&self, username: &str) -> Result<bool, StoreError> {
        self.store.write(|txn| {
            let existed = TABLE.remove(txn, username)?;
            sessions::remove_for_user_in(txn, username)?;
            Ok(existed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> UserRecord {
        UserRecord {
            username: name.into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
            fhir_user: Some("Patient/p1".into()),
            patients: vec!["p1".into()],
            created_at: 1,
            updated_at: 1,
        }
    }

    #[test]
    fn crud_round_trip_and_debug_redacts_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let users = store.users();
        assert!(users.create(&user("alice")).unwrap());
        assert!(
            !users.create(&user("alice")).unwrap(),
            "create refuses an existing username"
        );
        users.put(&user("bob")).unwrap();
        assert_eq!(users.get("alice").unwrap().unwrap(), user("alice"));
        assert_eq!(
            users
                .list()
                .unwrap()
                .iter()
                .map(|u| u.username.as_str())
                .collect::<Vec<_>>(),
            ["alice", "bob"]
        );
        assert!(users
            .set_password_hash("alice", "$argon2id$new", 5)
            .unwrap());
        assert_eq!(
            users.get("alice").unwrap().unwrap().password_hash,
            "$argon2id$new"
        );
        assert!(!users.set_password_hash("nobody", "x", 5).unwrap());
        assert!(users.remove("alice").unwrap());
        assert!(!users.remove("alice").unwrap());
        assert!(users.get("alice").unwrap().is_none());

        let shown = format!("{:?}", user("carol"));
        assert!(!shown.contains("argon2id"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }
}
