//! Access tokens: JWTs signed by the server (UDAP-53, SMART-24), their introspection (RFC 7662,
//! SMART-58..63) and revocation (RFC 7009).

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::jose::{self, AlgPolicy, JoseError, SignOptions, Signer, VerifyingKey};
use crate::kek::Kek;
use crate::server_keys::KeyPoller;
use crate::store::{ClientStatus, KeyEntry, KeyPurpose, Store, StoreError};

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

/// An access key that verifies: its `kid` and the one algorithm it signs with (issue 10 item 4).
struct AccessVerifier {
    kid: String,
    key: VerifyingKey,
    policy: AlgPolicy,
}

/// The signing keys in use at one moment (issue 10 item 4), replaced whole when the key ring in
/// the store changes: the active access and id_token keys sign; previous access keys still verify
/// the tokens they signed; active and previous keys of both purposes are published.
pub struct KeySet {
    access: Signer,
    /// id_tokens are always RS256 (SMART-28), whatever signs access tokens.
    id_token: Signer,
    /// Active and previous access keys, selected by the JWS `kid`.
    verifiers: Vec<AccessVerifier>,
    /// `/jwks`, built once per set.
    jwks: Value,
    /// The ring entries this set was built from (empty for a set built from signers alone), so a
    /// reload can tell whether anything changed.
    entries: Vec<KeyEntry>,
}

impl KeySet {
    /// `access` and `id_token` sign; `previous` are keys that stopped signing but are not retired:
    /// published, and the access ones verify. `entries` is the ring they came from.
    pub fn new(
        access: Signer,
        id_token: Signer,
        previous: Vec<(KeyPurpose, Signer)>,
        entries: Vec<KeyEntry>,
    ) -> Result<Self, JoseError> {
        let verifier = |s: &Signer| -> Result<AccessVerifier, JoseError> {
            Ok(AccessVerifier {
                kid: s.kid().to_string(),
                key: VerifyingKey::from_jwk(&s.public_jwk())?,
                policy: AlgPolicy::from_names(&[format!("{:?}", s.alg())])?,
            })
        };
        let mut verifiers = vec![verifier(&access)?];
        for (purpose, s) in &previous {
            if *purpose == KeyPurpose::Access && verifiers.iter().all(|v| v.kid != s.kid()) {
                verifiers.push(verifier(s)?);
            }
        }
        // One JWK per kid: a key adopted from before rotation can serve both purposes.
        let mut published: Vec<&Signer> = Vec::new();
        for s in [&access, &id_token]
            .into_iter()
            .chain(previous.iter().map(|(_, s)| s))
        {
            if published.iter().all(|p| p.kid() != s.kid()) {
                published.push(s);
            }
        }
        let jwks = jose::jwks(&published);
        Ok(KeySet {
            access,
            id_token,
            verifiers,
            jwks,
            entries,
        })
    }

    /// The ring entries this set was built from.
    pub fn entries(&self) -> &[KeyEntry] {
        &self.entries
    }

    /// The `kid` of the active key for `purpose`.
    pub fn active_kid(&self, purpose: KeyPurpose) -> &str {
        match purpose {
            KeyPurpose::Access => self.access.kid(),
            KeyPurpose::IdToken => self.id_token.kid(),
        }
    }
}

/// The key set being served, shared by the issuer and whatever reloads it (the key poller, an
/// admin command in the same process). Requests take a snapshot: one read lock and one `Arc`
/// clone, no allocation.
pub struct LiveKeys {
    current: RwLock<Arc<KeySet>>,
    /// Reloads run one at a time, so a slow reload of an older ring never replaces a newer one.
    reloading: Mutex<()>,
}

impl LiveKeys {
    fn new(keys: KeySet) -> Self {
        LiveKeys {
            current: RwLock::new(Arc::new(keys)),
            reloading: Mutex::new(()),
        }
    }

    /// The keys now in use.
    pub fn current(&self) -> Arc<KeySet> {
        self.current.read().clone()
    }

    /// Runs `load` on the current set, one reload at a time, and serves what it returns (`None`:
    /// unchanged). True if the set was replaced. On error the current set stays.
    pub fn reload_with<E>(
        &self,
        load: impl FnOnce(&KeySet) -> Result<Option<KeySet>, E>,
    ) -> Result<bool, E> {
        let _one_at_a_time = self.reloading.lock();
        match load(&self.current())? {
            Some(keys) => {
                *self.current.write() = Arc::new(keys);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// Signs access tokens and id_tokens, and checks the access tokens we signed.
///
/// Issue 10 item 4: rotation-aware. The keys live in `LiveKeys`, swapped whole by `reload`, so
/// handlers keep holding one `TokenIssuer` while keys change under it.
pub struct TokenIssuer {
    keys: Arc<LiveKeys>,
    /// `iss`: this server's base URL.
    issuer: String,
    /// `aud`: the FHIR base the tokens are for.
    audience: String,
    /// Seconds; never over 3600 (UDAP-53, enforced by config).
    lifetime: i64,
    /// Polls the store for key changes; dropped (and joined) with the issuer.
    key_poller: Option<KeyPoller>,
}

impl TokenIssuer {
    /// An issuer with fixed keys: `signer` for access tokens, `id_signer` for id_tokens.
    pub fn new(
        signer: Signer,
        id_signer: Signer,
        issuer: &str,
        audience: &str,
        lifetime: i64,
    ) -> Result<Self, JoseError> {
        let keys = KeySet::new(signer, id_signer, Vec::new(), Vec::new())?;
        Ok(Self::with_keys(keys, issuer, audience, lifetime))
    }

    /// An issuer serving `keys` (from the store's key ring, `server_keys::token_issuer`).
    pub fn with_keys(keys: KeySet, issuer: &str, audience: &str, lifetime: i64) -> Self {
        TokenIssuer {
            keys: Arc::new(LiveKeys::new(keys)),
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            lifetime,
            key_poller: None,
        }
    }

    /// The shared key set, for a poller that reloads it.
    pub fn live_keys(&self) -> Arc<LiveKeys> {
        Arc::clone(&self.keys)
    }

    /// Keeps `poller` running for as long as this issuer lives.
    pub fn with_key_poller(mut self, poller: KeyPoller) -> Self {
        self.key_poller = Some(poller);
        self
    }

    /// Issue 10 item 4: re-reads the key ring from `store` and serves it; true if it changed.
    /// Called right after an admin key change, and every few seconds by the key poller. On error
    /// (a key that does not open with `kek`, say) the keys in use stay.
    pub fn reload(&self, store: &Store, kek: Option<&Kek>, now: i64) -> anyhow::Result<bool> {
        crate::server_keys::reload(&self.keys, store, kek, now)
    }

    /// The `kid` of the active key for `purpose`.
    pub fn active_kid(&self, purpose: KeyPurpose) -> String {
        self.keys.current().active_kid(purpose).to_string()
    }

    /// Every key that signs something we issue or signed something still valid, for `jwks_uri`:
    /// active and previous keys of both purposes, never retired ones.
    pub fn public_keys(&self) -> Value {
        self.keys.current().jwks.clone()
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
        self.keys.current().id_token.sign(
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
        let token = self.keys.current().access.sign(
            &claims,
            SignOptions {
                include_x5c: false,
                typ: Some("at+jwt"),
            },
        )?;
        Ok((token, claims))
    }

    /// Verifies a token we issued: signature, issuer, expiry. Revocation is checked separately.
    ///
    /// Issue 10 item 4: the JWS `kid` selects the key among the active and previous access keys,
    /// and that key's algorithm is the only one accepted; a token without a `kid`, or with the
    /// `kid` of a retired or unknown key, does not verify.
    pub fn verify(&self, token: &str, now: i64) -> Option<AccessTokenClaims> {
        let jws = jose::parse_compact(token).ok()?;
        let kid = jws.header().kid.as_deref()?;
        let keys = self.keys.current();
        let v = keys.verifiers.iter().find(|v| v.kid == kid)?;
        let claims = jws.verify(&v.key, &v.policy).ok()?;
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
