//! HTTPS with rustls: TLS 1.2 and 1.3 only (HTI1-7).

use std::net::TcpListener;

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode, SslVersion};
use serde_json::Map;
use udap_server::config::{FileConfig, Overrides, Settings};
use udap_server::pki::ca::CertSpec;
use udap_server::store::{CommunityRecord, Store};

use crate::common::{now, TestCommunity};

#[test]
fn https_serves_tls_1_2_and_1_3_and_refuses_older_versions() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("https://localhost:{port}");
    let community = TestCommunity::new("urn:example:tls");
    let server = community
        .pki
        .issue_leaf(&CertSpec {
            dns_names: vec!["localhost".into()],
            ..CertSpec::leaf("localhost", &base, community.pki.now)
        })
        .unwrap();
    let chain = format!("{}{}", server.cert_pem, community.pki.intermediate.cert_pem);
    std::fs::write(dir.path().join("tls.pem"), &chain).unwrap();
    std::fs::write(dir.path().join("tls.key"), &server.key_pem).unwrap();
    {
        let store = Store::open(&udap_server::cli::serve::store_path(dir.path())).unwrap();
        store
            .communities()
            .put(CommunityRecord {
                uri: community.uri.clone(),
                anchors_pem: vec![community.pki.root.cert_pem.clone()],
                intermediates_pem: vec![],
                crls_pem: vec![
                    community.pki.root_crl_pem.clone(),
                    community.pki.intermediate_crl_pem.clone(),
                ],
                signing_chain_pem: chain.clone(),
                signing_key_pem: server.key_pem.clone(),
                revocation: "fail-closed".into(),
                is_default: true,
                created_at: now(),
                updated_at: now(),
                settings: Map::new(),
                crl_files: Vec::new(),
            })
            .unwrap();
    }
    let overrides = Overrides {
        listen: Some(format!("127.0.0.1:{port}")),
        base_url: Some(base.clone()),
        tls_cert: Some(dir.path().join("tls.pem")),
        tls_key: Some(dir.path().join("tls.key")),
        ..Default::default()
    };
    let settings =
        Settings::resolve(dir.path().to_path_buf(), FileConfig::default(), overrides).unwrap();
    let state = udap_server::cli::serve::prepare(settings).unwrap();
    let running = udap_server::http::start(state, listener).unwrap();

    // A client trusting the community root reaches /health over HTTPS.
    let root = reqwest::Certificate::from_pem(community.pki.root.cert_pem.as_bytes()).unwrap();
    let http = reqwest::blocking::Client::builder()
        .add_root_certificate(root)
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    let res = http.get(format!("{base}/.well-known/udap")).send().unwrap();
    assert_eq!(res.status().as_u16(), 200);

    // HTI1-7: a client limited to TLS 1.1 gets no handshake; TLS 1.2 does.
    let handshake = |max: SslVersion| {
        let mut b = SslConnector::builder(SslMethod::tls()).unwrap();
        b.set_verify(SslVerifyMode::NONE);
        b.set_min_proto_version(None).unwrap();
        b.set_max_proto_version(Some(max)).unwrap();
        // OpenSSL 3 refuses TLS < 1.2 at its default security level; lower it so the *server* decides.
        b.set_cipher_list("DEFAULT:@SECLEVEL=0").unwrap();
        let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        b.build()
            .connect("localhost", tcp)
            .map(|s| s.ssl().version_str().to_string())
    };
    assert!(handshake(SslVersion::TLS1_1).is_err());
    assert_eq!(handshake(SslVersion::TLS1_2).unwrap(), "TLSv1.2");
    running.stop();
}
