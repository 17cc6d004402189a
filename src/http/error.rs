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
        res.insert_header(("Cache-Control", "no-store"))
            .insert_header(("Pragma", "no-cache"));
        if let Some(challenge) = self.www_authenticate {
            res.insert_header(("WWW-Authenticate", challenge));
        }
        res.json(json!({"error": self.code.as_str(), "error_description": self.description}))
    }
}

/// True for the paths that serve HTML pages to a person (login, the authorization steps,
/// logout); every other path is an API that answers OAuth JSON.
fn is_page(path: &str) -> bool {
    path.ends_with("/login")
        || path.ends_with("/logout")
        || path.contains("/authorize")
        || path.contains("/account/")
        || path.contains("/developer")
}

/// The response for a request the framework could not parse (a query, form, JSON or path
/// extractor failed, or no route matched): OAuth JSON on the API, an error page on the pages,
/// never the framework's own text/plain message. The framework's text goes to the log.
pub fn framework_error(
    detail: &dyn std::fmt::Display,
    req: &actix_web::HttpRequest,
    status: StatusCode,
    client_text: &str,
) -> HttpResponse {
    tracing::info!(path = ?req.path(), detail = ?detail.to_string(), status = status.as_u16(), "request could not be parsed");
    if is_page(req.path()) {
        let headers = super::session::page_headers(&[], None);
        super::pages::html_response(
            status,
            super::pages::error_page("This request cannot be completed", client_text),
            headers,
        )
    } else {
        let e = OAuthError::new(crate::oauth::ErrorCode::InvalidRequest, client_text)
            .with_status(status.as_u16());
        e.error_response()
    }
}

fn extractor_error<E: std::fmt::Display + std::fmt::Debug + 'static>(
    err: E,
    req: &actix_web::HttpRequest,
) -> actix_web::Error {
    let res = framework_error(
        &err,
        req,
        StatusCode::BAD_REQUEST,
        "the request parameters could not be read (a parameter is repeated, missing or malformed)",
    );
    actix_web::error::InternalError::from_response(err, res).into()
}

/// Extractor configurations whose errors go through [`framework_error`].
pub fn configure_extractors(cfg: &mut actix_web::web::ServiceConfig) {
    use actix_web::web;
    cfg.app_data(web::QueryConfig::default().error_handler(extractor_error))
        .app_data(web::FormConfig::default().error_handler(extractor_error))
        .app_data(web::JsonConfig::default().error_handler(extractor_error))
        .app_data(web::PathConfig::default().error_handler(extractor_error));
}

/// The default service: an unknown path or method gets a JSON 404 (or the error page).
pub async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    framework_error(
        &"no route",
        &req,
        StatusCode::NOT_FOUND,
        "there is no such endpoint",
    )
}
