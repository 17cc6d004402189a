//! SMART backend services (SMART-49..57) and client_secret_basic (SMART-48) at the token endpoint.

use serde_json::{json, Value};
use udap_server::jose::{Algorithm, Signer};
use udap_server::oauth::client_auth::hash_secret;
use udap_server::pki::ca::KeyKind;
use udap_server::store::ClientRecord;

use crate::common::smart::{assertion, backend_token, key, smart_client};
use crate::common::stub::StubServer;
use crate::common::{error_of, now, TestServer};

#[test]
fn backend_service_with_inline_jwks_gets_a_token_with_rs384_and_es384() {
    // SMART-49: RS384 and ES384 (and RS256/ES256) are accepted.
    let s = TestServer::start();
    let rs = Signer::from_pem(&key(KeyKind::Rsa2048), None)
        .unwrap()
        .with_alg(Algorithm::RS384)
        .unwrap();
    let ec = Signer::from_pem(&key(KeyKind::EcP384), None).unwrap();
    smart_client(
        &s,
        "backend",
        Some(json!({"keys": [rs.public_jwk(), ec.public_jwk()]})),
        None,
    );
    for signer in [&rs, &ec] {
        let res = backend_token(&s, &assertion(signer, "backend", &s.ep.token, json!({})));
        assert_eq!(res.status().as_u16(), 200, "{:?}", signer.alg());
        let b: Value = res.json().unwrap();
        assert_eq!(b["scope"], "system/Patient.rs system/Observation.rs");
        assert_eq!(b["token_type"], "Bearer");
    }
}

#[test]
fn backend_assertion_rules() {
    // SMART-49: each rule is invalid_client.
    let s = TestServer::start();
    let signer = Signer::from_pem(&key(KeyKind::EcP256), None).unwrap();
    smart_client(
        &s,
        "backend",
        Some(json!({"keys": [signer.public_jwk()]})),
        None,
    );
    let t = now();
    // Accepted variations: no iat; aud = the issuer (openid-client's default).
    assert_eq!(
        backend_token(
            &s,
            &assertion(&signer, "backend", &s.ep.token, json!({"iat": null}))
        )
        .status()
        .as_u16(),
        200
    );
    assert_eq!(
        backend_token(&s, &assertion(&signer, "backend", &s.base, json!({})))
            .status()
            .as_u16(),
        200
    );
    let rows: Vec<(&str, String)> = vec![
        (
            "exp more than 5 minutes ahead",
            assertion(&signer, "backend", &s.ep.token, json!({"exp": t + 600})),
        ),
        (
            "expired",
            assertion(&signer, "backend", &s.ep.token, json!({"exp": t - 120})),
        ),
        (
            "aud elsewhere",
            assertion(
                &signer,
                "backend",
                "https://elsewhere.example/token",
                json!({}),
            ),
        ),
        (
            "jti missing",
            assertion(&signer, "backend", &s.ep.token, json!({"jti": null})),
        ),
        (
            "sub differs",
            assertion(&signer, "backend", &s.ep.token, json!({"sub": "other"})),
        ),
    ];
    for (name, a) in rows {
        assert_eq!(
            error_of(backend_token(&s, &a)),
            (400, "invalid_client".into()),
            "{name}"
        );
    }
    // Replay.
    let a = assertion(&signer, "backend", &s.ep.token, json!({}));
    assert_eq!(backend_token(&s, &a).status().as_u16(), 200);
    assert_eq!(
        error_of(backend_token(&s, &a)),
        (400, "invalid_client".into())
    );
    // A key the client did not register (kid unknown).
    let stranger = Signer::from_pem(&key(KeyKind::EcP256), None).unwrap();
    assert_eq!(
        error_of(backend_token(
            &s,
            &assertion(&stranger, "backend", &s.ep.token, json!({}))
        )),
        (400, "invalid_client".into())
    );
}

#[test]
fn kid_and_kty_must_select_exactly_one_key_and_jku_must_be_registered() {
    // SMART-49 key resolution (3): a single kid + kty match.
    let s = TestServer::start();
    let pem = key(KeyKind::EcP256);
    let signer = Signer::from_pem(&pem, None).unwrap();
    let mut dup = signer.public_jwk();
    dup["x"] = json!("AAAA"); // same kid twice
    smart_client(
        &s,
        "dup",
        Some(json!({"keys": [signer.public_jwk(), dup]})),
        None,
    );
    assert_eq!(
        error_of(backend_token(
            &s,
            &assertion(&signer, "dup", &s.ep.token, json!({}))
        )),
        (400, "invalid_client".into())
    );
    // jku not equal to the registered JWKS URL.
    smart_client(
        &s,
        "jku",
        Some(json!({"keys": [signer.public_jwk()]})),
        None,
    );
    let t = now();
    let claims = json!({"iss": "jku", "sub": "jku", "aud": s.ep.token, "exp": t + 200, "iat": t, "jti": "j1"});
    let header =
        json!({"alg": "ES256", "kid": signer.kid(), "jku": "https://attacker.example/jwks"});
    let token = crate::common::sign_raw(&header, &claims, &pem);
    assert_eq!(
        error_of(backend_token(&s, &token)),
        (400, "invalid_client".into())
    );
}

#[test]
fn jwks_uri_is_fetched_and_cached_as_cache_control_allows() {
    // SMART-49: JWKS URL, cached no longer than Cache-Control allows.
    let s = TestServer::start();
    let signer = Signer::from_pem(&key(KeyKind::Rsa2048), None)
        .unwrap()
        .with_alg(Algorithm::RS384)
        .unwrap();
    let cached = StubServer::jwks(json!({"keys": [signer.public_jwk()]}), "max-age=300");
    let uncached = StubServer::jwks(json!({"keys": [signer.public_jwk()]}), "no-store");
    smart_client(&s, "cached", None, Some(cached.url("/jwks")));
    smart_client(&s, "uncached", None, Some(uncached.url("/jwks")));
    for _ in 0..3 {
        assert_eq!(
            backend_token(&s, &assertion(&signer, "cached", &s.ep.token, json!({})))
                .status()
                .as_u16(),
            200
        );
        assert_eq!(
            backend_token(&s, &assertion(&signer, "uncached", &s.ep.token, json!({})))
                .status()
                .as_u16(),
            200
        );
    }
    assert_eq!(cached.hits(), 1);
    assert_eq!(uncached.hits(), 3);
}

#[test]
fn client_secret_basic_succeeds_and_failures_are_401_with_a_challenge() {
    // SMART-48, seed 003: HTTP Basic, constant-time comparison, 401 invalid_client + WWW-Authenticate.
    let s = TestServer::start();
    let secret = udap_server::oauth::random_token(32);
    let mut client = ClientRecord::admin(
        "confidential",
        "Symmetric",
        "client_secret_basic",
        &["client_credentials"],
        "system/Patient.rs",
        now(),
    );
    client.secret_hash = Some(hash_secret(&secret));
    s.store.clients().put(&client).unwrap();
    let ok = s
        .http
        .post(&s.ep.token)
        .basic_auth("confidential", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.json::<Value>().unwrap()["scope"], "system/Patient.rs");
    for (id, pw) in [("confidential", "wrong"), ("nobody", secret.as_str())] {
        let res = s
            .http
            .post(&s.ep.token)
            .basic_auth(id, Some(pw))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .unwrap();
        assert!(res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .starts_with("basic"));
        assert_eq!(error_of(res), (401, "invalid_client".into()));
    }
    // The secret is stored only as a hash.
    let stored = s.store.clients().get("confidential").unwrap().unwrap();
    assert_ne!(stored.secret_hash.as_deref(), Some(secret.as_str()));
}
