//! Interoperability with the public Inferno UDAP test kit's PKI (../shared/interop): its test
//! client registers and gets a token against a community anchored at the Inferno root; its
//! "valid" request fixture (really an authentication token from an older root) is rejected.
//! Skipped, with a note, when ../shared is not beside the checkout.

use serde_json::{json, Value};
use udap_server::pki::ca::{self, CertSpec};
use udap_server::store::CommunityRecord;

use crate::common::{error_of, now, shared_path, Identity, Options, TestServer};

const INFERNO: &str = "interop/udap-dotnet-pki/inferno-udap-security-test-kit";
const INFERNO_SAN: &str = "https://inferno.com/udap_security_test_kit/ac";
const INFERNO_COMMUNITY: &str = "urn:example:inferno-community";

fn read(rel: &str) -> Option<String> {
    shared_path(&format!("{INFERNO}/{rel}")).and_then(|p| std::fs::read_to_string(p).ok())
}

/// The Inferno root as anchor, a fresh CRL signed with its (public, test-only) key so the
/// TestClient's unreachable distribution point is never needed, and our server certificate
/// issued by the same root for the base URL.
fn inferno_community(ca_pem: String, ca_key: String) -> impl Fn(&str) -> CommunityRecord {
    move |base: &str| {
        let t = now();
        let crl = ca::crl(&ca_pem, &ca_key, &[], 100, t - 3600, t + 7 * 86_400).expect("crl");
        let server = ca::issue(
            &CertSpec::leaf("udap-server (Inferno community)", base, t),
            &ca_pem,
            &ca_key,
        )
        .expect("server cert");
        CommunityRecord {
            uri: INFERNO_COMMUNITY.into(),
            anchors_pem: vec![ca_pem.clone()],
            intermediates_pem: vec![],
            crls_pem: vec![crl],
            signing_chain_pem: server.cert_pem,
            signing_key_pem: server.key_pem,
            revocation: "fail-closed".into(),
            is_default: false,
            created_at: t,
            updated_at: t,
            settings: Default::default(),
            crl_files: Vec::new(),
        }
    }
}

fn inferno_server() -> Option<TestServer> {
    let (Some(ca_pem), Some(ca_key)) = (read("InfernoCA.pem"), read("InfernoCA.key")) else {
        eprintln!("note: ../shared/interop is absent; Inferno interop tests skipped");
        return None;
    };
    Some(TestServer::start_with(Options {
        records: vec![Box::new(inferno_community(ca_pem, ca_key))],
        ..Default::default()
    }))
}

#[test]
fn inferno_test_client_registers_and_gets_a_b2b_token() {
    let Some(s) = inferno_server() else { return };
    let (Some(cert), Some(key)) = (read("TestClient.pem"), read("TestClientPrivateKey.key")) else {
        return;
    };
    let inferno = Identity {
        chain_pem: cert,
        key_pem: key,
        san: INFERNO_SAN.into(),
    };
    // Exactly the statement shape the test kit sends (UDAP-14/15), including logo_uri for client_credentials.
    let st = s.statement(&inferno, json!({"contacts": ["mailto:inferno@groups.mitre.org"], "logo_uri": "https://inferno-framework.github.io/assets/inferno_logo.png", "scope": "system/*.read"}));
    let res = s.post_json(
        &s.ep.registration,
        &json!({"software_statement": st, "certifications": [], "udap": "1"}),
    );
    assert_eq!(res.status().as_u16(), 201);
    let body: Value = res.json().unwrap();
    let client_id = body["client_id"].as_str().unwrap().to_string();
    assert_eq!(
        s.store
            .clients()
            .get(&client_id)
            .unwrap()
            .unwrap()
            .community
            .as_deref(),
        Some(INFERNO_COMMUNITY)
    );
    // The kit's client_credentials request (UDAP-30): hl7-b2b with SYSDEV, no subject_id.
    let res = s.udap_token(&s.assertion(&inferno, &client_id, json!({})));
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.headers()["pragma"]
        .to_str()
        .unwrap()
        .contains("no-cache"));
    assert_eq!(res.json::<Value>().unwrap()["scope"], "system/*.read");
    // Discovery for the Inferno community is signed by a certificate under the Inferno root.
    let meta: Value = s
        .get(&format!("/.well-known/udap?community={INFERNO_COMMUNITY}"))
        .json()
        .unwrap();
    let x5c = udap_server::jose::parse_compact(meta["signed_metadata"].as_str().unwrap())
        .unwrap()
        .x5c_der()
        .unwrap();
    let leaf = openssl::x509::X509::from_der(&x5c[0]).unwrap();
    let root = openssl::x509::X509::from_pem(read("InfernoCA.pem").unwrap().as_bytes()).unwrap();
    assert!(
        leaf.verify(&root.public_key().unwrap()).unwrap(),
        "signed_metadata leaf is issued by the Inferno root"
    );
}

#[test]
fn inferno_valid_request_fixture_is_rejected() {
    // Despite its name it is an authentication token from an older root: it must not register.
    let Some(s) = inferno_server() else { return };
    let Some(fixture) = read("udap_cc_reg_request_valid.json") else {
        return;
    };
    let body: Value = serde_json::from_str(&fixture).unwrap();
    let (status, error) = error_of(s.post_json(&s.ep.registration, &body));
    // Its leaf chains to an older Inferno root that is not our anchor (UDAP-16 4.2).
    assert_eq!(
        (status, error.as_str()),
        (400, "unapproved_software_statement")
    );
}
