//! The server side of the admin API (issue 10 item 1): admit the caller, run the op with
//! the one [`execute`](super::execute), apply its effects to the running server at once, and
//! record it. The HTTP handler (`http::admin`) only parses and maps the result.

use crate::store::{AdminTokenRecord, Store};

use super::{AdminContext, AdminError, AdminOp, Effects, Output};
use crate::oauth::client_metadata::IntendedUseVocabulary;

/// What the admin API needs from the running server.
pub trait LiveServer {
    fn store(&self) -> &Store;
    fn vocabulary(&self) -> &IntendedUseVocabulary;
    /// Applies a change's effects now (rebuild the communities, reload the keys); errors are
    /// logged by the server: the change is stored, and the pollers retry.
    fn apply(&self, effects: Effects, now: i64);
    /// Records an admin request (a change, a refused change, or a read) in the audit trail, and
    /// changes in the metrics.
    fn record_change(&self, admin: &str, op: &AdminOp, result: Result<(), &AdminError>, now: i64);
    /// Records a request refused before any op ran (no or a dead token, a malformed body).
    fn record_refused_caller(&self, reason: &str);
}

/// Why the admin API refused a request before or while running it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: no bearer token, or not a live admin token.
    #[error("a live admin token is required (Authorization: Bearer)")]
    Unauthorized,
    /// 400: the body is not an admin op.
    #[error("the body is not an admin operation: {0}")]
    Malformed(String),
    #[error(transparent)]
    Op(#[from] AdminError),
}

impl ApiError {
    /// The JSON error code and HTTP status.
    pub fn code(&self) -> (&'static str, u16) {
        match self {
            ApiError::Unauthorized => ("unauthorized", 401),
            ApiError::Malformed(_) => ("invalid_request", 400),
            ApiError::Op(e) => e.code(),
        }
    }
}

/// The first step of an admin API request, before its body is read (so an unauthenticated caller
/// cannot make the server read megabytes): the bearer token's live record, or a recorded refusal.
pub fn admit(
    server: &impl LiveServer,
    bearer: Option<&str>,
    now: i64,
) -> Result<AdminTokenRecord, ApiError> {
    let admitted = match bearer {
        None => Err(ApiError::Unauthorized),
        Some(token) => match super::tokens::authenticate(server.store(), token, now) {
            Ok(record) => record.ok_or(ApiError::Unauthorized),
            Err(e) => Err(ApiError::Op(e.into())),
        },
    };
    admitted.inspect_err(|e| server.record_refused_caller(e.code().0))
}

/// The rest of an admitted request: parse, execute, record, apply.
pub fn handle(
    server: &impl LiveServer,
    admin: &AdminTokenRecord,
    body: &[u8],
    now: i64,
) -> Result<Output, ApiError> {
    let op: AdminOp = serde_json::from_slice(body).map_err(|e| {
        server.record_refused_caller("invalid_request");
        ApiError::Malformed(e.to_string())
    })?;
    // Every request is audited (issue 10 item 1), reads included.
    let (effects, recorded) = (op.effects(), op.clone());
    let ctx = AdminContext {
        store: server.store(),
        now,
        actor: &admin.name,
        vocabulary: server.vocabulary(),
    };
    let result = super::execute(op, &ctx);
    server.record_change(&admin.name, &recorded, result.as_ref().map(|_| ()), now);
    if result.is_ok() {
        server.apply(effects, now);
    }
    Ok(result?)
}
