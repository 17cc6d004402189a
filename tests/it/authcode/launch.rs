//! EHR launch (SMART-13, SMART-17, SMART-22, SMART-35): the EHR creates a launch context over HTTP,
//! the app binds it with `launch`, and the token carries patient and encounter.

use serde_json::Value;
use udap_server::store::ClientRecord;

use super::flow::{add_app, add_user, authorize_url, exchange_public, json_of, walk, Browser, VERIFIER};
use crate::common::{error_of, now, TestServer};

const EHR_SECRET: &str = "ehr-secret-ehr-secret-ehr-secret-ehr-secret";

fn add_ehr(s: &TestServer, scope: &str) {
    let mut client = ClientRecord::admin("ehr", "EHR", "client_secret_basic", &["client_credentials"], scope, now());
    client.secret_hash = Some(udap_server::oauth::client_auth::hash_secret(EHR_SECRET));
    s.store.clients().put(&client).unwrap();
}

fn create_launch(s: &TestServer, form: &[(&str, &str)]) -> reqwest::blocking::Response {
    s.http.post(format!("{}/launch", s.base)).basic_auth("ehr", Some(EHR_SECRET)).form(form).send().unwrap()
}

#[test]
fn ehr_launch_binds_patient_and_encounter() {
    let s = TestServer::start();
    add_ehr(&s, "udap-server/launch");
    let scope = "launch patient/*.rs openid fhirUser";
    add_app(&s, "app", "none", None, scope);
    add_user(&s, "dr-bob", Some("Practitioner/pr7"), &["p1", "p2"]);
    let res = create_launch(&s, &[("patient", "p9"), ("encounter", "e42")]);
    let launch: Value = json_of(res);
    let id = launch["launch"].as_str().unwrap();
    // SMART-13: opaque and URL-safe.
    assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    let b = Browser::new();
    // No picker although the user has two patients: the EHR fixed the context.
    let q = walk(&b, &s, &authorize_url(&s, "app", scope, &[("launch", id)]), "dr-bob", None, None, "approve");
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
    assert_eq!(error_of(create_launch(&s, &[("patient", "p1")])), (400, "unauthorized_client".into()));
    let s = TestServer::start();
    add_ehr(&s, "udap-server/launch");
    assert_eq!(error_of(create_launch(&s, &[("encounter", "e1")])), (400, "invalid_request".into()));
    let res = s.post_form(&format!("{}/launch", s.base), &[("patient", "p1")]);
    assert_eq!(error_of(res).1, "invalid_client");
}

#[test]
fn launch_scope_without_a_launch_parameter_is_refused() {
    let s = TestServer::start();
    add_app(&s, "app", "none", None, "launch patient/*.rs");
    let b = Browser::new();
    let q = super::flow::query(&super::flow::location(&b.get(&authorize_url(&s, "app", "launch patient/*.rs", &[]))));
    assert_eq!(q["error"], "invalid_request");
}
