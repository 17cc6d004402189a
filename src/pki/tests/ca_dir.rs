//! The CA directory behind `udap-server ca`: init, issue, revoke, publish CRLs, and the result
//! validating (and being revoked) through `validate_chain`.

use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::pki::ca::{parse_serial_hex, CaDir, CaNames, KeyKind};
use crate::pki::{validate_chain, ChainError, CrlFetcher, RevocationPolicy, TrustCommunity};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn ca_dir_lifecycle() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let names = CaNames::for_community("Example Community");
    let mut ca = CaDir::init(
        &dir,
        KeyKind::EcP256,
        true,
        &names,
        Some("http://127.0.0.1:9/crl/"),
        false,
        NOW,
    )
    .unwrap();
    assert_eq!(ca.crl_url(), Some("http://127.0.0.1:9/crl"));
    assert_eq!(mode(&dir.join("root.key")), 0o600);
    assert_eq!(mode(&dir.join("intermediate.key")), 0o600);
    assert!(dir.join("root.crl.pem").exists() && dir.join("intermediate.crl").exists());

    // Never overwrite a CA without force.
    assert!(matches!(
        CaDir::init(&dir, KeyKind::EcP256, true, &names, None, false, NOW),
        Err(crate::pki::CaError::Dir { .. })
    ));

    let leaf = ca
        .issue_leaf(
            &["https://app.example.org/client".into()],
            None,
            KeyKind::Rsa2048,
            30,
            false,
            NOW,
        )
        .unwrap();
    assert_eq!(leaf.san_uris, vec!["https://app.example.org/client"]);
    assert_eq!(leaf.not_after, NOW + 30 * DAY);
    assert!(
        leaf.subject.contains("CN=app.example.org"),
        "{}",
        leaf.subject
    );
    let (pem_path, key_path) =
        CaDir::write_leaf(&leaf, &tmp.path().join("out/client"), false).unwrap();
    assert_eq!(mode(&key_path), 0o600);
    assert!(CaDir::write_leaf(&leaf, &tmp.path().join("out/client"), false).is_err());

    // The chain file (leaf + intermediate) validates against the root with the published CRLs.
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap();
    let community = |ca: &CaDir| {
        TrustCommunity::from_pem(
            "urn:example",
            &[read(&ca.root_cert_path())],
            &[],
            &[
                read(&dir.join("root.crl.pem")),
                read(&dir.join("intermediate.crl.pem")),
            ],
            RevocationPolicy::FailClosed,
            Arc::new(CrlFetcher::offline()),
        )
        .unwrap()
    };
    let x5c: Vec<Vec<u8>> = X509::stack_from_pem(read(&pem_path).as_bytes())
        .unwrap()
        .iter()
        .map(|c| c.to_der().unwrap())
        .collect();
    assert_eq!(x5c.len(), 2);
    assert!(validate_chain(&x5c, &community(&ca), NOW).is_ok());

    // Revoke, publish, and the same chain is now revoked.
    let revoked = ca.revoke(&leaf.chain_pem).unwrap();
    assert_eq!(
        (revoked.issuer.as_str(), revoked.already_revoked),
        ("intermediate", false)
    );
    assert!(ca.revoke(&leaf.chain_pem).unwrap().already_revoked);
    let published = ca.publish_crl(7, NOW + 60).unwrap();
    assert_eq!(published.len(), 2);
    assert_eq!(
        published[1].url.as_deref(),
        Some("http://127.0.0.1:9/crl/intermediate.crl")
    );
    assert_eq!(published[1].revoked, 1);
    assert_eq!(
        validate_chain(&x5c, &community(&ca), NOW + 120),
        Err(ChainError::Revoked {
            subject: leaf.subject.clone(),
            serial: leaf.cert.serial_hex.clone()
        })
    );

    // Re-open from disk keeps the state; a foreign certificate cannot be revoked here.
    let mut reopened = CaDir::open(&dir).unwrap();
    assert!(reopened.revoke(&pki().rsa_leaf.cert_pem).is_err());
    assert!(reopened.revoke(&read(&ca.root_cert_path())).is_err());

    // --force replaces the CA.
    assert!(CaDir::init(&dir, KeyKind::Rsa2048, false, &names, None, true, NOW).is_ok());
    assert!(!dir.join("intermediate.pem").exists());
}

#[test]
fn server_leaf_gets_dns_names() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = CaDir::init(
        tmp.path(),
        KeyKind::Rsa2048,
        false,
        &CaNames::for_community("Srv"),
        None,
        false,
        NOW,
    )
    .unwrap();
    let leaf = ca
        .issue_leaf(
            &["https://as.example.org/fhir".into()],
            Some("AS"),
            KeyKind::Rsa2048,
            10,
            true,
            NOW,
        )
        .unwrap();
    let cert = X509::from_der(&leaf.cert.der).unwrap();
    let dns: Vec<String> = cert
        .subject_alt_names()
        .unwrap()
        .iter()
        .filter_map(|n| n.dnsname().map(str::to_string))
        .collect();
    assert_eq!(dns, vec!["as.example.org"]);
    assert!(ca
        .issue_leaf(&[], None, KeyKind::Rsa2048, 10, false, NOW)
        .is_err());
}

#[test]
fn serial_hex_parsing() {
    assert_eq!(parse_serial_hex("0A:1b").unwrap(), vec![0x0a, 0x1b]);
    assert_eq!(parse_serial_hex("00ff").unwrap(), vec![0xff]);
    assert_eq!(parse_serial_hex("abc").unwrap(), vec![0x0a, 0xbc]);
    assert!(parse_serial_hex("xyz").is_err());
    assert!(parse_serial_hex("").is_err());
}
