//! Test support, shared by the store's conformance suite and the integration tests (so it lives
//! once): a PostgreSQL database of its own per test, created from `UDAP_TEST_DATABASE_URL` and
//! dropped after it. Not part of the server.
//!
//! Without `UDAP_TEST_DATABASE_URL` the PostgreSQL variant prints why it is skipped and passes,
//! unless `UDAP_REQUIRE_POSTGRES=1` (scripts/test sets it in CI), where a missing database fails.

use crate::store::postgres::bridge::Bridge;
use crate::store::{DatabaseUrl, PgOptions, Store};

pub const URL_VAR: &str = "UDAP_TEST_DATABASE_URL";

/// A store on a database of its own; the database is dropped with it.
pub struct TestDb {
    store: Option<Store>,
    admin_url: String,
    name: String,
    url: String,
}

/// The server URL, or `None` (after saying why) when PostgreSQL tests are skipped.
pub fn admin_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("UDAP_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "{URL_VAR} is not set but UDAP_REQUIRE_POSTGRES=1: PostgreSQL tests must run (scripts/pg-test-cluster start)"
            );
            eprintln!("skipped: {URL_VAR} not set");
            None
        }
    }
}

/// Runs SQL statements on the database at `url` (CREATE / DROP DATABASE, test set-up).
pub fn admin_exec(url: &str, sql: &str) {
    try_exec(url, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn try_exec(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let bridge = Bridge::new().expect("runtime");
    bridge.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        let driver = tokio::spawn(connection);
        let result = client.batch_execute(sql).await;
        drop(client);
        let _ = driver.await;
        result
    })
}

impl TestDb {
    /// A new, empty database (no schema yet).
    pub fn empty() -> Option<TestDb> {
        let admin_url = admin_url()?;
        let name = format!("udap_t_{}", hex::encode(rand_bytes(8)));
        admin_exec(&admin_url, &format!("CREATE DATABASE {name}"));
        let mut url =
            url::Url::parse(&admin_url).expect("UDAP_TEST_DATABASE_URL is a postgres:// URL");
        url.set_path(&format!("/{name}"));
        Some(TestDb {
            store: None,
            admin_url,
            name,
            url: url.to_string(),
        })
    }

    /// A new database with a connected (migrated) store.
    pub fn create() -> Option<TestDb> {
        let mut db = TestDb::empty()?;
        db.store = Some(Store::connect(&db.options()).expect("connect to the test database"));
        Some(db)
    }

    pub fn options(&self) -> PgOptions {
        PgOptions::new(DatabaseUrl::new(self.url.as_str()))
    }

    /// The database's URL (with its password: for test processes only).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn store(&self) -> &Store {
        self.store.as_ref().expect("connected")
    }

    /// Runs SQL in this test's database.
    pub fn exec(&self, sql: &str) {
        admin_exec(&self.url, sql);
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        self.store = None;
        if let Err(e) = try_exec(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            eprintln!("cannot drop test database {}: {e}", self.name);
        }
    }
}

fn rand_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0; n];
    openssl::rand::rand_bytes(&mut b).unwrap();
    b
}
