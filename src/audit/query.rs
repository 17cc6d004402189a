//! Reading the trail back (`audit list`, `audit export`), recording outside the server, and the
//! look-ups that name who and what a record is about.

use std::io::Write;

use serde_json::Value;

use crate::oauth::client_auth::Credentials;
use crate::oauth::tokens::TokenIssuer;
use crate::store::{Store, StoreError};

use super::event::{AuditEvent, AuditKind, ClientAgent};

/// Which records to read. Times are unix seconds: `since` inclusive, `until` exclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Records whose acting client, or a client they concern, is this one.
    pub client_id: Option<String>,
    pub kind: Option<AuditKind>,
    /// At most this many records (`None`: all of them; prefer `export_ndjson` for a large trail).
    pub limit: Option<usize>,
    /// Newest first (for "the last N"); oldest first otherwise.
    pub newest_first: bool,
}

impl AuditQuery {
    /// `since` as unix milliseconds (the records' time unit).
    pub(crate) fn since_ms(&self) -> Option<i64> {
        self.since.map(|s| s.max(0).saturating_mul(1000))
    }

    pub(crate) fn until_ms(&self) -> Option<i64> {
        self.until.map(|s| s.max(0).saturating_mul(1000))
    }

    /// The rules a backend applies after its index range (kind, and the time range again).
    pub(crate) fn matches(&self, e: &AuditEvent) -> bool {
        let t = e.recorded_ms();
        self.kind.is_none_or(|k| e.kind() == Some(k))
            && self
                .client_id
                .as_deref()
                .is_none_or(|c| e.client_id() == Some(c))
            && self.since_ms().is_none_or(|s| t >= s)
            && self.until_ms().is_none_or(|u| t < u)
    }
}

/// Records matching `q`, in time order (`q.newest_first` reverses it), at most `q.limit`.
pub fn query(store: &Store, q: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
    store.audit().query(q)
}

/// Records per store read while exporting.
const EXPORT_PAGE: usize = 1000;

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
}

/// `audit export --format ndjson`: every record matching `q`, one FHIR AuditEvent JSON per
/// line, read page by page (memory stays bounded however long the trail). Returns how many.
pub fn export_ndjson(
    store: &Store,
    q: &AuditQuery,
    out: &mut impl Write,
) -> Result<usize, ExportError> {
    export_paged(store, q, out, EXPORT_PAGE)
}

pub(crate) fn export_paged(
    store: &Store,
    q: &AuditQuery,
    out: &mut impl Write,
    page_size: usize,
) -> Result<usize, ExportError> {
    let page_size = page_size.max(1);
    let mut written = 0usize;
    let mut after: Option<String> = None;
    loop {
        let want = match q.limit {
            Some(l) if l <= written => break,
            Some(l) => (l - written).min(page_size),
            None => page_size,
        };
        let page = store.audit().page(q, after.as_deref(), want)?;
        for e in &page {
            serde_json::to_writer(&mut *out, e).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        }
        written += page.len();
        match page.last() {
            Some(last) if page.len() == want => after = Some(last.id().to_string()),
            _ => break,
        }
    }
    out.flush()?;
    Ok(written)
}

/// Records one event now, synchronously and durably, outside a running server (the offline
/// CLI path: an admin change made with the server stopped). Stamps it with the current time
/// unless it already has one.
pub fn record_now(store: &Store, event: &AuditEvent) -> Result<(), StoreError> {
    let event = if event.is_stamped() {
        event.clone()
    } else {
        event
            .clone()
            .stamped_at(chrono::Utc::now().timestamp_millis())
    };
    store.audit().append_batch(std::slice::from_ref(&event))
}

/// The client a refused token request named, if that client is registered: the Basic user, the
/// `client_id` parameter, or the assertion's (unverified) `iss`. An unregistered name is not
/// recorded: it is client text, and could be anything.
pub fn claimed_client(store: &Store, creds: &Credentials) -> Option<ClientAgent> {
    let iss;
    let named = match (&creds.basic, &creds.client_id, &creds.client_assertion) {
        (Some((id, _)), _, _) => id.as_str(),
        (None, Some(id), _) => id.as_str(),
        (None, None, Some(assertion)) => {
            iss = crate::jose::parse_compact(assertion)
                .ok()?
                .unverified_claims()
                .get("iss")
                .and_then(Value::as_str)?
                .to_string();
            iss.as_str()
        }
        _ => return None,
    };
    if named.is_empty() || named.len() > 256 {
        return None;
    }
    match store.clients().get(named) {
        Ok(Some(c)) => Some(ClientAgent {
            client_id: c.client_id,
            authenticated: false,
        }),
        _ => None,
    }
}

/// The record of an RFC 7009 revocation that `TokenIssuer::revoke` reported done: an access
/// token on its own, or the grant behind an access or refresh token. Read after the revocation
/// (both kinds of token stay readable), so the hot path of an unknown token costs nothing.
pub fn revocation_event(
    tokens: &TokenIssuer,
    store: &Store,
    token: &str,
    client_id: &str,
    now: i64,
) -> Option<AuditEvent> {
    if let Some(claims) = tokens.verify(token, now) {
        return Some(match &claims.grant_id {
            Some(g) => AuditEvent::grant_revoked(client_id, g, Some(&claims.jti)),
            None => AuditEvent::token_revoked(client_id, &claims.jti),
        });
    }
    match store.authz().refresh(token) {
        Ok(Some(rec)) => Some(AuditEvent::grant_revoked(client_id, &rec.grant_id, None)),
        _ => None,
    }
}
