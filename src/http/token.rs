//! `POST /token`, `POST /introspect`, `POST /revoke` and `GET /jwks`.
//!
//! Every token response, errors included, carries `Cache-Control: no-store` and `Pragma: no-cache`
//! (UDAP-35, SMART-23).

use actix_web::{web, HttpRequest, HttpResponse};

use crate::audit::{AuditEvent, ClientAgent};
use crate::oauth::client_auth;
use crate::oauth::grants::authorization_code::{self, CodeRequest};
use crate::oauth::grants::{client_credentials, refresh_token};
use crate::oauth::introspection;
use crate::oauth::{ErrorCode, OAuthError};

use super::body::{blocking, cpu, read_limited};
use super::form::{bearer, Form};
use super::metrics::Metrics;
use super::state::AppState;

fn no_store(mut res: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    res.insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"));
    res
}

pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let addr = req.peer_addr().map(|a| a.ip());
    let (result, client) = token_inner(state.clone(), req, payload).await;
    match &result {
        Ok(_) => Metrics::inc(&state.metrics.tokens_issued_total),
        Err(e) => {
            state.metrics.token_refused(e.reason);
            if e.reason == crate::oauth::Reason::Replay {
                Metrics::inc(&state.metrics.jti_replays_total);
            }
        }
    }
    // Issue 10 item 5: every token issued or refused (with the reason kind).
    let (result, audit) = match result {
        Ok(issued) => {
            let client_id = client.as_ref().map_or("", |c| c.client_id.as_str());
            let patient = issued.body.get("patient").and_then(|p| p.as_str());
            let audit = AuditEvent::token_issued(client_id, &issued.grant_type, patient);
            // SMART-25: browser-based (public) clients read the response cross-origin.
            let res = no_store(HttpResponse::Ok())
                .insert_header(("Access-Control-Allow-Origin", "*"))
                .json(issued.body);
            (Ok(res), audit)
        }
        Err(e) => {
            let audit = AuditEvent::token_refused(client.as_ref(), &e);
            (Err(e), audit)
        }
    };
    state.audit.record(audit.with_address(addr));
    result
}

/// A token response body and how it was obtained.
struct Issued {
    body: serde_json::Value,
    grant_type: String,
}

/// The outcome, and the client for the audit record: the one that authenticated, or the
/// registered client a refused request claimed to be.
type Answered = (Result<Issued, OAuthError>, Option<ClientAgent>);

async fn token_inner(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Answered {
    token_request(state, req, payload)
        .await
        .unwrap_or_else(|e| (Err(e), None))
}

async fn token_request(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<Answered, OAuthError> {
    let body = read_limited(payload).await?;
    let form = Form::parse(&req, &body)?;
    let grant_type = form
        .get("grant_type")
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, "grant_type is required"))?
        .to_string();
    if !["client_credentials", "authorization_code", "refresh_token"].contains(&grant_type.as_str())
    {
        return Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("grant_type {grant_type} is not supported"),
        ));
    }
    let creds = form.credentials(&req);
    let now = state.now();
    // Issue 11: the replay commit is awaited here, holding no thread: authenticate up to the
    // replay check, record the jti durably (UDAP-5), then finish and issue.
    // Authentication stays on the blocking pool: it may fetch a JWK Set or a CRL, and a slow
    // remote host must hold one thread, not one of the core-sized pool's few (which would stall
    // every token request). Signing runs on the core-sized pool on redb; PostgreSQL reads are
    // network round trips, so there the waiting stays on the blocking pool, as do the grants that
    // commit (codes, refresh tokens).
    let local = state.store.backend_name() == "redb";
    let st = state.clone();
    let pending = blocking(move || {
        Ok(
            match client_auth::authenticate_pending(&st.auth_context(), &creds, now) {
                Ok(p) => Ok(p),
                Err(e) => Err((e, crate::audit::claimed_client(&st.store, &creds))),
            },
        )
    })
    .await?;
    let pending = match pending {
        Ok(p) => p,
        Err((e, claimed)) => return Ok((Err(e), claimed)),
    };
    if let Some(b) = pending.burn() {
        let fresh = state
            .store
            .jti()
            .insert_if_absent_async(&b.iss, &b.jti, b.keep_until, now)
            .await;
        if let Err(e) = fresh
            .map_err(OAuthError::from)
            .and_then(client_auth::replay_outcome)
        {
            // The client that claimed the assertion, as `claimed_client` would name it.
            let claimed = ClientAgent {
                client_id: pending.client_id().to_owned(),
                authenticated: false,
            };
            return Ok((Err(e), Some(claimed)));
        }
    }
    let st = state.clone();
    let cpu_only = local && grant_type == "client_credentials";
    on_pool(cpu_only, move || {
        let claimed = ClientAgent {
            client_id: pending.client_id().to_owned(),
            authenticated: false,
        };
        let auth = match pending.finish(&st.store, now) {
            Ok(a) => a,
            Err(e) => return Ok((Err(e), Some(claimed))),
        };
        let client = Some(ClientAgent {
            authenticated: true,
            ..claimed
        });
        let result = match grant_type.as_str() {
            "authorization_code" => {
                let req = CodeRequest {
                    code: form.get("code"),
                    redirect_uri: form.get("redirect_uri"),
                    code_verifier: form.get("code_verifier"),
                };
                authorization_code::exchange(
                    &st.store,
                    &st.tokens,
                    &auth,
                    &req,
                    &st.grant_policy,
                    now,
                )
            }
            "refresh_token" => refresh_token::refresh(
                &st.store,
                &st.tokens,
                &auth,
                form.get("refresh_token"),
                form.get("scope"),
                &st.grant_policy,
                now,
            ),
            _ => client_credentials::issue(
                &st.tokens,
                &auth,
                form.get("scope"),
                &st.grant_policy,
                now,
            ),
        };
        Ok((result.map(|body| Issued { body, grant_type }), client))
    })
    .await
}

/// Runs `f` on the core-sized CPU pool when it only computes (and reads redb), else on the
/// blocking pool, which may grow a thread per waiting request.
async fn on_pool<T, F>(cpu_only: bool, f: F) -> Result<T, OAuthError>
where
    F: FnOnce() -> Result<T, OAuthError> + Send + 'static,
    T: Send + 'static,
{
    if cpu_only {
        cpu(f).await
    } else {
        blocking(f).await
    }
}

/// RFC 7662 / SMART-58..63; the caller policy is `oauth::introspection`.
pub async fn introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let body = read_limited(payload).await?;
    let form = Form::parse(&req, &body)?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, "token is required"))?
        .to_string();
    let creds = form.credentials(&req);
    let bearer_token = bearer(&req);
    let now = state.now();
    let st = state.clone();
    let body = blocking(move || {
        introspection::introspect_for_caller(
            &st.auth_context(),
            &st.tokens,
            &creds,
            bearer_token.as_deref(),
            &token,
            now,
        )
    })
    .await?;
    Ok(no_store(HttpResponse::Ok()).json(body))
}

/// RFC 7009: client-authenticated; 200 whether or not the token was known.
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let body = read_limited(payload).await?;
    let form = Form::parse(&req, &body)?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, "token is required"))?
        .to_string();
    let creds = form.credentials(&req);
    let now = state.now();
    let st = state.clone();
    blocking(move || {
        let auth = client_auth::authenticate(&st.auth_context(), &creds, now)?;
        if st
            .tokens
            .revoke(&st.store, &token, &auth.client.client_id, now)?
        {
            tracing::info!(client_id = %auth.client.client_id, "access token revoked");
            // Issue 10 item 5: the token, or the grant behind it.
            st.audit.record_opt(crate::audit::revocation_event(
                &st.tokens,
                &st.store,
                &token,
                &auth.client.client_id,
                now,
            ));
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
