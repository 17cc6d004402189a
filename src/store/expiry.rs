//! Pruning of short-lived records once they have expired: pending authorizations, codes, launch
//! contexts, refresh tokens, sessions and revoked-token markers. Runs on the pruner thread with the
//! replay table's, in one write transaction per pass.

use redb::Database;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::kv::JsonTable;
use super::{authz, sessions, tokens, StoreError};

fn prune_table<T: Serialize + DeserializeOwned>(txn: &redb::WriteTransaction, table: &JsonTable<T>, cutoff: i64, expires: impl Fn(&T) -> i64) -> Result<usize, StoreError> {
    let expired: Vec<String> = table.list(txn)?.into_iter().filter(|(_, r)| expires(r) < cutoff).map(|(k, _)| k).collect();
    for key in &expired {
        table.remove(txn, key)?;
    }
    Ok(expired.len())
}

/// Removes every record that expired before `cutoff`; returns how many.
pub(crate) fn prune_expired(db: &Database, cutoff: i64) -> Result<usize, StoreError> {
    let txn = db.begin_write()?;
    let mut n = 0;
    n += prune_table(&txn, &authz::INTERACTIONS, cutoff, |r| r.expires_at)?;
    n += prune_table(&txn, &authz::CODES, cutoff, |r| r.expires_at)?;
    n += prune_table(&txn, &authz::LAUNCHES, cutoff, |r| r.expires_at)?;
    // A rotated refresh token is kept until it would have expired, so its reuse is still detected.
    n += prune_table(&txn, &authz::REFRESH, cutoff, |r| r.expires_at)?;
    n += prune_table(&txn, &sessions::TABLE, cutoff, |r| r.expires_at)?;
    n += prune_table(&txn, &tokens::REVOKED, cutoff, |exp| *exp)?;
    txn.commit()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use crate::store::{CodeRecord, Interaction, LaunchContext, LaunchRecord, Store};

    #[test]
    fn only_expired_records_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        let a = store.authz();
        a.put_launch("old", &LaunchRecord { context: LaunchContext::default(), expires_at: 100, client_id: None }).unwrap();
        a.put_launch("new", &LaunchRecord { context: LaunchContext::default(), expires_at: 10_000, client_id: None }).unwrap();
        let i = Interaction {
            id: "i".into(), client_id: "c".into(), redirect_uri: "https://a/cb".into(), redirect_uri_sent: true, state: None, scope: "openid".into(),
            code_challenge: None, nonce: None, aud: String::new(), launch: None, username: None, selected_patient: None, created_at: 0, expires_at: 50,
        };
        a.put_interaction(&i).unwrap();
        let code = CodeRecord { client_id: "c".into(), redirect_uri: "r".into(), redirect_uri_sent: true, code_challenge: None, grant_id: "g".into(), nonce: None, expires_at: 10_000, used: false };
        let grant = crate::store::GrantRecord { grant_id: "g".into(), client_id: "c".into(), username: "u".into(), scope: "openid".into(), context: LaunchContext::default(), fhir_user: None, created_at: 0, revoked: false, session: None };
        store.revoked_tokens().revoke("jti-old", 10).unwrap();
        // A live interaction completed into the code (issue 8 item 8: completion needs one).
        a.put_interaction(&crate::store::Interaction { id: "live".into(), expires_at: 10_000, ..i.clone() }).unwrap();
        a.complete("live", "code-value", &code, &grant).unwrap();
        let removed = super::prune_expired(store.database(), 1000).unwrap();
        assert_eq!(removed, 3, "old launch, old interaction, old revoked marker");
        assert!(a.launch("new", 0).unwrap().is_some());
        assert!(a.launch("old", 0).unwrap().is_none());
        assert!(matches!(a.consume_code("code-value", 0).unwrap(), crate::store::CodeUse::Fresh(_)));
    }
}
