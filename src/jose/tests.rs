//! End-to-end tests of the jose module: sign, parse, verify, attack tokens.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use serde_json::{json, Value};

use super::testutil::*;
use super::*;

fn signer(fx: &Fixture) -> Signer {
    Signer::from_pem(&fx.pkcs8_pem, Some(&fx.cert_pem)).unwrap()
}

fn claims() -> Value {
    json!({"iss": "https://client.example", "sub": "https://client.example", "aud": "https://as/token",
           "exp": 1_700_000_300, "iat": 1_700_000_000, "jti": "j-1"})
}

fn policy(names: &[&str]) -> AlgPolicy {
    AlgPolicy::from_names(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
}

/// Re-sign `header`/`payload` JSON with the fixture's key using openssl directly, so that tests
/// can put any `alg` in the header independently of the key.
fn openssl_sign(fx: &Fixture, header: &Value, payload: &Value, ecdsa_len: Option<i32>) -> String {
    let input = format!(
        "{}.{}",
        b64u(header.to_string().as_bytes()),
        b64u(payload.to_string().as_bytes())
    );
    let md = match ecdsa_len {
        Some(48) => MessageDigest::sha384(),
        _ => MessageDigest::sha256(),
    };
    let mut s = openssl::sign::Signer::new(md, &fx.pkey).unwrap();
    let der = s.sign_oneshot_to_vec(input.as_bytes()).unwrap();
    let sig = match ecdsa_len {
        None => der,
        Some(len) => {
            let sig = openssl::ecdsa::EcdsaSig::from_der(&der).unwrap();
            [
                sig.r().to_vec_padded(len).unwrap(),
                sig.s().to_vec_padded(len).unwrap(),
            ]
            .concat()
        }
    };
    format!("{input}.{}", b64u(&sig))
}

// UDAP-1, UDAP-2, UDAP-3: every allowed algorithm signs and verifies, with the key taken from
// the certificate, from the x5c leaf, and from the published JWK.
#[test]
fn round_trip_every_allowed_alg() {
    let cases: [(&Fixture, Algorithm, &str); 4] = [
        (&RSA2048, Algorithm::RS256, "RS256"),
        (&RSA2048, Algorithm::RS384, "RS384"),
        (&P256, Algorithm::ES256, "ES256"),
        (&P384, Algorithm::ES384, "ES384"),
    ];
    let policy = AlgPolicy::default();
    for (fx, alg, name) in cases {
        for key_pem in [&fx.pkcs8_pem, &fx.traditional_pem] {
            let s = Signer::from_pem(key_pem, Some(&fx.cert_pem))
                .unwrap()
                .with_alg(alg)
                .unwrap();
            assert_eq!(s.alg(), alg);
            let token = s
                .sign(
                    &claims(),
                    SignOptions {
                        include_x5c: true,
                        typ: Some("JWT"),
                    },
                )
                .unwrap();
            let jws = parse_compact(&token).unwrap();
            let h = jws.header();
            assert_eq!(
                (h.alg.as_str(), h.kid.as_deref(), h.typ.as_deref()),
                (name, Some(s.kid()), Some("JWT"))
            );
            let chain = jws.x5c_der().unwrap();
            assert_eq!(chain, vec![fx.cert_der.clone()], "{name}");

            let from_cert = VerifyingKey::from_certificate_der(&fx.cert_der).unwrap();
            let from_x5c = VerifyingKey::from_certificate_der(&chain[0]).unwrap();
            let jwk = s.public_jwk();
            assert_eq!(jwk["alg"], name);
            assert_eq!(jwk["use"], "sig");
            let from_jwk = VerifyingKey::from_jwk(&jwk).unwrap();
            assert_eq!(from_jwk.kid(), Some(s.kid()));
            for key in [&from_cert, &from_x5c, &from_jwk] {
                assert_eq!(
                    jws.verify(key, &policy).unwrap(),
                    claims().as_object().unwrap(),
                    "{name}"
                );
            }
        }
    }
}

// UDAP-3: without include_x5c the header carries only alg and kid (and typ if asked).
#[test]
fn header_without_x5c_always_has_kid() {
    let s = signer(&P256);
    let token = s.sign(&claims(), SignOptions::default()).unwrap();
    let jws = parse_compact(&token).unwrap();
    assert_eq!(jws.header().raw().len(), 2);
    assert_eq!(jws.header().kid.as_deref(), Some(s.kid()));
    assert_eq!(jws.x5c_der(), Err(JoseError::MissingX5c));
    let bare = Signer::from_pem(&P256.pkcs8_pem, None).unwrap();
    let e = bare
        .sign(
            &claims(),
            SignOptions {
                include_x5c: true,
                typ: None,
            },
        )
        .unwrap_err();
    assert!(matches!(e, JoseError::Sign(_)), "{e:?}");
}

// UDAP-2: forbidden and unlisted algorithms are refused before any key use.
#[test]
fn algorithm_attacks() {
    let rsa_key = VerifyingKey::from_certificate_der(&RSA2048.cert_der).unwrap();
    let p256_key = VerifyingKey::from_certificate_der(&P256.cert_der).unwrap();
    let p384_key = VerifyingKey::from_certificate_der(&P384.cert_der).unwrap();
    let all = AlgPolicy::default();
    let payload = claims().to_string();

    // HS256 MACed with the public key PEM as the secret: the classic key-confusion attack.
    let public_pem = RSA2048.pkey.public_key_to_pem().unwrap();
    let mac_input = format!(
        "{}.{}",
        b64u(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64u(payload.as_bytes())
    );
    let mac_key = PKey::hmac(&public_pem).unwrap();
    let mut mac = openssl::sign::Signer::new(MessageDigest::sha256(), &mac_key).unwrap();
    let hs256 = format!(
        "{mac_input}.{}",
        b64u(&mac.sign_oneshot_to_vec(mac_input.as_bytes()).unwrap())
    );

    let rs256_by_rsa = openssl_sign(&RSA2048, &json!({"alg": "RS256"}), &claims(), None);
    let es256_by_p256 = signer(&P256)
        .sign(&claims(), SignOptions::default())
        .unwrap();
    let es256_by_p384 = openssl_sign(&P384, &json!({"alg": "ES256"}), &claims(), Some(48));

    let cases: Vec<(&str, String, &VerifyingKey, AlgPolicy, JoseError)> = vec![
        (
            "none, empty sig",
            compact(r#"{"alg":"none"}"#, &payload, b""),
            &rsa_key,
            all,
            JoseError::AlgNone,
        ),
        (
            "None, with sig",
            compact(r#"{"alg":"None"}"#, &payload, b"sig"),
            &rsa_key,
            all,
            JoseError::AlgNone,
        ),
        (
            "HS256 with public key",
            hs256,
            &rsa_key,
            all,
            JoseError::HmacForbidden {
                alg: "HS256".into(),
            },
        ),
        (
            "HS512",
            compact(r#"{"alg":"HS512"}"#, &payload, b"x"),
            &rsa_key,
            all,
            JoseError::HmacForbidden {
                alg: "HS512".into(),
            },
        ),
        (
            "PS256",
            compact(r#"{"alg":"PS256"}"#, &payload, b"x"),
            &rsa_key,
            all,
            JoseError::AlgNotAllowed {
                alg: "PS256".into(),
            },
        ),
        (
            "EdDSA",
            compact(r#"{"alg":"EdDSA"}"#, &payload, b"x"),
            &rsa_key,
            all,
            JoseError::AlgNotAllowed {
                alg: "EdDSA".into(),
            },
        ),
        (
            "narrowed policy",
            es256_by_p256.clone(),
            &p256_key,
            policy(&["RS256"]),
            JoseError::AlgNotAllowed {
                alg: "ES256".into(),
            },
        ),
        // UDAP-52: alg/key fit.
        (
            "RS256 on EC key",
            rs256_by_rsa,
            &p256_key,
            all,
            JoseError::AlgKeyMismatch {
                alg: "RS256",
                key: KeyKind::Ec(Curve::P256),
            },
        ),
        (
            "ES256 on RSA key",
            es256_by_p256.clone(),
            &rsa_key,
            all,
            JoseError::AlgKeyMismatch {
                alg: "ES256",
                key: KeyKind::Rsa { bits: 2048 },
            },
        ),
        (
            "ES256 on P-384 key",
            es256_by_p384,
            &p384_key,
            all,
            JoseError::AlgKeyMismatch {
                alg: "ES256",
                key: KeyKind::Ec(Curve::P384),
            },
        ),
    ];
    for (name, token, key, policy, want) in cases {
        let jws = parse_compact(&token).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(jws.verify(key, &policy), Err(want), "{name}");
    }
}

// UDAP-52, RFC 7517 §4.4: a JWK that pins an alg accepts only that alg.
#[test]
fn jwk_pinned_alg_is_enforced() {
    let s = signer(&RSA2048);
    let mut jwk = s.public_jwk();
    jwk["alg"] = json!("RS256");
    let key = VerifyingKey::from_jwk(&jwk).unwrap();
    let rs384 = Signer::from_pem(&RSA2048.pkcs8_pem, None)
        .unwrap()
        .with_alg(Algorithm::RS384)
        .unwrap();
    let token = rs384.sign(&claims(), SignOptions::default()).unwrap();
    let jws = parse_compact(&token).unwrap();
    let got = jws.verify(&key, &AlgPolicy::default());
    assert_eq!(
        got,
        Err(JoseError::AlgKeyMismatch {
            alg: "RS384",
            key: KeyKind::Rsa { bits: 2048 }
        })
    );
}

// Tampering with any signed byte breaks the signature.
#[test]
fn tampering_is_detected() {
    for fx in [&*RSA2048, &*P256, &*P384] {
        let s = signer(fx);
        let key = VerifyingKey::from_certificate_der(&fx.cert_der).unwrap();
        let token = s.sign(&claims(), SignOptions::default()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();

        let mut evil = claims();
        evil["sub"] = json!("https://attacker.example");
        let tampered_payload = format!(
            "{}.{}.{}",
            parts[0],
            b64u(evil.to_string().as_bytes()),
            parts[2]
        );

        let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        sig[5] ^= 0x01;
        let tampered_sig = format!("{}.{}.{}", parts[0], parts[1], b64u(&sig));

        let truncated_sig = format!("{}.{}.{}", parts[0], parts[1], b64u(&sig[..sig.len() - 1]));

        for (name, t) in [
            ("payload", tampered_payload),
            ("signature", tampered_sig),
            ("truncated", truncated_sig),
        ] {
            let jws = parse_compact(&t).unwrap();
            assert_eq!(
                jws.verify(&key, &AlgPolicy::default()),
                Err(JoseError::BadSignature),
                "{name} {:?}",
                key.kind()
            );
        }
    }
}

// UDAP-1: only compact serialization with base64url parts and JSON object header/payload.
#[test]
fn malformed_inputs() {
    let h = b64u(br#"{"alg":"RS256"}"#);
    let p = b64u(br#"{"iss":"a"}"#);
    let sig = b64u(b"signature");
    type Pred = fn(&JoseError) -> bool;
    let cases: Vec<(&str, String, Pred)> = vec![
        ("empty", String::new(), |e| {
            matches!(e, JoseError::Malformed(_))
        }),
        ("two parts", format!("{h}.{p}"), |e| {
            matches!(e, JoseError::Malformed(_))
        }),
        ("four parts", format!("{h}.{p}.{sig}.{sig}"), |e| {
            matches!(e, JoseError::Malformed(_))
        }),
        (
            "five parts (JWE)",
            format!("{h}.{p}.{sig}.{sig}.{sig}"),
            |e| matches!(e, JoseError::Malformed(_)),
        ),
        (
            "json serialization",
            format!(r#"{{"payload":"{p}","protected":"{h}","signature":"{sig}"}}"#),
            |e| matches!(e, JoseError::Malformed(_)),
        ),
        ("standard b64 chars", format!("{h}.{p}.ab+/"), |e| {
            matches!(e, JoseError::Malformed(_))
        }),
        (
            "padding",
            format!("{}=.{p}.{sig}", b64u(br#"{"alg":"RS256"}x"#)),
            |e| matches!(e, JoseError::Malformed(_)),
        ),
        ("space", format!("{h} .{p}.{sig}"), |e| {
            matches!(e, JoseError::Malformed(_))
        }),
        ("non-ascii", format!("{h}.{p}.é"), |e| {
            matches!(e, JoseError::Malformed(_))
        }),
        ("empty header", format!(".{p}.{sig}"), |e| {
            matches!(e, JoseError::Malformed(_))
        }),
        ("empty payload", format!("{h}..{sig}"), |e| {
            matches!(e, JoseError::Malformed(_))
        }),
        (
            "header not json",
            format!("{}.{p}.{sig}", b64u(b"alg=RS256")),
            |e| matches!(e, JoseError::Malformed(_)),
        ),
        (
            "header json array",
            format!("{}.{p}.{sig}", b64u(br#"["RS256"]"#)),
            |e| matches!(e, JoseError::Malformed(_)),
        ),
        (
            "payload json array",
            format!("{h}.{}.{sig}", b64u(b"[1]")),
            |e| matches!(e, JoseError::Malformed(_)),
        ),
        (
            "payload not json",
            format!("{h}.{}.{sig}", b64u(b"hello")),
            |e| matches!(e, JoseError::Malformed(_)),
        ),
        (
            "no alg",
            format!("{}.{p}.{sig}", b64u(br#"{"typ":"JWT"}"#)),
            |e| matches!(e, JoseError::Malformed(_)),
        ),
        (
            "alg not string",
            format!("{}.{p}.{sig}", b64u(br#"{"alg":256}"#)),
            |e| matches!(e, JoseError::Malformed(_)),
        ),
        (
            "kid not string",
            format!("{}.{p}.{sig}", b64u(br#"{"alg":"RS256","kid":1}"#)),
            |e| matches!(e, JoseError::Malformed(_)),
        ),
        (
            "x5c not array",
            format!("{}.{p}.{sig}", b64u(br#"{"alg":"RS256","x5c":"MII="}"#)),
            |e| matches!(e, JoseError::Malformed(_)),
        ),
        (
            "x5c number entry",
            format!("{}.{p}.{sig}", b64u(br#"{"alg":"RS256","x5c":[1]}"#)),
            |e| matches!(e, JoseError::Malformed(_)),
        ),
        (
            "crit",
            format!(
                "{}.{p}.{sig}",
                b64u(br#"{"alg":"RS256","b64":false,"crit":["b64"]}"#)
            ),
            |e| *e == JoseError::CritUnsupported,
        ),
        (
            "too large",
            format!("{h}.{}.{sig}", "A".repeat(MAX_COMPACT_LEN)),
            |e| {
                *e == JoseError::TooLarge {
                    max: MAX_COMPACT_LEN,
                }
            },
        ),
    ];
    for (name, token, pred) in cases {
        match parse_compact(&token) {
            Err(e) => assert!(pred(&e), "{name}: unexpected {e:?}"),
            Ok(_) => panic!("{name}: parsed"),
        }
    }
}

// UDAP-3: x5c entries are standard base64 DER; base64url is not accepted.
#[test]
fn x5c_decoding() {
    let leaf = STANDARD.encode(&RSA2048.cert_der);
    let url_only = URL_SAFE_NO_PAD.encode(&RSA2048.cert_der);
    assert!(
        url_only.contains(['-', '_']),
        "fixture should exercise base64url-only characters"
    );
    let p = b64u(br#"{"iss":"a"}"#);
    let token = |x5c: Value| {
        format!(
            "{}.{p}.",
            b64u(json!({"alg": "RS256", "x5c": x5c}).to_string().as_bytes())
        )
    };
    let cases: Vec<(&str, Value, Result<usize, JoseError>)> = vec![
        ("leaf", json!([leaf]), Ok(1)),
        (
            "leaf + other",
            json!([leaf, STANDARD.encode(&P256.cert_der)]),
            Ok(2),
        ),
        ("empty array", json!([]), Err(JoseError::MissingX5c)),
        (
            "bad base64 at 1",
            json!([leaf, "not base64!"]),
            Err(JoseError::BadX5c { index: 1 }),
        ),
        (
            "base64url",
            json!([url_only]),
            Err(JoseError::BadX5c { index: 0 }),
        ),
        (
            "unpadded",
            json!([leaf.trim_end_matches('=')]),
            Err(JoseError::BadX5c { index: 0 }),
        ),
        (
            "empty entry",
            json!([""]),
            Err(JoseError::BadX5c { index: 0 }),
        ),
        (
            "line breaks",
            json!([format!("{}\n{}", &leaf[..64], &leaf[64..])]),
            Err(JoseError::BadX5c { index: 0 }),
        ),
    ];
    for (name, x5c, want) in cases {
        let got = parse_compact(&token(x5c))
            .unwrap()
            .x5c_der()
            .map(|v| v.len());
        assert_eq!(got, want, "{name}");
    }
    let missing = format!("{}.{p}.", b64u(br#"{"alg":"RS256"}"#));
    assert_eq!(
        parse_compact(&missing).unwrap().x5c_der(),
        Err(JoseError::MissingX5c)
    );
}

// Claims can be read before verification for routing, and the header keeps unknown members.
#[test]
fn unverified_access() {
    let token = compact(
        r#"{"alg":"RS256","x5u":"https://x","jku":"https://j"}"#,
        r#"{"iss":"client-1"}"#,
        b"s",
    );
    let jws = parse_compact(&token).unwrap();
    assert_eq!(jws.unverified_claims()["iss"], "client-1");
    assert_eq!(jws.header().raw()["x5u"], "https://x");
    assert_eq!(jws.header().jku.as_deref(), Some("https://j"));
    assert_eq!(jws.signing_input(), token.rsplit_once('.').unwrap().0);
}

// UDAP-52: signer key requirements; UDAP-3: the chain must belong to the key.
#[test]
fn signer_loading() {
    assert_eq!(
        Signer::from_pem(&RSA1024.pkcs8_pem, None).unwrap_err(),
        JoseError::WeakKey { bits: 1024 }
    );
    assert_eq!(
        Signer::from_pem(&RSA1024.traditional_pem, None).unwrap_err(),
        JoseError::WeakKey { bits: 1024 }
    );
    assert_eq!(
        Signer::from_pem(&P256.pkcs8_pem, Some(&RSA2048.cert_pem)).unwrap_err(),
        JoseError::CertKeyMismatch
    );
    let chain = format!("{}{}", P256.cert_pem, RSA2048.cert_pem);
    assert_eq!(signer(&P256).x5c().len(), 1);
    assert_eq!(
        Signer::from_pem(&P256.pkcs8_pem, Some(&chain))
            .unwrap()
            .x5c()
            .len(),
        2
    );

    let bad = |r: Result<Signer, JoseError>| match r {
        Err(JoseError::BadPem(_)) => {}
        other => panic!("expected BadPem, got {other:?}"),
    };
    bad(Signer::from_pem("not a pem", None));
    bad(Signer::from_pem(&P256.pkcs8_pem, Some("no certs here")));
    let encrypted = RSA2048
        .pkey
        .private_key_to_pem_pkcs8_passphrase(openssl::symm::Cipher::aes_128_cbc(), b"secret")
        .unwrap();
    bad(Signer::from_pem(
        std::str::from_utf8(&encrypted).unwrap(),
        None,
    ));

    let ed = PKey::generate_ed25519()
        .unwrap()
        .private_key_to_pem_pkcs8()
        .unwrap();
    let e = Signer::from_pem(std::str::from_utf8(&ed).unwrap(), None).unwrap_err();
    assert!(matches!(e, JoseError::UnsupportedKey(_)), "{e:?}");

    // UDAP-52: with_alg must fit the key.
    let cases: [(&Fixture, Algorithm, Result<Algorithm, JoseError>); 6] = [
        (&RSA2048, Algorithm::RS384, Ok(Algorithm::RS384)),
        (
            &RSA2048,
            Algorithm::ES256,
            Err(JoseError::AlgKeyMismatch {
                alg: "ES256",
                key: KeyKind::Rsa { bits: 2048 },
            }),
        ),
        (
            &P256,
            Algorithm::ES384,
            Err(JoseError::AlgKeyMismatch {
                alg: "ES384",
                key: KeyKind::Ec(Curve::P256),
            }),
        ),
        (&P384, Algorithm::ES384, Ok(Algorithm::ES384)),
        (
            &RSA2048,
            Algorithm::HS256,
            Err(JoseError::AlgUnsupported {
                alg: "HS256".into(),
            }),
        ),
        (
            &RSA2048,
            Algorithm::PS256,
            Err(JoseError::AlgUnsupported {
                alg: "PS256".into(),
            }),
        ),
    ];
    for (fx, alg, want) in cases {
        assert_eq!(signer(fx).with_alg(alg).map(|s| s.alg()), want, "{alg:?}");
    }

    // Claims must be a JSON object.
    let e = signer(&P256)
        .sign(&json!([1, 2]), SignOptions::default())
        .unwrap_err();
    assert!(matches!(e, JoseError::Sign(_)), "{e:?}");
}

// The kid is the RFC 7638 thumbprint: stable for a key, distinct between keys.
#[test]
fn kid_is_stable_thumbprint() {
    let a = signer(&RSA2048);
    let b = Signer::from_pem(&RSA2048.traditional_pem, None)
        .unwrap()
        .with_alg(Algorithm::RS384)
        .unwrap();
    assert_eq!(a.kid(), b.kid());
    assert_eq!(a.kid().len(), 43);
    assert_ne!(a.kid(), signer(&P256).kid());
}

// JWKS publication: each signer's kid is listed and tokens verify through from_jwk.
#[test]
fn jwks_verifies_tokens() {
    let signers = [signer(&RSA2048), signer(&P256), signer(&P384)];
    let refs: Vec<&Signer> = signers.iter().collect();
    let doc = jwks(&refs);
    let keys = doc["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    for s in &signers {
        let jwk = keys.iter().find(|k| k["kid"] == s.kid()).unwrap();
        assert!(jwk.get("d").is_none());
        let key = VerifyingKey::from_jwk(jwk).unwrap();
        let token = s.sign(&claims(), SignOptions::default()).unwrap();
        let jws = parse_compact(&token).unwrap();
        let kid = jws.header().kid.clone().unwrap();
        assert_eq!(kid, s.kid());
        assert!(jws.verify(&key, &AlgPolicy::default()).is_ok());
    }
}

/// Throughput of the signing and verification paths. Run with
/// `cargo test --lib jose::tests::bench -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench() {
    use std::time::Instant;
    for (name, fx) in [("RS256", &*RSA2048), ("ES256", &*P256)] {
        let s = signer(fx);
        let key = VerifyingKey::from_certificate_der(&fx.cert_der).unwrap();
        let n = 2000;
        let t = Instant::now();
        let mut token = String::new();
        for _ in 0..n {
            token = s.sign(&claims(), SignOptions::default()).unwrap();
        }
        let sign = t.elapsed() / n;
        let t = Instant::now();
        for _ in 0..n {
            parse_compact(&token)
                .unwrap()
                .verify(&key, &AlgPolicy::default())
                .unwrap();
        }
        let verify = t.elapsed() / n;
        let t = Instant::now();
        let md = MessageDigest::sha256();
        for _ in 0..n {
            let mut o = openssl::sign::Signer::new(md, &fx.pkey).unwrap();
            std::hint::black_box(o.sign_oneshot_to_vec(token.as_bytes()).unwrap());
        }
        let ossl = t.elapsed() / n;
        println!("{name}: sign {sign:?}  parse+verify {verify:?}  openssl-preparsed sign {ossl:?}");
    }
}

// Keys and tokens are shared across worker threads (e.g. `Arc<Signer>` in app state).
#[test]
fn types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Signer>();
    assert_send_sync::<VerifyingKey>();
    assert_send_sync::<UnverifiedJws>();
    assert_send_sync::<AlgPolicy>();
    assert_send_sync::<JoseError>();
}
