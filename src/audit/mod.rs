//! The audit trail (issue 10 item 5): one FHIR AuditEvent-shaped record per security event.
//!
//! - `event`: the record (`AuditEvent`), its kinds (`AuditKind`) and one constructor per kind,
//!   taking identifiers only, so no token, code, secret, password, assertion or PEM can reach a
//!   record;
//! - `log`: `AuditLog`, the running server's handle: `record` queues, a writer thread commits in
//!   batches (the durability window is documented there);
//! - `query`: reading records back (`query`, `export_ndjson`), `record_now` for the offline CLI,
//!   and the look-ups that name a refused request's client or a revocation's grant.
//!
//! Records are stored by `store::AuditTrail` (`Store::audit`) on both backends. Recording points
//! are one line each where the outcome is known: registration (`http::udap`), token and
//! revocation (`http::token`), login and consent (`oauth::flow`, recorded by `http::authorize`),
//! and admin operations (`admin`, with `AuditEvent::admin_change`).

mod event;
mod log;
mod query;
#[cfg(test)]
mod tests;

pub use event::{
    Agent, AuditEvent, AuditKind, ClientAgent, Coding, Entity, Outcome, Reference, ADMIN_SYSTEM,
    CLIENT_SYSTEM, COMMUNITY_SYSTEM, GRANT_SYSTEM, KEY_SYSTEM, LOCAL_SYSTEM, TOKEN_SYSTEM,
    USER_SYSTEM,
};
pub use log::{AuditCounters, AuditLog, BATCH_MAX, BATCH_WINDOW, FULL_WAIT, QUEUE_CAP};
pub use query::{
    claimed_client, export_ndjson, query, record_now, revocation_event, AuditQuery, ExportError,
};

/// What a rule function decided, and the audit record of that decision if it makes one: the rule
/// knows who and what (user, client, patient), the handler records it (`AuditLog::record_opt`).
#[derive(Debug)]
pub struct Audited<T> {
    pub outcome: T,
    pub audit: Option<AuditEvent>,
}

impl<T> Audited<T> {
    pub fn new(outcome: T, audit: Option<AuditEvent>) -> Self {
        Audited { outcome, audit }
    }

    /// No record.
    pub fn plain(outcome: T) -> Self {
        Audited {
            outcome,
            audit: None,
        }
    }
}
