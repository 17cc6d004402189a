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
    /// The user grant behind the token (authorization code / refresh), for revocation (HTI1-4).
    pub grant_id: Option<String>,
    pub patient: Option<String>,
    pub encounter: Option<String>,
    pub fhir_user: Option<String>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<String>,
    #[serde(rename = "fhirUser", default, skip_serializing_if = "Option::is_none")]
    pub fhir_user: Option<String>,
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

/// Signs access tokens and id_tokens, and checks the access tokens we signed.
pub struct TokenIssuer {
    signer: Signer,
    /// id_tokens are always RS256 (SMART-28), whatever signs access tokens.
    id_signer: Signer,
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
    pub fn new(
        signer: Signer,
        id_signer: Signer,
        issuer: &str,
        audience: &str,
        lifetime: i64,
    ) -> Result<Self, JoseError> {
        let verifier = VerifyingKey::from_jwk(&signer.public_jwk())?;
        let policy = AlgPolicy::from_names(&[format!("{:?}", signer.alg())])?;
        Ok(TokenIssuer {
            signer,
            id_signer,
            verifier,
            policy,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            lifetime,
        })
    }

    /// Every key that signs something we issue, for `jwks_uri`.
    pub fn public_keys(&self) -> Value {
        if self.signer.kid() == self.id_signer.kid() {
            jose::jwks(&[&self.signer])
        } else {
            jose::jwks(&[&self.signer, &self.id_signer])
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// An OpenID Connect id_token (SMART-27..29): RS256, `aud` = client_id, `nonce` echoed,
    /// `fhirUser` as an absolute URL.
    pub fn id_token(
        &self,
        client_id: &str,
        subject: &str,
        fhir_user: Option<&str>,
        nonce: Option<&str>,
        now: i64,
    ) -> Result<String, JoseError> {
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("sub".into(), json!(subject));
        claims.insert("aud".into(), json!(client_id));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + self.lifetime));
        if let Some(n) = nonce {
            claims.insert("nonce".into(), json!(n));
        }
        if let Some(f) = fhir_user {
            claims.insert(
                "fhirUser".into(),
                json!(format!("{}/{}", self.audience.trim_end_matches('/'), f)),
            );
        }
        self.id_signer.sign(
            &claims,
            SignOptions {
                include_x5c: false,
                typ: Some("JWT"),
            },
        )
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
            grant_id: grant.grant_id.clone(),
            patient: grant.patient.clone(),
            encounter: grant.encounter.clone(),
            fhir_user: grant.fhir_user.clone(),
        };
        let token = self.signer.sign(
            &claims,
            SignOptions {
                include_x5c: false,
                typ: Some("at+jwt"),
            },
        )?;
        Ok((token, claims))
    }

    /// Verifies a token we issued: signature, issuer, expiry. Revocation is checked separately.
    pub fn verify(&self, token: &str, now: i64) -> Option<AccessTokenClaims> {
        let jws = jose::parse_compact(token).ok()?;
        let claims = jws.verify(&self.verifier, &self.policy).ok()?;
        let claims: AccessTokenClaims =
            serde_json::from_value(Value::Object(claims.clone())).ok()?;
        (claims.iss == self.issuer && claims.exp > now).then_some(claims)
    }

    /// RFC 7662 / SMART-58..63: active tokens get their claims; anything else `{"active": false}`
    /// and nothing more. A token is inactive once revoked, expired, or when its client is no longer
    /// active (UDAP-21: a cancelled client's tokens stop working).
    pub fn introspect(&self, store: &Store, token: &str, now: i64) -> Result<Value, StoreError> {
        let inactive = json!({"active": false});
        let Some(claims) = self.verify(token, now) else {
            return Ok(inactive);
        };
        if store.revoked_tokens().is_revoked(&claims.jti)? {
            return Ok(inactive);
        }
        // HTI1-4: a revoked grant ends every token issued from it.
        if let Some(g) = &claims.grant_id {
            if store.authz().grant(g)?.is_none_or(|g| g.revoked) {
                return Ok(inactive);
            }
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
        // SMART-60: the grant's context.
        for (k, v) in [
            ("patient", claims.patient),
            ("encounter", claims.encounter),
            ("fhirUser", claims.fhir_user),
        ] {
            if let Some(v) = v {
                out.insert(k.into(), json!(v));
            }
        }
        Ok(Value::Object(out))
    }

    /// Introspection of a refresh token (by hash): active while unrotated, unexpired and its grant
    /// stands; with the grant's scope and context (SMART-60).
    pub fn introspect_refresh(
        &self,
        store: &Store,
        token: &str,
        now: i64,
    ) -> Result<Option<Value>, StoreError> {
        let Some(rec) = store.authz().refresh(token)? else {
            return Ok(None);
        };
        let inactive = Some(json!({"active": false}));
        if rec.rotated || rec.expires_at <= now {
            return Ok(inactive);
        }
        let Some(grant) = store.authz().grant(&rec.grant_id)?.filter(|g| !g.revoked) else {
            return Ok(inactive);
        };
        let mut out = json!({
            "active": true, "token_type": "refresh_token", "scope": rec.scope, "client_id": rec.client_id,
            "sub": grant.username, "iss": self.issuer, "exp": rec.expires_at,
        });
        if let Some(p) = &grant.context.patient {
            out["patient"] = json!(p);
        }
        if let Some(e) = &grant.context.encounter {
            out["encounter"] = json!(e);
        }
        if let Some(f) = &grant.fhir_user {
            out["fhirUser"] = json!(f);
        }
        Ok(Some(out))
    }

    /// RFC 7009: revokes a token issued to `client_id`. An access token or refresh token that
    /// belongs to a user grant ends the whole grant (HTI1-4). Unknown tokens, or tokens of another
    /// client, are ignored (the caller answers 200 either way, §2.2).
    pub fn revoke(
        &self,
        store: &Store,
        token: &str,
        client_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        if let Some(claims) = self.verify(token, now) {
            if claims.client_id != client_id {
                return Ok(false);
            }
            store.revoked_tokens().revoke(&claims.jti, claims.exp)?;
            if let Some(g) = &claims.grant_id {
                store.authz().revoke_grant(g)?;
            }
            return Ok(true);
        }
        match store.authz().refresh(token)? {
            Some(rec) if rec.client_id == client_id => store.authz().revoke_grant(&rec.grant_id),
            _ => Ok(false),
        }
    }
}
