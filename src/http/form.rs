//! `application/x-www-form-urlencoded` bodies for the token, introspection and revocation
//! endpoints: each parameter at most once (RFC 6749 §3.2), and the client credentials they carry.

use std::collections::HashMap;

use actix_web::HttpRequest;
use base64::Engine;

use crate::oauth::client_auth::Credentials;
use crate::oauth::{ErrorCode, OAuthError};

use super::body::has_media_type;

/// Parsed form parameters.
pub struct Form(HashMap<String, String>);

impl Form {
    /// Parses the body, refusing a wrong media type or a repeated parameter (`invalid_request`).
    pub fn parse(req: &HttpRequest, body: &[u8]) -> Result<Form, OAuthError> {
        if !has_media_type(req, "application/x-www-form-urlencoded") {
            return Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                "Content-Type must be application/x-www-form-urlencoded",
            ));
        }
        parse_pairs(body).map(Form)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Client credentials from the form and the `Authorization: Basic` header.
    pub fn credentials(&self, req: &HttpRequest) -> Credentials {
        let mut creds = Credentials {
            client_id: self.get("client_id").map(String::from),
            client_assertion_type: self.get("client_assertion_type").map(String::from),
            client_assertion: self.get("client_assertion").map(String::from),
            udap: self.get("udap").map(String::from),
            ..Default::default()
        };
        if let Some(header) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
            match header.to_str().ok().and_then(parse_basic) {
                Some(pair) => creds.basic = Some(pair),
                None if header
                    .to_str()
                    .is_ok_and(|h| h.len() > 7 && h[..7].eq_ignore_ascii_case("bearer ")) => {}
                None => creds.malformed_basic = true,
            }
        }
        creds
    }
}

/// The body's parameters, each at most once (RFC 6749 §3.2: a repeated one is `invalid_request`).
/// Separate from [`Form::parse`] so it can be fuzzed without an `HttpRequest`.
pub fn parse_pairs(body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
        OAuthError::new(
            ErrorCode::InvalidRequest,
            "the body is not valid form encoding",
        )
    })?;
    let mut map = HashMap::with_capacity(pairs.len());
    for (k, v) in pairs {
        if map.contains_key(&k) {
            return Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                format!("parameter {k} is repeated"),
            ));
        }
        map.insert(k, v);
    }
    Ok(map)
}

/// RFC 6749 §2.3.1: `Basic base64(urlencode(id) ":" urlencode(secret))`.
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, value) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let id = url::form_urlencoded::parse(format!("a={id}").as_bytes())
        .next()?
        .1
        .into_owned();
    let secret = url::form_urlencoded::parse(format!("a={secret}").as_bytes())
        .next()?
        .1
        .into_owned();
    (!id.is_empty()).then_some((id, secret))
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    let h = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = h.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_basic;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let h = format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                "my%20id:s%3Acret"
            )
        );
        assert_eq!(parse_basic(&h), Some(("my id".into(), "s:cret".into())));
        assert_eq!(parse_basic("Basic !!!"), None);
        assert_eq!(parse_basic("Bearer abc"), None);
    }
}
