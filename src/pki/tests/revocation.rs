//! UDAP-48: revocation rows: configured CRLs, CRLs fetched from a distribution point served on
//! 127.0.0.1, unreachable distribution points under both policies, stale and wrongly signed CRLs.

use super::*;
use crate::fetch::test_server::{wait_for, Reply, TestServer};
use crate::pki::ca::crl_inner;
use crate::pki::revocation::CRL_FETCH_FAILED;
use crate::pki::{validate_chain, ChainError, CrlFetcher, RevocationPolicy, TrustCommunity};

fn community(crls: Vec<String>, policy: RevocationPolicy, fetcher: CrlFetcher) -> TrustCommunity {
    pki()
        .community_with(false, crls, policy, Arc::new(fetcher))
        .unwrap()
}

fn leaf_with_cdp(cn: &str, url: &str) -> IssuedCert {
    pki()
        .issue_leaf(&CertSpec {
            crl_distribution_points: vec![url.to_string()],
            ..leaf_spec(cn)
        })
        .unwrap()
}

#[test]
fn revoked_by_configured_crl() {
    let p = pki();
    let revoked = p.issue_leaf(&leaf_spec("revoked")).unwrap();
    let crl = p.intermediate_crl(&[revoked.serial_hex.clone()]).unwrap();
    let c = community(
        vec![p.root_crl_pem.clone(), crl],
        RevocationPolicy::FailClosed,
        CrlFetcher::offline(),
    );
    assert_eq!(
        validate_chain(&p.x5c(&revoked), &c, NOW),
        Err(ChainError::Revoked {
            subject: subject(&revoked),
            serial: revoked.serial_hex.clone()
        })
    );
    // Other leaves of the same issuer are fine.
    assert!(validate_chain(&p.x5c(&p.rsa_leaf), &c, NOW).is_ok());
}

#[test]
fn revoked_intermediate_is_reported() {
    let p = pki();
    let root_crl = ca::crl(
        &p.root.cert_pem,
        &p.root.key_pem,
        &[p.intermediate.serial_hex.clone()],
        2,
        NOW - 3600,
        NOW + DAY,
    )
    .unwrap();
    let c = community(
        vec![root_crl, p.intermediate_crl_pem.clone()],
        RevocationPolicy::FailClosed,
        CrlFetcher::offline(),
    );
    assert_eq!(
        validate_chain(&p.x5c(&p.rsa_leaf), &c, NOW),
        Err(ChainError::Revoked {
            subject: subject(&p.intermediate),
            serial: p.intermediate.serial_hex.clone()
        })
    );
}

#[test]
fn revoked_by_crl_fetched_from_distribution_point() {
    let p = pki();
    // The leaf must name the server's URL and the served CRL must list the leaf: fix the
    // serial in advance, start the server with the CRL, then issue the leaf.
    let serial = 0x5eed_0001u64;
    let crl = p.intermediate_crl(&[format!("{serial:x}")]).unwrap();
    let server = crl_server(pem_der(&crl));
    let url = server.url("/intermediate.crl");
    let revoked = p
        .issue_leaf(&CertSpec {
            serial: Some(serial),
            crl_distribution_points: vec![url.clone()],
            ..leaf_spec("revoked via cdp")
        })
        .unwrap();
    let good = leaf_with_cdp("good via cdp", &url);

    // Only the root's CRL is configured: the intermediate's comes from the distribution point.
    let c = community(
        vec![p.root_crl_pem.clone()],
        RevocationPolicy::FailClosed,
        local_fetcher(),
    );
    assert_eq!(
        validate_chain(&p.x5c(&revoked), &c, NOW),
        Err(ChainError::Revoked {
            subject: subject(&revoked),
            serial: format!("{serial:x}")
        })
    );
    assert_eq!(server.hits(), 1);
    assert!(validate_chain(&p.x5c(&good), &c, NOW).is_ok());
    // The fetched CRL is cached until its nextUpdate: no second download.
    assert_eq!(server.hits(), 1);
    // Past its nextUpdate the cached copy is not used; the re-downloaded one is just as stale.
    assert!(matches!(
        validate_chain(&p.x5c(&good), &c, NOW + 8 * DAY),
        Err(ChainError::RevocationUnknown { .. })
    ));
    assert_eq!(server.hits(), 2);
    // Issue 8 item 4: a download is kept for a minimum lifetime even when stale, so requests do
    // not re-download it one after another.
    assert!(matches!(
        validate_chain(&p.x5c(&good), &c, NOW + 8 * DAY + 30),
        Err(ChainError::RevocationUnknown { .. })
    ));
    assert_eq!(server.hits(), 2);
}

#[test]
fn fresh_configured_crl_means_no_fetch() {
    let p = pki();
    let server = crl_server(pem_der(&p.intermediate_crl_pem));
    let leaf = leaf_with_cdp("configured wins", &server.url("/intermediate.crl"));
    let c = community(
        vec![p.root_crl_pem.clone(), p.intermediate_crl_pem.clone()],
        RevocationPolicy::FailClosed,
        local_fetcher(),
    );
    assert!(validate_chain(&p.x5c(&leaf), &c, NOW).is_ok());
    assert_eq!(server.hits(), 0);
}

#[test]
fn unreachable_distribution_point() {
    let p = pki();
    let url = dead_url();
    let leaf = leaf_with_cdp("unreachable cdp", &url);
    let x5c = p.x5c(&leaf);

    // Fail-closed: unknown status rejects (UDAP-48, udap-dotnet's default).
    let closed = community(
        vec![p.root_crl_pem.clone()],
        RevocationPolicy::FailClosed,
        local_fetcher(),
    );
    match validate_chain(&x5c, &closed, NOW) {
        Err(ChainError::RevocationUnknown { subject: s, reason }) => {
            assert_eq!(s, subject(&leaf));
            // Issue 8 item 7: a fixed reason; the URL and the connection error are only logged.
            assert!(reason.contains(CRL_FETCH_FAILED), "{reason}");
            assert!(
                !reason.contains("http") && !reason.contains("127.0.0.1"),
                "{reason}"
            );
        }
        other => panic!("expected RevocationUnknown, got {other:?}"),
    }

    // Fail-open: accepted, with a warning, and not cached (the next request retries).
    let open = community(
        vec![p.root_crl_pem.clone()],
        RevocationPolicy::FailOpen,
        local_fetcher(),
    );
    assert!(validate_chain(&x5c, &open, NOW).is_ok());
    assert_eq!(open.cached_validations(), 0);
}

/// Issue 8 item 4: a failing distribution point is not asked again during its backoff (10 s,
/// then doubling), whatever the number of requests.
#[test]
fn failing_distribution_point_is_backed_off() {
    let p = pki();
    let server = TestServer::start(|_| Reply::status(500));
    let leaf = leaf_with_cdp("failing cdp", &server.url("/intermediate.crl"));
    let c = community(
        vec![p.root_crl_pem.clone()],
        RevocationPolicy::FailClosed,
        local_fetcher(),
    );
    // (validation time, downloads so far)
    for (at, hits) in [
        (NOW, 1),
        (NOW, 1),
        (NOW + 9, 1),
        (NOW + 10, 2),
        (NOW + 29, 2),
        (NOW + 30, 3),
    ] {
        match validate_chain(&p.x5c(&leaf), &c, at) {
            Err(ChainError::RevocationUnknown { reason, .. }) => {
                assert!(reason.contains(CRL_FETCH_FAILED), "{reason}")
            }
            other => panic!("expected RevocationUnknown, got {other:?}"),
        }
        assert_eq!(server.hits(), hits, "at NOW+{}", at - NOW);
    }
}

/// Issue 8 item 4: without `outbound_allow_private_networks`, a distribution point on 127.0.0.1
/// is refused by the address policy before any connection is made.
#[test]
fn private_distribution_point_is_refused_by_default() {
    let p = pki();
    let server = crl_server(pem_der(&p.intermediate_crl_pem));
    let leaf = leaf_with_cdp("loopback cdp", &server.url("/intermediate.crl"));
    let c = community(
        vec![p.root_crl_pem.clone()],
        RevocationPolicy::FailClosed,
        CrlFetcher::new(),
    );
    match validate_chain(&p.x5c(&leaf), &c, NOW) {
        Err(ChainError::RevocationUnknown { reason, .. }) => {
            assert!(reason.contains(CRL_FETCH_FAILED), "{reason}")
        }
        other => panic!("expected RevocationUnknown, got {other:?}"),
    }
    assert_eq!(server.hits(), 0);
}

/// Issue 8 item 4: concurrent validations that need the same distribution point share one download.
#[test]
fn concurrent_validations_share_one_crl_download() {
    const N: usize = 10;
    let p = pki();
    let server = crl_server(pem_der(&p.intermediate_crl_pem));
    let url = server.url("/intermediate.crl");
    let leaf = leaf_with_cdp("single flight", &url);
    let fetcher = Arc::new(local_fetcher());
    let c = Arc::new(
        p.community_with(
            false,
            vec![p.root_crl_pem.clone()],
            RevocationPolicy::FailClosed,
            fetcher.clone(),
        )
        .unwrap(),
    );
    server.hold();
    let threads: Vec<_> = (0..N)
        .map(|_| {
            let (c, x5c) = (c.clone(), p.x5c(&leaf));
            std::thread::spawn(move || validate_chain(&x5c, &c, NOW))
        })
        .collect();
    wait_for(
        "one download and every other validation waiting on it",
        || server.hits() == 1 && fetcher.waiters(&url) == N - 1,
    );
    server.release();
    for t in threads {
        assert!(t.join().unwrap().is_ok());
    }
    assert_eq!(server.hits(), 1);
}

/// Issue 8 item 4: a CRL is refreshed once 80% of its validity has passed, by the refresher and not
/// by a request: the validation after the refresh uses the new CRL without downloading.
#[test]
fn crl_is_refreshed_ahead_of_next_update() {
    let p = pki();
    let server = crl_server(pem_der(&p.intermediate_crl_pem));
    let url = server.url("/intermediate.crl");
    let first = leaf_with_cdp("refresh first", &url);
    let later = leaf_with_cdp("refresh later", &url);
    let fetcher = Arc::new(local_fetcher());
    let c = p
        .community_with(
            false,
            vec![p.root_crl_pem.clone()],
            RevocationPolicy::FailClosed,
            fetcher.clone(),
        )
        .unwrap();
    assert!(validate_chain(&p.x5c(&first), &c, NOW).is_ok());
    assert_eq!(server.hits(), 1);
    // The publisher issues a newer CRL that revokes `later`.
    let newer = ca::crl(
        &p.intermediate.cert_pem,
        &p.intermediate.key_pem,
        &[later.serial_hex.clone()],
        3,
        NOW + 5 * DAY,
        NOW + 12 * DAY,
    )
    .unwrap();
    let der = pem_der(&newer);
    server.set_handler(move |_| Reply::ok(der.clone()));
    // The first CRL runs NOW - 1 h .. NOW + 7 d: not due at 5 days, due at 6.
    assert_eq!(fetcher.refresh_due(NOW + 5 * DAY), 0);
    assert_eq!(server.hits(), 1);
    assert_eq!(fetcher.refresh_due(NOW + 6 * DAY), 1);
    assert_eq!(server.hits(), 2);
    assert_eq!(
        validate_chain(&p.x5c(&later), &c, NOW + 6 * DAY),
        Err(ChainError::Revoked {
            subject: subject(&later),
            serial: later.serial_hex.clone()
        })
    );
    assert_eq!(server.hits(), 2, "the validation used the refreshed CRL");
    // The new CRL is not due again yet.
    assert_eq!(fetcher.refresh_due(NOW + 6 * DAY), 0);
}

/// The refresher thread does the same on its own (clock pinned 6 days ahead).
#[test]
fn refresher_thread_refreshes_without_requests() {
    let p = pki();
    let server = crl_server(pem_der(&p.intermediate_crl_pem));
    let url = server.url("/intermediate.crl");
    let first = leaf_with_cdp("thread first", &url);
    let later = leaf_with_cdp("thread later", &url);
    let fetcher = Arc::new(local_fetcher());
    let c = p
        .community_with(
            false,
            vec![p.root_crl_pem.clone()],
            RevocationPolicy::FailClosed,
            fetcher.clone(),
        )
        .unwrap();
    assert!(validate_chain(&p.x5c(&first), &c, NOW).is_ok());
    let newer = ca::crl(
        &p.intermediate.cert_pem,
        &p.intermediate.key_pem,
        &[later.serial_hex.clone()],
        3,
        NOW + 5 * DAY,
        NOW + 12 * DAY,
    )
    .unwrap();
    let der = pem_der(&newer);
    server.set_handler(move |_| Reply::ok(der.clone()));
    fetcher
        .spawn_refresher(std::time::Duration::from_secs(1), || NOW + 6 * DAY)
        .unwrap();
    wait_for("the refresher's download", || server.hits() == 2);
    assert!(matches!(
        validate_chain(&p.x5c(&later), &c, NOW + 6 * DAY),
        Err(ChainError::Revoked { .. })
    ));
    assert_eq!(server.hits(), 2);
}

#[test]
fn crl_rows() {
    let p = pki();
    let leaf = p.issue_leaf(&leaf_spec("crl rows")).unwrap();
    let x5c = p.x5c(&leaf);
    let stale = ca::crl(
        &p.intermediate.cert_pem,
        &p.intermediate.key_pem,
        &[],
        3,
        NOW - 8 * DAY,
        NOW - DAY,
    )
    .unwrap();
    // Names the intermediate as issuer and lists the leaf, but is signed by another key.
    let wrong_key = crl_inner(
        &p.intermediate.cert_pem,
        &evil_root().key_pem,
        &[leaf.serial_hex.clone()],
        4,
        NOW - 3600,
        NOW + DAY,
        false,
    )
    .unwrap();
    // From the root, not from the leaf's issuer.
    let other_issuer = ca::crl(
        &p.root.cert_pem,
        &p.root.key_pem,
        &[leaf.serial_hex.clone()],
        5,
        NOW - 3600,
        NOW + DAY,
    )
    .unwrap();

    // Expected: `None` = accepted, `Some(part)` = RevocationUnknown for the leaf with `part` in the reason.
    let rows: Vec<(&str, Vec<String>, RevocationPolicy, Option<&str>)> = vec![
        (
            "stale CRL, fail-closed",
            vec![p.root_crl_pem.clone(), stale.clone()],
            RevocationPolicy::FailClosed,
            Some("stale"),
        ),
        (
            "stale CRL, fail-open",
            vec![p.root_crl_pem.clone(), stale],
            RevocationPolicy::FailOpen,
            None,
        ),
        (
            "CRL signed by the wrong key is ignored",
            vec![p.root_crl_pem.clone(), wrong_key.clone()],
            RevocationPolicy::FailClosed,
            Some("not signed by the issuer's key"),
        ),
        (
            "CRL signed by the wrong key is ignored, fail-open",
            vec![p.root_crl_pem.clone(), wrong_key],
            RevocationPolicy::FailOpen,
            None,
        ),
        (
            "CRL of another issuer does not cover the leaf",
            vec![p.root_crl_pem.clone(), other_issuer],
            RevocationPolicy::FailClosed,
            Some("no CRL from the issuer is configured"),
        ),
        (
            "no CRL for the leaf, no distribution point",
            vec![p.root_crl_pem.clone()],
            RevocationPolicy::FailClosed,
            Some("no http(s) CRL distribution point"),
        ),
    ];
    for (name, crls, policy, expected) in rows {
        let got = validate_chain(&x5c, &community(crls, policy, CrlFetcher::offline()), NOW);
        match (got, expected) {
            (Ok(_), None) => {}
            (Err(ChainError::RevocationUnknown { subject: s, reason }), Some(part)) => {
                assert_eq!(s, subject(&leaf), "{name}");
                assert!(
                    reason.contains(part),
                    "{name}: reason `{reason}` lacks `{part}`"
                );
            }
            (got, _) => panic!("{name}: unexpected {got:?}"),
        }
    }
}

/// The intermediate's status is checked too: without the root's CRL it is unknown.
#[test]
fn intermediate_status_is_checked() {
    let p = pki();
    let c = community(
        vec![p.intermediate_crl_pem.clone()],
        RevocationPolicy::FailClosed,
        CrlFetcher::offline(),
    );
    assert!(matches!(
        validate_chain(&p.x5c(&p.rsa_leaf), &c, NOW),
        Err(ChainError::RevocationUnknown { subject: s, .. }) if s == subject(&p.intermediate)
    ));
}

/// RFC 5280 6.3.3: a CA whose keyUsage lacks cRLSign cannot vouch for its certificates' status.
#[test]
fn issuer_without_crl_sign() {
    let p = pki();
    let ca_spec = CertSpec {
        key_usage: Some(vec![
            ca::KeyUsagePurpose::KeyCertSign,
            ca::KeyUsagePurpose::DigitalSignature,
        ]),
        ..CertSpec::ca("No CRLSign CA", NOW)
    };
    let no_crl_sign = ca::issue(&ca_spec, &p.root.cert_pem, &p.root.key_pem).unwrap();
    let leaf = ca::issue(
        &leaf_spec("under no crlsign"),
        &no_crl_sign.cert_pem,
        &no_crl_sign.key_pem,
    )
    .unwrap();
    let c = community(
        vec![p.root_crl_pem.clone()],
        RevocationPolicy::FailClosed,
        CrlFetcher::offline(),
    );
    match validate_chain(&[leaf.der.clone(), no_crl_sign.der.clone()], &c, NOW) {
        Err(ChainError::RevocationUnknown { subject: s, reason }) => {
            assert_eq!(s, subject(&leaf));
            assert!(reason.contains("cRLSign"), "{reason}");
        }
        other => panic!("expected RevocationUnknown, got {other:?}"),
    }
}
