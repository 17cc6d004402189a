//! HTTPS with rustls: TLS 1.2 and 1.3 only (HTI1-7).

use std::net::TcpListener;

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode, SslVersion};
use serde_json::Map;
use udap_server::config::{FileConfig, Overrides, Settings};
use udap_server::pki::ca::CertSpec;
use udap_server::store::{CommunityRecord, Store};

use crate::common::{now, TestCommunity};

/// A server on HTTPS (`https://localhost:PORT`, certificate issued by `community`'s CA), with
/// `adjust` applied to its settings; started with the admin API when `admin` is given.
fn https_server(
    dir: &std::path::Path,
    community: &TestCommunity,
    adjust: impl FnOnce(&mut Overrides),
    admin: Option<TcpListener>,
) -> (udap_server::http::RunningServer, u16, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("https://localhost:{port}");
    let server = community
        .pki
        .issue_leaf(&CertSpec {
            dns_names: vec!["localhost".into()],
            ..CertSpec::leaf("localhost", &base, community.pki.now)
        })
        .unwrap();
    let chain = format!("{}{}", server.cert_pem, community.pki.intermediate.cert_pem);
    std::fs::write(dir.join("tls.pem"), &chain).unwrap();
    std::fs::write(dir.join("tls.key"), &server.key_pem).unwrap();
    {
        let store = Store::open(&udap_server::cli::serve::store_path(dir)).unwrap();
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
    let mut overrides = Overrides {
        listen: Some(format!("127.0.0.1:{port}")),
        base_url: Some(base.clone()),
        tls_cert: Some(dir.join("tls.pem")),
        tls_key: Some(dir.join("tls.key")),
        ..Default::default()
    };
    adjust(&mut overrides);
    let settings = Settings::resolve(dir.to_path_buf(), FileConfig::default(), overrides).unwrap();
    let state = udap_server::cli::serve::prepare(settings).unwrap();
    let running = udap_server::http::start_with_admin(state, listener, admin).unwrap();
    (running, port, base)
}

#[test]
fn https_serves_tls_1_2_and_1_3_and_refuses_older_versions() {
    let dir = tempfile::tempdir().unwrap();
    let community = TestCommunity::new("urn:example:tls");
    let (running, port, base) = https_server(dir.path(), &community, |_| {}, None);
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

#[test]
fn the_admin_api_with_a_client_ca_requires_a_client_certificate_as_well_as_the_token() {
    // Issue 10 item 1: optional mutual TLS for the admin API.
    let dir = tempfile::tempdir().unwrap();
    let community = TestCommunity::new("urn:example:tls");
    let admins = TestCommunity::new("urn:example:admins");
    std::fs::write(dir.path().join("admin-ca.pem"), &admins.pki.root.cert_pem).unwrap();
    std::fs::write(dir.path().join("root.pem"), &community.pki.root.cert_pem).unwrap();
    let operator = admins
        .pki
        .issue_leaf(&CertSpec::leaf("operator", "urn:example:operator", now()))
        .unwrap();
    let chain = format!("{}{}", operator.cert_pem, admins.pki.intermediate.cert_pem);
    std::fs::write(dir.path().join("op.pem"), chain).unwrap();
    std::fs::write(dir.path().join("op.key"), &operator.key_pem).unwrap();
    // Another CA's certificate is not enough.
    std::fs::write(
        dir.path().join("stranger.key"),
        &community.pki.rsa_leaf.key_pem,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("stranger.pem"),
        &community.pki.rsa_leaf.cert_pem,
    )
    .unwrap();

    let token = {
        let store = Store::open(&udap_server::cli::serve::store_path(dir.path())).unwrap();
        udap_server::admin::tokens::issue(&store, "tls-admin", None, now())
            .unwrap()
            .0
    };
    let admin_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let admin_port = admin_listener.local_addr().unwrap().port();
    let ca = dir.path().join("admin-ca.pem");
    let (running, _, _) = https_server(
        dir.path(),
        &community,
        |o| o.admin_client_ca = Some(ca),
        Some(admin_listener),
    );
    let run = |cert: Option<(&str, &str)>| {
        let elsewhere = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new(crate::common::cli::BIN);
        cmd.arg("--data-dir")
            .arg(elsewhere.path())
            .args(["--server", &format!("https://localhost:{admin_port}")])
            .args(["--json", "client", "list"])
            .env("UDAP_ADMIN_TOKEN", &token)
            .env("UDAP_ADMIN_CA", dir.path().join("root.pem"));
        if let Some((c, k)) = cert {
            cmd.env("UDAP_ADMIN_CLIENT_CERT", dir.path().join(c))
                .env("UDAP_ADMIN_CLIENT_KEY", dir.path().join(k));
        }
        cmd.output().unwrap()
    };
    let without = run(None);
    assert!(
        !without.status.success(),
        "no client certificate: no handshake"
    );
    let stranger = run(Some(("stranger.pem", "stranger.key")));
    assert!(
        !stranger.status.success(),
        "a certificate from another CA: refused"
    );
    let with = run(Some(("op.pem", "op.key")));
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&with.stdout).unwrap();
    assert!(listed.is_array());
    running.stop();
}
