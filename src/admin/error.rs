//! Why an administrator operation was refused. The message names what to fix; store and driver
//! detail stays in the server's log (the admin API answers `internal` with a fixed text).

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The request is wrong (bad value, unreadable certificate, key that does not match): 400.
    #[error("{0}")]
    Invalid(String),
    /// The named record does not exist: 404.
    #[error("{0}")]
    NotFound(String),
    /// The record exists already, or its state forbids the change: 409.
    #[error("{0}")]
    Conflict(String),
    /// The store failed: 500. The source goes to the log, not to the caller.
    #[error("the change could not be stored; see the server's log")]
    Internal(#[source] anyhow::Error),
}

impl AdminError {
    pub fn invalid(message: impl Into<String>) -> Self {
        AdminError::Invalid(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        AdminError::NotFound(message.into())
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        AdminError::Conflict(message.into())
    }

    /// The admin API's error code and HTTP status.
    pub fn code(&self) -> (&'static str, u16) {
        match self {
            AdminError::Invalid(_) => ("invalid_request", 400),
            AdminError::NotFound(_) => ("not_found", 404),
            AdminError::Conflict(_) => ("conflict", 409),
            AdminError::Internal(_) => ("internal", 500),
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        AdminError::Internal(e.into())
    }
}

/// Rule errors from the library (community build, PEM parsing, ...) are the administrator's to
/// fix, so their whole chain is the message; a store failure anywhere in the chain is internal.
impl From<anyhow::Error> for AdminError {
    fn from(e: anyhow::Error) -> Self {
        if e.chain().any(|c| c.downcast_ref::<StoreError>().is_some()) {
            return AdminError::Internal(e);
        }
        AdminError::Invalid(format!("{e:#}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_failures_are_internal_and_rule_failures_are_the_callers() {
        let store: AdminError = anyhow::Error::new(StoreError::Aborted)
            .context("saving")
            .into();
        assert_eq!(store.code(), ("internal", 500));
        assert!(!store.to_string().contains("abort"), "{store}");
        let rule: AdminError = anyhow::anyhow!("the signing key does not match")
            .context("community urn:x")
            .into();
        assert_eq!(rule.code(), ("invalid_request", 400));
        assert_eq!(
            rule.to_string(),
            "community urn:x: the signing key does not match"
        );
    }
}
