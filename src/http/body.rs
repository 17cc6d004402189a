//! Reading request bodies with a size cap, failing with an OAuth JSON error rather than actix's
//! plain-text one.

use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

use crate::oauth::{ErrorCode, OAuthError};

use super::MAX_BODY_BYTES;

/// Reads the whole body, refusing more than `MAX_BODY_BYTES` (413).
pub async fn read_limited(mut payload: web::Payload) -> Result<web::Bytes, OAuthError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| OAuthError::new(ErrorCode::InvalidRequest, "the request body could not be read"))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(OAuthError::new(ErrorCode::InvalidRequest, format!("the request body exceeds {MAX_BODY_BYTES} bytes")).with_status(413));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// True when the request's media type is `expected` (parameters such as charset ignored).
pub fn has_media_type(req: &HttpRequest, expected: &str) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(expected))
}

/// Runs protocol work (signature checks, store commits) on the blocking pool so the async workers
/// stay free; a failure of the pool itself is a server error.
pub async fn blocking<T, F>(f: F) -> Result<T, OAuthError>
where
    F: FnOnce() -> Result<T, OAuthError> + Send + 'static,
    T: Send + 'static,
{
    web::block(f).await.map_err(OAuthError::internal)?
}
