//! The audit trail's table (issue 10 item 5): append-only records keyed by their time-sortable
//! id, read by time range, client and kind. Not a `JsonTable`: it is read by ranges, never whole.
//!
//! redb: `audit` (id → FHIR JSON) and `audit_by_client` ((client_id, id) → ()). PostgreSQL: the
//! `audit` table of migration 0002 (id, recorded, kind, client_id, body jsonb), indexed on
//! `recorded` and `client_id`. Every record is written once (a second write of an id is
//! ignored); nothing deletes them.

use crate::audit::{AuditEvent, AuditQuery};

use super::{Backend, Store, StoreError};

/// `Store::audit()`.
pub struct AuditTrail<'a> {
    store: &'a Store,
}

/// The key range of a query over ids (which start with the 13-digit unix milliseconds).
pub(crate) fn id_bound(ms: i64) -> String {
    format!("{:013}", ms.max(0))
}

impl<'a> AuditTrail<'a> {
    pub(crate) fn new(store: &'a Store) -> Self {
        AuditTrail { store }
    }

    /// Stores `events` in one durable commit (all or none). Each must be stamped
    /// (`AuditEvent::stamped_at`; `AuditLog` and `audit::record_now` do it): an unstamped one
    /// aborts the batch.
    pub fn append_batch(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut rows = Vec::with_capacity(events.len());
        for e in events {
            if e.id().is_empty() {
                return Err(StoreError::Aborted);
            }
            super::kv::check_key(TABLE, e.id())?;
            let body = serde_json::to_string(e).map_err(|source| StoreError::Encode {
                table: TABLE,
                source,
            })?;
            rows.push(Row {
                id: e.id(),
                recorded_ms: e.recorded_ms(),
                kind: e.kind().map(|k| k.as_str()).unwrap_or(""),
                client_id: e.client_id(),
                body,
            });
        }
        match &self.store.inner.backend {
            Backend::Redb(b) => super::redb::audit::append(&b.db, &rows),
            Backend::Postgres(b) => super::postgres::audit::append(b, &rows),
        }
    }

    /// Records matching `q`, in id (= time) order, reversed for `q.newest_first`, at most
    /// `q.limit` (all when `None`).
    pub fn query(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        self.page(q, None, q.limit.unwrap_or(usize::MAX))
    }

    /// The next `max` records matching `q` (its `limit` ignored) after the record with id `after`
    /// in the query's order: keyset paging for exports.
    pub fn page(
        &self,
        q: &AuditQuery,
        after: Option<&str>,
        max: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let range = Range::of(q, after);
        let bodies = match &self.store.inner.backend {
            Backend::Redb(b) => super::redb::audit::scan(&b.db, q, &range, max)?,
            Backend::Postgres(b) => super::postgres::audit::scan(b, q, &range, max)?,
        };
        bodies
            .into_iter()
            .map(|(id, body)| decode(&id, &body))
            .collect()
    }
}

pub(crate) const TABLE: &str = "audit";

/// One record as the backends store it.
pub(crate) struct Row<'e> {
    pub(crate) id: &'e str,
    pub(crate) recorded_ms: i64,
    pub(crate) kind: &'static str,
    pub(crate) client_id: Option<&'e str>,
    pub(crate) body: String,
}

/// Id bounds of a query: `low` inclusive or exclusive, `high` exclusive.
pub(crate) struct Range {
    /// (key, inclusive)
    pub(crate) low: Option<(String, bool)>,
    pub(crate) high: Option<String>,
    pub(crate) newest_first: bool,
}

impl Range {
    fn of(q: &AuditQuery, after: Option<&str>) -> Range {
        let mut low = q.since_ms().map(|ms| (id_bound(ms), true));
        let mut high = q.until_ms().map(id_bound);
        if let Some(a) = after {
            if q.newest_first {
                if high.as_deref().is_none_or(|h| a < h) {
                    high = Some(a.to_string());
                }
            } else if low.as_ref().is_none_or(|(l, _)| a >= l.as_str()) {
                low = Some((a.to_string(), false));
            }
        }
        Range {
            low,
            high,
            newest_first: q.newest_first,
        }
    }
}

pub(crate) fn decode(id: &str, body: &[u8]) -> Result<AuditEvent, StoreError> {
    serde_json::from_slice(body).map_err(|e| {
        tracing::error!(
            table = TABLE,
            key = id,
            category = ?e.classify(),
            line = e.line(),
            column = e.column(),
            "stored audit record does not decode"
        );
        StoreError::Corrupt {
            table: TABLE,
            key: id.to_owned(),
        }
    })
}
