//! Community repository and the one-default rule.

use super::open_temp;
use crate::store::{CommunityRecord, StoreError, REVOCATION_FAIL_CLOSED};

pub(super) fn record(uri: &str, created_at: i64) -> CommunityRecord {
    CommunityRecord {
        uri: uri.to_owned(),
        anchors_pem: vec!["-----BEGIN CERTIFICATE-----anchor".into()],
        intermediates_pem: Vec::new(),
        crls_pem: Vec::new(),
        signing_chain_pem: "-----BEGIN CERTIFICATE-----chain".into(),
        signing_key_pem: "-----BEGIN PRIVATE KEY-----SECRETKEYMATERIAL".into(),
        revocation: REVOCATION_FAIL_CLOSED.into(),
        is_default: false,
        created_at,
        updated_at: created_at,
        settings: serde_json::Map::new(),
        crl_files: Vec::new(),
    }
}

fn default_uri(store: &crate::store::Store) -> Option<String> {
    store.communities().default().unwrap().map(|r| r.uri)
}

fn default_count(store: &crate::store::Store) -> usize {
    store
        .communities()
        .list()
        .unwrap()
        .iter()
        .filter(|r| r.is_default)
        .count()
}

#[test]
fn put_get_list_remove() {
    let (_dir, store) = open_temp();
    let c = store.communities();
    assert!(c.get("urn:a").unwrap().is_none());
    assert!(c.list().unwrap().is_empty());
    assert!(c.default().unwrap().is_none());

    c.put(record("urn:b", 20)).unwrap();
    c.put(record("urn:a", 10)).unwrap();
    let uris: Vec<_> = c.list().unwrap().into_iter().map(|r| r.uri).collect();
    assert_eq!(uris, ["urn:a", "urn:b"]);
    let a = c.get("urn:a").unwrap().unwrap();
    assert_eq!(
        a.signing_key_pem,
        "-----BEGIN PRIVATE KEY-----SECRETKEYMATERIAL"
    );

    assert!(c.remove("urn:a").unwrap());
    assert!(!c.remove("urn:a").unwrap());
    assert!(c.get("urn:a").unwrap().is_none());
}

#[test]
fn first_community_becomes_default_later_ones_do_not() {
    let (_dir, store) = open_temp();
    let stored = store.communities().put(record("urn:first", 1)).unwrap();
    assert!(stored.is_default);
    let stored = store.communities().put(record("urn:second", 2)).unwrap();
    assert!(!stored.is_default);
    assert_eq!(default_uri(&store).as_deref(), Some("urn:first"));
    assert_eq!(default_count(&store), 1);
}

#[test]
fn put_with_default_flag_moves_the_default() {
    let (_dir, store) = open_temp();
    store.communities().put(record("urn:first", 1)).unwrap();
    let mut second = record("urn:second", 2);
    second.is_default = true;
    store.communities().put(second).unwrap();
    assert_eq!(default_uri(&store).as_deref(), Some("urn:second"));
    assert_eq!(default_count(&store), 1);
}

#[test]
fn replacing_the_default_keeps_it_default_and_keeps_created_at() {
    let (_dir, store) = open_temp();
    store.communities().put(record("urn:first", 1)).unwrap();
    store.communities().put(record("urn:second", 2)).unwrap();
    let mut update = record("urn:first", 500);
    update.revocation = "fail-open".into();
    let stored = store.communities().put(update).unwrap();
    assert!(
        stored.is_default,
        "clearing the flag by update would leave no default"
    );
    assert_eq!(stored.created_at, 1);
    assert_eq!(stored.updated_at, 500);
    assert_eq!(
        store
            .communities()
            .get("urn:first")
            .unwrap()
            .unwrap()
            .revocation,
        "fail-open"
    );
    assert_eq!(default_count(&store), 1);
}

#[test]
fn set_default_clears_the_others() {
    let (_dir, store) = open_temp();
    for (i, uri) in ["urn:a", "urn:b", "urn:c"].iter().enumerate() {
        store.communities().put(record(uri, i as i64)).unwrap();
    }
    store.communities().set_default("urn:c").unwrap();
    assert_eq!(default_uri(&store).as_deref(), Some("urn:c"));
    assert_eq!(default_count(&store), 1);

    let err = store.communities().set_default("urn:missing").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                table: "communities",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(default_uri(&store).as_deref(), Some("urn:c"));
}

#[test]
fn removing_the_default_hands_over_to_the_oldest_remaining() {
    let (_dir, store) = open_temp();
    // Inserted out of age order, so key order and age order differ.
    store.communities().put(record("urn:a-default", 5)).unwrap();
    store.communities().put(record("urn:b-young", 30)).unwrap();
    store.communities().put(record("urn:c-old", 10)).unwrap();

    assert!(store.communities().remove("urn:a-default").unwrap());
    assert_eq!(default_uri(&store).as_deref(), Some("urn:c-old"));
    assert_eq!(default_count(&store), 1);

    // Removing a non-default leaves the default alone.
    assert!(store.communities().remove("urn:b-young").unwrap());
    assert_eq!(default_uri(&store).as_deref(), Some("urn:c-old"));

    assert!(store.communities().remove("urn:c-old").unwrap());
    assert!(store.communities().default().unwrap().is_none());
}

#[test]
fn settings_default_to_empty_when_absent_from_the_row() {
    let (_dir, store) = open_temp();
    let mut json = serde_json::to_value(record("urn:old-row", 1)).unwrap();
    json.as_object_mut().unwrap().remove("settings");
    let bytes = serde_json::to_vec(&json).unwrap();
    store
        .write(|txn| txn.raw_put(crate::store::community::TABLE.name(), "urn:old-row", &bytes))
        .unwrap();
    let got = store.communities().get("urn:old-row").unwrap().unwrap();
    assert!(got.settings.is_empty());
}

#[test]
fn debug_redacts_the_signing_key() {
    let text = format!("{:?}", record("urn:a", 1));
    assert!(!text.contains("SECRETKEYMATERIAL"), "{text}");
    assert!(text.contains("<redacted>"));
    assert!(text.contains("urn:a"));
}
