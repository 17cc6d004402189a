//! EHR launch (SMART-13, SMART-17, SMART-22, SMART-35): the EHR creates a launch context over HTTP,
//! the app binds it with `launch`, and the token carries patient and encounter.

use serde_json::Value;
use udap_server::store::ClientRecord;

use super::flow::{
    add_app, add_user, authorize_url, exchange_public, json_of, walk, Browser, VERIFIER,
};
use crate::common::{error_of, now, TestServer};

const EHR_SECRET: &str = "ehr-secret-ehr-secret-ehr-secret-ehr-secret";

fn add_ehr(s: &TestServer, scope: &str) {
    let mut client = ClientRecord::admin(
        "ehr",
        "EHR",
        "client_secret_basic",
        &["client_credentials"],
        scope,
        now(),
    );
    client.secret_hash = Some(udap_server::oauth::client_auth::hash_secret(EHR_SECRET));
    s.store.clients().put(&client).unwrap();
}

fn create_launch(s: &TestServer, form: &[(&str, &str)]) -> reqwest::blocking::Response {
    s.http
        .post(format!("{}/launch", s.base))
        .basic_auth("ehr", Some(EHR_SECRET))
        .form(form)
        .send()
        .unwrap()
}

#[test]
fn ehr_launch_binds_patient_and_encounter() {
    let s = TestServer::start();
    add_ehr(&s, "udap-server/launch");
    let scope = "launch patient/*.rs openid fhirUser";
    add_app(&s, "app", "none", None, scope);
    add_user(&s, "dr-bob", Some("Practitioner/pr7"), &["p1", "p2"]);
    let res = create_launch(
        &s,
        &[
            ("target_client_id", "app"),
            ("patient", "p9"),
            ("encounter", "e42"),
        ],
    );
    let launch: Value = json_of(res);
    let id = launch["launch"].as_str().unwrap();
    // SMART-13: opaque and URL-safe.
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    let b = Browser::new();
    // No picker although the user has two patients: the EHR fixed the context.
    let q = walk(
        &b,
        &s,
        &authorize_url(&s, "app", scope, &[("launch", id)]),
        "dr-bob",
        None,
        None,
        "approve",
    );
    let t = json_of(exchange_public(&s, "app", &q["code"], VERIFIER));
    assert_eq!(t["patient"], "p9");
    assert_eq!(t["encounter"], "e42");
    assert_eq!(t["need_patient_banner"], false);
    assert_eq!(t["scope"], scope);
}

#[test]
fn launch_creation_needs_the_launch_scope_and_a_patient() {
    let s = TestServer::start();
    add_ehr(&s, "system/*.rs");
    add_app(&s, "app", "none", None, "launch patient/*.rs");
    let form = [("target_client_id", "app"), ("patient", "p1")];
    assert_eq!(
        error_of(create_launch(&s, &form)),
        (400, "unauthorized_client".into())
    );
    let s = TestServer::start();
    add_ehr(&s, "udap-server/launch");
    add_app(&s, "app", "none", None, "launch patient/*.rs");
    assert_eq!(
        error_of(create_launch(
            &s,
            &[("target_client_id", "app"), ("encounter", "e1")]
        )),
        (400, "invalid_request".into())
    );
    let res = s.post_form(&format!("{}/launch", s.base), &form);
    assert_eq!(error_of(res).1, "invalid_client");
}

#[test]
fn launch_values_must_be_fhir_ids_and_name_an_existing_app() {
    // Issue 8 item 1: patient/encounter are FHIR ids ([A-Za-z0-9-.]{1,64}); the target app exists.
    let s = TestServer::start();
    add_ehr(&s, "udap-server/launch");
    add_app(&s, "app", "none", None, "launch patient/*.rs");
    let long = "p".repeat(65);
    let rows: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "patient with a slash",
            vec![("target_client_id", "app"), ("patient", "p1/../p2")],
        ),
        (
            "patient with a space",
            vec![("target_client_id", "app"), ("patient", "p 1")],
        ),
        (
            "patient too long",
            vec![("target_client_id", "app"), ("patient", &long)],
        ),
        (
            "encounter with a quote",
            vec![
                ("target_client_id", "app"),
                ("patient", "p1"),
                ("encounter", "e\"1"),
            ],
        ),
        ("no target app", vec![("patient", "p1")]),
        (
            "unknown target app",
            vec![("target_client_id", "nobody"), ("patient", "p1")],
        ),
    ];
    for (name, form) in rows {
        assert_eq!(
            error_of(create_launch(&s, &form)),
            (400, "invalid_request".into()),
            "{name}"
        );
    }
}

#[test]
fn only_administrator_registered_confidential_clients_may_create_launches() {
    // Issue 8 item 1: a public client, or a self-registered one, with the scope in its record gets nothing.
    let s = TestServer::start();
    add_app(&s, "app", "none", None, "launch patient/*.rs");
    let mut public = ClientRecord::admin(
        "pub-ehr",
        "EHR",
        "none",
        &["authorization_code"],
        "udap-server/launch",
        now(),
    );
    public.metadata.redirect_uris = vec![super::flow::REDIRECT.into()];
    s.store.clients().put(&public).unwrap();
    let res = s.post_form(
        &format!("{}/launch", s.base),
        &[
            ("client_id", "pub-ehr"),
            ("target_client_id", "app"),
            ("patient", "p1"),
        ],
    );
    assert_eq!(error_of(res), (400, "unauthorized_client".into()));
    let mut udap = ClientRecord::admin(
        "udap-ehr",
        "EHR",
        "client_secret_basic",
        &["client_credentials"],
        "udap-server/launch",
        now(),
    );
    udap.origin = udap_server::store::ClientOrigin::UdapRegistration;
    udap.secret_hash = Some(udap_server::oauth::client_auth::hash_secret(EHR_SECRET));
    s.store.clients().put(&udap).unwrap();
    let res = s
        .http
        .post(format!("{}/launch", s.base))
        .basic_auth("udap-ehr", Some(EHR_SECRET))
        .form(&[("target_client_id", "app"), ("patient", "p1")])
        .send()
        .unwrap();
    assert_eq!(error_of(res), (400, "unauthorized_client".into()));
}

#[test]
fn a_launch_is_single_use_and_only_for_the_app_it_names() {
    // Issue 8 item 1: bound to the app the EHR named, and single use.
    let s = TestServer::start();
    add_ehr(&s, "udap-server/launch");
    let scope = "launch patient/*.rs openid fhirUser";
    add_app(&s, "app", "none", None, scope);
    add_app(&s, "other", "none", None, scope);
    add_user(&s, "dr-bob", Some("Practitioner/pr7"), &[]);
    let launch: Value = json_of(create_launch(
        &s,
        &[("target_client_id", "app"), ("patient", "p9")],
    ));
    let id = launch["launch"].as_str().unwrap();
    assert!(launch["expires_in"].as_i64().unwrap() <= 300, "short-lived");
    let b = Browser::new();
    // Another app presenting it is refused, and does not burn it.
    let q = super::flow::query(&super::flow::location(&b.get(&authorize_url(
        &s,
        "other",
        scope,
        &[("launch", id)],
    ))));
    assert_eq!(q["error"], "invalid_request");
    let q = walk(
        &b,
        &s,
        &authorize_url(&s, "app", scope, &[("launch", id)]),
        "dr-bob",
        None,
        None,
        "approve",
    );
    assert!(q.contains_key("code"), "{q:?}");
    // Second use.
    let q = super::flow::query(&super::flow::location(&b.get(&authorize_url(
        &s,
        "app",
        scope,
        &[("launch", id)],
    ))));
    assert_eq!(q["error"], "invalid_request");
}

#[test]
fn a_bearer_token_with_the_launch_scope_from_an_ehr_creates_launches() {
    // The caller's authorized scope: a token carrying udap-server/launch, issued to a client that holds it.
    let s = TestServer::start();
    add_ehr(&s, "udap-server/launch");
    add_app(&s, "app", "none", None, "launch patient/*.rs");
    let token = s
        .http
        .post(&s.ep.token)
        .basic_auth("ehr", Some(EHR_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "udap-server/launch"),
        ])
        .send()
        .unwrap();
    let token: Value = json_of(token);
    let at = token["access_token"]
        .as_str()
        .expect("token with the launch scope")
        .to_string();
    let res = s
        .http
        .post(format!("{}/launch", s.base))
        .bearer_auth(&at)
        .form(&[("target_client_id", "app"), ("patient", "p1")])
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let res = s
        .http
        .post(format!("{}/launch", s.base))
        .bearer_auth("not-a-token")
        .form(&[("target_client_id", "app"), ("patient", "p1")])
        .send()
        .unwrap();
    assert_eq!(error_of(res), (401, "invalid_client".into()));
}

#[test]
fn launch_scope_without_a_launch_parameter_is_refused() {
    let s = TestServer::start();
    add_app(&s, "app", "none", None, "launch patient/*.rs");
    let b = Browser::new();
    let q = super::flow::query(&super::flow::location(&b.get(&authorize_url(
        &s,
        "app",
        "launch patient/*.rs",
        &[],
    ))));
    assert_eq!(q["error"], "invalid_request");
}
