//! `POST /token`, `POST /introspect`, `POST /revoke` and `GET /jwks`.
//!
//! Every token response, errors included, carries `Cache-Control: no-store` and `Pragma: no-cache`
//! (UDAP-35, SMART-23).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::oauth::client_auth;
use crate::oauth::grants::authorization_code::{self, CodeRequest};
use crate::oauth::grants::{client_credentials, refresh_token};
use crate::oauth::tokens::INTROSPECTION_SCOPE;
use crate::oauth::{ErrorCode, OAuthError};

use super::body::{blocking, read_limited};
use super::form::{bearer, Form};
use super::metrics::Metrics;
use super::state::AppState;


fn no_store(mut res: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    res.insert_header(("Cache-Control", "no-store")).insert_header(("Pragma", "no-cache"));
    res
}

pub async fn token(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> Result<HttpResponse, OAuthError> {
    let result = token_inner(state.clone(), req, payload).await;
    match &result {
        Ok(_) => Metrics::inc(&state.metrics.tokens_issued_total),
        Err(e) => {
            Metrics::inc(&state.metrics.token_errors_total);
            if e.description.contains("jti replay") {
                Metrics::inc(&state.metrics.jti_replays_total);
            }
            tracing::info!(error = %e.code, description = %e.description, "token request refused");
        }
    }
    result
}

async fn token_inner(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> Result<HttpResponse, OAuthError> {
    let body = read_limited(payload).await?;
    let form = Form::parse(&req, &body)?;
    let grant_type = form.get("grant_type").ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, "grant_type is required"))?.to_string();
    if !["client_credentials", "authorization_code", "refresh_token"].contains(&grant_type.as_str()) {
        return Err(OAuthError::new(ErrorCode::UnsupportedGrantType, format!("grant_type {grant_type} is not supported")));
    }
    let creds = form.credentials(&req);
    let now = state.now();
    let st = state.clone();
    let body = blocking(move || {
        let auth = client_auth::authenticate(&st.auth_context(), &creds, now)?;
        match grant_type.as_str() {
            "authorization_code" => {
                let req = CodeRequest { code: form.get("code"), redirect_uri: form.get("redirect_uri"), code_verifier: form.get("code_verifier") };
                authorization_code::exchange(&st.store, &st.tokens, &auth, &req, &st.grant_policy, now)
            }
            "refresh_token" => refresh_token::refresh(&st.store, &st.tokens, &auth, form.get("refresh_token"), form.get("scope"), &st.grant_policy, now),
            _ => client_credentials::issue(&st.tokens, &auth, form.get("scope"), &st.grant_policy, now),
        }
    })
    .await?;
    // SMART-25: browser-based (public) clients read the response cross-origin.
    Ok(no_store(HttpResponse::Ok()).insert_header(("Access-Control-Allow-Origin", "*")).json(body))
}

/// RFC 7662 / SMART-58..63. The caller authenticates as a client (Basic, or an assertion), or with
/// a Bearer token carrying `udap-server/introspect`. A client without that scope may introspect
/// only its own tokens; anything else is `{"active": false}`.
pub async fn introspect(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> Result<HttpResponse, OAuthError> {
    let body = read_limited(payload).await?;
    let form = Form::parse(&req, &body)?;
    let token = form.get("token").ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, "token is required"))?.to_string();
    let creds = form.credentials(&req);
    let bearer_token = bearer(&req);
    let now = state.now();
    let st = state.clone();
    let body = blocking(move || {
        let caller_may_see_all;
        let caller_id;
        if let Some(bt) = bearer_token {
            let claims = st.tokens.verify(&bt, now).filter(|c| c.scope.split(' ').any(|s| s == INTROSPECTION_SCOPE));
            let claims = match claims {
                Some(c) if !st.store.revoked_tokens().is_revoked(&c.jti)? => c,
                _ => {
                    let mut e = OAuthError::new(ErrorCode::InvalidClient, "the bearer token is not valid for introspection").with_status(401);
                    e.www_authenticate = Some("Bearer error=\"invalid_token\"");
                    return Err(e);
                }
            };
            caller_may_see_all = true;
            caller_id = claims.client_id;
        } else {
            let auth = client_auth::authenticate(&st.auth_context(), &creds, now)?;
            caller_may_see_all = auth.client.metadata.scope.split(' ').any(|s| s == INTROSPECTION_SCOPE);
            caller_id = auth.client.client_id;
        }
        let mut result = st.tokens.introspect(&st.store, &token, now)?;
        if result["active"] != true {
            if let Some(r) = st.tokens.introspect_refresh(&st.store, &token, now)? {
                result = r;
            }
        }
        let own = result.get("client_id").and_then(|v| v.as_str()) == Some(caller_id.as_str());
        Ok(if caller_may_see_all || own { result } else { json!({"active": false}) })
    })
    .await?;
    Ok(no_store(HttpResponse::Ok()).json(body))
}

/// RFC 7009: client-authenticated; 200 whether or not the token was known.
pub async fn revoke(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> Result<HttpResponse, OAuthError> {
    let body = read_limited(payload).await?;
    let form = Form::parse(&req, &body)?;
    let token = form.get("token").ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, "token is required"))?.to_string();
    let creds = form.credentials(&req);
    let now = state.now();
    let st = state.clone();
    blocking(move || {
        let auth = client_auth::authenticate(&st.auth_context(), &creds, now)?;
        if st.tokens.revoke(&st.store, &token, &auth.client.client_id, now)? {
            tracing::info!(client_id = %auth.client.client_id, "access token revoked");
        }
        Ok(())
    })
    .await?;
    Ok(no_store(HttpResponse::Ok()).finish())
}

/// The public keys of the server's token signer (`jwks_uri`).
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .json(state.tokens.public_keys())
}
