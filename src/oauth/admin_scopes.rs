//! Administrative scopes (`udap-server/*`): introspecting every client's tokens and creating EHR
//! launches for any patient. Whoever holds one can read or act for any patient, so it is never
//! self-granted (issue 8 item 1):
//! - UDAP self-registration strips them from the registered scope (`strip_admin_scopes`);
//! - only administrator-registered confidential clients may hold them (`may_hold_admin_scopes`);
//!   `client add` refuses them for public clients;
//! - the browser flow never grants them to an app;
//! - calls that need one check the caller's *authorized* scope (`authorize_admin_call`): the
//!   client must hold it now, and a Bearer token must carry it and belong to such a client.

use crate::store::{ClientOrigin, ClientRecord, ClientStatus};

use super::client_auth::{self, AuthContext, Credentials};
use super::error::{ErrorCode, OAuthError};
use super::tokens::TokenIssuer;

/// Every scope under this prefix is administrative, including ones added later.
pub const ADMIN_SCOPE_PREFIX: &str = "udap-server/";

/// True for an administrative scope.
pub fn is_admin_scope(scope: &str) -> bool {
    scope.starts_with(ADMIN_SCOPE_PREFIX)
}

/// Splits a space-separated scope into what may be kept and the administrative scopes removed.
pub fn strip_admin_scopes(scope: &str) -> (String, Vec<String>) {
    let (admin, kept): (Vec<&str>, Vec<&str>) = scope
        .split_ascii_whitespace()
        .partition(|s| is_admin_scope(s));
    (
        kept.join(" "),
        admin.into_iter().map(String::from).collect(),
    )
}

/// Confidential authentication methods: a secret or a key. A public client (`none`) proves nothing
/// about who calls.
fn is_confidential(auth_method: &str) -> bool {
    matches!(auth_method, "client_secret_basic" | "private_key_jwt")
}

/// Whether a client registered this way may hold administrative scopes at all: registered by an
/// administrator, and confidential.
pub fn may_register_admin_scopes(origin: ClientOrigin, auth_method: &str) -> bool {
    origin == ClientOrigin::Admin && is_confidential(auth_method)
}

/// Whether `client` may hold administrative scopes now (also active).
pub fn may_hold_admin_scopes(client: &ClientRecord) -> bool {
    client.status == ClientStatus::Active
        && may_register_admin_scopes(client.origin, &client.metadata.token_endpoint_auth_method)
}

/// Whether `client` is authorized for the administrative `scope`: it may hold such scopes and has
/// this one registered. A scope string alone (say, left over in an old self-registration) is not
/// enough.
pub fn client_holds(client: &ClientRecord, scope: &str) -> bool {
    may_hold_admin_scopes(client)
        && client
            .metadata
            .scope
            .split_ascii_whitespace()
            .any(|s| s == scope)
}

/// Authenticates the caller of an administrative endpoint and checks it is authorized for `scope`:
/// either client authentication (Basic or an assertion) by a client that holds it, or a Bearer
/// access token that carries it, is not revoked, and was issued to a client that still holds it.
pub fn authorize_admin_call(
    ctx: &AuthContext<'_>,
    tokens: &TokenIssuer,
    creds: &Credentials,
    bearer: Option<&str>,
    scope: &str,
    now: i64,
) -> Result<ClientRecord, OAuthError> {
    let client = match bearer {
        Some(token) => {
            let invalid = || {
                let mut e = OAuthError::new(
                    ErrorCode::InvalidClient,
                    "the bearer token is not valid for this call",
                )
                .with_status(401);
                e.www_authenticate = Some("Bearer error=\"invalid_token\"");
                e
            };
            let claims = tokens.verify(token, now).ok_or_else(invalid)?;
            if !claims.scope.split_ascii_whitespace().any(|s| s == scope)
                || ctx.store.revoked_tokens().is_revoked(&claims.jti)?
            {
                return Err(invalid());
            }
            ctx.store
                .clients()
                .get(&claims.client_id)?
                .ok_or_else(invalid)?
        }
        None => client_auth::authenticate(ctx, creds, now)?.client,
    };
    if !client_holds(&client, scope) {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, format!("this call needs the {scope} scope, held only by administrator-registered confidential clients")));
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_admin_scopes_table() {
        let rows = [
            (
                "udap-server/launch udap-server/introspect system/*.rs",
                "system/*.rs",
                2,
            ),
            ("system/*.rs", "system/*.rs", 0),
            ("udap-server/anything-new", "", 1),
            (
                "openid  udap-server/launch   patient/*.rs",
                "openid patient/*.rs",
                1,
            ),
        ];
        for (input, kept, removed) in rows {
            let (k, r) = strip_admin_scopes(input);
            assert_eq!((k.as_str(), r.len()), (kept, removed), "{input}");
        }
    }

    #[test]
    fn only_active_admin_registered_confidential_clients_hold_admin_scopes() {
        let scope = "udap-server/launch";
        let admin =
            |auth: &str| ClientRecord::admin("c", "C", auth, &["client_credentials"], scope, 0);
        let rows: Vec<(&str, ClientRecord, bool)> = vec![
            ("secret", admin("client_secret_basic"), true),
            ("key", admin("private_key_jwt"), true),
            ("public", admin("none"), false),
            (
                "udap self-registered",
                ClientRecord {
                    origin: ClientOrigin::UdapRegistration,
                    ..admin("private_key_jwt")
                },
                false,
            ),
            (
                // Issue 12: a developer's own app never holds administrative power.
                "developer self-service",
                ClientRecord {
                    origin: ClientOrigin::SelfService,
                    developer: Some("dev@example.org".into()),
                    ..admin("client_secret_basic")
                },
                false,
            ),
            (
                "pending approval",
                ClientRecord {
                    status: ClientStatus::Pending,
                    ..admin("client_secret_basic")
                },
                false,
            ),
            (
                "disabled",
                ClientRecord {
                    status: ClientStatus::Disabled,
                    ..admin("client_secret_basic")
                },
                false,
            ),
            (
                "scope not registered",
                ClientRecord::admin(
                    "c",
                    "C",
                    "client_secret_basic",
                    &["client_credentials"],
                    "system/*.rs",
                    0,
                ),
                false,
            ),
        ];
        for (name, client, want) in rows {
            assert_eq!(client_holds(&client, scope), want, "{name}");
        }
    }
}
