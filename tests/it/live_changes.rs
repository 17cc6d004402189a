//! Changes to the stored communities reach a running server without a restart (issue 9 item 4:
//! another instance or an admin command changed the database).

use serde_json::{json, Value};
use udap_server::community::read_crl_file;
use udap_server::config::Overrides;
use udap_server::pki::ca::CertSpec;

use crate::common::{error_of, eventually, Identity, Options, TestCommunity, TestServer};

const SAN: &str = "https://client.example.org/b2b";

#[test]
fn a_community_added_to_the_store_while_serving_is_trusted_without_a_restart() {
    let s = TestServer::start();
    let newcomer = TestCommunity::new("urn:example:newcomer");
    let id = newcomer.client(SAN);
    let register = || {
        s.post_json(
            &s.ep.registration,
            &json!({"software_statement": s.statement(&id, json!({})), "udap": "1"}),
        )
    };
    assert_eq!(
        register().status().as_u16(),
        400,
        "not trusted before the change"
    );
    s.store
        .communities()
        .put(newcomer.record(&s.base, false))
        .unwrap();
    assert!(
        eventually(|| register().status().as_u16() == 201),
        "the new community's members can register"
    );
    let m: Value = s
        .get("/.well-known/udap?community=urn:example:newcomer")
        .json()
        .unwrap();
    assert_eq!(m["udap_versions_supported"], json!(["1"]));
    // Removing it ends trust the same way.
    s.store
        .communities()
        .remove("urn:example:newcomer")
        .unwrap();
    let other = newcomer.client("https://client.example.org/second");
    assert!(eventually(|| {
        let st = s.statement(&other, json!({}));
        s.post_json(
            &s.ep.registration,
            &json!({"software_statement": st, "udap": "1"}),
        )
        .status()
        .as_u16()
            == 400
    }));
}

/// Writes `content` to `path` the way a publisher should: a new file renamed over the old one.
fn publish(path: &std::path::Path, content: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn metric(s: &TestServer, series: &str) -> f64 {
    let text = s.get_root("/metrics").text().unwrap();
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {series}"))
        .parse()
        .unwrap()
}

#[test]
fn a_crl_file_replaced_while_serving_revokes_the_client_without_a_restart() {
    // Issue 10 item 3 (UDAP-48): a CRL file given by path is re-read when it changes; a file that
    // is then broken keeps the CRL read before in force.
    let s = TestServer::start_with(Options {
        overrides: Overrides {
            crl_file_poll_secs: Some(1),
            ..Default::default()
        },
        ..Default::default()
    });
    let pki = &s.community.pki;
    let crl_path = s.dir.path().join("intermediate.crl");
    publish(&crl_path, pki.intermediate_crl(&[]).unwrap().as_bytes());
    let mut record = s
        .store
        .communities()
        .get(&s.community.uri)
        .unwrap()
        .unwrap();
    record.crls_pem = vec![pki.root_crl_pem.clone()];
    record.crl_files = vec![read_crl_file(&crl_path).unwrap()];
    s.store.communities().put(record).unwrap();

    let leaf = pki
        .issue_leaf(&CertSpec::leaf("crl file client", SAN, pki.now))
        .unwrap();
    let id = Identity::from_leaf(pki, &leaf, SAN);
    let client_id = s.register(&id);
    let token = || s.udap_token(&s.assertion(&id, &client_id, json!({})));
    assert_eq!(token().status().as_u16(), 200);

    publish(
        &crl_path,
        pki.intermediate_crl(std::slice::from_ref(&leaf.serial_hex))
            .unwrap()
            .as_bytes(),
    );
    // UDAP-33: a revoked client certificate is invalid_client, as with a configured CRL.
    assert!(
        eventually(|| error_of(token()) == (400, "invalid_client".into())),
        "the revoking CRL is served"
    );
    let stored = s
        .store
        .communities()
        .get(&s.community.uri)
        .unwrap()
        .unwrap();
    assert!(stored.crl_files[0].pem.contains("BEGIN X509 CRL"));
    assert_eq!(metric(&s, "udap_crl_file_updates_total"), 1.0);

    // Broken now: reported and counted, and the revoking CRL stays in force.
    publish(&crl_path, b"not a CRL");
    assert!(eventually(
        || metric(&s, "udap_crl_file_errors_total") == 1.0
    ));
    assert_eq!(metric(&s, "udap_crl_files_failing"), 1.0);
    assert_eq!(error_of(token()), (400, "invalid_client".into()));
    assert_eq!(
        s.store
            .communities()
            .get(&s.community.uri)
            .unwrap()
            .unwrap()
            .crl_files,
        stored.crl_files
    );
}
