//! Where the store lives: the embedded redb file, or a PostgreSQL database. Chosen once at start
//! from `--database-url` / `UDAP_DATABASE_URL` / `[store] url`; without a URL, the redb file in the
//! data directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Connections in the PostgreSQL pool unless configured.
pub const DEFAULT_POOL_SIZE: usize = 16;
/// How long to wait for a new connection, or for a free one from the pool.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The embedded database file inside a data directory.
pub fn embedded_path(data_dir: &Path) -> PathBuf {
    data_dir.join("udap.redb")
}

/// A PostgreSQL connection string (`postgres://user:password@host:5432/db?sslmode=...`, or the
/// `key=value` form). It usually carries a password, so `Debug` and `Display` redact it; only
/// `expose` gives the full text, to the driver.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseUrl(url.into())
    }

    /// The full connection string, password included: for the driver only, never for a log.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The connection string with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        if let Ok(mut url) = url::Url::parse(&self.0) {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            if pairs.iter().any(|(k, _)| k == "password") {
                let mut q = url.query_pairs_mut();
                q.clear();
                for (k, v) in &pairs {
                    q.append_pair(k, if k == "password" { "***" } else { v });
                }
            }
            return url.to_string();
        }
        // key=value form: blank out the value after `password=`.
        self.0
            .split_whitespace()
            .map(|part| {
                if part.to_ascii_lowercase().starts_with("password=") {
                    "password=***"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Settings of the PostgreSQL backend.
#[derive(Debug, Clone)]
pub struct PgOptions {
    pub url: DatabaseUrl,
    /// Most connections held open at once.
    pub pool_size: usize,
    /// Bound on connecting, and on waiting for a free pooled connection.
    pub connect_timeout: Duration,
}

impl PgOptions {
    pub fn new(url: DatabaseUrl) -> Self {
        PgOptions {
            url,
            pool_size: DEFAULT_POOL_SIZE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// Which backend, and where.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// The redb file at this path (the default: `<data-dir>/udap.redb`).
    Embedded(PathBuf),
    /// A PostgreSQL database shared by every instance.
    Postgres(PgOptions),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        let cases = [
            (
                "postgres://udap:s3cret@db.example:5432/udap",
                "postgres://udap:***@db.example:5432/udap",
            ),
            (
                "postgres://udap@db/udap?password=s3cret&sslmode=require",
                "postgres://udap@db/udap?password=***&sslmode=require",
            ),
            (
                "host=db user=udap password=s3cret dbname=udap",
                "host=db user=udap password=*** dbname=udap",
            ),
        ];
        for (url, shown) in cases {
            let u = DatabaseUrl::new(url);
            assert_eq!(u.to_string(), shown);
            assert!(!format!("{u:?}").contains("s3cret"));
            assert_eq!(u.expose(), url);
        }
    }
}
