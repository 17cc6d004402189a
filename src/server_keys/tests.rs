//! Issue 10 item 4: the key ring's rules (pure, table-driven, pinned `now`) and the issuer and
//! administrator operations over a real store.

use serde_json::{json, Value};

use super::ring::{retirement, rotation, rotation_alg};
use super::*;
use crate::config::{FileConfig, Overrides};
use crate::jose::SignOptions;
use crate::oauth::tokens::Grant;
use crate::store::KeyState::{Active, Previous, Retired};

const NOW: i64 = 1_700_000_000;
const KEK_A: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const KEK_B: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";

fn entry(kid: &str, purpose: KeyPurpose, state: KeyState, superseded_at: Option<i64>) -> KeyEntry {
    KeyEntry {
        kid: kid.into(),
        purpose,
        alg: "RS256".into(),
        key_name: kid.into(),
        created_at: NOW - 100_000,
        state,
        superseded_at,
        retired_at: (state == Retired).then_some(NOW - 10),
    }
}

use KeyPurpose::{Access, IdToken};

// --- pure rules ---

#[test]
fn retire_rules() {
    // Issue 10 item 4: `keys retire KID` is refused while tokens signed with it can still be valid.
    let just_old_enough = NOW - RETIRE_AFTER;
    let ring = vec![
        entry("active", Access, Active, None),
        entry("young", Access, Previous, Some(just_old_enough + 1)),
        entry("old", Access, Previous, Some(just_old_enough)),
        entry("gone", Access, Retired, Some(NOW - 90_000)),
        // A key adopted from before rotation serves both purposes.
        entry("shared-active", Access, Previous, Some(just_old_enough)),
        entry("shared-active", IdToken, Active, None),
        entry("shared-young", Access, Previous, Some(just_old_enough)),
        entry(
            "shared-young",
            IdToken,
            Previous,
            Some(just_old_enough + 30),
        ),
        entry("shared-old", Access, Previous, Some(just_old_enough - 5)),
        entry("shared-old", IdToken, Previous, Some(just_old_enough)),
    ];
    enum Want {
        Retires(usize),
        Unknown,
        IsActive(KeyPurpose),
        TooEarly(i64),
    }
    use Want::*;
    let cases = [
        ("unknown", Unknown),
        ("active", IsActive(Access)),
        ("young", TooEarly(just_old_enough + 1 + RETIRE_AFTER)),
        ("old", Retires(1)),
        ("gone", Retires(0)),
        ("shared-active", IsActive(IdToken)),
        (
            "shared-young",
            TooEarly(just_old_enough + 30 + RETIRE_AFTER),
        ),
        ("shared-old", Retires(2)),
    ];
    for (kid, want) in cases {
        let got = retirement(&ring, kid, NOW);
        match (want, got) {
            (Retires(n), Ok(changed)) => {
                assert_eq!(changed.len(), n, "{kid}");
                assert!(changed
                    .iter()
                    .all(|e| e.kid == kid && e.state == Retired && e.retired_at == Some(NOW)));
            }
            (Unknown, Err(e @ KeyError::UnknownKid { .. })) => {
                assert!(e.to_string().contains("`unknown`"), "{e}");
            }
            (IsActive(p), Err(e @ KeyError::ActiveKey { purpose, .. })) => {
                assert_eq!(purpose, p, "{kid}");
                assert!(e.to_string().contains("rotate"), "{e}");
                assert!(e.to_string().contains(kid), "{e}");
            }
            (TooEarly(at), Err(e @ KeyError::TooEarly { retirable_at, .. })) => {
                assert_eq!(retirable_at, at, "{kid}");
                let text = e.to_string();
                assert!(text.contains(kid), "{text}");
                assert!(text.contains(&rfc3339(at)), "{text}");
            }
            (_, got) => panic!("{kid}: unexpected {got:?}"),
        }
    }
    // The earliest time is RFC 3339, UTC.
    assert_eq!(rfc3339(NOW), "2023-11-14T22:13:20Z");
}

#[test]
fn retirable_at_is_max_lifetime_plus_skew_after_supersession() {
    assert_eq!(MAX_TOKEN_LIFETIME, 3600);
    assert_eq!(RETIRE_AFTER, 3600 + crate::jose::CLOCK_SKEW);
    let info = KeyInfo::from_entry(&entry("k", Access, Previous, Some(NOW)), NOW);
    assert_eq!(info.retirable_at, Some(NOW + RETIRE_AFTER));
    assert!(!info.retirable);
    let later = KeyInfo::from_entry(&entry("k", Access, Previous, Some(NOW)), NOW + RETIRE_AFTER);
    assert!(later.retirable);
    for state in [Active, Retired] {
        let info = KeyInfo::from_entry(&entry("k", Access, state, None), NOW);
        assert_eq!((info.retirable_at, info.retirable), (None, false));
    }
}

#[test]
fn rotation_keeps_one_active_key_per_purpose() {
    let ring = vec![
        entry("a1", Access, Previous, Some(NOW - 50)),
        entry("a2", Access, Active, None),
        entry("i1", IdToken, Active, None),
    ];
    let mut new = entry("a3", Access, Active, None);
    new.created_at = NOW;
    let changed = rotation(&ring, new, NOW);
    assert_eq!(
        changed
            .iter()
            .map(|e| (e.kid.as_str(), e.state, e.superseded_at))
            .collect::<Vec<_>>(),
        [("a2", Previous, Some(NOW)), ("a3", Active, None)],
        "the old active key becomes previous; nothing else changes"
    );
    let mut after = ring.clone();
    for e in changed {
        ring::upsert(&mut after, e);
    }
    for p in KeyPurpose::ALL {
        assert_eq!(
            after
                .iter()
                .filter(|e| e.purpose == p && e.state == Active)
                .count(),
            1
        );
    }
}

#[test]
fn rotation_algorithm_rules() {
    // SMART-28: id_tokens are RS256, so id_token keys are too.
    type Row<'a> = (
        KeyPurpose,
        Option<&'a str>,
        &'a str,
        Result<&'a str, &'a str>,
    );
    let cases: [Row; 8] = [
        (Access, None, "RS256", Ok("RS256")),
        (Access, None, "ES256", Ok("ES256")),
        (Access, Some("ES256"), "RS256", Ok("ES256")),
        (Access, Some("es256"), "RS256", Ok("ES256")),
        (Access, Some("HS256"), "RS256", Err("not an algorithm")),
        (IdToken, None, "RS256", Ok("RS256")),
        (IdToken, Some("RS256"), "RS256", Ok("RS256")),
        (IdToken, Some("ES256"), "RS256", Err("always RS256")),
    ];
    for (purpose, requested, active, want) in cases {
        match (rotation_alg(purpose, requested, active), want) {
            (Ok(a), Ok(w)) => assert_eq!(a, w),
            (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{e}"),
            (got, want) => panic!("{purpose} {requested:?}: {got:?}, wanted {want:?}"),
        }
    }
}

fn legacy(name: &str) -> LegacyKey {
    LegacyKey {
        name: name.into(),
        kid: format!("kid-{name}"),
        alg: name.trim_start_matches("token-").to_ascii_uppercase(),
        created_at: 5,
    }
}

#[test]
fn adoption_of_the_keys_of_an_earlier_release() {
    // Issue 10 item 4: existing deployments keep their published kids and lose no key.
    type Row = (&'static str, KeyPurpose, KeyState, Option<i64>);
    let cases: [(&[&str], &str, &[Row]); 6] = [
        (&[], "RS256", &[]),
        (
            // The default deployment: one RS256 key signs both.
            &["token-rs256"],
            "RS256",
            &[
                ("token-rs256", Access, Active, None),
                ("token-rs256", IdToken, Active, None),
            ],
        ),
        (
            // Configured for ES256 from the start.
            &["token-es256", "token-rs256"],
            "ES256",
            &[
                ("token-es256", Access, Active, None),
                ("token-rs256", Access, Previous, Some(NOW)),
                ("token-rs256", IdToken, Active, None),
            ],
        ),
        (
            // Switched back to RS256 at some point: the ES256 key may have signed recently.
            &["token-es256", "token-rs256"],
            "RS256",
            &[
                ("token-rs256", Access, Active, None),
                ("token-es256", Access, Previous, Some(NOW)),
                ("token-rs256", IdToken, Active, None),
            ],
        ),
        (
            // The configuration changes with the upgrade: the key that signed stays active here,
            // and start-up rotates to the configured algorithm.
            &["token-rs256"],
            "ES256",
            &[
                ("token-rs256", Access, Active, None),
                ("token-rs256", IdToken, Active, None),
            ],
        ),
        (
            &["token-es256"],
            "ES256",
            &[("token-es256", Access, Active, None)],
        ),
    ];
    for (names, configured, want) in cases {
        let keys: Vec<LegacyKey> = names.iter().map(|n| legacy(n)).collect();
        let got = adopt_legacy(&keys, configured, NOW);
        let rows: Vec<Row> = got
            .iter()
            .map(|e| {
                let name: &'static str = if e.key_name == "token-rs256" {
                    "token-rs256"
                } else {
                    "token-es256"
                };
                (name, e.purpose, e.state, e.superseded_at)
            })
            .collect();
        assert_eq!(rows, want, "{names:?} configured {configured}");
        for e in &got {
            assert_eq!(e.kid, format!("kid-{}", e.key_name), "kid kept");
            assert_eq!(e.created_at, 5);
        }
    }
}

#[test]
fn key_purpose_names() {
    for (text, want) in [
        ("access", Some(Access)),
        ("id_token", Some(IdToken)),
        ("ID-TOKEN", Some(IdToken)),
        ("refresh", None),
        ("", None),
    ] {
        assert_eq!(text.parse::<KeyPurpose>().ok(), want, "{text}");
    }
    assert_eq!(serde_json::to_value(IdToken).unwrap(), json!("id_token"));
    assert_eq!(
        serde_json::from_value::<KeyPurpose>(json!("access")).unwrap(),
        Access
    );
    let err = "x".parse::<KeyPurpose>().unwrap_err().to_string();
    assert!(err.contains("access") && err.contains("id_token"), "{err}");
}

// --- over a store ---

fn settings(dir: &std::path::Path, alg: &str) -> Settings {
    Settings::resolve(
        dir.to_path_buf(),
        FileConfig::default(),
        Overrides {
            token_signing_alg: Some(alg.into()),
            ..Overrides::default()
        },
    )
    .unwrap()
}

fn kids(jwks: &Value) -> Vec<String> {
    let mut k: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    k.sort();
    k
}

fn header_kid(token: &str) -> String {
    crate::jose::parse_compact(token)
        .unwrap()
        .header()
        .kid
        .clone()
        .unwrap()
}

fn grant() -> Grant {
    Grant {
        client_id: "c".into(),
        subject: "c".into(),
        scope: "system/Patient.rs".into(),
        ..Grant::default()
    }
}

fn active(store: &Store, purpose: KeyPurpose) -> KeyInfo {
    let all = list_keys(store, NOW).unwrap();
    let mut a = all
        .iter()
        .filter(|k| k.purpose == purpose && k.state == Active);
    let first = a.next().cloned().expect("an active key");
    assert!(a.next().is_none(), "one active {purpose} key: {all:?}");
    first
}

#[test]
fn a_store_from_an_earlier_release_keeps_its_key_and_kid() {
    // Issue 10 item 4: migration on first start.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.redb")).unwrap();
    // What an earlier release wrote: one RS256 key under its old name, nothing else.
    let pem = generate("RS256").unwrap();
    let kid = Signer::from_pem(&pem, None).unwrap().kid().to_string();
    store
        .server_keys()
        .get_or_create("token-rs256", 7, || Ok(pem.clone()))
        .unwrap();
    let issuer = token_issuer(&store, &settings(dir.path(), "RS256"), None, NOW).unwrap();
    assert_eq!(
        kids(&issuer.public_keys()),
        std::slice::from_ref(&kid),
        "the same one key"
    );
    let (token, _) = issuer.issue(&grant(), NOW).unwrap();
    assert_eq!(header_kid(&token), kid);
    let id_token = issuer.id_token("c", "alice", None, None, NOW).unwrap();
    assert_eq!(header_kid(&id_token), kid);
    let keys = list_keys(&store, NOW).unwrap();
    assert_eq!(
        keys.iter()
            .map(|k| (k.kid.as_str(), k.purpose, k.state, k.created_at))
            .collect::<Vec<_>>(),
        [
            (kid.as_str(), Access, Active, 7),
            (kid.as_str(), IdToken, Active, 7)
        ]
    );
    // The record is unchanged, and a second start adopts nothing twice.
    assert_eq!(
        store
            .server_keys()
            .get("token-rs256")
            .unwrap()
            .unwrap()
            .key_pem,
        pem
    );
    token_issuer(&store, &settings(dir.path(), "RS256"), None, NOW + 1).unwrap();
    assert_eq!(list_keys(&store, NOW).unwrap(), keys);
}

#[test]
fn a_new_store_gets_one_key_per_purpose() {
    for alg in ["RS256", "ES256"] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        let issuer = token_issuer(&store, &settings(dir.path(), alg), None, NOW).unwrap();
        let a = active(&store, Access);
        let i = active(&store, IdToken);
        assert_eq!((a.alg.as_str(), i.alg.as_str()), (alg, "RS256"));
        assert_ne!(a.kid, i.kid, "separate keys");
        let (token, _) = issuer.issue(&grant(), NOW).unwrap();
        assert_eq!(header_kid(&token), a.kid);
        let id_token = issuer.id_token("c", "alice", None, None, NOW).unwrap();
        assert_eq!(header_kid(&id_token), i.kid);
        let mut both = vec![a.kid, i.kid];
        both.sort();
        assert_eq!(kids(&issuer.public_keys()), both);
    }
}

#[test]
fn a_changed_configured_algorithm_rotates_at_start_and_old_tokens_still_verify() {
    // Issue 10 item 4, start-up rule.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.redb")).unwrap();
    let rs = token_issuer(&store, &settings(dir.path(), "RS256"), None, NOW).unwrap();
    let (old_token, _) = rs.issue(&grant(), NOW).unwrap();
    let old = active(&store, Access);
    let es = token_issuer(&store, &settings(dir.path(), "ES256"), None, NOW + 10).unwrap();
    let new = active(&store, Access);
    assert_eq!(new.alg, "ES256");
    let prev = list_keys(&store, NOW + 10)
        .unwrap()
        .into_iter()
        .find(|k| k.kid == old.kid)
        .unwrap();
    assert_eq!((prev.state, prev.superseded_at), (Previous, Some(NOW + 10)));
    assert!(
        es.verify(&old_token, NOW + 20).is_some(),
        "signed by the previous key"
    );
    let (new_token, _) = es.issue(&grant(), NOW + 20).unwrap();
    assert_eq!(header_kid(&new_token), new.kid);
    assert!(kids(&es.public_keys()).contains(&old.kid));
    // Unchanged configuration: no rotation at the next start.
    token_issuer(&store, &settings(dir.path(), "ES256"), None, NOW + 30).unwrap();
    assert_eq!(active(&store, Access).kid, new.kid);
}

#[test]
fn rotate_reload_verify_and_retire() {
    // Issue 10 item 4: rotation while tokens are live.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.redb")).unwrap();
    let issuer = token_issuer(&store, &settings(dir.path(), "RS256"), None, NOW).unwrap();
    assert!(
        !issuer.reload(&store, None, NOW).unwrap(),
        "nothing changed"
    );
    let old = active(&store, Access);
    let old_id = active(&store, IdToken);
    let (old_token, _) = issuer.issue(&grant(), NOW).unwrap();

    // id_token keys stay RS256.
    let refused = rotate(&store, None, IdToken, Some("ES256"), NOW).unwrap_err();
    assert!(matches!(refused, KeyError::IdTokenAlg { .. }), "{refused}");

    let t1 = NOW + 100;
    let new = rotate(&store, None, Access, Some("ES256"), t1).unwrap();
    assert_eq!(
        (new.purpose, new.alg.as_str(), new.state),
        (Access, "ES256", Active)
    );
    assert_eq!(active(&store, Access).kid, new.kid);
    assert_eq!(
        active(&store, IdToken).kid,
        old_id.kid,
        "the other purpose is untouched"
    );
    assert!(issuer.reload(&store, None, t1).unwrap());
    assert!(!issuer.reload(&store, None, t1).unwrap());

    // Old tokens verify by their kid; new tokens carry the new kid; both are published.
    assert!(issuer.verify(&old_token, t1).is_some());
    let (new_token, _) = issuer.issue(&grant(), t1).unwrap();
    assert_eq!(header_kid(&new_token), new.kid);
    assert!(issuer.verify(&new_token, t1).is_some());
    let mut want = vec![old.kid.clone(), new.kid.clone(), old_id.kid.clone()];
    want.sort();
    assert_eq!(kids(&issuer.public_keys()), want);

    // Retiring: the active key never, the previous one only once its tokens have expired.
    let e = retire(&store, &new.kid, t1).unwrap_err();
    assert!(matches!(e, KeyError::ActiveKey { .. }), "{e}");
    let e = retire(&store, &old.kid, t1 + RETIRE_AFTER - 1).unwrap_err();
    assert!(
        matches!(e, KeyError::TooEarly { retirable_at, .. } if retirable_at == t1 + RETIRE_AFTER),
        "{e}"
    );
    let e = retire(&store, "no-such-kid", t1).unwrap_err();
    assert!(matches!(e, KeyError::UnknownKid { .. }), "{e}");
    let t2 = t1 + RETIRE_AFTER;
    let gone = retire(&store, &old.kid, t2).unwrap();
    assert_eq!((gone.state, gone.retired_at), (Retired, Some(t2)));
    assert!(issuer.reload(&store, None, t2).unwrap());

    // Retired: not published, and its tokens no longer verify (even unexpired ones).
    let mut want = vec![new.kid.clone(), old_id.kid.clone()];
    want.sort();
    assert_eq!(kids(&issuer.public_keys()), want);
    let old_signer = Signer::from_pem(
        &store
            .server_keys()
            .get("token-rs256")
            .unwrap()
            .unwrap()
            .key_pem,
        None,
    )
    .unwrap();
    let (_, claims) = issuer.issue(&grant(), t2).unwrap();
    let fresh_by_retired = old_signer.sign(&claims, SignOptions::default()).unwrap();
    assert!(issuer.verify(&fresh_by_retired, t2).is_none());
    // ...but the record stays, for the audit trail.
    assert!(list_keys(&store, t2)
        .unwrap()
        .iter()
        .any(|k| k.kid == old.kid));
    // Retiring again changes nothing.
    assert_eq!(
        retire(&store, &old.kid, t2 + 5).unwrap().retired_at,
        Some(t2)
    );
}

#[test]
fn verify_selects_the_key_by_kid() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.redb")).unwrap();
    let issuer = token_issuer(&store, &settings(dir.path(), "RS256"), None, NOW).unwrap();
    let (_, claims) = issuer.issue(&grant(), NOW).unwrap();
    // A key we never had, with our claims: unknown kid.
    let foreign = Signer::from_pem(&generate("RS256").unwrap(), None).unwrap();
    let unknown = foreign.sign(&claims, SignOptions::default()).unwrap();
    assert!(issuer.verify(&unknown, NOW).is_none());
    // The id_token key is published but does not sign access tokens.
    let id_key = active(&store, IdToken);
    let record = store.server_keys().get(&id_key.kid).unwrap();
    let id_signer = Signer::from_pem(&record.unwrap().key_pem, None).unwrap();
    let by_id_key = id_signer.sign(&claims, SignOptions::default()).unwrap();
    assert!(issuer.verify(&by_id_key, NOW).is_none());
    // Our active key's kid in the header, another key's signature.
    let active_kid = active(&store, Access).kid;
    let forged = {
        let jws = crate::jose::parse_compact(&unknown).unwrap();
        let header = json!({"alg": "RS256", "kid": active_kid});
        let h = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            serde_json::to_vec(&header).unwrap(),
        );
        let mut parts = jws.signing_input().splitn(2, '.');
        let _ = parts.next();
        format!(
            "{h}.{}.{}",
            parts.next().unwrap(),
            unknown.rsplit('.').next().unwrap()
        )
    };
    assert!(issuer.verify(&forged, NOW).is_none());
    // And our own token verifies.
    let (ok, _) = issuer.issue(&grant(), NOW).unwrap();
    assert!(issuer.verify(&ok, NOW).is_some());
}

#[test]
fn jwks_lists_active_and_previous_keys_of_both_purposes_never_retired() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.redb")).unwrap();
    let issuer = token_issuer(&store, &settings(dir.path(), "RS256"), None, NOW).unwrap();
    let a1 = active(&store, Access).kid;
    let i1 = active(&store, IdToken).kid;
    let a2 = rotate(&store, None, Access, None, NOW).unwrap().kid;
    let i2 = rotate(&store, None, IdToken, None, NOW).unwrap().kid;
    let a3 = rotate(&store, None, Access, None, NOW + 1).unwrap().kid;
    retire(&store, &a1, NOW + RETIRE_AFTER).unwrap();
    issuer.reload(&store, None, NOW + RETIRE_AFTER).unwrap();
    let mut want = vec![a2, a3.clone(), i1, i2.clone()];
    want.sort();
    assert_eq!(kids(&issuer.public_keys()), want);
    assert!(!kids(&issuer.public_keys()).contains(&a1));
    assert_eq!(issuer.active_kid(Access), a3);
    assert_eq!(issuer.active_kid(IdToken), i2);
    // Every JWK is public only.
    for k in issuer.public_keys()["keys"].as_array().unwrap() {
        assert!(k.get("d").is_none() && k.get("p").is_none(), "{k}");
    }
    // `keys list` never shows a private key either.
    let listed = serde_json::to_string(&list_keys(&store, NOW).unwrap()).unwrap();
    assert!(
        !listed.contains("PRIVATE") && !listed.contains("key_pem"),
        "{listed}"
    );
}

#[test]
fn server_keys_are_sealed_at_rest_when_a_kek_is_configured() {
    // Issue 9: private keys in a shared database are protected with a key-encryption key.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.redb")).unwrap();
    let settings = settings(dir.path(), "RS256");
    let kek = Kek::from_base64(KEK_A).unwrap();
    let first = token_issuer(&store, &settings, Some(&kek), 0)
        .unwrap()
        .public_keys();
    let stored = store
        .server_keys()
        .get_or_create("token-rs256", 0, || panic!("created above"))
        .unwrap();
    assert!(kek::is_sealed(&stored.key_pem), "stored sealed");
    assert!(!stored.key_pem.contains("PRIVATE KEY"));
    // The same keys come back with the same KEK...
    assert_eq!(
        token_issuer(&store, &settings, Some(&kek), 0)
            .unwrap()
            .public_keys(),
        first
    );
    // ...and not without it, or with another one.
    assert!(token_issuer(&store, &settings, None, 0).is_err());
    let other = Kek::from_base64(KEK_B).unwrap();
    assert!(token_issuer(&store, &settings, Some(&other), 0).is_err());

    // Issue 10 item 4: a rotated key is sealed like the one it replaces, and never without the
    // KEK or with another one.
    let e = rotate(&store, None, Access, None, 5).unwrap_err();
    assert!(matches!(e, KeyError::KekRequired), "{e}");
    let e = rotate(&store, Some(&other), Access, None, 5).unwrap_err();
    assert!(matches!(e, KeyError::Sealed { .. }), "{e}");
    let new = rotate(&store, Some(&kek), Access, None, 5).unwrap();
    let record = store.server_keys().get(&new.kid).unwrap().unwrap();
    assert!(kek::is_sealed(&record.key_pem));
    let issuer = token_issuer(&store, &settings, Some(&kek), 6).unwrap();
    assert_eq!(issuer.active_kid(Access), new.kid);
    // A reload with the wrong KEK fails and keeps the keys in use.
    rotate(&store, Some(&kek), Access, None, 7).unwrap();
    assert!(issuer.reload(&store, Some(&other), 7).is_err());
    assert_eq!(issuer.active_kid(Access), new.kid);
    assert!(issuer.reload(&store, Some(&kek), 7).unwrap());
    assert_ne!(issuer.active_kid(Access), new.kid);
}

#[test]
fn rotate_refuses_an_empty_ring() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.redb")).unwrap();
    let e = rotate(&store, None, Access, None, NOW).unwrap_err();
    assert!(
        matches!(e, KeyError::NoActiveKey { purpose: Access }),
        "{e}"
    );
    assert!(list_keys(&store, NOW).unwrap().is_empty());
}
