//! Client authentication at the token, introspection and revocation endpoints:
//! - UDAP JWT client authentication with an x5c-signed assertion and `udap=1` (UDAP-31..35);
//! - SMART asymmetric `private_key_jwt` with a registered JWK Set or JWKS URL (SMART-49);
//! - `client_secret_basic` (SMART-48), compared in constant time against a stored hash;
//! - public clients (`client_id` only, SMART-47), for the authorization-code grant only.
//!
//! The assertion's `(iss, jti)` is recorded as soon as the client is authenticated, before the
//! grant is checked: a replayed assertion stays burned even if the rest of the request fails
//! (design habit 9).

use std::sync::Arc;

use base64::Engine;
use serde_json::{Map, Value};

use crate::community::{Community, CommunitySet};
pub use crate::jose::CLOCK_SKEW;
use crate::jose::{self, check_time, AlgPolicy, JoseError, RegisteredClaims, TimeRules};
use crate::store::{ClientOrigin, ClientRecord, ClientStatus, Store};

use super::error::{ErrorCode, OAuthError, Reason};
use super::jwks_cache::JwksCache;
use super::udap_jwt::{self, UdapJwtError};
use super::urls::same_url;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// UDAP-28 / SMART-49: authentication JWTs live at most five minutes.
pub const MAX_ASSERTION_LIFETIME: i64 = 300;

/// How the client proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Udap,
    PrivateKeyJwt,
    ClientSecretBasic,
    None,
}

/// An authenticated client and what its assertion carried.
pub struct AuthenticatedClient {
    pub client: ClientRecord,
    pub method: AuthMethod,
    /// The client's community (UDAP clients).
    pub community: Option<Arc<Community>>,
    /// Claims of the authentication JWT (for `extensions`, UDAP-28).
    pub assertion_claims: Option<Map<String, Value>>,
}

/// The credentials a request carried, as parsed by the HTTP layer.
#[derive(Debug, Default, Clone)]
pub struct Credentials {
    pub client_id: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
    pub udap: Option<String>,
    /// `(client_id, client_secret)` from an `Authorization: Basic` header (RFC 6749 §2.3.1).
    pub basic: Option<(String, String)>,
    /// The `Authorization` header was present but was not a well-formed Basic credential.
    pub malformed_basic: bool,
}

/// What authentication needs from the server.
pub struct AuthContext<'a> {
    /// A snapshot of the communities served (`community::LiveCommunities::current`).
    pub communities: std::sync::Arc<CommunitySet>,
    pub policy: &'a AlgPolicy,
    pub store: &'a Store,
    pub jwks: &'a JwksCache,
    /// The token endpoint URL: `aud` of assertions (UDAP-28, SMART-49).
    pub token_endpoint: &'a str,
    /// This server's issuer identifier, also accepted as `aud` for SMART clients (openid-client's default).
    pub issuer: &'a str,
}

fn invalid_client(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, description)
}

fn invalid_request(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequest, description)
}

/// Basic authentication failures answer 401 with a challenge (RFC 6749 §5.2).
fn basic_failure(description: &str) -> OAuthError {
    let mut e = invalid_client(description).with_status(401);
    e.www_authenticate = Some("Basic realm=\"udap-server\", charset=\"UTF-8\"");
    e
}

/// UDAP-5 / SMART-49: the `(iss, jti)` an assertion burns, kept for as long as it could be
/// accepted (`exp` plus the skew `check_assertion_claims` allows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Burn {
    pub iss: String,
    pub jti: String,
    pub keep_until: i64,
}

/// A client authenticated up to its replay check (issue 11). The check is left to the caller so
/// the token endpoint can await the durable commit without holding a thread; `authenticate` does
/// all three steps in one call.
pub struct PendingAuth {
    auth: AuthenticatedClient,
    burn: Option<Burn>,
    /// A renewed UDAP certificate to record once the assertion is burned: base64 DER, not-after.
    renewal: Option<(String, i64)>,
}

impl PendingAuth {
    fn done(auth: AuthenticatedClient) -> Self {
        PendingAuth {
            auth,
            burn: None,
            renewal: None,
        }
    }

    /// The replay entry to record before `finish`, for assertion-based authentication.
    pub fn burn(&self) -> Option<&Burn> {
        self.burn.as_ref()
    }

    /// The client this request authenticated as (for the audit record of a refusal).
    pub fn client_id(&self) -> &str {
        &self.auth.client.client_id
    }

    /// Completes authentication after `burn` was recorded as fresh (see `replay_outcome`): a
    /// renewed certificate with the registered SAN is accepted and recorded (UDAP-33).
    pub fn finish(self, store: &Store, now: i64) -> Result<AuthenticatedClient, OAuthError> {
        let PendingAuth {
            mut auth, renewal, ..
        } = self;
        if let Some((leaf_b64, not_after)) = renewal {
            // Read and written in one transaction, changing only the certificate fields, so a
            // concurrent administrative change (disable, intended use) is not overwritten.
            let renewed = store.clients().modify(&auth.client.client_id, |c| {
                if c.certificate_der_b64.as_deref() == Some(leaf_b64.as_str()) {
                    return false;
                }
                c.certificate_der_b64 = Some(leaf_b64.clone());
                c.certificate_not_after = Some(not_after);
                c.updated_at = now;
                true
            })?;
            if let Some(r) = renewed {
                auth.client = r;
            }
            tracing::info!(client_id = %auth.client.client_id, "client certificate renewed");
        }
        Ok(auth)
    }
}

/// UDAP-5: the answer to a replay-store insert; `false` (already recorded) is a refused replay.
pub fn replay_outcome(fresh: bool) -> Result<(), OAuthError> {
    if fresh {
        Ok(())
    } else {
        Err(
            invalid_client("client_assertion has already been used (jti replay)")
                .with_reason(Reason::Replay),
        )
    }
}

/// Authenticates the client of a token request, replay check included.
pub fn authenticate(
    ctx: &AuthContext<'_>,
    creds: &Credentials,
    now: i64,
) -> Result<AuthenticatedClient, OAuthError> {
    let pending = authenticate_pending(ctx, creds, now)?;
    if let Some(b) = pending.burn() {
        replay_outcome(
            ctx.store
                .jti()
                .insert_if_absent(&b.iss, &b.jti, b.keep_until, now)?,
        )?;
    }
    pending.finish(ctx.store, now)
}

/// Authenticates the client of a token request up to the replay check (issue 11): the caller
/// records `burn()` (UDAP-5), maps it with `replay_outcome`, then calls `finish`.
pub fn authenticate_pending(
    ctx: &AuthContext<'_>,
    creds: &Credentials,
    now: i64,
) -> Result<PendingAuth, OAuthError> {
    if creds.malformed_basic {
        return Err(basic_failure(
            "the Authorization header is not a valid Basic credential",
        ));
    }
    let methods = [creds.basic.is_some(), creds.client_assertion.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if methods > 1 {
        return Err(invalid_request(
            "use exactly one client authentication method",
        ));
    }
    if let Some((id, secret)) = &creds.basic {
        return authenticate_secret(ctx, creds, id, secret).map(PendingAuth::done);
    }
    if let Some(assertion) = &creds.client_assertion {
        if creds.client_assertion_type.as_deref() != Some(JWT_BEARER) {
            return Err(invalid_request(format!(
                "client_assertion_type must be {JWT_BEARER}"
            )));
        }
        return authenticate_assertion(ctx, creds, assertion, now);
    }
    let Some(client_id) = &creds.client_id else {
        return Err(invalid_client("client authentication is required"));
    };
    let client = active_client(ctx.store, client_id)?;
    if client.metadata.token_endpoint_auth_method != "none" {
        return Err(invalid_client("this client must authenticate"));
    }
    Ok(PendingAuth::done(AuthenticatedClient {
        client,
        method: AuthMethod::None,
        community: None,
        assertion_claims: None,
    }))
}

fn active_client(store: &Store, client_id: &str) -> Result<ClientRecord, OAuthError> {
    let client = store
        .clients()
        .get(client_id)?
        .ok_or_else(|| invalid_client("unknown client"))?;
    match client.status {
        ClientStatus::Active => Ok(client),
        ClientStatus::Disabled => Err(invalid_client("this client is disabled")),
        ClientStatus::Cancelled => Err(invalid_client("this client's registration was cancelled")),
        ClientStatus::Pending => Err(invalid_client(
            "this client is awaiting an administrator's approval",
        )),
    }
}

/// SHA-256 of a client secret, hex; secrets are 256-bit random values, so a fast hash suffices.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(openssl::sha::sha256(secret.as_bytes()))
}

fn authenticate_secret(
    ctx: &AuthContext<'_>,
    creds: &Credentials,
    id: &str,
    secret: &str,
) -> Result<AuthenticatedClient, OAuthError> {
    if creds.client_id.as_deref().is_some_and(|c| c != id) {
        return Err(basic_failure(
            "client_id does not match the Authorization header",
        ));
    }
    let client = match active_client(ctx.store, id) {
        Ok(c) => c,
        Err(_) => {
            // Same work and answer as a wrong secret, so client ids cannot be probed by timing.
            let _ =
                subtle::ConstantTimeEq::ct_eq(hash_secret(secret).as_bytes(), [0u8; 64].as_slice());
            return Err(basic_failure("invalid client credentials"));
        }
    };
    let stored = client.secret_hash.as_deref().unwrap_or("");
    let given = hash_secret(secret);
    let equal: bool = subtle::ConstantTimeEq::ct_eq(given.as_bytes(), stored.as_bytes()).into();
    if !equal || client.metadata.token_endpoint_auth_method != "client_secret_basic" {
        return Err(basic_failure("invalid client credentials"));
    }
    Ok(AuthenticatedClient {
        client,
        method: AuthMethod::ClientSecretBasic,
        community: None,
        assertion_claims: None,
    })
}

fn authenticate_assertion(
    ctx: &AuthContext<'_>,
    creds: &Credentials,
    assertion: &str,
    now: i64,
) -> Result<PendingAuth, OAuthError> {
    // The issuer is read before verification only to find the client and its keys.
    let unverified = jose::parse_compact(assertion)
        .map_err(|e| invalid_request(format!("client_assertion: {e}")))?;
    let iss = unverified
        .unverified_claims()
        .get("iss")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_client("client_assertion: iss is required"))?
        .to_string();
    let client = active_client(ctx.store, &iss)?;
    // UDAP-33: a client_id form parameter, if present, must equal iss.
    if creds.client_id.as_deref().is_some_and(|c| c != iss) {
        return Err(invalid_client(
            "client_id does not match the assertion's iss",
        ));
    }
    match client.origin {
        ClientOrigin::UdapRegistration => authenticate_udap(ctx, creds, &unverified, client, now),
        ClientOrigin::Admin | ClientOrigin::SelfService => {
            authenticate_private_key_jwt(ctx, unverified, client, now)
        }
    }
}

/// UDAP-31..35.
fn authenticate_udap(
    ctx: &AuthContext<'_>,
    creds: &Credentials,
    assertion: &jose::UnverifiedJws,
    client: ClientRecord,
    now: i64,
) -> Result<PendingAuth, OAuthError> {
    // UDAP-34: a missing or wrong `udap=1` is invalid_request.
    if creds.udap.as_deref() != Some("1") {
        return Err(invalid_request(
            "udap=1 is required for UDAP client authentication",
        ));
    }
    let community = client
        .community
        .as_deref()
        .and_then(|uri| ctx.communities.get(uri))
        .cloned()
        .ok_or_else(|| invalid_client("the client's trust community is no longer configured"))?;
    // UDAP-35: invalid signature → invalid_request; trust failure → invalid_client.
    let verified = udap_jwt::verify_in_community(assertion, ctx.policy, &community, now).map_err(
        |e| match e {
            UdapJwtError::Untrusted(c) => OAuthError::from_chain_error(
                ErrorCode::InvalidClient,
                "client certificate not trusted",
                &c,
            ),
            UdapJwtError::Signature(_) => invalid_request("client_assertion signature is invalid"),
            UdapJwtError::Malformed(j) => invalid_request(format!("client_assertion: {j}")),
        },
    )?;
    // UDAP-33: the registration is bound to a SAN URI of this certificate.
    let san = client.san_uri.clone().unwrap_or_default();
    if !verified.chain.san_uris.contains(&san) {
        return Err(invalid_client(
            "the certificate does not carry the SAN URI this client registered with",
        ));
    }
    check_assertion_claims(
        &verified.registered,
        &client.client_id,
        &[ctx.token_endpoint],
        None,
        now,
    )?;
    let burn = burn_of(&verified.registered)?;
    // A renewed certificate with the registered SAN is recorded once the assertion is burned.
    let leaf_b64 = base64::engine::general_purpose::STANDARD.encode(&verified.chain.leaf_der);
    let renewal = (client.certificate_der_b64.as_deref() != Some(leaf_b64.as_str()))
        .then_some((leaf_b64, verified.chain.not_after));
    Ok(PendingAuth {
        auth: AuthenticatedClient {
            client,
            method: AuthMethod::Udap,
            community: Some(community),
            assertion_claims: Some(verified.claims),
        },
        burn: Some(burn),
        renewal,
    })
}

/// SMART-49: key from the registered JWKS (inline or URL), single `kid` + `kty` match.
fn authenticate_private_key_jwt(
    ctx: &AuthContext<'_>,
    jws: jose::UnverifiedJws,
    client: ClientRecord,
    now: i64,
) -> Result<PendingAuth, OAuthError> {
    if client.metadata.token_endpoint_auth_method != "private_key_jwt" {
        return Err(invalid_client(
            "this client is not registered for private_key_jwt",
        ));
    }
    let header = jws.header();
    let kid = header
        .kid
        .clone()
        .ok_or_else(|| invalid_client("client_assertion: kid header is required"))?;
    if let Some(jku) = &header.jku {
        if client.jwks_uri.as_deref() != Some(jku.as_str()) {
            return Err(invalid_client(
                "client_assertion: jku is not the registered JWKS URL",
            ));
        }
    }
    // Issue 8 item 4: everything that needs no key is checked before the JWKS can be fetched, so
    // a junk assertion never causes an outbound request. The claims are checked again once verified.
    precheck_private_key_jwt(ctx, &jws, &client.client_id, now)?;
    let fetched;
    let keys = match (&client.jwks, &client.jwks_uri) {
        (Some(inline), _) => inline,
        (None, Some(uri)) => {
            fetched = ctx.jwks.get(uri, now).map_err(|e| {
                // The URL and the fetch error are for the operator; the client gets a fixed text.
                // A URL that is backing off was logged when it failed: not again per request.
                if matches!(e, crate::fetch::FetchError::Backoff { .. }) {
                    tracing::debug!(client_id = ?client.client_id, error = ?e, "the client's JWK Set is backing off");
                } else {
                    tracing::warn!(client_id = ?client.client_id, error = ?e, "the client's JWK Set could not be obtained");
                }
                invalid_client("the client's JWK Set could not be obtained")
            })?;
            fetched.as_ref()
        }
        (None, None) => return Err(invalid_client("this client has no registered keys")),
    };
    let key = select_key(keys, &kid, &header.alg)?;
    let claims = jws
        .verify(&key, ctx.policy)
        .map_err(|e| invalid_client(format!("client_assertion: {e}")))?;
    let reg = RegisteredClaims::from_claims(claims)
        .map_err(|e| invalid_client(format!("client_assertion: {e}")))?;
    check_assertion_claims(
        &reg,
        &client.client_id,
        &[ctx.token_endpoint, ctx.issuer],
        Some(MAX_ASSERTION_LIFETIME),
        now,
    )?;
    let burn = burn_of(&reg)?;
    let claims = claims.clone();
    Ok(PendingAuth {
        auth: AuthenticatedClient {
            client,
            method: AuthMethod::PrivateKeyJwt,
            community: None,
            assertion_claims: Some(claims),
        },
        burn: Some(burn),
        renewal: None,
    })
}

/// SMART-49 checks that need no key, on the unverified assertion: the algorithm is allowed and
/// the claims (iss = sub = client_id, aud, exp/iat, jti) would pass. The `kid` and `jku` header
/// rules are checked by the caller before this.
fn precheck_private_key_jwt(
    ctx: &AuthContext<'_>,
    jws: &jose::UnverifiedJws,
    client_id: &str,
    now: i64,
) -> Result<(), OAuthError> {
    ctx.policy
        .check(&jws.header().alg)
        .map_err(|e| invalid_client(format!("client_assertion: {e}")))?;
    let reg = RegisteredClaims::from_claims(jws.unverified_claims())
        .map_err(|e| invalid_client(format!("client_assertion: {e}")))?;
    check_assertion_claims(
        &reg,
        client_id,
        &[ctx.token_endpoint, ctx.issuer],
        Some(MAX_ASSERTION_LIFETIME),
        now,
    )
}

/// SMART-49 (3): exactly one key whose `kid` matches and whose `kty` fits `alg`.
fn select_key(jwks: &Value, kid: &str, alg: &str) -> Result<jose::VerifyingKey, OAuthError> {
    let kty = if alg.starts_with("RS") || alg.starts_with("PS") {
        "RSA"
    } else if alg.starts_with("ES") {
        "EC"
    } else {
        ""
    };
    let candidates: Vec<&Value> = jwks
        .get("keys")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter(|k| {
                    k.get("kid").and_then(Value::as_str) == Some(kid)
                        && k.get("kty").and_then(Value::as_str) == Some(kty)
                })
                .collect()
        })
        .unwrap_or_default();
    match candidates.as_slice() {
        [one] => jose::VerifyingKey::from_jwk(one)
            .map_err(|e| invalid_client(format!("registered key {kid}: {e}"))),
        [] => Err(invalid_client(format!(
            "no registered key with kid {kid} fits {alg}"
        ))),
        _ => Err(invalid_client(format!(
            "more than one registered key has kid {kid}"
        ))),
    }
}

/// UDAP-28/33 and SMART-49: iss = sub = client_id, aud names us, unexpired, short-lived, jti present.
fn check_assertion_claims(
    reg: &RegisteredClaims,
    client_id: &str,
    audiences: &[&str],
    max_exp_ahead: Option<i64>,
    now: i64,
) -> Result<(), OAuthError> {
    if reg.iss.as_deref() != Some(client_id) || reg.sub.as_deref() != Some(client_id) {
        return Err(invalid_client(
            "client_assertion: iss and sub must both be the client_id",
        ));
    }
    if !reg
        .aud
        .iter()
        .any(|a| audiences.iter().any(|want| same_url(a, want)))
    {
        return Err(invalid_client(
            "client_assertion: aud must be the token endpoint URL",
        ));
    }
    let udap = max_exp_ahead.is_none();
    let rules = TimeRules {
        now,
        skew: CLOCK_SKEW,
        // UDAP: exp - iat <= 300 with iat required; SMART: iat optional, exp at most 5 minutes ahead.
        max_lifetime: udap.then_some(MAX_ASSERTION_LIFETIME),
        max_exp_ahead,
        require_iat: udap,
    };
    check_time(reg, &rules)
        .map_err(|e: JoseError| invalid_client(format!("client_assertion: {e}")))?;
    if reg.jti.as_deref().is_none_or(str::is_empty) {
        return Err(invalid_client("client_assertion: jti is required"));
    }
    Ok(())
}

/// UDAP-5 / SMART-49: the `(iss, jti)` to record for as long as the assertion could be accepted
/// (`exp` plus the skew `check_assertion_claims` allows); a second use is refused.
fn burn_of(reg: &RegisteredClaims) -> Result<Burn, OAuthError> {
    let (Some(iss), Some(jti), Some(exp)) = (reg.iss.as_deref(), reg.jti.as_deref(), reg.exp)
    else {
        return Err(invalid_client(
            "client_assertion: iss, jti and exp are required",
        ));
    };
    Ok(Burn {
        iss: iss.to_owned(),
        jti: jti.to_owned(),
        keep_until: exp.saturating_add(CLOCK_SKEW),
    })
}
