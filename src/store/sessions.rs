//! Browser sessions of logged-in users (the `udap_session` cookie, see `http::session`).
//!
//! Rows are keyed by the SHA-256 of the session id (`secret_key`), never the id itself: someone who
//! can read the database file still cannot present a session cookie. Expired rows are removed when
//! a new session is created, in the same transaction, so the table stays as small as the number of
//! live sessions without a background thread.

use serde::{Deserialize, Serialize};

use super::kv::JsonTable;
use super::{secret_key, Store, StoreError, WriteTxn};

pub(crate) const TABLE: JsonTable<SessionRecord> = JsonTable::new("sessions");

/// A stored session.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub username: String,
    /// Synchronizer token for the forms shown during this session (consent, patient picker).
    pub csrf_token: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The CSRF token is a secret of the session: never logged.
        f.debug_struct("SessionRecord")
            .field("username", &self.username)
            .field("csrf_token", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The sessions repository, from `Store::sessions()`. Every method takes the raw session id and
/// hashes it here, so callers cannot store it in the clear by mistake.
pub struct Sessions<'s> {
    store: &'s Store,
}

impl<'s> Sessions<'s> {
    pub(super) fn new(store: &'s Store) -> Self {
        Sessions { store }
    }

    /// Stores a new session under the hash of `session_id`, and drops every expired session, in
    /// one transaction.
    pub fn create(
        &self,
        session_id: &str,
        record: &SessionRecord,
        now: i64,
    ) -> Result<(), StoreError> {
        self.store.write(|txn| {
            prune_in(txn, now)?;
            TABLE.put(txn, &secret_key(session_id), record)
        })
    }

    /// The session for `session_id`, if it exists and has not expired.
    pub fn get(&self, session_id: &str, now: i64) -> Result<Option<SessionRecord>, StoreError> {
        let key = secret_key(session_id);
        Ok(self
            .store
            .read(|txn| TABLE.get(txn, &key))?
            .filter(|s| s.expires_at > now))
    }

    /// True while the session stored under `key` (the `secret_key` of its id, as grants record it)
    /// exists and has not expired: online_access refresh tokens live no longer (issue 8 item 8).
    pub fn is_live_key(&self, key: &str, now: i64) -> Result<bool, StoreError> {
        Ok(self
            .store
            .read(|txn| TABLE.get(txn, key))?
            .is_some_and(|s| s.expires_at > now))
    }

    /// Ends a session (logout); true if it existed.
    pub fn remove(&self, session_id: &str) -> Result<bool, StoreError> {
        let key = secret_key(session_id);
        self.store.write(|txn| TABLE.remove(txn, &key))
    }

    /// Ends every session of `username`; returns how many there were.
    pub fn remove_for_user(&self, username: &str) -> Result<usize, StoreError> {
        self.store.write(|txn| remove_for_user_in(txn, username))
    }

    /// Removes expired sessions; returns how many.
    pub fn prune_expired(&self, now: i64) -> Result<usize, StoreError> {
        self.store.write(|txn| prune_in(txn, now))
    }
}

/// Removes the rows matching `doomed`, inside the caller's transaction.
fn remove_where(
    txn: &WriteTxn,
    doomed: impl Fn(&SessionRecord) -> bool,
) -> Result<usize, StoreError> {
    let keys: Vec<String> = TABLE
        .list(txn)?
        .into_iter()
        .filter(|(_, s)| doomed(s))
        .map(|(k, _)| k)
        .collect();
    for key in &keys {
        TABLE.remove(txn, key)?;
    }
    Ok(keys.len())
}

fn prune_in(txn: &WriteTxn, now: i64) -> Result<usize, StoreError> {
    remove_where(txn, |s| s.expires_at <= now)
}

/// Used by `Users` so a removed user, or a changed password, ends the user's sessions atomically.
pub(super) fn remove_for_user_in(txn: &WriteTxn, username: &str) -> Result<usize, StoreError> {
    remove_where(txn, |s| s.username == username)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(user: &str, expires_at: i64) -> SessionRecord {
        SessionRecord {
            username: user.into(),
            csrf_token: "tok-secret".into(),
            created_at: 0,
            expires_at,
        }
    }

    #[test]
    fn stored_by_hash_expire_and_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let s = store.sessions();
        s.create("id-a", &rec("alice", 100), 0).unwrap();
        s.create("id-b", &rec("bob", 100), 0).unwrap();
        assert_eq!(s.get("id-a", 50).unwrap(), Some(rec("alice", 100)));
        assert_eq!(s.get("id-a", 100).unwrap(), None, "expired at expires_at");
        assert_eq!(s.get("nope", 50).unwrap(), None);
        assert!(s.is_live_key(&secret_key("id-a"), 50).unwrap());
        assert!(!s.is_live_key(&secret_key("id-a"), 100).unwrap(), "expired");
        assert!(
            !s.is_live_key("id-a", 50).unwrap(),
            "the raw id is not a key"
        );
        // The raw id is not a key.
        let raw = store.read(|txn| TABLE.get(txn, "id-a")).unwrap();
        assert!(raw.is_none());

        // Creating a session prunes the expired ones.
        s.create("id-c", &rec("alice", 500), 200).unwrap();
        assert_eq!(store.read(|txn| TABLE.list(txn)).unwrap().len(), 1);

        s.create("id-d", &rec("alice", 500), 200).unwrap();
        s.create("id-e", &rec("bob", 500), 200).unwrap();
        assert_eq!(s.remove_for_user("alice").unwrap(), 2);
        assert!(s.remove("id-e").unwrap());
        assert!(!s.remove("id-e").unwrap());
        assert_eq!(s.prune_expired(1000).unwrap(), 0);
        assert!(!format!("{:?}", rec("x", 1)).contains("tok-secret"));
    }

    #[test]
    fn removing_a_user_ends_their_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let user = crate::store::UserRecord {
            username: "alice".into(),
            password_hash: "h".into(),
            fhir_user: None,
            patients: vec![],
            created_at: 0,
            updated_at: 0,
        };
        store.users().put(&user).unwrap();
        store
            .sessions()
            .create("sid", &rec("alice", 100), 0)
            .unwrap();
        assert!(store.users().remove("alice").unwrap());
        assert_eq!(store.sessions().get("sid", 1).unwrap(), None);
    }
}
