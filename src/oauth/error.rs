//! OAuth error codes and the one error type every protocol rule returns to the HTTP layer.
//!
//! Domain errors (registration, client authentication, grants) convert into `OAuthError` next to
//! their definitions; `http::error` turns an `OAuthError` into the JSON response. The description
//! tells the client what to fix; internal detail goes to the log only (design habit 3).

use std::fmt;

/// Error codes from RFC 6749 §5.2, RFC 7591 §3.2.2, RFC 7009 and the UDAP DCR profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    ServerError,
    TemporarilyUnavailable,
    /// RFC 7591 / UDAP-19: the statement's signature or claims are invalid.
    InvalidSoftwareStatement,
    /// RFC 7591 / UDAP-19: the statement is not trusted (chain, expiry, revocation).
    UnapprovedSoftwareStatement,
    /// RFC 7591 / UDAP-19: a registration parameter is invalid or missing.
    InvalidClientMetadata,
    /// RFC 7591: a redirect URI is invalid.
    InvalidRedirectUri,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::InvalidSoftwareStatement => "invalid_software_statement",
            ErrorCode::UnapprovedSoftwareStatement => "unapproved_software_statement",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
        }
    }

    /// The HTTP status for this code when the spec gives no more specific one.
    pub fn default_status(self) -> u16 {
        match self {
            ErrorCode::ServerError => 500,
            ErrorCode::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol error as the client will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: ErrorCode,
    /// Safe to show the client: says what was wrong, never how the server is built.
    pub description: String,
    pub status: u16,
    /// RFC 6749 §5.2: a 401 with `WWW-Authenticate` when the client authenticated with HTTP Basic.
    pub www_authenticate: Option<&'static str>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        OAuthError { code, description: description.into(), status: code.default_status(), www_authenticate: None }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// A failure of ours, not the client's: the detail is logged, the client sees a fixed text.
    pub fn internal(detail: impl fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        OAuthError::new(ErrorCode::ServerError, "the server could not complete the request")
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for OAuthError {}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        OAuthError::internal(e)
    }
}
