//! Replay cache. UDAP-5: keyed by (iss, jti), reuse allowed after expiry, group commit.

use std::sync::{Arc, Barrier};
use std::thread;

use super::{open_temp, temp_db};
use crate::store::{Store, StoreError};

const ISS: &str = "https://client.example.org/app";
const NOW: i64 = 1_700_000_000;
const EXP: i64 = NOW + 300;

#[test]
fn first_insert_is_fresh_repeat_is_replay() {
    // UDAP-5
    let (_dir, store) = open_temp();
    assert!(store.jti().insert_if_absent(ISS, "j1", EXP, NOW).unwrap());
    assert!(!store.jti().insert_if_absent(ISS, "j1", EXP, NOW).unwrap());
    // Still live at exactly exp: the entry is kept until exp has passed.
    assert!(!store
        .jti()
        .insert_if_absent(ISS, "j1", EXP + 300, EXP)
        .unwrap());
}

#[test]
fn concurrent_inserts_of_one_key_have_exactly_one_winner() {
    // UDAP-5
    let (_dir, store) = open_temp();
    let threads = 32;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let store = store.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                store.jti().insert_if_absent(ISS, "same", EXP, NOW).unwrap()
            })
        })
        .collect();
    let fresh = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|f| *f)
        .count();
    assert_eq!(fresh, 1);
}

#[test]
fn distinct_jtis_are_all_fresh() {
    let (_dir, store) = open_temp();
    for i in 0..50 {
        assert!(store
            .jti()
            .insert_if_absent(ISS, &format!("j{i}"), EXP, NOW)
            .unwrap());
    }
    assert_eq!(store.jti().len().unwrap(), 50);
}

#[test]
fn same_jti_under_another_issuer_is_independent() {
    // UDAP-5: the key is (iss, jti), not jti alone.
    let (_dir, store) = open_temp();
    assert!(store
        .jti()
        .insert_if_absent(ISS, "shared", EXP, NOW)
        .unwrap());
    assert!(store
        .jti()
        .insert_if_absent("https://other.example.org", "shared", EXP, NOW)
        .unwrap());
}

#[test]
fn key_encoding_is_unambiguous() {
    // ("a:b", "c") and ("a", "b:c") would collide if the key were iss + ":" + jti.
    let (_dir, store) = open_temp();
    assert!(store.jti().insert_if_absent("a:b", "c", EXP, NOW).unwrap());
    assert!(store.jti().insert_if_absent("a", "b:c", EXP, NOW).unwrap());
    assert!(store.jti().insert_if_absent("a", ":b:c", EXP, NOW).unwrap());
    assert!(store.jti().insert_if_absent("a:", "b:c", EXP, NOW).unwrap());
}

#[test]
fn reuse_after_expiry_is_allowed() {
    // UDAP-5: "SHALL allow a jti value to be reused after the expiration".
    let (_dir, store) = open_temp();
    assert!(store.jti().insert_if_absent(ISS, "j", EXP, NOW).unwrap());
    let later = EXP + 1;
    assert!(store
        .jti()
        .insert_if_absent(ISS, "j", later + 300, later)
        .unwrap());
    // The new entry is live again.
    assert!(!store
        .jti()
        .insert_if_absent(ISS, "j", later + 300, later)
        .unwrap());
    assert_eq!(store.jti().len().unwrap(), 1);
}

#[test]
fn replay_is_rejected_after_reopen() {
    let (_dir, path) = temp_db();
    let store = Store::open(&path).unwrap();
    assert!(store
        .jti()
        .insert_if_absent(ISS, "durable", EXP, NOW)
        .unwrap());
    drop(store);

    let store = Store::open(&path).unwrap();
    assert!(!store
        .jti()
        .insert_if_absent(ISS, "durable", EXP, NOW)
        .unwrap());
}

#[test]
fn concurrent_burst_shares_commits() {
    let (_dir, store) = open_temp();
    let threads = 16;
    let per_thread = 50;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                (0..per_thread)
                    .filter(|i| {
                        store
                            .jti()
                            .insert_if_absent(ISS, &format!("{t}-{i}"), EXP, NOW)
                            .unwrap()
                    })
                    .count()
            })
        })
        .collect();
    let fresh: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let inserts = threads * per_thread;
    assert_eq!(fresh, inserts);
    assert_eq!(store.jti().insert_count(), inserts as u64);
    assert!(store.jti().commit_count() >= 1);
    assert_eq!(store.jti().len().unwrap(), inserts as u64);
}

#[test]
fn requests_queued_behind_a_commit_share_the_next_one() {
    // Deterministic group commit: hold redb's write lock so the writer blocks after taking the
    // first request, wait until every request is queued, then release.
    let (_dir, store) = open_temp();
    let threads = 64;
    let blocker = store.database().begin_write().unwrap();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            thread::spawn(move || {
                store
                    .jti()
                    .insert_if_absent(ISS, &format!("burst-{t}"), EXP, NOW)
                    .unwrap()
            })
        })
        .collect();
    while store.jti().insert_count() < threads as u64 {
        thread::yield_now();
    }
    drop(blocker);
    let fresh = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|f| *f)
        .count();
    assert_eq!(fresh, threads);
    assert!(
        store.jti().commit_count() < threads as u64,
        "{} commits for {threads} inserts",
        store.jti().commit_count()
    );
}

#[test]
fn duplicates_inside_one_batch_first_wins() {
    let (_dir, store) = open_temp();
    let threads = 8;
    let blocker = store.database().begin_write().unwrap();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let store = store.clone();
            thread::spawn(move || store.jti().insert_if_absent(ISS, "dup", EXP, NOW).unwrap())
        })
        .collect();
    while store.jti().insert_count() < threads as u64 {
        thread::yield_now();
    }
    drop(blocker);
    let fresh = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|f| *f)
        .count();
    assert_eq!(fresh, 1);
}

#[test]
fn prune_removes_only_expired_entries() {
    let (_dir, store) = open_temp();
    let jti = store.jti();
    assert!(jti
        .insert_if_absent(ISS, "old-1", NOW - 10, NOW - 100)
        .unwrap());
    assert!(jti
        .insert_if_absent(ISS, "old-2", NOW - 1, NOW - 100)
        .unwrap());
    assert!(jti.insert_if_absent(ISS, "edge", NOW, NOW - 100).unwrap());
    assert!(jti
        .insert_if_absent(ISS, "live", NOW + 60, NOW - 100)
        .unwrap());
    // A reused entry leaves no stale index row behind.
    assert!(jti
        .insert_if_absent(ISS, "reused", NOW - 50, NOW - 100)
        .unwrap());
    assert!(jti
        .insert_if_absent(ISS, "reused", NOW + 60, NOW - 40)
        .unwrap());

    assert_eq!(jti.prune_expired(NOW).unwrap(), 2);
    assert_eq!(jti.len().unwrap(), 3);
    assert_eq!(jti.prune_expired(NOW).unwrap(), 0);
    // Survivors are still replays; pruned ones are gone (and expired anyway).
    assert!(!jti.insert_if_absent(ISS, "edge", NOW + 300, NOW).unwrap());
    assert!(!jti.insert_if_absent(ISS, "live", NOW + 300, NOW).unwrap());
    assert!(!jti.insert_if_absent(ISS, "reused", NOW + 300, NOW).unwrap());
    assert!(jti.insert_if_absent(ISS, "old-1", NOW + 300, NOW).unwrap());
}

#[test]
fn prune_handles_more_than_one_chunk() {
    let (_dir, store) = open_temp();
    let n = 10_000 + 17;
    store
        .write(|txn| {
            let crate::store::WriteTxn::Redb(txn) = txn else {
                unreachable!()
            };
            let mut tables = crate::store::redb::jti_tables::JtiTables::open(txn)?;
            for i in 0..n {
                assert!(tables.insert_if_absent(ISS, &format!("bulk-{i}"), NOW - 1, NOW - 100)?);
            }
            Ok(())
        })
        .unwrap();
    assert!(store
        .jti()
        .insert_if_absent(ISS, "live", NOW + 1, NOW)
        .unwrap());
    assert_eq!(store.jti().prune_expired(NOW).unwrap(), n);
    assert_eq!(store.jti().len().unwrap(), 1);
}

#[test]
fn over_long_jti_is_rejected_before_the_writer() {
    let (_dir, store) = open_temp();
    let jti = "j".repeat(crate::store::kv::MAX_KEY_LEN + 1);
    let err = store
        .jti()
        .insert_if_absent(ISS, &jti, EXP, NOW)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::KeyTooLong { table: "jti", .. }),
        "{err:?}"
    );
    assert_eq!(store.jti().insert_count(), 0);
}
