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

/// What kind of refusal an error is, for metrics and the audit trail. Never shown to clients;
/// counting by kind replaces matching on description text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A JWT whose `(iss, jti)` was already used (UDAP-5).
    Replay,
    /// A certificate chain that is not trusted, expired, revoked or malformed (UDAP-46..52).
    Trust,
    /// Client authentication failed for another reason (unknown client, bad secret, claims).
    ClientAuth,
    /// The grant (code, refresh token, policy) was refused.
    Grant,
    /// Nothing requested could be granted.
    Scope,
    /// The request itself is malformed.
    Request,
    /// Too many attempts: throttled.
    Throttled,
    /// A failure of the server, not the client.
    Internal,
    /// Anything else.
    Other,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Replay => "replay",
            Reason::Trust => "trust",
            Reason::ClientAuth => "client_auth",
            Reason::Grant => "grant",
            Reason::Scope => "scope",
            Reason::Request => "request",
            Reason::Throttled => "throttled",
            Reason::Internal => "internal",
            Reason::Other => "other",
        }
    }

    /// The default kind for an error code.
    pub fn of_code(code: ErrorCode) -> Reason {
        match code {
            ErrorCode::InvalidClient => Reason::ClientAuth,
            ErrorCode::InvalidGrant | ErrorCode::UnauthorizedClient => Reason::Grant,
            ErrorCode::InvalidScope => Reason::Scope,
            ErrorCode::InvalidRequest | ErrorCode::UnsupportedGrantType => Reason::Request,
            ErrorCode::ServerError => Reason::Internal,
            ErrorCode::UnapprovedSoftwareStatement => Reason::Trust,
            _ => Reason::Other,
        }
    }
}

/// A protocol error as the client will see it, with what only the log may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: ErrorCode,
    /// Safe to show the client: says what was wrong, never how the server is built.
    pub description: String,
    pub status: u16,
    /// RFC 6749 §5.2: a 401 with `WWW-Authenticate` when the client authenticated with HTTP Basic.
    pub www_authenticate: Option<&'static str>,
    /// The kind of refusal (metrics, audit).
    pub reason: Reason,
    /// Private detail for the log (an inner error's text, a URL); never sent to the client.
    pub detail: Option<String>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: description.into(),
            status: code.default_status(),
            www_authenticate: None,
            reason: Reason::of_code(code),
            detail: None,
        }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn with_reason(mut self, reason: Reason) -> Self {
        self.reason = reason;
        self
    }

    /// Attaches private detail, logged by the HTTP layer and never sent to the client.
    pub fn with_detail(mut self, detail: impl fmt::Display) -> Self {
        self.detail = Some(detail.to_string());
        self
    }

    /// A failure of ours, not the client's: the detail is logged, the client sees a fixed text.
    pub fn internal(detail: impl fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        OAuthError::new(
            ErrorCode::ServerError,
            "the server could not complete the request",
        )
        .with_detail(detail)
    }

    /// The one mapping from a certificate-path failure to what the client sees (design: one error
    /// boundary): a fixed, specific text per kind of failure; the full `ChainError` (subject DNs,
    /// OpenSSL text, CRL URLs) goes to the log only. `what` names the JWT ("client certificate",
    /// "software statement certificate").
    pub fn from_chain_error(code: ErrorCode, what: &str, e: &crate::pki::ChainError) -> Self {
        OAuthError::new(code, format!("{what}: {}", e.public_text()))
            .with_reason(Reason::Trust)
            .with_detail(e)
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
