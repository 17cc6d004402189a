//! Versioned schema migrations for PostgreSQL: SQL files embedded in the binary, applied in order,
//! each in its own transaction together with its row in `schema_migrations`.
//!
//! They run under a session advisory lock on a dedicated connection, so instances starting
//! together on an empty database apply each migration once; the others wait, then find nothing
//! to do. A database migrated by a newer release is refused before anything is changed.

use tokio_postgres::Client;

use crate::store::StoreError;

/// (version, name, SQL). Append only; never edit a released file.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("migrations/0001_init.sql")),
    // Issue 10 item 5: the audit trail.
    (2, "audit", include_str!("migrations/0002_audit.sql")),
];

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: i64 = 2;

/// Advisory lock id held while migrating ("udapmigr").
const MIGRATION_LOCK: i64 = 0x7564_6170_6d69_6772;

/// What `migrate` found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    /// Version before (0: an empty database).
    pub from: i64,
    pub to: i64,
}

/// Apply every pending migration. The lock is a session lock: if this connection dies, the lock
/// goes with it.
pub(crate) async fn migrate(client: &mut Client) -> Result<Migrated, StoreError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = apply(client).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let migrated = result?;
    unlocked?;
    Ok(migrated)
}

async fn apply(client: &mut Client) -> Result<Migrated, StoreError> {
    // "relation already exists, skipping" is expected on every start; keep it out of the log.
    client
        .batch_execute("SET client_min_messages TO warning")
        .await?;
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version    bigint PRIMARY KEY,
                name       text NOT NULL,
                applied_at bigint NOT NULL
            )",
        )
        .await?;
    let from = current_version(client).await?;
    if from > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: from,
            supported: SCHEMA_VERSION,
        });
    }
    let now = chrono::Utc::now().timestamp();
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > from) {
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            &[version, name, &now],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, name, "database migrated");
    }
    Ok(Migrated {
        from,
        to: SCHEMA_VERSION,
    })
}

/// The highest applied migration; 0 when none.
pub(crate) async fn current_version(client: &Client) -> Result<i64, StoreError> {
    let row = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await?;
    Ok(row.get::<_, i64>(0))
}
