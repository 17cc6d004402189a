//! Access tokens: JWTs signed by the server (UDAP-53, SMART-24), their introspection (RFC 7662,
//! SMART-58..63) and revocation (RFC 7009).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::jose::{self, AlgPolicy, JoseError, SignOptions, Signer, VerifyingKey};
use crate::store::{ClientStatus, Store, StoreError};

/// Scope that lets a resource server introspect any token (RFC 7662 §2.1 protected-resource auth).
pub const INTROSPECTION_SCOPE: &str = "udap-server/introspect";

/// What a grant decided; turned into a signed access token by `TokenIssuer::issue`.
#[derive(Debug, Clone, Default)]
pub struct Grant {
    pub client_id: String,
    /// `sub`: the user for user-facing grants, else the client.
    pub subject: String,
    pub scope: String,
    pub community: Option<String>,
    /// The validated `hl7-b2b` object (UDAP-29), carried so the resource server can enforce it.
    pub b2b: Option<Value>,
}

/// Claims of our access tokens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community: Option<String>,
    #[serde(rename = "hl7-b2b", default, skip_serializing_if = "Option::is_none")]
    pub b2b: Option<Value>,
}

/// The successful token response body (RFC 6749 §5.1, UDAP-35, SMART-22).
pub fn token_response(access_token: &str, claims: &AccessTokenClaims) -> Value {
    json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": claims.exp - claims.iat,
        "scope": claims.scope,
    })
}

/// Signs access tokens and checks the ones we signed.
pub struct TokenIssuer {
    signer: Signer,
    verifier: VerifyingKey,
    policy: AlgPolicy,
    /// `iss`: this server's base URL.
    issuer: String,
    /// `aud`: the FHIR base the tokens are for.
    audience: String,
    /// Seconds; never over 3600 (UDAP-53, enforced by config).
    lifetime: i64,
}

impl TokenIssuer {
    pub fn new(signer: Signer, issuer: &str, audience: &str, lifetime: i64) -> Result<Self, JoseError> {
        let verifier = VerifyingKey::from_jwk(&signer.public_jwk())?;
        let policy = AlgPolicy::from_names(&[format!("{:?}", signer.alg())])?;
        Ok(TokenIssuer { signer, verifier, policy, issuer: issuer.to_string(), audience: audience.to_string(), lifetime })
    }

    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Signs an access token for `grant`.
    pub fn issue(&self, grant: &Grant, now: i64) -> Result<(String, AccessTokenClaims), JoseError> {
        let claims = AccessTokenClaims {
            iss: self.issuer.clone(),
            sub: grant.subject.clone(),
            aud: self.audience.clone(),
            client_id: grant.client_id.clone(),
            scope: grant.scope.clone(),
            iat: now,
            exp: now + self.lifetime,
            jti: super::random_token(16),
            community: grant.community.clone(),
            b2b: grant.b2b.clone(),
        };
        let token = self.signer.sign(&claims, SignOptions { include_x5c: false, typ: Some("at+jwt") })?;
        Ok((token, claims))
    }

    /// Verifies a token we issued: signature, issuer, expiry. Revocation is checked separately.
    pub fn verify(&self, token: &str, now: i64) -> Option<AccessTokenClaims> {
        let jws = jose::parse_compact(token).ok()?;
        let claims = jws.verify(&self.verifier, &self.policy).ok()?;
        let claims: AccessTokenClaims = serde_json::from_value(Value::Object(claims.clone())).ok()?;
        (claims.iss == self.issuer && claims.exp > now).then_some(claims)
    }

    /// RFC 7662 / SMART-58..63: active tokens get their claims; anything else `{"active": false}`
    /// and nothing more. A token is inactive once revoked, expired, or when its client is no longer
    /// active (UDAP-21: a cancelled client's tokens stop working).
    pub fn introspect(&self, store: &Store, token: &str, now: i64) -> Result<Value, StoreError> {
        let inactive = json!({"active": false});
        let Some(claims) = self.verify(token, now) else { return Ok(inactive) };
        if store.revoked_tokens().is_revoked(&claims.jti)? {
            return Ok(inactive);
        }
        match store.clients().get(&claims.client_id)? {
            Some(c) if c.status == ClientStatus::Active => {}
            _ => return Ok(inactive),
        }
        let mut out = Map::new();
        out.insert("active".into(), json!(true));
        out.insert("token_type".into(), json!("Bearer"));
        for (k, v) in [
            ("scope", json!(claims.scope)),
            ("client_id", json!(claims.client_id)),
            ("sub", json!(claims.sub)),
            ("iss", json!(claims.iss)),
            ("aud", json!(claims.aud)),
            ("exp", json!(claims.exp)),
            ("iat", json!(claims.iat)),
            ("jti", json!(claims.jti)),
        ] {
            out.insert(k.into(), v);
        }
        if let Some(b2b) = claims.b2b {
            out.insert("hl7-b2b".into(), b2b);
        }
        if let Some(c) = claims.community {
            out.insert("community".into(), json!(c));
        }
        Ok(Value::Object(out))
    }

    /// RFC 7009: revokes a token issued to `client_id`. Unknown tokens, or tokens of another
    /// client, are ignored (the caller answers 200 either way, §2.2).
    pub fn revoke(&self, store: &Store, token: &str, client_id: &str, now: i64) -> Result<bool, StoreError> {
        match self.verify(token, now) {
            Some(claims) if claims.client_id == client_id => {
                store.revoked_tokens().revoke(&claims.jti, claims.exp)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
