//! The PostgreSQL backend: every instance of a deployment shares one database.
//!
//! Driver: tokio-postgres with a deadpool-postgres pool, run on a runtime of the backend's own and
//! bridged to the store's synchronous API (`bridge`; why not the synchronous `postgres` crate:
//! docs/architecture.md, "Storage seam"). Schema: `kv` for every JSON table, `jti` for the replay
//! cache, `schema_migrations` (`migrate`). Atomicity: `txn` (advisory locks in READ COMMITTED write
//! transactions) and `jti` (one atomic upsert).

// Issue 10 item 5: the audit trail.
pub(crate) mod audit;
pub(crate) mod bridge;
pub(crate) mod jti;
pub mod migrate;
pub(crate) mod txn;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::IsolationLevel;

use self::bridge::Bridge;
use self::txn::PgTxn;
use super::location::PgOptions;
use super::txn::{ReadTxn, WriteTxn};
use super::StoreError;

/// Statements sent to PostgreSQL by this process (BEGIN, each query, COMMIT; statement preparation,
/// cached per connection, is not counted) and transactions committed: for `/metrics` and the
/// benchmark's "round trips per token request".
static ROUND_TRIPS: AtomicU64 = AtomicU64::new(0);
static COMMITS: AtomicU64 = AtomicU64::new(0);

pub(crate) fn count_round_trip() {
    ROUND_TRIPS.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn count_commit() {
    COMMITS.fetch_add(1, Ordering::Relaxed);
}

/// `(round trips, commits)` since the process started.
pub fn counters() -> (u64, u64) {
    (
        ROUND_TRIPS.load(Ordering::Relaxed),
        COMMITS.load(Ordering::Relaxed),
    )
}

/// A connected pool (cheap to clone: the jti store and the pruner hold clones).
#[derive(Clone)]
pub(crate) struct PgBackend {
    shared: Arc<Shared>,
}

// Field order matters: the pool (and its connections) go before the runtime that drives them.
struct Shared {
    pool: Pool,
    config: tokio_postgres::Config,
    tls: postgres_openssl::MakeTlsConnector,
    bridge: Bridge,
}

fn tls() -> Result<postgres_openssl::MakeTlsConnector, StoreError> {
    // Used when the server offers TLS (sslmode=prefer, the default) or must (sslmode=require):
    // the certificate is verified against the system's trust store, host name included.
    let builder = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls())
        .map_err(StoreError::backend)?;
    Ok(postgres_openssl::MakeTlsConnector::new(builder.build()))
}

fn config(opts: &PgOptions) -> Result<tokio_postgres::Config, StoreError> {
    // The parse error names the problem, never the text (which holds the password).
    let mut config: tokio_postgres::Config =
        opts.url.expose().parse().map_err(StoreError::backend)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(opts.connect_timeout);
    }
    if config.get_application_name().is_none() {
        config.application_name("udap-server");
    }
    // A replay entry or a consumed code must be on disk before we answer: never let a
    // database or role default turn synchronous commit off for our sessions.
    let options = match config.get_options() {
        Some(o) => format!("{o} -c synchronous_commit=on"),
        None => "-c synchronous_commit=on".to_owned(),
    };
    config.options(&options);
    Ok(config)
}

impl PgBackend {
    /// Build the pool, then apply pending migrations (under their lock) on a dedicated connection.
    pub(crate) fn connect(opts: &PgOptions) -> Result<(PgBackend, migrate::Migrated), StoreError> {
        let config = config(opts)?;
        let tls = tls()?;
        let bridge = Bridge::new()?;
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(opts.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(opts.connect_timeout))
            .create_timeout(Some(opts.connect_timeout))
            .build()
            .map_err(StoreError::backend)?;
        let backend = PgBackend {
            shared: Arc::new(Shared {
                pool,
                config,
                tls,
                bridge,
            }),
        };
        let migrated = backend.migrate()?;
        Ok((backend, migrated))
    }

    /// Apply pending migrations on a connection of its own, so the session lock they hold dies
    /// with that connection whatever happens.
    pub(crate) fn migrate(&self) -> Result<migrate::Migrated, StoreError> {
        let s = &self.shared;
        s.bridge.block_on(async {
            let (mut client, connection) = s.config.connect(s.tls.clone()).await?;
            let driver = tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "migration connection ended with an error");
                }
            });
            let result = migrate::migrate(&mut client).await;
            drop(client);
            let _ = driver.await;
            result
        })
    }

    /// Runs `f` with a pooled connection on the calling thread.
    pub(crate) fn run<R, F, Fut>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(Object) -> Fut,
        Fut: Future<Output = Result<R, StoreError>>,
    {
        let s = &self.shared;
        s.bridge.block_on(async {
            let client = s.pool.get().await?;
            f(client).await
        })
    }

    /// Issue 11: `run` for async callers: `f` runs as a task on the bridge's runtime and the caller
    /// awaits it, holding no thread. A task that panicked or was cancelled is a backend error.
    pub(crate) async fn run_async<R, F, Fut>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(Object) -> Fut + Send + 'static,
        Fut: Future<Output = Result<R, StoreError>> + Send + 'static,
        R: Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        let task = self.shared.bridge.spawn(async move {
            let client = shared.pool.get().await?;
            f(client).await
        });
        task.await.map_err(StoreError::backend)?
    }

    pub(crate) fn read<R>(
        &self,
        f: impl FnOnce(&ReadTxn) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let s = &self.shared;
        let mut client = s.bridge.block_on(s.pool.get())?;
        let tx = s.bridge.block_on(
            client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start(),
        )?;
        count_round_trip();
        let txn = ReadTxn::Postgres(PgTxn::new(tx, &s.bridge, false));
        let out = f(&txn)?;
        if let ReadTxn::Postgres(t) = txn {
            t.commit()?;
        }
        Ok(out)
    }

    /// On error the transaction is dropped, which rolls it back: none of `f`'s writes persist.
    pub(crate) fn write<R>(
        &self,
        f: impl FnOnce(&WriteTxn) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let s = &self.shared;
        let mut client = s.bridge.block_on(s.pool.get())?;
        let tx = s.bridge.block_on(
            client
                .build_transaction()
                .isolation_level(IsolationLevel::ReadCommitted)
                .start(),
        )?;
        count_round_trip();
        let txn = WriteTxn::Postgres(PgTxn::new(tx, &s.bridge, true));
        let out = f(&txn)?;
        if let WriteTxn::Postgres(t) = txn {
            t.commit()?;
        }
        Ok(out)
    }

    /// The schema version, read through the pool (health check).
    pub(crate) fn check_readable(&self) -> Result<(), StoreError> {
        self.run(|client| async move { migrate::current_version(&client).await.map(|_| ()) })
    }

    /// Deletes every row of `table` whose expiry (the number at `field`, or the value itself) is
    /// before `cutoff`, in chunks. Rows without such a number are kept.
    pub(crate) fn delete_expired(
        &self,
        table: &'static str,
        field: Option<&str>,
        cutoff: i64,
    ) -> Result<usize, StoreError> {
        // The predicate is repeated outside the sub-select so that a row changed concurrently is
        // judged again on its new value. CASE keeps the cast away from non-numbers.
        const SQL: &str = "DELETE FROM kv WHERE tbl = $1 \
             AND CASE WHEN jsonb_typeof(value #> $2) = 'number' THEN (value #>> $2)::numeric < $3::bigint ELSE false END \
             AND key IN (SELECT key FROM kv WHERE tbl = $1 \
                 AND CASE WHEN jsonb_typeof(value #> $2) = 'number' THEN (value #>> $2)::numeric < $3::bigint ELSE false END \
                 LIMIT $4)";
        const CHUNK: i64 = 10_000;
        let path: Vec<&str> = field.into_iter().collect();
        self.run(|client| async move {
            let st = client.prepare_cached(SQL).await?;
            let mut total = 0;
            loop {
                let n = client
                    .execute(&st, &[&table, &path, &cutoff, &CHUNK])
                    .await?;
                total += n as usize;
                if n < CHUNK as u64 {
                    return Ok(total);
                }
            }
        })
    }
}
