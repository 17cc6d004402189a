//! An EHR launch's patient must be one the signed-in user may act for, unless the user is a
//! clinician (issue 8 item 1; a `Practitioner`/`PractitionerRole` fhirUser, README "Security").

use udap_server::oauth::launch::LaunchRequest;

use super::flow::{
    add_app, add_user, authorize_url, exchange_public, json_of, walk, Browser, VERIFIER,
};
use crate::common::{now, TestServer};

const SCOPE: &str = "launch patient/*.rs openid fhirUser";

/// A launch of `app` for `patient`, created straight in the store (as `launch create` would).
fn launch_for(s: &TestServer, patient: &str) -> String {
    let request = LaunchRequest {
        client_id: Some("app".into()),
        patient: Some(patient.into()),
        encounter: None,
    };
    udap_server::oauth::launch::create(&s.store, &request, now())
        .unwrap()
        .0
}

#[test]
fn a_patient_user_cannot_open_a_launch_for_another_patient() {
    let s = TestServer::start();
    add_app(&s, "app", "none", None, SCOPE);
    add_user(&s, "pat", Some("Patient/p1"), &["p1"]);
    let q = walk(
        &Browser::new(),
        &s,
        &authorize_url(&s, "app", SCOPE, &[("launch", &launch_for(&s, "p9"))]),
        "pat",
        None,
        None,
        "approve",
    );
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st4te-xyz");
    assert!(!q.contains_key("code"));
    // Their own patient is fine.
    let q = walk(
        &Browser::new(),
        &s,
        &authorize_url(&s, "app", SCOPE, &[("launch", &launch_for(&s, "p1"))]),
        "pat",
        None,
        None,
        "approve",
    );
    assert!(q.contains_key("code"), "{q:?}");
}

#[test]
fn a_clinician_may_open_a_launch_for_any_patient() {
    let s = TestServer::start();
    add_app(&s, "app", "none", None, SCOPE);
    add_user(&s, "dr", Some("Practitioner/pr7"), &[]);
    let q = walk(
        &Browser::new(),
        &s,
        &authorize_url(&s, "app", SCOPE, &[("launch", &launch_for(&s, "p9"))]),
        "dr",
        None,
        None,
        "approve",
    );
    let t = json_of(exchange_public(&s, "app", &q["code"], VERIFIER));
    assert_eq!(t["patient"], "p9");
}
