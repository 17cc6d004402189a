//! Path building, validity, constraints, key usage, key strength and SAN rows (UDAP-46, 47, 49..52),
//! and the validation cache.

use super::*;
use crate::pki::ca::{issue_inner, KeyKind, KeyUsagePurpose};
use crate::pki::{
    validate_chain, ChainError, RevocationPolicy, TrustCommunity, ValidatedChain, MAX_X5C_CERTS,
};

fn standard() -> TrustCommunity {
    pki().community().unwrap()
}

fn with_intermediate() -> TrustCommunity {
    let p = pki();
    p.community_with(
        true,
        vec![p.root_crl_pem.clone(), p.intermediate_crl_pem.clone()],
        RevocationPolicy::FailClosed,
        Arc::new(crate::pki::CrlFetcher::offline()),
    )
    .unwrap()
}

fn issue_by_intermediate(spec: CertSpec) -> IssuedCert {
    pki().issue_leaf(&spec).unwrap()
}

#[test]
fn valid_chains() {
    let p = pki();
    let rows: Vec<(&str, Vec<Vec<u8>>, TrustCommunity, &str)> = vec![
        // UDAP-46: chain fully in x5c.
        (
            "rsa leaf, intermediate in x5c",
            p.x5c(&p.rsa_leaf),
            standard(),
            crate::pki::testing::RSA_LEAF_SAN,
        ),
        (
            "ec leaf, intermediate in x5c",
            p.x5c(&p.ec_leaf),
            standard(),
            crate::pki::testing::EC_LEAF_SAN,
        ),
        // Clients often send the root too; the configured anchor is used regardless.
        (
            "rsa leaf, intermediate and root in x5c",
            vec![
                p.rsa_leaf.der.clone(),
                p.intermediate.der.clone(),
                p.root.der.clone(),
            ],
            standard(),
            crate::pki::testing::RSA_LEAF_SAN,
        ),
        // Hints in the wrong order, with an unrelated certificate among them.
        (
            "ec leaf, shuffled hints",
            vec![
                p.ec_leaf.der.clone(),
                p.rsa_leaf.der.clone(),
                p.root.der.clone(),
                p.intermediate.der.clone(),
            ],
            standard(),
            crate::pki::testing::EC_LEAF_SAN,
        ),
        // UDAP-46: "configured intermediates ... may be used".
        (
            "rsa leaf, intermediate configured",
            vec![p.rsa_leaf.der.clone()],
            with_intermediate(),
            crate::pki::testing::RSA_LEAF_SAN,
        ),
        (
            "ec leaf, intermediate configured",
            vec![p.ec_leaf.der.clone()],
            with_intermediate(),
            crate::pki::testing::EC_LEAF_SAN,
        ),
    ];
    for (name, x5c, community, san) in rows {
        let chain = validate_chain(&x5c, &community, NOW).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(chain.san_uris, vec![san.to_string()], "{name}");
        assert_eq!(chain.leaf_der, x5c[0], "{name}");
        assert_eq!(
            chain.path_der,
            vec![
                x5c[0].clone(),
                p.intermediate.der.clone(),
                p.root.der.clone()
            ],
            "{name}"
        );
        assert_eq!(chain.leaf_sha256, openssl::sha::sha256(&x5c[0]), "{name}");
        // The leaf expires first (1 year vs 5 and 10).
        assert_eq!(chain.not_after, NOW + 365 * DAY, "{name}");
    }
}

/// One row per rejection; each asserts the exact error, including the certificate it names.
#[test]
fn rejections() {
    let p = pki();
    let evil = evil_root();

    let expired = issue_by_intermediate(CertSpec {
        not_before: NOW - 400 * DAY,
        not_after: NOW - DAY,
        ..leaf_spec("expired")
    });
    let future = issue_by_intermediate(CertSpec {
        not_before: NOW + DAY,
        not_after: NOW + 400 * DAY,
        ..leaf_spec("future")
    });
    let cert_sign_only = issue_by_intermediate(CertSpec {
        key_usage: Some(vec![KeyUsagePurpose::KeyCertSign]),
        ..leaf_spec("certsign")
    });
    let ca_leaf = issue_by_intermediate(CertSpec {
        is_ca: true,
        ..leaf_spec("ca as leaf")
    });
    let no_san = issue_by_intermediate(CertSpec {
        san_uris: vec![],
        dns_names: vec!["client.example.org".into()],
        ..leaf_spec("no san")
    });
    let weak = issue_by_intermediate(CertSpec {
        key: KeyKind::InsecureRsa1024,
        ..leaf_spec("weak rsa")
    });
    let p384 = issue_by_intermediate(CertSpec {
        key: KeyKind::EcP384,
        ..leaf_spec("p384")
    });

    // Untrusted root with the same DN as the trusted one, sent in x5c with its own chain.
    let evil_int = ca::issue(
        &CertSpec {
            organization: Some(crate::pki::testing::ORGANIZATION.into()),
            ..CertSpec::ca("UDAP Test Intermediate CA", NOW)
        },
        &evil.cert_pem,
        &evil.key_pem,
    )
    .unwrap();
    let evil_leaf = ca::issue(
        &leaf_spec("evil leaf"),
        &evil_int.cert_pem,
        &evil_int.key_pem,
    )
    .unwrap();
    // A leaf issued directly by the look-alike root (its issuer DN is the trusted root's).
    let evil_direct = ca::issue(&leaf_spec("evil direct"), &evil.cert_pem, &evil.key_pem).unwrap();
    // An intermediate naming the trusted root as issuer, and even carrying the trusted root's
    // key identifier as AKI, but signed by another key.
    let forged_int = issue_inner(
        &CertSpec {
            organization: Some(crate::pki::testing::ORGANIZATION.into()),
            ..CertSpec::ca("Forged Intermediate CA", NOW)
        },
        &p.root.cert_pem,
        &evil.key_pem,
        false,
    )
    .unwrap();
    let forged_leaf = ca::issue(
        &leaf_spec("forged leaf"),
        &forged_int.cert_pem,
        &forged_int.key_pem,
    )
    .unwrap();

    // Self-signed leaf, not an anchor.
    let self_signed_leaf = ca::self_signed(&leaf_spec("self-signed leaf")).unwrap();

    // UDAP-49 pathLen: the standard intermediate has pathLen 0, so a sub-CA under it is too deep.
    let sub_ca = ca::issue(
        &CertSpec {
            is_ca: true,
            ..leaf_spec("sub ca")
        },
        &p.intermediate.cert_pem,
        &p.intermediate.key_pem,
    )
    .unwrap();
    let too_deep = ca::issue(&leaf_spec("too deep"), &sub_ca.cert_pem, &sub_ca.key_pem).unwrap();

    // UDAP-49 CA:TRUE: a leaf issued by another leaf.
    let by_leaf = ca::issue(
        &leaf_spec("issued by a leaf"),
        &p.rsa_leaf.cert_pem,
        &p.rsa_leaf.key_pem,
    )
    .unwrap();

    // UDAP-51 on an issuer: a CA whose keyUsage lacks keyCertSign (OpenSSL does not accept it as
    // issuer and says only "issuer not found"; the refinement names the real cause).
    let no_cert_sign = ca::issue(
        &CertSpec {
            key_usage: Some(vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::CrlSign,
            ]),
            ..CertSpec::ca("No CertSign CA", NOW)
        },
        &p.root.cert_pem,
        &p.root.key_pem,
    )
    .unwrap();
    let under_no_cert_sign = ca::issue(
        &leaf_spec("under no certsign"),
        &no_cert_sign.cert_pem,
        &no_cert_sign.key_pem,
    )
    .unwrap();

    // UDAP-47 on an issuer: an expired intermediate.
    let old_int = ca::issue(
        &CertSpec {
            not_before: NOW - 800 * DAY,
            not_after: NOW - 2 * DAY,
            ..CertSpec::ca("Old Intermediate CA", NOW)
        },
        &p.root.cert_pem,
        &p.root.key_pem,
    )
    .unwrap();
    let under_old =
        ca::issue(&leaf_spec("under old"), &old_int.cert_pem, &old_int.key_pem).unwrap();

    let int = p.intermediate.der.clone();
    let rows: Vec<(&str, Vec<Vec<u8>>, ChainError)> = vec![
        ("empty x5c", vec![], ChainError::Empty),
        (
            "garbage leaf",
            vec![b"garbage".to_vec()],
            ChainError::Malformed { index: 0 },
        ),
        (
            "garbage hint",
            vec![p.rsa_leaf.der.clone(), b"garbage".to_vec()],
            ChainError::Malformed { index: 1 },
        ),
        (
            "trailing bytes",
            vec![[p.rsa_leaf.der.clone(), vec![0]].concat()],
            ChainError::Malformed { index: 0 },
        ),
        (
            "too many certificates",
            vec![p.rsa_leaf.der.clone(); MAX_X5C_CERTS + 1],
            ChainError::TooManyCertificates {
                count: MAX_X5C_CERTS + 1,
                max: MAX_X5C_CERTS,
            },
        ),
        // UDAP-47
        (
            "expired leaf",
            vec![expired.der.clone(), int.clone()],
            ChainError::Expired {
                subject: subject(&expired),
                not_after: NOW - DAY,
            },
        ),
        (
            "not yet valid leaf",
            vec![future.der.clone(), int.clone()],
            ChainError::NotYetValid {
                subject: subject(&future),
                not_before: NOW + DAY,
            },
        ),
        (
            "expired intermediate",
            vec![under_old.der.clone(), old_int.der.clone()],
            ChainError::Expired {
                subject: subject(&old_int),
                not_after: NOW - 2 * DAY,
            },
        ),
        // UDAP-51
        (
            "keyCertSign-only leaf",
            vec![cert_sign_only.der.clone(), int.clone()],
            ChainError::KeyUsage {
                subject: subject(&cert_sign_only),
            },
        ),
        // A CA certificate as the leaf.
        (
            "CA certificate as leaf",
            vec![ca_leaf.der.clone(), int.clone()],
            ChainError::LeafIsCa {
                subject: subject(&ca_leaf),
            },
        ),
        (
            "trust anchor as leaf",
            vec![p.root.der.clone()],
            ChainError::LeafIsCa {
                subject: subject(&p.root),
            },
        ),
        // UDAP-50
        (
            "no SAN URI",
            vec![no_san.der.clone(), int.clone()],
            ChainError::NoSanUri {
                subject: subject(&no_san),
            },
        ),
        // UDAP-52
        (
            "RSA-1024 leaf",
            vec![weak.der.clone(), int.clone()],
            ChainError::WeakKey {
                subject: subject(&weak),
                detail: "RSA key of 1024 bits; at least 2048 are required".into(),
            },
        ),
        // UDAP-46: no path
        (
            "intermediate missing",
            vec![p.rsa_leaf.der.clone()],
            ChainError::Untrusted {
                subject: subject(&p.rsa_leaf),
            },
        ),
        (
            "self-signed leaf",
            vec![self_signed_leaf.der.clone()],
            ChainError::Untrusted {
                subject: subject(&self_signed_leaf),
            },
        ),
        (
            "untrusted root with the trusted root's DN, in x5c",
            vec![
                evil_leaf.der.clone(),
                evil_int.der.clone(),
                evil.der.clone(),
            ],
            ChainError::Untrusted {
                subject: subject(evil),
            },
        ),
        (
            "untrusted intermediate whose issuer DN is the trusted root's, other key",
            vec![evil_leaf.der.clone(), evil_int.der.clone()],
            ChainError::BadSignature {
                subject: subject(&evil_int),
            },
        ),
        (
            "leaf signed by a look-alike root",
            vec![evil_direct.der.clone()],
            ChainError::BadSignature {
                subject: subject(&evil_direct),
            },
        ),
        (
            "intermediate with the trusted root's DN and AKI, signed by another key",
            vec![forged_leaf.der.clone(), forged_int.der.clone()],
            ChainError::BadSignature {
                subject: subject(&forged_int),
            },
        ),
        (
            "issuer CA without keyCertSign",
            vec![under_no_cert_sign.der.clone(), no_cert_sign.der.clone()],
            ChainError::KeyUsage {
                subject: subject(&no_cert_sign),
            },
        ),
        // UDAP-49
        (
            "path longer than the intermediate's pathLen",
            vec![too_deep.der.clone(), sub_ca.der.clone(), int.clone()],
            ChainError::PathLength {
                subject: subject(&p.intermediate),
            },
        ),
        (
            "issuer is not a CA",
            vec![by_leaf.der.clone(), p.rsa_leaf.der.clone(), int.clone()],
            ChainError::NotCa {
                subject: subject(&p.rsa_leaf),
            },
        ),
    ];
    let community = standard();
    for (name, x5c, expected) in rows {
        assert_eq!(
            validate_chain(&x5c, &community, NOW),
            Err(expected),
            "{name}"
        );
    }
    // P-384 is allowed (UDAP-52).
    assert!(validate_chain(&[p384.der.clone(), int], &community, NOW).is_ok());
    // Failures are never cached.
    assert_eq!(community.cached_validations(), 1);
}

#[test]
fn san_uris_returns_only_uris_in_order() {
    let leaf = issue_by_intermediate(CertSpec {
        san_uris: vec![
            "https://a.example/fhir".into(),
            "https://a.example:7016/fhir".into(),
        ],
        dns_names: vec!["a.example".into()],
        ..leaf_spec("multi san")
    });
    assert_eq!(
        crate::pki::san_uris(&leaf.der).unwrap(),
        vec!["https://a.example/fhir", "https://a.example:7016/fhir"]
    );
    let chain = validate_chain(&pki().x5c(&leaf), &standard(), NOW).unwrap();
    assert_eq!(chain.san_uris.len(), 2);
}

/// A validation is cached and reused inside its window, and not used outside it.
#[test]
fn cache_hit_and_window() {
    let p = pki();
    let community = standard();
    let x5c = p.x5c(&p.rsa_leaf);
    let first = validate_chain(&x5c, &community, NOW).unwrap();
    assert_eq!(community.cached_validations(), 1);
    assert_eq!(validate_chain(&x5c, &community, NOW + 60).unwrap(), first);
    assert_eq!(community.cached_validations(), 1);

    // Past the CRLs' nextUpdate (a week) the cached result is not used: the stale CRL decides.
    let later = NOW + 8 * DAY;
    assert!(matches!(
        validate_chain(&x5c, &community, later),
        Err(ChainError::RevocationUnknown { .. })
    ));
    // Before the CRLs' lastUpdate (an hour before NOW) neither.
    assert!(matches!(
        validate_chain(&x5c, &community, NOW - 2 * 3600),
        Err(ChainError::RevocationUnknown { .. })
    ));

    // White-box: a planted entry is returned inside its window only, proving lookups use it.
    let planted = ValidatedChain {
        leaf_der: vec![1],
        san_uris: vec!["urn:planted".into()],
        path_der: vec![],
        not_after: 0,
        leaf_sha256: [0; 32],
    };
    let fake_x5c = vec![b"not a certificate".to_vec()];
    let key = crate::pki::cache::ValidationCache::key(&fake_x5c);
    community
        .cache
        .insert(key, planted.clone(), NOW, NOW + 100, NOW);
    assert_eq!(validate_chain(&fake_x5c, &community, NOW + 50), Ok(planted));
    assert_eq!(
        validate_chain(&fake_x5c, &community, NOW + 100),
        Err(ChainError::Malformed { index: 0 })
    );
    assert_eq!(
        validate_chain(&fake_x5c, &community, NOW - 1),
        Err(ChainError::Malformed { index: 0 })
    );
}

/// The cache window is bounded by the path's earliest notAfter too.
#[test]
fn cache_window_bounded_by_not_after() {
    let leaf = issue_by_intermediate(CertSpec {
        not_after: NOW + 3600,
        ..leaf_spec("short lived")
    });
    let community = standard();
    let x5c = pki().x5c(&leaf);
    assert!(validate_chain(&x5c, &community, NOW).is_ok());
    assert_eq!(
        validate_chain(&x5c, &community, NOW + 3601),
        Err(ChainError::Expired {
            subject: subject(&leaf),
            not_after: NOW + 3600
        })
    );
}
