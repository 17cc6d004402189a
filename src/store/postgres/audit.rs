//! The audit trail on PostgreSQL: the `audit` table (migration 0002).

use tokio_postgres::types::ToSql;

use super::PgBackend;
use crate::audit::AuditQuery;
use crate::store::audit::{Range, Row};
use crate::store::StoreError;

/// The whole batch in one statement (one round trip, one durable commit).
const APPEND: &str = "INSERT INTO audit (id, recorded, kind, client_id, body) \
     SELECT id, recorded, kind, client_id, body::jsonb \
     FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[]) \
         AS t(id, recorded, kind, client_id, body) \
     ON CONFLICT (id) DO NOTHING";

pub(crate) fn append(backend: &PgBackend, rows: &[Row<'_>]) -> Result<(), StoreError> {
    for r in rows {
        if r.id.contains('\0') || r.client_id.is_some_and(|c| c.contains('\0')) {
            return Err(StoreError::KeyNotStorable { table: "audit" });
        }
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.id).collect();
    let recorded: Vec<i64> = rows.iter().map(|r| r.recorded_ms).collect();
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind).collect();
    let clients: Vec<Option<&str>> = rows.iter().map(|r| r.client_id).collect();
    let bodies: Vec<&str> = rows.iter().map(|r| r.body.as_str()).collect();
    backend.run(|client| async move {
        let st = client.prepare_cached(APPEND).await?;
        client
            .execute(&st, &[&ids, &recorded, &kinds, &clients, &bodies])
            .await?;
        Ok(())
    })?;
    super::count_round_trip();
    super::count_commit();
    Ok(())
}

/// Up to `max` `(id, body)` matching `q` within `range`, in the range's order.
pub(crate) fn scan(
    backend: &PgBackend,
    q: &AuditQuery,
    range: &Range,
    max: usize,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    if q.client_id.as_deref().is_some_and(|c| c.contains('\0')) {
        return Ok(Vec::new()); // never stored
    }
    // Only the conditions present, so each shape gets its own plan (and indexes).
    let mut sql = String::from("SELECT id, body::text FROM audit WHERE true");
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut add = |cond: &str, v: Box<dyn ToSql + Sync + Send>| {
        params.push(v);
        sql.push_str(&format!(" AND {cond} ${}", params.len()));
    };
    if let Some((low, inclusive)) = &range.low {
        add(
            if *inclusive { "id >=" } else { "id >" },
            Box::new(low.clone()),
        );
    }
    if let Some(high) = &range.high {
        add("id <", Box::new(high.clone()));
    }
    if let Some(c) = &q.client_id {
        add("client_id =", Box::new(c.clone()));
    }
    if let Some(k) = q.kind {
        add("kind =", Box::new(k.as_str()));
    }
    let limit = i64::try_from(max).unwrap_or(i64::MAX);
    params.push(Box::new(limit));
    sql.push_str(&format!(
        " ORDER BY id {} LIMIT ${}",
        if range.newest_first { "DESC" } else { "ASC" },
        params.len()
    ));
    let rows = backend.run(|client| async move {
        let st = client.prepare_cached(&sql).await?;
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        Ok(client.query(&st, &refs).await?)
    })?;
    super::count_round_trip();
    Ok(rows
        .into_iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1).into_bytes()))
        .collect())
}
