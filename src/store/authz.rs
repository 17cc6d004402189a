//! Records of the authorization-code flow: pending authorizations (between `/authorize` and the
//! user's decision), authorization codes and refresh tokens (stored by SHA-256 of the value, never
//! the value), grants (what a user allowed a client; revoking one ends every token from it,
//! HTI1-4), and EHR launch contexts.
//!
//! Single use is decided inside one write transaction (`Codes::consume`, `RefreshTokens::rotate`),
//! so two concurrent exchanges of the same code cannot both succeed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::kv::JsonTable;
use super::{Store, StoreError, WriteTxn};

pub(crate) const INTERACTIONS: JsonTable<Interaction> = JsonTable::new("interactions");
pub(crate) const CODES: JsonTable<CodeRecord> = JsonTable::new("codes");
pub(crate) const GRANTS: JsonTable<GrantRecord> = JsonTable::new("grants");
pub(crate) const REFRESH: JsonTable<RefreshRecord> = JsonTable::new("refresh_tokens");
pub(crate) const LAUNCHES: JsonTable<LaunchRecord> = JsonTable::new("launches");

/// SHA-256 (hex) of a secret value: the only form in which codes and refresh tokens are kept.
pub fn secret_key(value: &str) -> String {
    hex::encode(openssl::sha::sha256(value.as_bytes()))
}

/// Launch context established for a grant (SMART-22).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LaunchContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fhir_context: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub need_patient_banner: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
}

/// A validated authorization request waiting for the user (login, patient choice, consent).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interaction {
    pub id: String,
    pub client_id: String,
    pub redirect_uri: String,
    /// Whether the request carried `redirect_uri` (else the one registered was used): the token
    /// request must repeat it only then (RFC 6749 §4.1.3).
    #[serde(default = "sent")]
    pub redirect_uri_sent: bool,
    pub state: Option<String>,
    /// Requested scopes (space-separated), already limited to what the client registered.
    pub scope: String,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub aud: String,
    /// EHR launch: the context bound by the `launch` parameter.
    #[serde(default)]
    pub launch: Option<LaunchContext>,
    /// Set once the user is known.
    #[serde(default)]
    pub username: Option<String>,
    /// Standalone launch: the patient the user picked.
    #[serde(default)]
    pub selected_patient: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Records written before `redirect_uri_sent` existed are treated as having sent it (the strict side).
fn sent() -> bool {
    true
}

/// An issued authorization code (by hash).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeRecord {
    pub client_id: String,
    pub redirect_uri: String,
    /// Copied from the interaction: `redirect_uri` is required at the token endpoint only when
    /// the authorization request carried it (RFC 6749 §4.1.3).
    #[serde(default = "sent")]
    pub redirect_uri_sent: bool,
    pub code_challenge: Option<String>,
    pub grant_id: String,
    pub nonce: Option<String>,
    pub expires_at: i64,
    /// Set on first exchange; a second exchange revokes the grant (RFC 6749 §4.1.2).
    pub used: bool,
}

/// What a user allowed a client: scope and context; revoked as a whole (HTI1-4).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrantRecord {
    pub grant_id: String,
    pub client_id: String,
    pub username: String,
    pub scope: String,
    pub context: LaunchContext,
    #[serde(default)]
    pub fhir_user: Option<String>,
    pub created_at: i64,
    pub revoked: bool,
    /// Issue 8 item 8: SHA-256 (`secret_key`) of the browser session that approved the grant.
    /// `online_access` refresh tokens work only while that session lives. Absent in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

/// A refresh token (by hash); `grant_id` is its family.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub grant_id: String,
    pub client_id: String,
    pub scope: String,
    pub offline: bool,
    pub expires_at: i64,
    /// Already exchanged for a newer token; presenting it again revokes the family.
    pub rotated: bool,
}

/// An EHR launch context behind an opaque launch id (SMART-13).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LaunchRecord {
    pub context: LaunchContext,
    pub expires_at: i64,
    /// The app this launch was created for; a launch without one (made before launches were
    /// bound) is never taken.
    #[serde(default)]
    pub client_id: Option<String>,
}

/// What `Authz::take_launch` found.
#[derive(Debug, Clone)]
pub enum LaunchTake {
    /// Removed and returned: it was live and made for this client.
    Taken(LaunchRecord),
    /// Unknown, already taken, or expired.
    Missing,
    /// Live, but made for another client: left in place.
    OtherClient,
}

/// What `Authz::consume_code` found.
#[derive(Debug, Clone)]
pub enum CodeUse {
    /// First use: the record, now marked used.
    Fresh(CodeRecord),
    /// Already used: its grant has been revoked in the same transaction.
    Replayed {
        grant_id: String,
    },
    Unknown,
}

/// What `Authz::rotate_refresh` found.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // returned once per refresh, never stored
pub enum RefreshUse {
    /// Valid: the record (now rotated) and the grant; the new token is stored in the same transaction.
    Rotated {
        old: RefreshRecord,
        grant: GrantRecord,
    },
    /// A rotated token came back: the whole family was revoked.
    Replayed { grant_id: String },
    /// Unknown, expired, or its grant is revoked.
    Invalid,
}

/// What `Authz::complete` did (issue 8 item 8: one code per interaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// The interaction was pending: it is gone, and the grant and code are stored.
    Completed,
    /// The interaction was no longer there (completed, denied or expired by a concurrent
    /// request): nothing was written.
    AlreadyCompleted,
}

/// The authorization-code repositories, from `Store::authz()`.
pub struct Authz<'s> {
    store: &'s Store,
}

impl<'s> Authz<'s> {
    pub(super) fn new(store: &'s Store) -> Self {
        Authz { store }
    }

    pub fn put_interaction(&self, i: &Interaction) -> Result<(), StoreError> {
        self.store.write(|txn| INTERACTIONS.put(txn, &i.id, i))
    }

    /// A pending authorization, if it exists and has not expired.
    pub fn interaction(&self, id: &str, now: i64) -> Result<Option<Interaction>, StoreError> {
        Ok(self
            .store
            .read(|txn| INTERACTIONS.get(txn, id))?
            .filter(|i| i.expires_at > now))
    }

    /// Ends a pending authorization and issues its code and grant, in one transaction, once: the
    /// removal of the interaction decides, so of two concurrent approvals only the first stores a
    /// code; the other gets `AlreadyCompleted` and writes nothing.
    pub fn complete(
        &self,
        interaction_id: &str,
        code: &str,
        record: &CodeRecord,
        grant: &GrantRecord,
    ) -> Result<Completion, StoreError> {
        self.store.write(|txn| {
            if !INTERACTIONS.remove(txn, interaction_id)? {
                return Ok(Completion::AlreadyCompleted);
            }
            GRANTS.put(txn, &grant.grant_id, grant)?;
            CODES.put(txn, &secret_key(code), record)?;
            Ok(Completion::Completed)
        })
    }

    pub fn remove_interaction(&self, id: &str) -> Result<(), StoreError> {
        self.store
            .write(|txn| INTERACTIONS.remove(txn, id).map(|_| ()))
    }

    /// Single use, atomically: the first call gets the code, later calls revoke its grant.
    pub fn consume_code(&self, code: &str, now: i64) -> Result<CodeUse, StoreError> {
        let key = secret_key(code);
        self.store.write(|txn| {
            let Some(mut rec) = CODES.get(txn, &key)? else {
                return Ok(CodeUse::Unknown);
            };
            if rec.used {
                revoke_grant_in(txn, &rec.grant_id)?;
                return Ok(CodeUse::Replayed {
                    grant_id: rec.grant_id,
                });
            }
            if rec.expires_at <= now {
                return Ok(CodeUse::Unknown);
            }
            rec.used = true;
            CODES.put(txn, &key, &rec)?;
            Ok(CodeUse::Fresh(rec))
        })
    }

    pub fn grant(&self, grant_id: &str) -> Result<Option<GrantRecord>, StoreError> {
        self.store.read(|txn| GRANTS.get(txn, grant_id))
    }

    /// Grants of a user (optionally for one client), for `grant list` / `grant revoke`.
    pub fn grants_of(
        &self,
        username: &str,
        client_id: Option<&str>,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        self.store.read(|txn| {
            Ok(GRANTS
                .list(txn)?
                .into_iter()
                .map(|(_, g)| g)
                .filter(|g| g.username == username && client_id.is_none_or(|c| g.client_id == c))
                .collect())
        })
    }

    /// HTI1-4: ends a grant; its access tokens introspect inactive and its refresh tokens stop working.
    pub fn revoke_grant(&self, grant_id: &str) -> Result<bool, StoreError> {
        self.store.write(|txn| revoke_grant_in(txn, grant_id))
    }

    pub fn put_refresh(&self, token: &str, rec: &RefreshRecord) -> Result<(), StoreError> {
        self.store
            .write(|txn| REFRESH.put(txn, &secret_key(token), rec))
    }

    /// Rotation (SMART-43): marks `token` used and stores `new_token`, in one transaction; a token
    /// presented after rotation revokes its whole family (the grant).
    pub fn rotate_refresh(
        &self,
        token: &str,
        new_token: &str,
        new_expires_at: impl FnOnce(&RefreshRecord) -> i64,
        now: i64,
    ) -> Result<RefreshUse, StoreError> {
        let key = secret_key(token);
        self.store.write(|txn| {
            let Some(mut old) = REFRESH.get(txn, &key)? else {
                return Ok(RefreshUse::Invalid);
            };
            if old.rotated {
                revoke_grant_in(txn, &old.grant_id)?;
                return Ok(RefreshUse::Replayed {
                    grant_id: old.grant_id,
                });
            }
            let Some(grant) = GRANTS.get(txn, &old.grant_id)?.filter(|g| !g.revoked) else {
                return Ok(RefreshUse::Invalid);
            };
            if old.expires_at <= now {
                return Ok(RefreshUse::Invalid);
            }
            old.rotated = true;
            REFRESH.put(txn, &key, &old)?;
            let fresh = RefreshRecord {
                rotated: false,
                expires_at: new_expires_at(&old),
                ..old.clone()
            };
            REFRESH.put(txn, &secret_key(new_token), &fresh)?;
            Ok(RefreshUse::Rotated { old, grant })
        })
    }

    /// The refresh token's record (introspection); `None` if unknown.
    pub fn refresh(&self, token: &str) -> Result<Option<RefreshRecord>, StoreError> {
        self.store.read(|txn| REFRESH.get(txn, &secret_key(token)))
    }

    pub fn put_launch(&self, id: &str, rec: &LaunchRecord) -> Result<(), StoreError> {
        self.store.write(|txn| LAUNCHES.put(txn, id, rec))
    }

    pub fn launch(&self, id: &str, now: i64) -> Result<Option<LaunchRecord>, StoreError> {
        Ok(self
            .store
            .read(|txn| LAUNCHES.get(txn, id))?
            .filter(|l| l.expires_at > now))
    }

    /// Single use: in one write transaction, reads the launch and removes it when it is live and
    /// was created for `client_id`. Of concurrent takes, at most one gets `Taken`.
    pub fn take_launch(
        &self,
        id: &str,
        client_id: &str,
        now: i64,
    ) -> Result<LaunchTake, StoreError> {
        self.store.write(|txn| match LAUNCHES.get(txn, id)? {
            Some(rec) if rec.expires_at > now && rec.client_id.as_deref() == Some(client_id) => {
                LAUNCHES.remove(txn, id)?;
                Ok(LaunchTake::Taken(rec))
            }
            Some(rec) if rec.expires_at > now && rec.client_id.is_some() => {
                Ok(LaunchTake::OtherClient)
            }
            _ => Ok(LaunchTake::Missing),
        })
    }
}

fn revoke_grant_in(txn: &WriteTxn, grant_id: &str) -> Result<bool, StoreError> {
    match GRANTS.get(txn, grant_id)? {
        Some(mut g) if !g.revoked => {
            g.revoked = true;
            GRANTS.put(txn, grant_id, &g)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

#[cfg(test)]
mod completion_tests {
    use super::*;

    #[test]
    fn an_interaction_completes_once() {
        // Issue 8 item 8: two approvals of one interaction store one code.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let a = store.authz();
        let i = Interaction {
            id: "i".into(),
            client_id: "c".into(),
            redirect_uri: "https://a/cb".into(),
            redirect_uri_sent: true,
            state: None,
            scope: "openid".into(),
            code_challenge: None,
            nonce: None,
            aud: String::new(),
            launch: None,
            username: None,
            selected_patient: None,
            created_at: 0,
            expires_at: 600,
        };
        a.put_interaction(&i).unwrap();
        let code = |g: &str| CodeRecord {
            client_id: "c".into(),
            redirect_uri: "https://a/cb".into(),
            redirect_uri_sent: true,
            code_challenge: None,
            grant_id: g.into(),
            nonce: None,
            expires_at: 60,
            used: false,
        };
        let grant = |g: &str| GrantRecord {
            grant_id: g.into(),
            client_id: "c".into(),
            username: "u".into(),
            scope: "openid".into(),
            context: LaunchContext::default(),
            fhir_user: None,
            created_at: 0,
            revoked: false,
            session: None,
        };
        assert_eq!(
            a.complete("i", "code-1", &code("g1"), &grant("g1"))
                .unwrap(),
            Completion::Completed
        );
        assert_eq!(
            a.complete("i", "code-2", &code("g2"), &grant("g2"))
                .unwrap(),
            Completion::AlreadyCompleted
        );
        assert!(matches!(
            a.consume_code("code-1", 0).unwrap(),
            CodeUse::Fresh(_)
        ));
        assert!(
            matches!(a.consume_code("code-2", 0).unwrap(), CodeUse::Unknown),
            "no second code"
        );
        assert!(a.grant("g2").unwrap().is_none(), "no second grant");
        assert_eq!(
            a.complete("never-existed", "code-3", &code("g3"), &grant("g3"))
                .unwrap(),
            Completion::AlreadyCompleted
        );
    }
}
