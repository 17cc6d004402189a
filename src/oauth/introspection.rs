//! Who may introspect what (RFC 7662, SMART-58..63): the caller policy, out of the handler.
//!
//! A caller authenticates as a client (Basic or an assertion) or with a Bearer access token. A
//! caller authorized for `udap-server/introspect` (an administrator-registered confidential
//! client holding it, `admin_scopes::client_holds`) sees every token; any other client sees only
//! its own, and `{"active": false}` for the rest.

use serde_json::{json, Value};

use super::admin_scopes;
use super::client_auth::{self, AuthContext, Credentials};
use super::error::OAuthError;
use super::tokens::{TokenIssuer, INTROSPECTION_SCOPE};

/// Introspects `token` for the caller the credentials identify.
pub fn introspect_for_caller(
    ctx: &AuthContext<'_>,
    tokens: &TokenIssuer,
    creds: &Credentials,
    bearer: Option<&str>,
    token: &str,
    now: i64,
) -> Result<Value, OAuthError> {
    let (caller_id, may_see_all) = match bearer {
        // A Bearer caller must be authorized for introspection itself.
        Some(_) => (
            admin_scopes::authorize_admin_call(
                ctx,
                tokens,
                creds,
                bearer,
                INTROSPECTION_SCOPE,
                now,
            )?
            .client_id,
            true,
        ),
        None => {
            let client = client_auth::authenticate(ctx, creds, now)?.client;
            let all = admin_scopes::client_holds(&client, INTROSPECTION_SCOPE);
            (client.client_id, all)
        }
    };
    let mut result = tokens.introspect(ctx.store, token, now)?;
    if result["active"] != true {
        if let Some(r) = tokens.introspect_refresh(ctx.store, token, now)? {
            result = r;
        }
    }
    let own = result.get("client_id").and_then(Value::as_str) == Some(caller_id.as_str());
    Ok(if may_see_all || own {
        result
    } else {
        json!({"active": false})
    })
}
