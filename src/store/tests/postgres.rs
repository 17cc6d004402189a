//! PostgreSQL-only behaviour: migrations (versioned, under a lock, refusing a newer schema),
//! connection errors, and calls from inside an async runtime. Skipped without a test database,
//! like the PostgreSQL half of the conformance suite.

use std::sync::{Arc, Barrier};

use crate::store::test_db::TestDb;
use crate::store::{
    DatabaseUrl, PgOptions, Store, StoreError, StoreLocation, POSTGRES_SCHEMA_VERSION,
};

#[test]
fn instances_starting_together_on_an_empty_database_migrate_once() {
    let Some(db) = TestDb::empty() else { return };
    let n = 6;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (opts, barrier) = (db.options(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                Store::connect(&opts).map(|s| s.communities().list().map(|l| l.len()))
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().expect("connect").expect("read"), 0);
    }
    let again = Store::migrate(&StoreLocation::Postgres(db.options())).unwrap();
    assert_eq!(
        (again.from, again.to),
        (POSTGRES_SCHEMA_VERSION, POSTGRES_SCHEMA_VERSION)
    );
}

#[test]
fn migrate_reports_what_it_did() {
    let Some(db) = TestDb::empty() else { return };
    let location = StoreLocation::Postgres(db.options());
    let first = Store::migrate(&location).unwrap();
    assert_eq!((first.from, first.to), (0, POSTGRES_SCHEMA_VERSION));
    let second = Store::migrate(&location).unwrap();
    assert_eq!(second.from, POSTGRES_SCHEMA_VERSION);
}

#[test]
fn a_database_migrated_by_a_newer_release_is_refused() {
    let Some(db) = TestDb::create() else { return };
    db.exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)");
    let err = Store::connect(&db.options()).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, supported } if supported == POSTGRES_SCHEMA_VERSION),
        "{err:?}"
    );
    assert!(err.to_string().contains("newer"), "{err}");
}

#[test]
fn store_calls_work_inside_an_async_runtime() {
    // actix's workers call some store reads directly (health, login pages): the backend must not
    // need a runtime of the caller's, nor panic inside one.
    let Some(db) = TestDb::create() else { return };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        db.store().check_readable().unwrap();
        assert!(db
            .store()
            .jti()
            .insert_if_absent("iss", "in-async", 100, 0)
            .unwrap());
        assert!(db.store().users().get("nobody").unwrap().is_none());
    });
}

#[test]
fn connection_errors_never_show_the_password() {
    // Nothing listens on port 1; runs without a test database.
    let mut opts = PgOptions::new(DatabaseUrl::new(
        "postgres://udap:s3cret-pw@127.0.0.1:1/udap?sslmode=disable",
    ));
    opts.connect_timeout = std::time::Duration::from_secs(5);
    let err = Store::connect(&opts).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("s3cret-pw"), "{shown}");
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
}
