//! `TrustCommunity::from_pem`: configuration errors name the bad input (fail closed at start-up).

use super::*;
use crate::pki::{CrlFetcher, PkiConfigError, RevocationPolicy, TrustCommunity};

fn build(
    anchors: &[String],
    intermediates: &[String],
    crls: &[String],
) -> Result<TrustCommunity, PkiConfigError> {
    TrustCommunity::from_pem(
        "urn:test",
        anchors,
        intermediates,
        crls,
        RevocationPolicy::FailClosed,
        Arc::new(CrlFetcher::offline()),
    )
}

#[test]
fn configuration_errors() {
    let p = pki();
    let root = p.root.cert_pem.clone();
    let bad_b64 = "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n".to_string();
    let garbage_cert = ca_pem_with("CERTIFICATE", b"garbage");
    let garbage_crl = ca_pem_with("X509 CRL", b"garbage");
    let uri = || "urn:test".to_string();
    let rows: Vec<(&str, Result<(), PkiConfigError>)> = vec![
        ("no anchors", build(&[], &[], &[]).map(drop)),
        (
            "anchor not PEM",
            build(&["hello".into()], &[], &[]).map(drop),
        ),
        (
            "anchor bad base64",
            build(&[root.clone(), bad_b64], &[], &[]).map(drop),
        ),
        (
            "anchor garbage DER",
            build(&[garbage_cert], &[], &[]).map(drop),
        ),
        (
            "anchor is a CRL",
            build(&[p.root_crl_pem.clone()], &[], &[]).map(drop),
        ),
        (
            "leaf as anchor",
            build(&[p.rsa_leaf.cert_pem.clone()], &[], &[]).map(drop),
        ),
        (
            "leaf as intermediate",
            build(&[root.clone()], &[p.rsa_leaf.cert_pem.clone()], &[]).map(drop),
        ),
        (
            "certificate as CRL",
            build(&[root.clone()], &[], &[root.clone()]).map(drop),
        ),
        (
            "garbage CRL",
            build(&[root.clone()], &[], &[p.root_crl_pem.clone(), garbage_crl]).map(drop),
        ),
    ];
    let expected: Vec<Result<(), PkiConfigError>> = vec![
        Err(PkiConfigError::NoAnchors { uri: uri() }),
        Err(PkiConfigError::BadPem { uri: uri(), what: "anchor", index: 0, detail: "no PEM block found".into() }),
        Err(PkiConfigError::BadPem {
            uri: uri(),
            what: "anchor",
            index: 1,
            detail: "block `CERTIFICATE` opened on line 1 is not valid base64: Invalid symbol 33, offset 0.".into(),
        }),
        Err(PkiConfigError::BadCertificate { uri: uri(), what: "anchor", index: 0, detail: String::new() }),
        Err(PkiConfigError::NoCertificate { uri: uri(), what: "anchor", index: 0 }),
        Err(PkiConfigError::NotCa { uri: uri(), what: "anchor", index: 0, subject: subject(&p.rsa_leaf) }),
        Err(PkiConfigError::NotCa { uri: uri(), what: "intermediate", index: 0, subject: subject(&p.rsa_leaf) }),
        Err(PkiConfigError::NoCrl { uri: uri(), index: 0 }),
        Err(PkiConfigError::BadCrl { uri: uri(), index: 1, detail: String::new() }),
    ];
    for ((name, got), want) in rows.into_iter().zip(expected) {
        // Parser details vary by library version: compare the variant and its location only.
        match (&got, &want) {
            (
                Err(PkiConfigError::BadCertificate { what, index, .. }),
                Err(PkiConfigError::BadCertificate {
                    what: w, index: i, ..
                }),
            ) => {
                assert_eq!((what, index), (w, i), "{name}")
            }
            (
                Err(PkiConfigError::BadCrl { index, .. }),
                Err(PkiConfigError::BadCrl { index: i, .. }),
            ) => assert_eq!(index, i, "{name}"),
            _ => assert_eq!(got, want, "{name}"),
        }
    }
}

#[test]
fn several_certificates_per_string_and_accessors() {
    let p = pki();
    let both = format!("{}{}", p.root.cert_pem, p.intermediate.cert_pem);
    let c = build(
        &[both],
        &[p.intermediate.cert_pem.clone()],
        &[format!("{}{}", p.root_crl_pem, p.intermediate_crl_pem)],
    )
    .unwrap();
    assert_eq!(c.uri(), "urn:test");
    assert_eq!(c.anchors().len(), 2);
    assert_eq!(c.intermediates().len(), 1);
    assert_eq!(c.crl_count(), 2);
    assert_eq!(c.policy(), RevocationPolicy::FailClosed);
}

fn ca_pem_with(label: &str, der: &[u8]) -> String {
    crate::pki::pem::encode(label, der)
}
