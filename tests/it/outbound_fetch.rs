//! Issue 8 item 4 (and the fetch part of item 7): outbound fetches a client can cause are bounded.
//! A SMART client's `jwks_uri` (SMART-49) is fetched once for concurrent requests, not again while
//! it is failing, never for an assertion that fails the cheap checks, and never on a private
//! address unless configured; a CRL download failure (UDAP-48) shows the client no URL.

use std::net::TcpListener;
use std::time::Duration;

use serde_json::{json, Value};
use udap_server::config::Overrides;
use udap_server::jose::Signer;
use udap_server::pki::ca::{CertSpec, KeyKind};

use crate::common::smart::{assertion, backend_token, key, smart_client};
use crate::common::stub::{wait_for, StubReply, StubServer};
use crate::common::{rsa_key_pem, sign_raw, Options, TestCommunity, TestServer};

/// The fixed text a client gets when its JWK Set cannot be had (the URL and the cause are logged).
const JWKS_UNAVAILABLE: &str = "the client's JWK Set could not be obtained";

/// Status, `error` and `error_description` of an OAuth error response.
fn error_with_description(res: reqwest::blocking::Response) -> (u16, String, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().unwrap_or(Value::Null);
    (
        status,
        body["error"].as_str().unwrap_or("").to_string(),
        body["error_description"].as_str().unwrap_or("").to_string(),
    )
}

fn ec_signer() -> Signer {
    Signer::from_pem(&key(KeyKind::EcP256), None).unwrap()
}

#[test]
fn concurrent_requests_share_one_jwks_download() {
    // SMART-49 with issue 8 item 4: single flight per jwks_uri.
    const N: usize = 20;
    let s = TestServer::start();
    let signer = ec_signer();
    let jwks = StubServer::jwks(json!({"keys": [signer.public_jwk()]}), "max-age=300");
    smart_client(&s, "concurrent", None, Some(jwks.url("/jwks")));
    let assertions: Vec<String> = (0..N)
        .map(|_| assertion(&signer, "concurrent", &s.ep.token, json!({})))
        .collect();
    jwks.hold();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let requests: Vec<_> = assertions
            .iter()
            .map(|a| scope.spawn(|| backend_token(&s, a).status().as_u16()))
            .collect();
        wait_for("the first JWKS request", || jwks.hits() >= 1);
        // Let the other requests arrive while the download is held. Nothing is asserted about
        // timing: a request that arrives after the download finds the cached set.
        std::thread::sleep(Duration::from_millis(300));
        jwks.release();
        requests.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert_eq!(statuses, vec![200; N]);
    assert_eq!(jwks.hits(), 1);
}

#[test]
fn a_failing_jwks_uri_is_backed_off_and_not_shown_to_the_client() {
    let s = TestServer::start();
    let signer = ec_signer();
    let jwks = StubServer::start(|_| StubReply::status(500));
    smart_client(&s, "failing", None, Some(jwks.url("/jwks")));
    for attempt in 0..3 {
        let (status, error, description) = error_with_description(backend_token(
            &s,
            &assertion(&signer, "failing", &s.ep.token, json!({})),
        ));
        // SMART-49: any authentication failure is invalid_client.
        assert_eq!(
            (status, error.as_str()),
            (400, "invalid_client"),
            "attempt {attempt}"
        );
        // Issue 8 item 7: a fixed text, no URL and no HTTP detail.
        assert_eq!(description, JWKS_UNAVAILABLE, "attempt {attempt}");
    }
    // Inside the backoff window (10 s after the failure) the host is not asked again.
    assert_eq!(jwks.hits(), 1);
}

#[test]
fn a_slow_jwks_host_holds_one_request_not_every_request() {
    let s = TestServer::start();
    let signer = ec_signer();
    let jwks = StubServer::jwks(json!({"keys": [signer.public_jwk()]}), "max-age=300");
    jwks.hold(); // never answers: the download times out
    smart_client(&s, "slow", None, Some(jwks.url("/jwks")));
    for attempt in 0..3 {
        let (status, error, description) = error_with_description(backend_token(
            &s,
            &assertion(&signer, "slow", &s.ep.token, json!({})),
        ));
        assert_eq!(
            (status, error.as_str(), description.as_str()),
            (400, "invalid_client", JWKS_UNAVAILABLE),
            "attempt {attempt}"
        );
    }
    assert_eq!(jwks.hits(), 1);
}

#[test]
fn junk_assertions_never_fetch_the_jwks() {
    // SMART-49 claims and header rules, checked before any outbound request.
    let s = TestServer::start();
    let signer = ec_signer();
    let jwks = StubServer::jwks(json!({"keys": [signer.public_jwk()]}), "max-age=300");
    smart_client(&s, "junk", None, Some(jwks.url("/jwks")));
    let t = crate::common::now();
    let wrong_alg = {
        let claims = json!({"iss": "junk", "sub": "junk", "aud": s.ep.token, "exp": t + 200, "jti": "alg-row"});
        sign_raw(
            &json!({"alg": "RS512", "kid": signer.kid()}),
            &claims,
            &rsa_key_pem(),
        )
    };
    let rows: Vec<(&str, String)> = vec![
        (
            "aud elsewhere",
            assertion(
                &signer,
                "junk",
                "https://elsewhere.example/token",
                json!({}),
            ),
        ),
        (
            "expired",
            assertion(&signer, "junk", &s.ep.token, json!({"exp": t - 120})),
        ),
        (
            "exp more than 5 minutes ahead",
            assertion(&signer, "junk", &s.ep.token, json!({"exp": t + 600})),
        ),
        (
            "sub is not the client",
            assertion(&signer, "junk", &s.ep.token, json!({"sub": "someone-else"})),
        ),
        (
            "jti missing",
            assertion(&signer, "junk", &s.ep.token, json!({"jti": null})),
        ),
        ("alg not allowed", wrong_alg),
    ];
    for (name, a) in rows {
        let (status, error, _) = error_with_description(backend_token(&s, &a));
        assert_eq!((status, error.as_str()), (400, "invalid_client"), "{name}");
        assert_eq!(jwks.hits(), 0, "{name}: the JWKS was fetched");
    }
    // The same client with a good assertion fetches it (the host was reachable all along).
    assert_eq!(
        backend_token(&s, &assertion(&signer, "junk", &s.ep.token, json!({})))
            .status()
            .as_u16(),
        200
    );
    assert_eq!(jwks.hits(), 1);
}

#[test]
fn a_jwks_uri_on_a_private_address_is_refused_unless_configured() {
    // Setting `outbound_allow_private_networks` (default false; the harness sets it true).
    let s = TestServer::start_with(Options {
        overrides: Overrides {
            outbound_allow_private_networks: Some(false),
            ..Default::default()
        },
        ..Default::default()
    });
    let signer = ec_signer();
    let jwks = StubServer::jwks(json!({"keys": [signer.public_jwk()]}), "max-age=300");
    for (id, url) in [
        ("loopback", jwks.url("/jwks")),
        ("localhost", format!("http://localhost:{}/jwks", jwks.port)),
    ] {
        smart_client(&s, id, None, Some(url));
        let (status, error, description) = error_with_description(backend_token(
            &s,
            &assertion(&signer, id, &s.ep.token, json!({})),
        ));
        assert_eq!(
            (status, error.as_str(), description.as_str()),
            (400, "invalid_client", JWKS_UNAVAILABLE),
            "{id}"
        );
    }
    assert_eq!(jwks.hits(), 0);
}

#[test]
fn a_crl_download_failure_shows_no_url() {
    // UDAP-48 fail-closed with issue 8 item 7: the reason says the CRL could not be fetched; the
    // distribution point's URL and the connection error stay in the log.
    let dead = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/intermediate.crl", listener.local_addr().unwrap())
    };
    let cdp = TestCommunity::new("urn:test:cdp-community");
    let san = "https://cdp-client.example.org/app";
    let identity = cdp.client_with(san, |spec| CertSpec {
        crl_distribution_points: vec![dead.clone()],
        ..spec
    });
    let s = TestServer::start_with(Options {
        records: vec![Box::new(move |base: &str| {
            // Only the root's CRL is configured: the intermediate's must come from the distribution point.
            let mut record = cdp.record(base, true);
            record.crls_pem.truncate(1);
            record
        })],
        ..Default::default()
    });
    let res = s.post_json(
        &s.ep.registration,
        &json!({"software_statement": s.statement(&identity, json!({})), "udap": "1"}),
    );
    let (status, error, description) = error_with_description(res);
    assert_eq!(
        (status, error.as_str()),
        (400, "unapproved_software_statement"),
        "{description}"
    );
    assert!(description.contains("revocation status"), "{description}");
    assert!(
        !description.contains("http") && !description.contains("127.0.0.1"),
        "{description}"
    );
}
