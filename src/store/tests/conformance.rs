//! The store conformance suite (issue 9): every store operation with an atomicity rule, written
//! once against `&Store` and run on every backend (`redb::*` on a temporary file, `postgres::*` on
//! a fresh PostgreSQL database, see `backends`). Only the public repository API is used: nothing
//! here knows which backend it runs on. Concurrency cases start N threads at a barrier on one key
//! and count winners; none has a timing threshold.

use std::sync::{Arc, Barrier};
use std::thread;

use crate::store::{
    ClientRecord, ClientStatus, CodeRecord, CodeUse, GrantRecord, Interaction, LaunchContext,
    LaunchRecord, LaunchTake, RefreshRecord, RefreshUse, SessionRecord, Store, StoreError,
    UserRecord,
};
// Issue 10 item 4: the signing-key ring.
use crate::store::{KeyEntry, KeyPurpose, KeyState, RingChange, ServerKey};

const NOW: i64 = 1_700_000_000;
const ISS: &str = "https://client.example.org/app";
/// Threads racing on one key.
const N: usize = 12;

/// Runs `f` on `N` threads released together; returns their results.
fn race<T: Send + 'static>(
    store: &Store,
    f: impl Fn(&Store, usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(N));
    let f = Arc::new(f);
    let handles: Vec<_> = (0..N)
        .map(|i| {
            let (store, barrier, f) = (store.clone(), Arc::clone(&barrier), Arc::clone(&f));
            thread::spawn(move || {
                barrier.wait();
                f(&store, i)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect()
}

fn grant(id: &str) -> GrantRecord {
    GrantRecord {
        grant_id: id.into(),
        client_id: "app".into(),
        username: "alice".into(),
        scope: "openid patient/*.rs offline_access".into(),
        context: LaunchContext {
            patient: Some("p1".into()),
            ..Default::default()
        },
        fhir_user: None,
        created_at: NOW,
        revoked: false,
        session: None,
    }
}

fn code(grant_id: &str, expires_at: i64) -> CodeRecord {
    CodeRecord {
        client_id: "app".into(),
        redirect_uri: "https://app.example/cb".into(),
        redirect_uri_sent: true,
        code_challenge: Some("challenge".into()),
        grant_id: grant_id.into(),
        nonce: None,
        expires_at,
        used: false,
    }
}

/// Completes a fresh interaction into `code`/`record`/`grant` (completion needs a live one).
fn issue_code(
    a: &crate::store::Authz<'_>,
    code_value: &str,
    record: &CodeRecord,
    grant: &GrantRecord,
) {
    let id = format!("i-{code_value}");
    a.put_interaction(&interaction(&id, NOW + 600)).unwrap();
    assert_eq!(
        a.complete(&id, code_value, record, grant).unwrap(),
        crate::store::Completion::Completed
    );
}

fn interaction(id: &str, expires_at: i64) -> Interaction {
    Interaction {
        id: id.into(),
        client_id: "app".into(),
        redirect_uri: "https://app.example/cb".into(),
        redirect_uri_sent: true,
        state: Some("s".into()),
        scope: "openid".into(),
        code_challenge: None,
        nonce: None,
        aud: "https://fhir.example".into(),
        launch: None,
        username: Some("alice".into()),
        selected_patient: None,
        created_at: NOW,
        expires_at,
    }
}

fn refresh(grant_id: &str, expires_at: i64) -> RefreshRecord {
    RefreshRecord {
        grant_id: grant_id.into(),
        client_id: "app".into(),
        scope: "openid".into(),
        offline: true,
        expires_at,
        rotated: false,
    }
}

fn launch(client: Option<&str>, expires_at: i64) -> LaunchRecord {
    LaunchRecord {
        context: LaunchContext {
            patient: Some("p1".into()),
            ..Default::default()
        },
        expires_at,
        client_id: client.map(String::from),
    }
}

fn session(user: &str, expires_at: i64) -> SessionRecord {
    SessionRecord {
        username: user.into(),
        csrf_token: "csrf".into(),
        created_at: NOW,
        expires_at,
    }
}

fn user(name: &str) -> UserRecord {
    UserRecord {
        username: name.into(),
        password_hash: "$argon2id$x".into(),
        fhir_user: None,
        patients: vec![],
        created_at: NOW,
        updated_at: NOW,
    }
}

fn udap_client(id: &str) -> ClientRecord {
    let mut c = ClientRecord::admin(
        id,
        "B2B",
        "private_key_jwt",
        &["client_credentials"],
        "system/*.rs",
        NOW,
    );
    c.origin = crate::store::ClientOrigin::UdapRegistration;
    c.community = Some("urn:community".into());
    c.san_uri = Some(ISS.into());
    c
}

// --- replay cache (UDAP-5) ---

pub(super) fn jti_insert_if_absent_and_reuse_after_keep_until(store: &Store) {
    let jti = store.jti();
    assert!(
        jti.insert_if_absent(ISS, "j1", NOW + 300, NOW).unwrap(),
        "first use is fresh"
    );
    assert!(
        !jti.insert_if_absent(ISS, "j1", NOW + 300, NOW + 10)
            .unwrap(),
        "replay"
    );
    assert!(
        !jti.insert_if_absent(ISS, "j1", NOW + 900, NOW + 300)
            .unwrap(),
        "still live at exactly keep_until"
    );
    assert!(
        jti.insert_if_absent(ISS, "j1", NOW + 900, NOW + 301)
            .unwrap(),
        "reuse once keep_until has passed"
    );
    assert!(
        !jti.insert_if_absent(ISS, "j1", NOW + 900, NOW + 302)
            .unwrap(),
        "the taken-over entry lives to its new keep_until"
    );
    assert!(
        jti.insert_if_absent("https://other.example/app", "j1", NOW + 300, NOW)
            .unwrap(),
        "another issuer's jti is independent"
    );
    // (iss, jti) is a pair, not a joined string.
    assert!(jti.insert_if_absent("a:b", "c", NOW + 300, NOW).unwrap());
    assert!(jti.insert_if_absent("a", "b:c", NOW + 300, NOW).unwrap());
    let long = "j".repeat(crate::store::kv::MAX_KEY_LEN + 1);
    assert!(matches!(
        jti.insert_if_absent(ISS, &long, NOW + 300, NOW),
        Err(StoreError::KeyTooLong { table: "jti", .. })
    ));
}

pub(super) fn jti_concurrent_inserts_have_one_winner(store: &Store) {
    let fresh = race(store, |s, _| {
        s.jti()
            .insert_if_absent(ISS, "same", NOW + 300, NOW)
            .unwrap()
    });
    assert_eq!(fresh.iter().filter(|f| **f).count(), 1);
    // And once expired, of N concurrent reuses exactly one takes the entry over.
    let fresh = race(store, |s, _| {
        s.jti()
            .insert_if_absent(ISS, "same", NOW + 900, NOW + 400)
            .unwrap()
    });
    assert_eq!(fresh.iter().filter(|f| **f).count(), 1);
}

/// Issue 11 / UDAP-5: the async insert the token endpoint awaits has the same rules as the
/// blocking one: of concurrent identical inserts (async and blocking mixed) exactly one is fresh,
/// and a pair recorded by either is a replay for the other.
pub(super) fn jti_async_inserts_have_one_winner(store: &Store) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let asynchronous = rt.block_on(async {
        let calls = (0..16).map(|_| {
            store
                .jti()
                .insert_if_absent_async(ISS, "a-same", NOW + 300, NOW)
        });
        futures_util::future::join_all(calls).await
    });
    let fresh = asynchronous.into_iter().map(Result::unwrap);
    assert_eq!(fresh.filter(|f| *f).count(), 1);
    assert!(!store
        .jti()
        .insert_if_absent(ISS, "a-same", NOW + 300, NOW + 1)
        .unwrap());
    assert!(store
        .jti()
        .insert_if_absent(ISS, "a-sync", NOW + 300, NOW)
        .unwrap());
    let replay = rt.block_on(
        store
            .jti()
            .insert_if_absent_async(ISS, "a-sync", NOW + 300, NOW),
    );
    assert!(!replay.unwrap());
    // Spent entries are taken over, as by the blocking insert.
    let reuse = rt.block_on(store.jti().insert_if_absent_async(
        ISS,
        "a-same",
        NOW + 900,
        NOW + 400,
    ));
    assert!(reuse.unwrap());
    let long = "j".repeat(crate::store::kv::MAX_KEY_LEN + 1);
    assert!(matches!(
        rt.block_on(
            store
                .jti()
                .insert_if_absent_async(ISS, &long, NOW + 300, NOW)
        ),
        Err(StoreError::KeyTooLong { table: "jti", .. })
    ));
}

pub(super) fn jti_prune_removes_only_expired(store: &Store) {
    let jti = store.jti();
    assert!(jti
        .insert_if_absent(ISS, "old", NOW - 10, NOW - 100)
        .unwrap());
    assert!(jti.insert_if_absent(ISS, "edge", NOW, NOW - 100).unwrap());
    assert!(jti
        .insert_if_absent(ISS, "live", NOW + 60, NOW - 100)
        .unwrap());
    assert_eq!(jti.prune_expired(NOW).unwrap(), 1);
    assert_eq!(jti.len().unwrap(), 2);
    assert!(
        !jti.insert_if_absent(ISS, "edge", NOW + 300, NOW).unwrap(),
        "kept entries still catch replays"
    );
    assert!(jti.insert_if_absent(ISS, "old", NOW + 300, NOW).unwrap());
}

// --- authorization codes (RFC 6749 §4.1.2, SMART) ---

pub(super) fn code_is_single_use_and_reuse_revokes_the_grant(store: &Store) {
    let a = store.authz();
    a.put_interaction(&interaction("i1", NOW + 600)).unwrap();
    a.complete("i1", "code-1", &code("g1", NOW + 60), &grant("g1"))
        .unwrap();
    assert!(
        a.interaction("i1", NOW).unwrap().is_none(),
        "completion ends the interaction"
    );
    match a.consume_code("code-1", NOW).unwrap() {
        CodeUse::Fresh(rec) => assert_eq!(rec.grant_id, "g1"),
        other => panic!("{other:?}"),
    }
    assert!(!a.grant("g1").unwrap().unwrap().revoked);
    assert!(
        matches!(a.consume_code("code-1", NOW).unwrap(), CodeUse::Replayed { grant_id } if grant_id == "g1")
    );
    assert!(
        a.grant("g1").unwrap().unwrap().revoked,
        "reuse revokes the grant in the same transaction"
    );
    assert!(matches!(
        a.consume_code("unknown", NOW).unwrap(),
        CodeUse::Unknown
    ));
    // Expired and never used: unknown, and the grant is left alone.
    issue_code(&a, "code-2", &code("g2", NOW - 1), &grant("g2"));
    assert!(matches!(
        a.consume_code("code-2", NOW).unwrap(),
        CodeUse::Unknown
    ));
    assert!(!a.grant("g2").unwrap().unwrap().revoked);
}

pub(super) fn code_concurrent_exchanges_have_one_winner(store: &Store) {
    issue_code(
        &store.authz(),
        "code-race",
        &code("g-race", NOW + 60),
        &grant("g-race"),
    );
    let uses = race(store, |s, _| {
        s.authz().consume_code("code-race", NOW).unwrap()
    });
    let fresh = uses
        .iter()
        .filter(|u| matches!(u, CodeUse::Fresh(_)))
        .count();
    let replayed = uses
        .iter()
        .filter(|u| matches!(u, CodeUse::Replayed { .. }))
        .count();
    assert_eq!((fresh, replayed), (1, N - 1));
    assert!(store.authz().grant("g-race").unwrap().unwrap().revoked);
}

// --- refresh tokens (SMART-43) ---

pub(super) fn refresh_rotation_and_family_revocation(store: &Store) {
    let a = store.authz();
    issue_code(&a, "c", &code("g", NOW + 60), &grant("g"));
    a.put_refresh("rt-1", &refresh("g", NOW + 3600)).unwrap();
    let rotated = a
        .rotate_refresh("rt-1", "rt-2", |_| NOW + 7200, NOW)
        .unwrap();
    match rotated {
        RefreshUse::Rotated { old, grant } => {
            assert!(old.rotated);
            assert_eq!(grant.grant_id, "g");
        }
        other => panic!("{other:?}"),
    }
    let new = a.refresh("rt-2").unwrap().unwrap();
    assert_eq!(
        (new.rotated, new.expires_at, new.grant_id.as_str()),
        (false, NOW + 7200, "g")
    );
    // The old token comes back: the whole family (the grant) is revoked, the new token dies too.
    assert!(
        matches!(a.rotate_refresh("rt-1", "rt-3", |_| NOW + 7200, NOW).unwrap(), RefreshUse::Replayed { grant_id } if grant_id == "g")
    );
    assert!(a.grant("g").unwrap().unwrap().revoked);
    assert!(matches!(
        a.rotate_refresh("rt-2", "rt-4", |_| NOW + 7200, NOW)
            .unwrap(),
        RefreshUse::Invalid
    ));
    assert!(
        a.refresh("rt-3").unwrap().is_none(),
        "nothing stored for a refused rotation"
    );
    // Expired and unknown tokens are invalid.
    issue_code(&a, "c2", &code("g2", NOW + 60), &grant("g2"));
    a.put_refresh("rt-old", &refresh("g2", NOW)).unwrap();
    assert!(matches!(
        a.rotate_refresh("rt-old", "x", |_| NOW, NOW).unwrap(),
        RefreshUse::Invalid
    ));
    assert!(matches!(
        a.rotate_refresh("nope", "y", |_| NOW, NOW).unwrap(),
        RefreshUse::Invalid
    ));
}

pub(super) fn refresh_concurrent_rotations_have_one_winner(store: &Store) {
    issue_code(&store.authz(), "c", &code("g", NOW + 60), &grant("g"));
    store
        .authz()
        .put_refresh("rt", &refresh("g", NOW + 3600))
        .unwrap();
    let uses = race(store, |s, i| {
        s.authz()
            .rotate_refresh("rt", &format!("rt-next-{i}"), |_| NOW + 7200, NOW)
            .unwrap()
    });
    let rotated = uses
        .iter()
        .filter(|u| matches!(u, RefreshUse::Rotated { .. }))
        .count();
    assert_eq!(rotated, 1);
    assert!(uses
        .iter()
        .all(|u| matches!(u, RefreshUse::Rotated { .. } | RefreshUse::Replayed { .. })));
    assert!(
        store.authz().grant("g").unwrap().unwrap().revoked,
        "the losers presented a rotated token"
    );
}

// --- clients (UDAP-20: one registration per (community, iss)) ---

pub(super) fn client_identity_is_unique_under_concurrency(store: &Store) {
    let ids = race(store, |s, i| {
        s.clients()
            .update_identity::<String, StoreError>("urn:community", ISS, |current| match current {
                Some(c) => Ok((None, c.client_id)),
                None => {
                    let id = format!("client-{i}");
                    Ok((Some(udap_client(&id)), id))
                }
            })
            .unwrap()
    });
    let first = &ids[0];
    assert!(
        ids.iter().all(|id| id == first),
        "every registration saw the same client: {ids:?}"
    );
    assert_eq!(store.clients().list().unwrap().len(), 1);
    assert_eq!(
        store
            .clients()
            .find_by_identity("urn:community", ISS)
            .unwrap()
            .unwrap()
            .client_id,
        *first
    );
    assert!(
        store
            .clients()
            .find_by_identity("urn:other", ISS)
            .unwrap()
            .is_none(),
        "the community is part of the identity"
    );
    // A refusal writes nothing.
    let refused = store.clients().update_identity::<(), StoreError>(
        "urn:community",
        "https://new.example",
        |_| Err(StoreError::Aborted),
    );
    assert!(matches!(refused, Err(StoreError::Aborted)));
    assert!(store
        .clients()
        .find_by_identity("urn:community", "https://new.example")
        .unwrap()
        .is_none());
    // Remove drops the identity too.
    assert!(store.clients().remove(first).unwrap());
    assert!(store
        .clients()
        .find_by_identity("urn:community", ISS)
        .unwrap()
        .is_none());
}

pub(super) fn client_modify_loses_no_update(store: &Store) {
    store.clients().put(&udap_client("c")).unwrap();
    race(store, |s, i| {
        s.clients()
            .modify("c", |c| {
                c.metadata.contacts.push(format!("mailto:{i}@example.org"));
                true
            })
            .unwrap()
    });
    assert_eq!(
        store
            .clients()
            .get("c")
            .unwrap()
            .unwrap()
            .metadata
            .contacts
            .len(),
        N
    );
    assert!(store.clients().modify("nope", |_| true).unwrap().is_none());
    let disabled = store.clients().modify("c", |c| {
        c.status = ClientStatus::Disabled;
        true
    });
    assert_eq!(disabled.unwrap().unwrap().status, ClientStatus::Disabled);
}

// --- interactions and launches ---

pub(super) fn interaction_completion_is_atomic_and_ends_it(store: &Store) {
    let a = store.authz();
    a.put_interaction(&interaction("i", NOW + 600)).unwrap();
    assert!(a.interaction("i", NOW).unwrap().is_some());
    assert!(
        a.interaction("i", NOW + 600).unwrap().is_none(),
        "expired at expires_at"
    );
    a.complete("i", "code", &code("g", NOW + 60), &grant("g"))
        .unwrap();
    assert!(a.interaction("i", NOW).unwrap().is_none());
    assert!(a.grant("g").unwrap().is_some());
    // A second completion of the same interaction is refused and issues nothing (one code per
    // authorization, issue 8 item 8).
    assert_eq!(
        a.complete(
            "i",
            "code-again",
            &code("g-again", NOW + 60),
            &grant("g-again")
        )
        .unwrap(),
        crate::store::Completion::AlreadyCompleted
    );
    assert!(a.grant("g-again").unwrap().is_none());
    assert!(matches!(
        a.consume_code("code-again", NOW).unwrap(),
        crate::store::CodeUse::Unknown
    ));
    assert!(a.interaction("i", NOW).unwrap().is_none());
    assert!(matches!(
        a.consume_code("code", NOW).unwrap(),
        CodeUse::Fresh(_)
    ));
}

pub(super) fn launch_is_taken_once_under_concurrency(store: &Store) {
    let a = store.authz();
    a.put_launch("L", &launch(Some("app"), NOW + 300)).unwrap();
    assert!(matches!(
        a.take_launch("L", "other-app", NOW).unwrap(),
        LaunchTake::OtherClient
    ));
    let takes = race(store, |s, _| {
        s.authz().take_launch("L", "app", NOW).unwrap()
    });
    assert_eq!(
        takes
            .iter()
            .filter(|t| matches!(t, LaunchTake::Taken(_)))
            .count(),
        1
    );
    assert!(takes
        .iter()
        .all(|t| matches!(t, LaunchTake::Taken(_) | LaunchTake::Missing)));
    assert!(a.launch("L", NOW).unwrap().is_none());
    a.put_launch("expired", &launch(Some("app"), NOW)).unwrap();
    assert!(matches!(
        a.take_launch("expired", "app", NOW).unwrap(),
        LaunchTake::Missing
    ));
    a.put_launch("unbound", &launch(None, NOW + 300)).unwrap();
    assert!(matches!(
        a.take_launch("unbound", "app", NOW).unwrap(),
        LaunchTake::Missing
    ));
}

// --- sessions and users ---

pub(super) fn session_create_get_and_end(store: &Store) {
    let s = store.sessions();
    s.create("sid-a", &session("alice", NOW + 100), NOW)
        .unwrap();
    s.create("sid-b", &session("bob", NOW + 100), NOW).unwrap();
    assert_eq!(
        s.get("sid-a", NOW).unwrap(),
        Some(session("alice", NOW + 100))
    );
    assert_eq!(
        s.get("sid-a", NOW + 100).unwrap(),
        None,
        "expired at expires_at"
    );
    assert_eq!(s.get("unknown", NOW).unwrap(), None);
    assert!(s.remove("sid-a").unwrap(), "logout ends it");
    assert!(!s.remove("sid-a").unwrap());
    assert_eq!(s.get("sid-a", NOW).unwrap(), None);
    // Creating a session drops the expired ones; ending a user's sessions ends them all.
    s.create("sid-c", &session("bob", NOW + 500), NOW + 200)
        .unwrap();
    assert_eq!(
        s.get("sid-b", NOW).unwrap(),
        None,
        "pruned when sid-c was created"
    );
    s.create("sid-d", &session("bob", NOW + 500), NOW + 200)
        .unwrap();
    assert_eq!(s.remove_for_user("bob").unwrap(), 2);
    assert_eq!(s.prune_expired(NOW + 1000).unwrap(), 0);
    // Removing a user, or changing a password, ends the user's sessions in the same transaction.
    store.users().put(&user("carol")).unwrap();
    s.create("sid-e", &session("carol", NOW + 500), NOW)
        .unwrap();
    assert!(store
        .users()
        .set_password_hash("carol", "$argon2id$new", NOW)
        .unwrap());
    assert_eq!(s.get("sid-e", NOW).unwrap(), None);
    s.create("sid-f", &session("carol", NOW + 500), NOW)
        .unwrap();
    assert!(store.users().remove("carol").unwrap());
    assert_eq!(s.get("sid-f", NOW).unwrap(), None);
}

pub(super) fn concurrent_session_creation_loses_none(store: &Store) {
    race(store, |s, i| {
        s.sessions()
            .create(&format!("sid-{i}"), &session("alice", NOW + 100), NOW)
            .unwrap()
    });
    for i in 0..N {
        assert!(store
            .sessions()
            .get(&format!("sid-{i}"), NOW)
            .unwrap()
            .is_some());
    }
}

pub(super) fn user_is_created_once_under_concurrency(store: &Store) {
    let created = race(store, |s, _| s.users().create(&user("dave")).unwrap());
    assert_eq!(created.iter().filter(|c| **c).count(), 1);
    assert_eq!(store.users().list().unwrap().len(), 1);
}

// --- communities: exactly one default ---

pub(super) fn concurrent_first_communities_make_one_default(store: &Store) {
    race(store, |s, i| {
        s.communities()
            .put(super::community::record(
                &format!("urn:c{i:02}"),
                NOW + i as i64,
            ))
            .unwrap()
    });
    let all = store.communities().list().unwrap();
    assert_eq!(all.len(), N);
    assert_eq!(all.iter().filter(|c| c.is_default).count(), 1);
    let uris: Vec<_> = all.iter().map(|c| c.uri.clone()).collect();
    let mut sorted = uris.clone();
    sorted.sort();
    assert_eq!(uris, sorted, "listed in key order");
    // Removing the default hands over to the oldest remaining.
    let default = store.communities().default().unwrap().unwrap().uri;
    assert!(store.communities().remove(&default).unwrap());
    let heir = store.communities().default().unwrap().unwrap();
    let oldest = store
        .communities()
        .list()
        .unwrap()
        .into_iter()
        .min_by_key(|c| (c.created_at, c.uri.clone()))
        .unwrap();
    assert_eq!(heir.uri, oldest.uri);
    store
        .communities()
        .set_default("urn:c05")
        .unwrap_or_else(|_| store.communities().set_default("urn:c06").unwrap());
    assert_eq!(
        store
            .communities()
            .list()
            .unwrap()
            .iter()
            .filter(|c| c.is_default)
            .count(),
        1
    );
    assert!(matches!(
        store.communities().set_default("urn:none"),
        Err(StoreError::NotFound { .. })
    ));
}

/// Issue 10 item 3: instances watching one CRL file store its new content once, and an update
/// keeps the rest of the record.
pub(super) fn crl_file_update_is_written_once(store: &Store) {
    let mut record = super::community::record("urn:crl-files", NOW);
    let old = crate::store::CrlFile {
        path: "/etc/udap/crl.pem".into(),
        pem: "old".into(),
        modified: 1,
        len: 3,
    };
    record.crl_files = vec![old.clone()];
    record.crls_pem = vec!["kept".into()];
    store.communities().put(record).unwrap();
    let new = crate::store::CrlFile {
        pem: "new".into(),
        modified: 2,
        ..old
    };
    let written = race(store, move |s, _| {
        s.communities()
            .update_crl_file("urn:crl-files", &new, NOW + 1)
            .unwrap()
    });
    assert_eq!(written.iter().filter(|w| **w).count(), 1);
    let stored = store.communities().get("urn:crl-files").unwrap().unwrap();
    assert_eq!(stored.crl_files[0].pem, "new");
    assert_eq!(stored.crls_pem, vec!["kept".to_string()]);
    assert_eq!(stored.updated_at, NOW + 1);
}

// --- server keys, revoked tokens, pruning ---

pub(super) fn server_key_is_created_once(store: &Store) {
    let keys = race(store, |s, i| {
        s.server_keys()
            .get_or_create("token-rs256", NOW, || Ok(format!("pem-{i}")))
            .unwrap()
            .key_pem
    });
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "every instance signs with the same key: {keys:?}"
    );
}

// Issue 10 item 4: the key ring. One active key per purpose, whatever runs at once.
fn ring_entry(kid: &str, state: KeyState) -> KeyEntry {
    KeyEntry {
        kid: kid.into(),
        purpose: KeyPurpose::Access,
        alg: "RS256".into(),
        key_name: kid.into(),
        created_at: NOW,
        state,
        superseded_at: (state != KeyState::Active).then_some(NOW),
        retired_at: None,
    }
}

fn ring_key(kid: &str) -> (String, ServerKey) {
    (
        kid.into(),
        ServerKey {
            key_pem: format!("pem-{kid}"),
            created_at: NOW,
        },
    )
}

fn active_kids(store: &Store) -> Vec<String> {
    store
        .server_keys()
        .ring()
        .unwrap()
        .into_iter()
        .filter(|e| e.purpose == KeyPurpose::Access && e.state == KeyState::Active)
        .map(|e| e.kid)
        .collect()
}

pub(super) fn key_ring_rotations_keep_one_active_key(store: &Store) {
    let keys = store.server_keys();
    keys.change_ring(|_| {
        let change = RingChange {
            new_keys: vec![ring_key("k0")],
            entries: vec![ring_entry("k0", KeyState::Active)],
        };
        Ok::<_, StoreError>((change, ()))
    })
    .unwrap();
    // N rotations at once (instances, admin commands): each demotes the active key it reads.
    race(store, |s, i| {
        let kid = format!("k{}", i + 1);
        s.server_keys()
            .change_ring(|snap| {
                let mut entries: Vec<KeyEntry> = snap
                    .entries
                    .iter()
                    .filter(|e| e.state == KeyState::Active)
                    .map(|e| KeyEntry {
                        state: KeyState::Previous,
                        superseded_at: Some(NOW),
                        ..e.clone()
                    })
                    .collect();
                entries.push(ring_entry(&kid, KeyState::Active));
                let change = RingChange {
                    new_keys: vec![ring_key(&kid)],
                    entries,
                };
                Ok::<_, StoreError>((change, ()))
            })
            .unwrap()
    });
    let ring = keys.ring().unwrap();
    assert_eq!(ring.len(), N + 1, "every rotation kept: {ring:?}");
    assert_eq!(active_kids(store).len(), 1, "{ring:?}");
    for e in &ring {
        assert_eq!(
            keys.get(&e.key_name).unwrap().unwrap().key_pem,
            format!("pem-{}", e.kid)
        );
    }
    // Refused changes write nothing: a second active key, an entry without its key record, and
    // a decision that fails.
    let second_active = keys.change_ring(|_| {
        let change = RingChange {
            new_keys: vec![ring_key("extra")],
            entries: vec![ring_entry("extra", KeyState::Active)],
        };
        Ok::<_, StoreError>((change, ()))
    });
    assert!(matches!(second_active, Err(StoreError::Aborted)));
    let dangling = keys.change_ring(|_| {
        let change = RingChange {
            new_keys: vec![],
            entries: vec![ring_entry("no-record", KeyState::Previous)],
        };
        Ok::<_, StoreError>((change, ()))
    });
    assert!(matches!(dangling, Err(StoreError::Aborted)));
    let failed = keys.change_ring(|_| {
        Err::<(RingChange, ()), _>(StoreError::NotFound {
            table: "server_key_ring",
            key: "x".into(),
        })
    });
    assert!(matches!(failed, Err(StoreError::NotFound { .. })));
    assert_eq!(keys.ring().unwrap(), ring);
    assert!(keys.get("extra").unwrap().is_none());
    // An existing key record is never overwritten.
    let k0 = ring_entry("k0", KeyState::Previous);
    keys.change_ring(|_| {
        let change = RingChange {
            new_keys: vec![(
                "k0".into(),
                ServerKey {
                    key_pem: "other".into(),
                    created_at: 1,
                },
            )],
            entries: vec![k0.clone()],
        };
        Ok::<_, StoreError>((change, ()))
    })
    .unwrap();
    assert_eq!(keys.get("k0").unwrap().unwrap().key_pem, "pem-k0");
}

pub(super) fn revoked_tokens_and_expired_records_are_pruned(store: &Store) {
    let a = store.authz();
    store.revoked_tokens().revoke("jti-old", 10).unwrap();
    store
        .revoked_tokens()
        .revoke("jti-new", NOW + 10_000)
        .unwrap();
    assert!(store.revoked_tokens().is_revoked("jti-old").unwrap());
    assert!(!store.revoked_tokens().is_revoked("jti-other").unwrap());
    a.put_launch("old", &launch(Some("app"), 100)).unwrap();
    a.put_launch("new", &launch(Some("app"), NOW + 10_000))
        .unwrap();
    a.put_interaction(&interaction("old-i", 50)).unwrap();
    issue_code(&a, "code-value", &code("g", NOW + 10_000), &grant("g"));
    a.put_refresh("rt-old", &refresh("g", 20)).unwrap();
    store
        .sessions()
        .create("sid-live", &session("alice", NOW + 10_000), 0)
        .unwrap();
    let removed = store.prune_expired_records(1000).unwrap();
    assert_eq!(
        removed, 4,
        "old launch, old interaction, old refresh token, old revoked marker"
    );
    assert!(a.launch("new", 0).unwrap().is_some());
    assert!(a.launch("old", 0).unwrap().is_none());
    assert!(a.refresh("rt-old").unwrap().is_none());
    assert!(store.revoked_tokens().is_revoked("jti-new").unwrap());
    assert!(store.sessions().get("sid-live", 0).unwrap().is_some());
    assert!(matches!(
        a.consume_code("code-value", 0).unwrap(),
        CodeUse::Fresh(_)
    ));
    assert!(store.check_readable().is_ok());
}

pub(super) fn keys_are_exact_and_bounded(store: &Store) {
    // Keys compare byte for byte (no case folding, no trimming), whatever they contain.
    let mut a = ClientRecord::admin(
        "Client",
        "A",
        "none",
        &["authorization_code"],
        "openid",
        NOW,
    );
    store.clients().put(&a).unwrap();
    a.client_id = "client".into();
    store.clients().put(&a).unwrap();
    a.client_id = "client ".into();
    store.clients().put(&a).unwrap();
    a.client_id = "ünïcode/ключ:%_'\"".into();
    store.clients().put(&a).unwrap();
    assert_eq!(store.clients().list().unwrap().len(), 4);
    assert_eq!(
        store
            .clients()
            .get("ünïcode/ключ:%_'\"")
            .unwrap()
            .unwrap()
            .client_id,
        "ünïcode/ключ:%_'\""
    );
    assert!(store.clients().get("CLIENT").unwrap().is_none());
    assert!(store.clients().get("with\0nul").unwrap().is_none());
    let long = "x".repeat(crate::store::kv::MAX_KEY_LEN + 1);
    assert!(matches!(
        store.communities().put(super::community::record(&long, 1)),
        Err(StoreError::KeyTooLong {
            table: "communities",
            ..
        })
    ));
}

// Issue 10 item 5: the audit trail. Records come back in time order, filtered by time range
// (unix seconds, since inclusive, until exclusive), client and kind, in pages; a record is
// written once; concurrent batches lose nothing.
fn audit_append_query_and_page(store: &Store) {
    use crate::audit::{AuditEvent, AuditKind, AuditQuery, ClientAgent};
    let t = NOW * 1000;
    let mut batch: Vec<AuditEvent> = (0..10)
        .map(|i| {
            let client = if i % 2 == 0 { "a" } else { "b" };
            AuditEvent::token_issued(client, "client_credentials", None).stamped_at(t + i * 1000)
        })
        .collect();
    let claimed = ClientAgent {
        client_id: "a".into(),
        authenticated: false,
    };
    let err = crate::oauth::OAuthError::new(crate::oauth::ErrorCode::InvalidClient, "x");
    batch.push(AuditEvent::token_refused(Some(&claimed), &err).stamped_at(t + 10_000));
    batch.push(AuditEvent::login_failed(None, None).stamped_at(t + 11_000));
    store.audit().append_batch(&batch).unwrap();
    let a = store.audit();
    let ids = |q: AuditQuery| -> Vec<i64> {
        a.query(&q)
            .unwrap()
            .iter()
            .map(|e| (e.recorded_ms() - t) / 1000)
            .collect()
    };
    assert_eq!(a.query(&AuditQuery::default()).unwrap(), batch);
    let window = AuditQuery {
        since: Some(NOW + 2),
        until: Some(NOW + 5),
        ..Default::default()
    };
    assert_eq!(ids(window.clone()), [2, 3, 4]);
    let client_a = AuditQuery {
        client_id: Some("a".into()),
        ..Default::default()
    };
    assert_eq!(ids(client_a.clone()), [0, 2, 4, 6, 8, 10]);
    assert_eq!(
        ids(AuditQuery {
            newest_first: true,
            limit: Some(2),
            ..client_a.clone()
        }),
        [10, 8]
    );
    assert_eq!(
        ids(AuditQuery {
            kind: Some(AuditKind::TokenRefused),
            ..Default::default()
        }),
        [10]
    );
    assert_eq!(
        ids(AuditQuery {
            kind: Some(AuditKind::TokenIssued),
            since: Some(NOW + 5),
            ..client_a.clone()
        }),
        [6, 8]
    );
    assert!(ids(AuditQuery {
        client_id: Some("A".into()),
        ..Default::default()
    })
    .is_empty());
    // Keyset pages, both directions.
    let p1 = a.page(&client_a, None, 4).unwrap();
    let p2 = a.page(&client_a, Some(p1[3].id()), 4).unwrap();
    assert_eq!((p1.len(), p2.len()), (4, 2));
    assert_eq!(p2[0], batch[8]);
    let newest = AuditQuery {
        newest_first: true,
        ..window
    };
    let p1 = a.page(&newest, None, 2).unwrap();
    let p2 = a.page(&newest, Some(p1[1].id()), 2).unwrap();
    assert_eq!(
        (p1[0].clone(), p2),
        (batch[4].clone(), vec![batch[2].clone()])
    );
    // Written once: a repeated id is ignored; an unstamped event aborts the batch, nothing written.
    a.append_batch(&batch[..1]).unwrap();
    let unstamped = AuditEvent::consent_denied("u", "a");
    assert!(matches!(
        a.append_batch(&[batch[0].clone().stamped_at(t + 99_000), unstamped]),
        Err(StoreError::Aborted)
    ));
    assert_eq!(a.query(&AuditQuery::default()).unwrap().len(), 12);
}

fn audit_concurrent_batches_lose_none(store: &Store) {
    use crate::audit::{AuditEvent, AuditQuery};
    let results = race(store, |s, i| {
        let batch: Vec<AuditEvent> = (0..20)
            .map(|_| {
                AuditEvent::token_issued(&format!("c{i}"), "client_credentials", None)
                    .stamped_at(NOW * 1000)
            })
            .collect();
        s.audit().append_batch(&batch)
    });
    assert!(results.iter().all(Result::is_ok));
    let all = store.audit().query(&AuditQuery::default()).unwrap();
    assert_eq!(all.len(), N * 20);
    let one = AuditQuery {
        client_id: Some("c3".into()),
        ..Default::default()
    };
    assert_eq!(store.audit().query(&one).unwrap().len(), 20);
}

// Issue 12: developer accounts and their apps.
fn developer(email: &str) -> crate::store::DeveloperRecord {
    crate::store::DeveloperRecord {
        email: email.into(),
        name: "Dev".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        apps: vec![],
        created_at: NOW,
        updated_at: NOW,
    }
}

fn app_of(id: &str, developer: &str) -> ClientRecord {
    ClientRecord {
        origin: crate::store::ClientOrigin::SelfService,
        developer: Some(developer.into()),
        ..ClientRecord::admin(id, "App", "none", &["authorization_code"], "openid", NOW)
    }
}

/// A developer is created once under concurrency; apps and the developer's list change together;
/// one developer can neither take over, list nor delete another's app; a developer who owns apps
/// cannot be removed.
fn developer_apps_are_owned_and_atomic(store: &Store) {
    use crate::store::{PutApp, RemoveDeveloper};
    let winners = race(store, |s, _| {
        s.developers().create(&developer("a@example.org")).unwrap()
    });
    assert_eq!(winners.iter().filter(|w| **w).count(), 1);
    assert!(store
        .developers()
        .create(&developer("b@example.org"))
        .unwrap());
    // Lookups normalize the address.
    assert!(store.developers().get(" A@Example.ORG ").unwrap().is_some());

    let devs = store.developers();
    assert_eq!(
        devs.put_app(&app_of("app-a", "A@example.org")).unwrap(),
        PutApp::Stored
    );
    assert_eq!(
        devs.put_app(&app_of("app-a", "a@example.org")).unwrap(),
        PutApp::Stored
    );
    assert_eq!(
        devs.put_app(&app_of("app-a", "b@example.org")).unwrap(),
        PutApp::NotOwned
    );
    assert_eq!(
        devs.put_app(&app_of("x", "nobody@example.org")).unwrap(),
        PutApp::NoSuchDeveloper
    );
    // An administrator's client id cannot be claimed either.
    store
        .clients()
        .put(&ClientRecord::admin("admin-app", "A", "none", &[], "", NOW))
        .unwrap();
    assert_eq!(
        devs.put_app(&app_of("admin-app", "b@example.org")).unwrap(),
        PutApp::NotOwned
    );

    let ids = |e: &str| -> Vec<String> {
        devs.apps(e)
            .unwrap()
            .into_iter()
            .map(|c| c.client_id)
            .collect()
    };
    assert_eq!(ids("a@example.org"), vec!["app-a".to_string()]); // stored once
    assert!(ids("b@example.org").is_empty());
    assert_eq!(
        store
            .clients()
            .get("app-a")
            .unwrap()
            .unwrap()
            .developer
            .as_deref(),
        Some("a@example.org")
    );

    assert!(!devs.remove_app("b@example.org", "app-a").unwrap());
    assert!(store.clients().get("app-a").unwrap().is_some());
    assert_eq!(
        devs.remove("a@example.org").unwrap(),
        RemoveDeveloper::OwnsApps(vec!["app-a".into()])
    );
    assert!(devs.remove_app("a@example.org", "app-a").unwrap());
    assert!(store.clients().get("app-a").unwrap().is_none());
    assert!(ids("a@example.org").is_empty());
    assert_eq!(
        devs.remove("a@example.org").unwrap(),
        RemoveDeveloper::Removed
    );
    assert_eq!(
        devs.remove("a@example.org").unwrap(),
        RemoveDeveloper::NotFound
    );

    // `modify` cannot change the key or the app list.
    let changed = devs
        .modify("b@example.org", |d| {
            d.name = "Bee".into();
            d.email = "c@example.org".into();
            d.apps.push("stolen".into());
        })
        .unwrap()
        .unwrap();
    assert_eq!(
        (changed.email.as_str(), changed.name.as_str()),
        ("b@example.org", "Bee")
    );
    assert!(changed.apps.is_empty());
    assert_eq!(devs.list().unwrap().len(), 1);
}

/// Declares each case once per backend: `conformance::redb::NAME` and `conformance::postgres::NAME`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod redb {
            $(
                #[test]
                fn $name() {
                    let (_dir, store) = crate::store::tests::open_temp();
                    super::$name(&store);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    let Some(db) = crate::store::test_db::TestDb::create() else { return };
                    super::$name(db.store());
                }
            )*
        }
    };
}

conformance!(
    jti_insert_if_absent_and_reuse_after_keep_until,
    jti_concurrent_inserts_have_one_winner,
    jti_async_inserts_have_one_winner,
    jti_prune_removes_only_expired,
    code_is_single_use_and_reuse_revokes_the_grant,
    code_concurrent_exchanges_have_one_winner,
    refresh_rotation_and_family_revocation,
    refresh_concurrent_rotations_have_one_winner,
    client_identity_is_unique_under_concurrency,
    client_modify_loses_no_update,
    interaction_completion_is_atomic_and_ends_it,
    launch_is_taken_once_under_concurrency,
    session_create_get_and_end,
    concurrent_session_creation_loses_none,
    user_is_created_once_under_concurrency,
    concurrent_first_communities_make_one_default,
    crl_file_update_is_written_once,
    server_key_is_created_once,
    key_ring_rotations_keep_one_active_key,
    revoked_tokens_and_expired_records_are_pruned,
    keys_are_exact_and_bounded,
    audit_append_query_and_page,
    audit_concurrent_batches_lose_none,
    developer_apps_are_owned_and_atomic,
);
