//! Interop rows with real-world certificates from `../shared/interop/udap-dotnet-pki` (Inferno,
//! SureFhirLabs, EMR Direct). Skipped with a note when that directory is absent.

use std::path::PathBuf;

use base64::Engine;

use super::*;
use crate::pki::{validate_chain, ChainError, CrlFetcher, RevocationPolicy, TrustCommunity};

const INTEROP_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/interop/udap-dotnet-pki"
);
/// 2026-06-01T00:00:00Z: inside InfernoCA_CRL.pem's window (2025-11-26 .. 2026-11-26).
const JUNE_2026: i64 = 1_780_272_000;
/// 2026-12-01T00:00:00Z: after InfernoCA_CRL.pem's nextUpdate.
const DECEMBER_2026: i64 = 1_796_083_200;
const INFERNO_SAN: &str = "https://inferno.com/udap_security_test_kit/ac";

fn read(rel: &str) -> Option<String> {
    let path = PathBuf::from(INTEROP_DIR).join(rel);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(_) => {
            eprintln!(
                "note: interop fixture {} not found; skipping",
                path.display()
            );
            None
        }
    }
}

fn der(pem: &str) -> Vec<u8> {
    X509::from_pem(pem.as_bytes()).unwrap().to_der().unwrap()
}

fn subject_of(pem: &str) -> String {
    subject_string(&X509::from_pem(pem.as_bytes()).unwrap())
}

fn community(anchors: Vec<String>, crls: Vec<String>, policy: RevocationPolicy) -> TrustCommunity {
    // Offline: inferno.com and the EMR Direct/SureFhir CDPs must never be contacted from tests.
    TrustCommunity::from_pem(
        "urn:test:interop",
        &anchors,
        &[],
        &crls,
        policy,
        Arc::new(CrlFetcher::offline()),
    )
    .unwrap()
}

#[test]
fn inferno_test_client() {
    let (Some(ca), Some(crl), Some(client)) = (
        read("inferno-udap-security-test-kit/InfernoCA.pem"),
        read("inferno-udap-security-test-kit/InfernoCA_CRL.pem"),
        read("inferno-udap-security-test-kit/TestClient.pem"),
    ) else {
        return;
    };
    let x5c = vec![der(&client)];

    // Inside the CRL window: valid, SAN as Inferno registers it (UDAP-50).
    let closed = community(
        vec![ca.clone()],
        vec![crl.clone()],
        RevocationPolicy::FailClosed,
    );
    let chain = validate_chain(&x5c, &closed, JUNE_2026).unwrap();
    assert_eq!(chain.san_uris, vec![INFERNO_SAN.to_string()]);
    assert_eq!(chain.path_der.len(), 2);

    // After the CRL's nextUpdate, with its distribution point unreachable: unknown status.
    match validate_chain(&x5c, &closed, DECEMBER_2026) {
        Err(ChainError::RevocationUnknown { subject, reason }) => {
            assert_eq!(subject, subject_of(&client));
            assert!(reason.contains("stale"), "{reason}");
            // Issue 8 item 7: the distribution point's URL is logged, never put in the reason.
            assert!(
                reason.contains(crate::pki::revocation::CRL_FETCH_FAILED),
                "{reason}"
            );
            assert!(!reason.contains("inferno.com"), "{reason}");
        }
        other => panic!("expected RevocationUnknown, got {other:?}"),
    }
    // The same under fail-open is accepted.
    let open = community(vec![ca], vec![crl], RevocationPolicy::FailOpen);
    assert!(validate_chain(&x5c, &open, DECEMBER_2026).is_ok());
}

/// The Inferno registration fixture's x5c leaf comes from an older Inferno root: untrusted.
#[test]
fn inferno_old_root_leaf_is_untrusted() {
    let (Some(ca), Some(crl), Some(json)) = (
        read("inferno-udap-security-test-kit/InfernoCA.pem"),
        read("inferno-udap-security-test-kit/InfernoCA_CRL.pem"),
        read("inferno-udap-security-test-kit/udap_cc_reg_request_valid.json"),
    ) else {
        return;
    };
    let request: serde_json::Value = serde_json::from_str(&json).unwrap();
    let header_b64 = request["software_statement"]
        .as_str()
        .unwrap()
        .split('.')
        .next()
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header_b64.trim_end_matches('='))
            .unwrap(),
    )
    .unwrap();
    let leaf = base64::engine::general_purpose::STANDARD
        .decode(header["x5c"][0].as_str().unwrap())
        .unwrap();
    let subject = subject_string(&X509::from_der(&leaf).unwrap());
    let c = community(vec![ca], vec![crl], RevocationPolicy::FailClosed);
    assert_eq!(
        validate_chain(&[leaf], &c, JUNE_2026),
        Err(ChainError::Untrusted { subject })
    );
}

/// UDAP-46: the SureFhirLabs intermediate names SureFhir-CA as issuer, but neither published
/// SureFhir-CA key signed it. A DN-only chain builder would accept it.
#[test]
fn surefhirlabs_intermediate_does_not_chain() {
    let (Some(ca_old), Some(ca_new), Some(int)) = (
        read("udap-dotnet/JoeShook-HEAD/SureFhirLabs_CA.cer"),
        read("udap-dotnet/JoeShook-HEAD/examples-Udap.Auth.Server/SureFhirLabs_CA.cer"),
        read("udap-dotnet/JoeShook-HEAD/SureFhirLabs_Intermediate.cer"),
    ) else {
        return;
    };
    let expected = ChainError::BadSignature {
        subject: subject_of(&int),
    };
    for anchors in [
        vec![ca_old.clone()],
        vec![ca_new.clone()],
        vec![ca_old, ca_new],
    ] {
        let c = community(anchors, vec![], RevocationPolicy::FailOpen);
        assert_eq!(
            validate_chain(&[der(&int)], &c, JUNE_2026),
            Err(expected.clone())
        );
    }
}

/// EMR Direct: the Test Client SubCA builds a path to EMR Direct Test CA, so as an x5c leaf it is
/// rejected for being a CA (`LeafIsCa`), not as `Untrusted`: path building across a real-world
/// pair works.
#[test]
fn emr_direct_sub_ca_chains_to_its_root() {
    let (Some(root), Some(sub)) = (
        read("udap-dotnet/JoeShook-HEAD/EMRDirectTestCA.crt"),
        read("udap-dotnet/udap-tools-history/EMRDirectTestClientSubCA.crt"),
    ) else {
        return;
    };
    let c = community(vec![root.clone()], vec![], RevocationPolicy::FailClosed);
    assert_eq!(
        validate_chain(&[der(&sub)], &c, JUNE_2026),
        Err(ChainError::LeafIsCa {
            subject: subject_of(&sub)
        })
    );
    // And it is a usable configured intermediate of that community.
    let with_sub = TrustCommunity::from_pem(
        "urn:test:emr",
        &[root],
        &[sub],
        &[],
        RevocationPolicy::FailOpen,
        Arc::new(CrlFetcher::offline()),
    );
    assert!(with_sub.is_ok());
}
