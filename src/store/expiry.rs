//! Pruning of short-lived records once they have expired: pending authorizations, codes, launch
//! contexts, refresh tokens, sessions and revoked-token markers. Runs on the pruner thread with the
//! replay table's. The rule (which tables, which field) is here; each backend deletes the rows.

use super::{authz, sessions, tokens, Backend, StoreError};

/// A table whose rows expire: at the JSON number `field` of the record, or (None) the record is
/// itself that number.
struct Expiring {
    table: &'static str,
    field: Option<&'static str>,
}

const EXPIRING: &[Expiring] = &[
    Expiring {
        table: authz::INTERACTIONS.name(),
        field: Some("expires_at"),
    },
    Expiring {
        table: authz::CODES.name(),
        field: Some("expires_at"),
    },
    Expiring {
        table: authz::LAUNCHES.name(),
        field: Some("expires_at"),
    },
    // A rotated refresh token is kept until it would have expired, so its reuse is still detected.
    Expiring {
        table: authz::REFRESH.name(),
        field: Some("expires_at"),
    },
    Expiring {
        table: sessions::TABLE.name(),
        field: Some("expires_at"),
    },
    Expiring {
        table: tokens::REVOKED.name(),
        field: None,
    },
];

/// Removes every record that expired before `cutoff`; returns how many.
pub(crate) fn prune_expired(backend: &Backend, cutoff: i64) -> Result<usize, StoreError> {
    let mut n = 0;
    for e in EXPIRING {
        n += match backend {
            Backend::Redb(b) => b.delete_expired(e.table, e.field, cutoff)?,
            Backend::Postgres(b) => b.delete_expired(e.table, e.field, cutoff)?,
        };
    }
    Ok(n)
}
