//! Issue 10 item 6: `/metrics` carries latency histograms per endpoint, token refusals by kind,
//! outbound fetches and CRL ages, all as valid Prometheus text.

use serde_json::json;
use udap_server::pki::ca::KeyKind;
use udap_server::pki::testing::COMMUNITY_URI;
use udap_server::prometheus::check_exposition;

use crate::common::smart::{assertion, backend_token, key, smart_client};
use crate::common::stub::StubServer;
use crate::common::{error_of, TestServer};

const SAN: &str = "https://client.example.org/metrics";

/// The value of the sample line starting with `series ` (name and labels exactly).
fn sample(text: &str, series: &str) -> f64 {
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn token_latency_refusal_kinds_fetches_and_crl_age_are_exposed() {
    let s = TestServer::start();
    let id = s.community.client(SAN);
    let client_id = s.register(&id);
    let a = s.assertion(&id, &client_id, json!({}));
    assert_eq!(s.udap_token(&a).status().as_u16(), 200);
    // The same assertion again: a replay (UDAP-5), refused as invalid_client.
    assert_eq!(error_of(s.udap_token(&a)), (400, "invalid_client".into()));
    // A SMART backend client whose JWK Set is downloaded (SMART-49).
    let signer = udap_server::jose::Signer::from_pem(&key(KeyKind::EcP256), None).unwrap();
    let jwks = StubServer::jwks(json!({"keys": [signer.public_jwk()]}), "max-age=300");
    smart_client(&s, "metrics-backend", None, Some(jwks.url("/jwks")));
    let res = backend_token(
        &s,
        &assertion(&signer, "metrics-backend", &s.ep.token, json!({})),
    );
    assert_eq!(res.status().as_u16(), 200);

    let res = s.get_root("/metrics");
    assert_eq!(res.status().as_u16(), 200);
    let text = res.text().unwrap();
    check_exposition(&text).unwrap();
    // Three token requests so far (this scrape's own request is counted after its response).
    let token = "udap_http_request_duration_seconds";
    assert_eq!(
        sample(&text, &format!("{token}_count{{endpoint=\"/token\"}}")),
        3.0
    );
    assert_eq!(
        sample(
            &text,
            &format!("{token}_bucket{{endpoint=\"/token\",le=\"+Inf\"}}")
        ),
        3.0
    );
    assert!(sample(&text, &format!("{token}_sum{{endpoint=\"/token\"}}")) > 0.0);
    assert_eq!(
        sample(&text, &format!("{token}_count{{endpoint=\"/register\"}}")),
        1.0
    );
    assert_eq!(
        sample(&text, "udap_token_refusals_total{reason=\"replay\"}"),
        1.0
    );
    assert_eq!(
        sample(&text, "udap_token_refusals_total{reason=\"trust\"}"),
        0.0
    );
    assert_eq!(sample(&text, "udap_token_errors_total"), 1.0);
    // Process-wide (other tests in this binary fetch too): at least this test's download.
    assert!(
        sample(
            &text,
            "udap_outbound_fetches_total{kind=\"jwks\",outcome=\"ok\"}"
        ) >= 1.0
    );
    assert!(
        sample(
            &text,
            "udap_outbound_fetch_duration_seconds_count{kind=\"jwks\"}"
        ) >= 1.0
    );
    // The test community's CRLs were issued an hour before the PKI's `now`.
    let age = sample(
        &text,
        &format!("udap_crl_age_seconds{{community=\"{COMMUNITY_URI}\"}}"),
    );
    assert!(age >= 3600.0, "{age}");
    assert_eq!(
        sample(&text, "udap_admin_changes_total{outcome=\"ok\"}"),
        0.0
    );
    assert_eq!(sample(&text, "udap_crl_file_errors_total"), 0.0);
}
