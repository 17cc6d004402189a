use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::*;
use crate::jose::{SignOptions, Signer};
use crate::pki::ca::CertSpec;
use crate::pki::testing::{TestPki, ORGANIZATION};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Issue 8: the checked-in corpus of every target (seeds, minimized fuzzer finds, crash
/// regressions) runs through the same functions as the fuzzers, without panicking.
#[test]
fn replays_checked_in_corpus() {
    for (name, target) in TARGETS {
        let dir = fuzz_dir().join("corpus").join(name);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut replayed = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(
                outcome.is_ok(),
                "fuzz target {name} panicked on {}",
                path.display()
            );
            replayed += 1;
        }
        assert!(
            replayed > 0,
            "no corpus inputs for fuzz target {name} in {}",
            dir.display()
        );
    }
}

/// The fixture is what the seeds were signed for: the seeds reach the deep checks.
#[test]
fn fixture_chains_validate_at_now() {
    let f = fixture();
    let blocks = pki::pem::parse_blocks(FIXTURE_PEM).unwrap();
    let der = |i: usize| blocks[i].der.clone();
    let ok = pki::validate_chain(&[der(2), der(1)], &f.community, NOW).unwrap();
    assert_eq!(ok.san_uris, vec![pki::testing::RSA_LEAF_SAN.to_string()]);
    assert!(pki::validate_chain(&[der(3), der(1)], &f.community, NOW).is_ok());
    assert!(matches!(
        pki::validate_chain(&[der(4), der(1)], &f.community, NOW),
        Err(pki::ChainError::Revoked { .. })
    ));
}

/// The seeds were signed for the fixture: each reaches the last check of its target, so the
/// fuzzer mutates inputs that pass the cheap checks (a regenerated fixture without regenerated
/// seeds fails here).
#[test]
fn seeds_reach_the_deep_checks() {
    let seed = |target: &str, name: &str| {
        std::fs::read(fuzz_dir().join("corpus").join(target).join(name)).unwrap()
    };
    let f = fixture();
    let token = String::from_utf8(seed("jws", "seed-rs256-x5c")).unwrap();
    let claims = jose::parse_compact(&token)
        .unwrap()
        .verify(&f.rsa_key, &AlgPolicy::default())
        .unwrap()
        .clone();
    let claims = RegisteredClaims::from_claims(&claims).unwrap();
    assert!(time_rules()
        .iter()
        .all(|rules| jose::check_time(&claims, rules).is_ok()));
    assert!(udap_jwt::verify_signature(&token, &f.rs256_only).is_ok());

    let (x5c, now) = split_x5c(&seed("x5c_chain", "seed-rsa-int"));
    assert!(pki::validate_chain(&x5c, &f.community, now).is_ok());

    let body: Value =
        serde_json::from_slice(&seed("metadata", "seed-registration-authcode")).unwrap();
    let statement = body["software_statement"].as_str().unwrap();
    let (claims, _) = udap_jwt::verify_signature(statement, &AlgPolicy::default()).unwrap();
    assert!(client_metadata::validate(&claims).is_ok());
    assert!(client_metadata::intended_use(&claims, &f.vocabulary).is_ok());

    let crl = ParsedCrl::from_der(&seed("crl", "seed-intermediate-revoked-der")).unwrap();
    assert!(crl
        .usable_for(&f.rsa_leaf, false, &f.intermediate, NOW)
        .is_ok());
}

#[test]
fn split_x5c_inverts_join() {
    let x5c = vec![b"leaf".to_vec(), Vec::new(), b"root".to_vec()];
    assert_eq!(split_x5c(&join_x5c(&x5c, 2)), (x5c, NOW + 8 * 86_400));
    assert_eq!(split_x5c(&[]), (vec![Vec::new()], NOW));
    // A length beyond the input takes what there is.
    assert_eq!(split_x5c(&[1, 0xff, 0xff, 7]).0, vec![vec![7], Vec::new()]);
}

fn write(dir: &Path, name: &str, data: impl AsRef<[u8]>) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), data).unwrap();
}

fn pem_der(pem: &str) -> Vec<u8> {
    pki::pem::parse_blocks(pem).unwrap().remove(0).der
}

/// Regenerates `fuzz/fixtures/community.pem` (a fresh test PKI built for [`NOW`]) and the
/// `seed-*` files of every corpus, signed with that PKI's leaf keys, which are then discarded.
/// Inputs the fuzzer found before that stay in the corpus but no longer verify: prune them with
/// `cargo fuzz cmin`. Run: `cargo test --lib fuzzing::tests::regenerate -- --ignored`.
#[test]
#[ignore = "rewrites fuzz/fixtures and the corpus seeds"]
fn regenerate_fixture_and_seeds() {
    let pki = TestPki::new(NOW).unwrap();
    let revoked = pki
        .issue_leaf(&CertSpec {
            organization: Some(ORGANIZATION.into()),
            ..CertSpec::leaf(
                "Revoked test client",
                "https://client.example.org/revoked",
                NOW,
            )
        })
        .unwrap();
    let intermediate_crl = pki
        .intermediate_crl(std::slice::from_ref(&revoked.serial_hex))
        .unwrap();
    let fixture = [
        &pki.root.cert_pem,
        &pki.intermediate.cert_pem,
        &pki.rsa_leaf.cert_pem,
        &pki.ec_leaf.cert_pem,
        &revoked.cert_pem,
        &pki.root_crl_pem,
        &intermediate_crl,
    ]
    .map(String::as_str)
    .concat();
    write(&fuzz_dir().join("fixtures"), "community.pem", &fixture);

    let corpus = fuzz_dir().join("corpus");
    let signer = |leaf: &crate::pki::ca::IssuedCert| {
        Signer::from_pem(
            &leaf.key_pem,
            Some(&format!("{}{}", leaf.cert_pem, pki.intermediate.cert_pem)),
        )
        .unwrap()
    };
    let (rsa, ec, revoked_signer) = (
        signer(&pki.rsa_leaf),
        signer(&pki.ec_leaf),
        signer(&revoked),
    );
    let x5c = SignOptions {
        include_x5c: true,
        typ: Some("JWT"),
    };
    let assertion = json!({
        "iss": pki::testing::RSA_LEAF_SAN, "sub": pki::testing::RSA_LEAF_SAN,
        "aud": "https://as.example.org/token", "exp": NOW + 300, "iat": NOW, "jti": "seed-1",
        "extensions": {"hl7-b2b": {"version": "1", "organization_id": "https://org.example", "purpose_of_use": ["SYSDEV"]}},
    });
    let statement = json!({
        "iss": pki::testing::RSA_LEAF_SAN, "sub": pki::testing::RSA_LEAF_SAN,
        "aud": "https://as.example.org/register", "exp": NOW + 300, "iat": NOW, "jti": "seed-2",
        "client_name": "Seed app", "contacts": ["mailto:ops@example.org"],
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "redirect_uris": ["https://app.example.org/cb"], "logo_uri": "https://app.example.org/logo.png",
        "token_endpoint_auth_method": "private_key_jwt", "scope": "openid fhirUser launch/patient patient/*.rs offline_access",
        "intended_users": ["patient"], "intended_purposes": ["individual-access"],
    });
    let b2b_statement = json!({
        "iss": pki::testing::EC_LEAF_SAN, "sub": pki::testing::EC_LEAF_SAN,
        "aud": "https://as.example.org/register", "exp": NOW + 300, "iat": NOW, "jti": "seed-3",
        "client_name": "Seed B2B", "contacts": ["mailto:ops@example.org", "https://example.org/contact"],
        "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
        "scope": "system/Patient.rs system/Observation.rs?category=laboratory",
    });
    let hand = |header: &str, payload: &str, sig: &[u8]| {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(sig)
        )
    };
    let rs256 = rsa.sign(&assertion, x5c).unwrap();

    let jws_dir = corpus.join("jws");
    write(&jws_dir, "seed-rs256-x5c", &rs256);
    let rs384 = Signer::from_pem(&pki.rsa_leaf.key_pem, None)
        .unwrap()
        .with_alg(jose::Algorithm::RS384)
        .unwrap();
    write(
        &jws_dir,
        "seed-rs384",
        rs384.sign(&assertion, SignOptions::default()).unwrap(),
    );
    write(
        &jws_dir,
        "seed-es256-x5c",
        ec.sign(&assertion, x5c).unwrap(),
    );
    write(
        &jws_dir,
        "seed-revoked-x5c",
        revoked_signer.sign(&assertion, x5c).unwrap(),
    );
    write(
        &jws_dir,
        "seed-rsa-jwk-payload",
        rsa.sign(&rsa.public_jwk(), SignOptions::default()).unwrap(),
    );
    write(
        &jws_dir,
        "seed-ec-jwk-payload",
        ec.sign(&ec.public_jwk(), SignOptions::default()).unwrap(),
    );
    write(
        &jws_dir,
        "seed-none",
        hand(r#"{"alg":"none"}"#, r#"{"iss":"a","exp":1.5e9}"#, b""),
    );
    write(
        &jws_dir,
        "seed-hs256",
        hand(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"aud":["a","b"],"nbf":1}"#,
            b"mac",
        ),
    );
    write(
        &jws_dir,
        "seed-crit",
        hand(
            r#"{"alg":"RS256","crit":["b64"],"b64":false}"#,
            "{}",
            b"sig",
        ),
    );
    write(
        &jws_dir,
        "seed-json-serialization",
        r#"{"payload":"e30","signatures":[]}"#,
    );

    let x5c_dir = corpus.join("x5c_chain");
    let (root, int, rsa_der, ec_der) = (
        pki.root.der.clone(),
        pki.intermediate.der.clone(),
        pki.rsa_leaf.der.clone(),
        pki.ec_leaf.der.clone(),
    );
    let seeds: [(&str, Vec<Vec<u8>>, u8); 10] = [
        ("rsa-int", vec![rsa_der.clone(), int.clone()], 0),
        ("ec-int", vec![ec_der.clone(), int.clone()], 0),
        ("revoked-int", vec![revoked.der.clone(), int.clone()], 0),
        ("rsa-only", vec![rsa_der.clone()], 0),
        (
            "rsa-int-root",
            vec![rsa_der.clone(), int.clone(), root.clone()],
            0,
        ),
        ("int-rsa", vec![int.clone(), rsa_der.clone()], 0),
        ("root-only", vec![root.clone()], 0),
        ("rsa-int-before", vec![rsa_der.clone(), int.clone()], 1),
        ("rsa-int-crl-stale", vec![rsa_der.clone(), int.clone()], 2),
        ("ec-int-expired", vec![ec_der, int], 3),
    ];
    for (name, chain, time) in seeds {
        write(&x5c_dir, &format!("seed-{name}"), join_x5c(&chain, time));
    }

    let crl_dir = corpus.join("crl");
    write(&crl_dir, "seed-root-der", pem_der(&pki.root_crl_pem));
    write(
        &crl_dir,
        "seed-intermediate-revoked-der",
        pem_der(&intermediate_crl),
    );
    write(
        &crl_dir,
        "seed-intermediate-empty-der",
        pem_der(&pki.intermediate_crl_pem),
    );
    write(
        &crl_dir,
        "seed-pem-two",
        format!("comment line\n{}{}", pki.root_crl_pem, intermediate_crl),
    );

    let form_dir = corpus.join("form");
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = URL_SAFE_NO_PAD.encode(openssl::sha::sha256(verifier.as_bytes()));
    write(
        &form_dir,
        "seed-token-udap",
        "grant_type=client_credentials&scope=system%2FPatient.rs&udap=1&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
    );
    write(&form_dir, "seed-token-code", format!("grant_type=authorization_code&code=abc&redirect_uri=https%3A%2F%2Fapp.example.org%2Fcb&code_verifier={verifier}&code_challenge={challenge}"));
    write(&form_dir, "seed-authorize", format!("response_type=code&client_id=c1&redirect_uri=https%3A%2F%2Fapp.example.org%2Fcb&scope=launch%2Fpatient+openid+patient%2F*.rs&state=xyz&aud=https%3A%2F%2Fas.example.org&code_challenge={challenge}&code_challenge_method=S256&nonce=n&launch=l1"));
    write(
        &form_dir,
        "seed-repeated",
        "scope=a&scope=b&csrf=t%20x&interaction=i",
    );
    write(
        &form_dir,
        "seed-basic",
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("my%20id:s%3Acret")
        ),
    );

    let scope_dir = corpus.join("scope");
    write(&scope_dir, "seed-v2-granular", "patient/Observation.rs?category=laboratory patient/Condition.r openid fhirUser\npatient/*.read openid launch/patient");
    write(&scope_dir, "seed-system", "system/*.cruds system/Patient.read udap-server/introspect\nsystem/Patient.rs system/Observation.* udap-server/introspect");
    write(
        &scope_dir,
        "seed-v1",
        "user/Patient.write user/Encounter.* offline_access\nuser/*.cud offline_access",
    );
    write(
        &scope_dir,
        "seed-bad",
        "patient/observation.rs patient/Obs.rr patient/Obs.sr system/.r user/*.x?",
    );

    let metadata_dir = corpus.join("metadata");
    let body = |token: String| {
        json!({"udap": "1", "software_statement": token, "certifications": []}).to_string()
    };
    write(
        &metadata_dir,
        "seed-registration-authcode",
        body(rsa.sign(&statement, x5c).unwrap()),
    );
    write(
        &metadata_dir,
        "seed-registration-b2b",
        body(ec.sign(&b2b_statement, x5c).unwrap()),
    );
    write(&metadata_dir, "seed-claims-authcode", statement.to_string());
    write(&metadata_dir, "seed-claims-b2b", b2b_statement.to_string());
    let mut cancel = b2b_statement.clone();
    cancel["grant_types"] = Value::Array(Vec::new());
    write(
        &metadata_dir,
        "seed-registration-cancel",
        body(ec.sign(&cancel, x5c).unwrap()),
    );
}
