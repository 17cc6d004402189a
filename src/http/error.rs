//! The single mapping from `OAuthError` to an HTTP response: JSON `{error, error_description}`
//! with the status the RFC or IG requires, and `Cache-Control: no-store` + `Pragma: no-cache`
//! (UDAP-35, SMART token responses: errors included).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::oauth::OAuthError;

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST)
    }

    fn error_response(&self) -> HttpResponse {
        // The one place a refusal is logged: the client text, the kind, and the private detail.
        // Values are formatted with Debug so CR/LF in client-supplied text cannot forge a line.
        tracing::info!(error = self.code.as_str(), reason = self.reason.as_str(), description = ?self.description, detail = ?self.detail, status = self.status, "request refused");
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header(("Cache-Control", "no-store")).insert_header(("Pragma", "no-cache"));
        if let Some(challenge) = self.www_authenticate {
            res.insert_header(("WWW-Authenticate", challenge));
        }
        res.json(json!({"error": self.code.as_str(), "error_description": self.description}))
    }
}
