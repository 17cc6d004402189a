//! Opening, reopening, schema version, locking, corrupt rows.

use redb::{Database, ReadableDatabase};

use super::{open_temp, temp_db};
use crate::store::kv::Reader;
use crate::store::redb::schema::{META, SCHEMA_VERSION_KEY};
use crate::store::{community, Store, StoreError, WriteTxn, SCHEMA_VERSION};

#[test]
fn store_is_clone_send_sync() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<Store>();
}

#[test]
fn open_creates_parent_dirs_and_file() {
    let (_dir, path) = temp_db();
    assert!(!path.exists());
    let store = Store::open(&path).unwrap();
    assert!(path.is_file());
    assert_eq!(store.path(), Some(path.as_path()));
}

#[cfg(unix)]
#[test]
fn open_creates_owner_only_file_and_tightens_existing_one() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, path) = temp_db();
    let store = Store::open(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    drop(store);

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _store = Store::open(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn new_file_records_current_schema_version() {
    let (_dir, store) = open_temp();
    let txn = store.database().begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    let version = meta.get(SCHEMA_VERSION_KEY).unwrap().unwrap().value();
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn reopen_keeps_data() {
    let (_dir, path) = temp_db();
    let store = Store::open(&path).unwrap();
    store
        .communities()
        .put(super::community::record("urn:example:community", 10))
        .unwrap();
    drop(store);

    let store = Store::open(&path).unwrap();
    let got = store
        .communities()
        .get("urn:example:community")
        .unwrap()
        .unwrap();
    assert_eq!(got.uri, "urn:example:community");
    assert!(got.is_default);
}

#[test]
fn newer_schema_version_is_refused_and_file_left_alone() {
    let (_dir, path) = temp_db();
    drop(Store::open(&path).unwrap());
    {
        let db = Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(SCHEMA_VERSION_KEY, 99)
            .unwrap();
        txn.commit().unwrap();
    }

    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaVersion { found: 99, supported } if supported == SCHEMA_VERSION),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("backup"),
        "message tells the admin what to do: {err}"
    );

    let db = Database::open(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let version = txn
        .open_table(META)
        .unwrap()
        .get(SCHEMA_VERSION_KEY)
        .unwrap()
        .unwrap()
        .value();
    assert_eq!(version, 99, "the refused open must not rewrite the version");
}

#[test]
fn second_open_while_first_alive_is_in_use() {
    let (_dir, path) = temp_db();
    let first = Store::open(&path).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(&err, StoreError::InUse { path: p } if *p == path),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("serve") && message.contains("stop"),
        "{message}"
    );

    // Dropping the first handle (and its threads) releases the lock.
    first
        .spawn_pruner(std::time::Duration::from_secs(3600), || 0)
        .unwrap();
    drop(first);
    Store::open(&path).unwrap();
}

#[test]
fn corrupt_row_is_an_error_not_a_panic() {
    let (_dir, store) = open_temp();
    store
        .write(|txn| {
            let WriteTxn::Redb(txn) = txn else {
                unreachable!()
            };
            let mut table = txn.open_table(crate::store::redb::kv::def(community::TABLE.name()))?;
            table.insert("urn:broken", b"{not json".as_slice())?;
            Ok(())
        })
        .unwrap();

    let err = store.communities().get("urn:broken").unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { table: "communities", key } if key == "urn:broken"),
        "{err:?}"
    );
    assert!(matches!(
        store.communities().list(),
        Err(StoreError::Corrupt { .. })
    ));
    // The raw row is still there for an administrator to inspect.
    let raw = store
        .read(|txn| txn.raw_get(community::TABLE.name(), "urn:broken"))
        .unwrap();
    assert_eq!(raw.as_deref(), Some(b"{not json".as_slice()));
}

#[test]
fn over_long_key_is_rejected() {
    let (_dir, store) = open_temp();
    let uri = "x".repeat(crate::store::kv::MAX_KEY_LEN + 1);
    let err = store
        .communities()
        .put(super::community::record(&uri, 1))
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::KeyTooLong {
                table: "communities",
                ..
            }
        ),
        "{err:?}"
    );
}
