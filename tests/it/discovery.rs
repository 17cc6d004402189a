//! `GET /.well-known/udap` (UDAP-7..12), field by field, and `signed_metadata` (UDAP-10).

use serde_json::Value;
use udap_server::jose::{self, AlgPolicy, VerifyingKey};
use udap_server::pki::validate_chain;

use crate::common::{jwt_part, now, Options, TestCommunity, TestServer};

fn metadata(s: &TestServer, query: &str) -> Value {
    let res = s.get(&format!("/.well-known/udap{query}"));
    assert_eq!(res.status().as_u16(), 200); // UDAP-7
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    res.json().unwrap()
}

#[test]
fn metadata_fields_follow_the_ig() {
    let s = TestServer::start();
    let m = metadata(&s, "");
    // UDAP-9, field by field.
    assert_eq!(m["udap_versions_supported"], serde_json::json!(["1"]));
    let profiles: Vec<&str> = m["udap_profiles_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for p in ["udap_dcr", "udap_authn", "udap_authz"] {
        assert!(profiles.contains(&p), "{p}");
    }
    assert!(m["udap_authorization_extensions_supported"]
        .as_array()
        .unwrap()
        .contains(&"hl7-b2b".into()));
    assert!(m["udap_authorization_extensions_required"].is_array());
    assert!(m["udap_certifications_supported"].is_array());
    let grants = m["grant_types_supported"].as_array().unwrap();
    assert!(!grants.is_empty());
    assert!(grants.contains(&"client_credentials".into()));
    if grants.contains(&"refresh_token".into()) {
        assert!(grants.contains(&"authorization_code".into()));
    }
    // authorization_endpoint iff authorization_code.
    assert_eq!(
        m.get("authorization_endpoint").is_some(),
        grants.contains(&"authorization_code".into())
    );
    assert_eq!(m["token_endpoint"], s.ep.token);
    assert_eq!(m["registration_endpoint"], s.ep.registration);
    assert_eq!(
        m["token_endpoint_auth_methods_supported"],
        serde_json::json!(["private_key_jwt"])
    );
    assert!(m["token_endpoint_auth_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .contains(&"RS256".into()));
    assert!(m["registration_endpoint_jwt_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .contains(&"RS256".into()));
    assert!(m["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .all(Value::is_string));
    assert!(m["signed_metadata"].as_str().unwrap().split('.').count() == 3);
}

#[test]
fn signed_metadata_is_rs256_by_the_community_certificate_with_iss_equal_base_url() {
    let s = TestServer::start();
    let m = metadata(&s, "");
    let token = m["signed_metadata"].as_str().unwrap();
    // UDAP-10: RS256, x5c leaf first plus intermediates.
    let header = jwt_part(token, 0);
    assert_eq!(header["alg"], "RS256");
    let jws = jose::parse_compact(token).unwrap();
    let x5c = jws.x5c_der().unwrap();
    assert_eq!(x5c.len(), 2, "leaf and intermediate");
    let key = VerifyingKey::from_certificate_der(&x5c[0]).unwrap();
    let claims = jws.verify(&key, &AlgPolicy::default()).unwrap().clone();
    // Chains to the community anchor.
    let chain = validate_chain(&x5c, &s.community.pki.community().unwrap(), now()).unwrap();
    // iss = sub = base URL byte for byte, and a SAN URI of the leaf.
    assert_eq!(claims["iss"], s.base.as_str());
    assert_eq!(claims["sub"], claims["iss"]);
    assert!(chain.san_uris.contains(&s.base));
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(exp > iat && exp - iat <= 365 * 86_400);
    assert_eq!(claims["token_endpoint"], s.ep.token);
    assert_eq!(claims["registration_endpoint"], s.ep.registration);
    // UDAP-6: a fresh jti each time.
    let again = metadata(&s, "");
    let jti2 = jwt_part(again["signed_metadata"].as_str().unwrap(), 1)["jti"].clone();
    assert_ne!(claims["jti"], jti2);
}

#[test]
fn community_parameter_selects_that_communitys_certificate() {
    let other = TestCommunity::new("urn:example:second-community");
    let s = TestServer::start_with(Options {
        extra_communities: vec![other],
        ..Default::default()
    });
    let leaf_of = |query: &str| {
        let m = metadata(&s, query);
        jose::parse_compact(m["signed_metadata"].as_str().unwrap())
            .unwrap()
            .x5c_der()
            .unwrap()
    };
    // UDAP-11: the second community's certificate chains to the second community's anchor only.
    let x5c = leaf_of("?community=urn:example:second-community");
    assert!(validate_chain(&x5c, &s.extra[0].pki.community().unwrap(), now()).is_ok());
    assert!(validate_chain(&x5c, &s.community.pki.community().unwrap(), now()).is_err());
    // Default and unknown community: the default community's certificate (IG 1.1, documented).
    for q in ["", "?community=urn:example:unknown"] {
        let x5c = leaf_of(q);
        assert!(
            validate_chain(&x5c, &s.community.pki.community().unwrap(), now()).is_ok(),
            "{q}"
        );
    }
}

#[test]
fn metadata_lives_under_the_base_path() {
    // UDAP-7: {baseURL}/.well-known/udap, also when the base URL has a path.
    let s = TestServer::start_with(Options {
        base_path: "/fhir/r4".into(),
        ..Default::default()
    });
    assert!(s.base.ends_with("/fhir/r4"));
    let m = metadata(&s, "");
    assert_eq!(m["token_endpoint"], format!("{}/token", s.base));
    let claims = jwt_part(m["signed_metadata"].as_str().unwrap(), 1);
    assert_eq!(claims["iss"], s.base.as_str());
    assert_eq!(s.get_root("/.well-known/udap").status().as_u16(), 404);
    assert_eq!(s.get_root("/health").status().as_u16(), 200);
}
