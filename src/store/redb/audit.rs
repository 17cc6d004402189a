//! The audit trail on redb: `audit` (id → JSON) and `audit_by_client` ((client_id, id) → ()).

use std::ops::Bound;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::audit::AuditQuery;
use crate::store::audit::{Range, Row};
use crate::store::StoreError;

pub(crate) const AUDIT: TableDefinition<&str, &[u8]> = TableDefinition::new("audit");
pub(crate) const AUDIT_BY_CLIENT: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("audit_by_client");

/// One write transaction (one durable commit) for the whole batch; an id already present is
/// left as it is.
pub(crate) fn append(db: &Database, rows: &[Row<'_>]) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    {
        let mut audit = txn.open_table(AUDIT)?;
        let mut by_client = txn.open_table(AUDIT_BY_CLIENT)?;
        for r in rows {
            if audit.get(r.id)?.is_some() {
                continue;
            }
            audit.insert(r.id, r.body.as_bytes())?;
            if let Some(c) = r.client_id {
                by_client.insert((c, r.id), ())?;
            }
        }
    }
    txn.commit()?;
    Ok(())
}

fn bounds(range: &Range) -> (Bound<&str>, Bound<&str>) {
    let low = match &range.low {
        Some((k, true)) => Bound::Included(k.as_str()),
        Some((k, false)) => Bound::Excluded(k.as_str()),
        None => Bound::Unbounded,
    };
    let high = match &range.high {
        Some(k) => Bound::Excluded(k.as_str()),
        None => Bound::Unbounded,
    };
    (low, high)
}

/// Up to `max` `(id, body)` of records in `range` matching `q`, in the range's order. With a
/// client, walks that client's index; otherwise the records themselves.
pub(crate) fn scan(
    db: &Database,
    q: &AuditQuery,
    range: &Range,
    max: usize,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let txn = db.begin_read()?;
    let audit = txn.open_table(AUDIT)?;
    let mut out = Vec::new();
    let mut consider = |id: &str, body: &[u8]| -> Result<bool, StoreError> {
        if q.kind.is_some() {
            let e = crate::store::audit::decode(id, body)?;
            if !q.matches(&e) {
                return Ok(true);
            }
        }
        out.push((id.to_owned(), body.to_vec()));
        Ok(out.len() < max)
    };
    match q.client_id.as_deref() {
        Some(client) => {
            let by_client = txn.open_table(AUDIT_BY_CLIENT)?;
            let (low, high) = bounds(range);
            let low = match low {
                Bound::Included(k) => Bound::Included((client, k)),
                Bound::Excluded(k) => Bound::Excluded((client, k)),
                Bound::Unbounded => Bound::Included((client, "")),
            };
            // (client + "\0", "") is the first key after every (client, id).
            let next_client = format!("{client}\0");
            let high = match high {
                Bound::Excluded(k) => Bound::Excluded((client, k)),
                _ => Bound::Excluded((next_client.as_str(), "")),
            };
            let rows = by_client.range::<(&str, &str)>((low, high))?;
            walk(rows, range.newest_first, |(key, _)| {
                let (c, id) = key.value();
                if c != client {
                    return Ok(false);
                }
                match audit.get(id)? {
                    Some(body) => consider(id, body.value()),
                    None => Ok(true),
                }
            })?;
        }
        None => {
            let rows = audit.range::<&str>(bounds(range))?;
            walk(rows, range.newest_first, |(key, body)| {
                consider(key.value(), body.value())
            })?;
        }
    }
    Ok(out)
}

/// Runs `f` on each row, forwards or backwards, until it returns false.
fn walk<T>(
    rows: impl DoubleEndedIterator<Item = Result<T, redb::StorageError>>,
    reverse: bool,
    mut f: impl FnMut(T) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    if reverse {
        for row in rows.rev() {
            if !f(row?)? {
                break;
            }
        }
    } else {
        for row in rows {
            if !f(row?)? {
                break;
            }
        }
    }
    Ok(())
}
