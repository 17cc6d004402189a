//! The CLI as an administrator uses it, with the real binary: `ca init` → `ca issue` →
//! `community add` → `serve` → `GET /health`; and zero-configuration `serve`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::cli::{cli, free_port, ok_json, serve, Served, ADMIN_LISTEN_ANY, BIN};

#[test]
fn ca_init_issue_community_add_serve_health() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let ca = tmp.path().join("ca");
    let ca_s = ca.to_str().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");

    let init = ok_json(
        &data,
        &[
            "ca",
            "init",
            "--dir",
            ca_s,
            "--intermediate",
            "--name",
            "Round Trip",
        ],
    );
    assert!(init.is_object());
    let server_prefix = tmp.path().join("server");
    ok_json(
        &data,
        &[
            "ca",
            "issue",
            "--dir",
            ca_s,
            "--server-cert",
            "--san",
            &base,
            "--out",
            server_prefix.to_str().unwrap(),
        ],
    );
    let client_prefix = tmp.path().join("client");
    ok_json(
        &data,
        &[
            "ca",
            "issue",
            "--dir",
            ca_s,
            "--san",
            "https://client.example.org/rt",
            "--out",
            client_prefix.to_str().unwrap(),
        ],
    );

    let added = ok_json(
        &data,
        &[
            "community",
            "add",
            "--uri",
            "urn:example:round-trip",
            "--anchor",
            ca.join("root.pem").to_str().unwrap(),
            "--intermediate",
            ca.join("intermediate.pem").to_str().unwrap(),
            "--crl",
            ca.join("root.crl.pem").to_str().unwrap(),
            "--crl",
            ca.join("intermediate.crl").to_str().unwrap(), // DER is accepted too
            "--signing-cert",
            tmp.path().join("server.pem").to_str().unwrap(),
            "--signing-key",
            tmp.path().join("server.key").to_str().unwrap(),
            "--default",
        ],
    );
    assert_eq!(added["default"], true);
    assert_eq!(added["signing_san_uris"], json!([base]));
    let list = ok_json(&data, &["community", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    // Policy: hl7-b2b required (UDAP-29); a policy with an unknown key is refused.
    let policy = ok_json(
        &data,
        &[
            "community",
            "set-policy",
            "urn:example:round-trip",
            "--b2b-required",
            "true",
            "--purpose-of-use",
            "TREAT",
        ],
    );
    assert_eq!(policy["settings"]["b2b_required"], true);
    let bad = tmp.path().join("bad-policy.json");
    std::fs::write(&bad, r#"{"b2b_requried": true}"#).unwrap();
    let out = cli(
        &data,
        &[
            "community",
            "set-policy",
            "urn:example:round-trip",
            "--file",
            bad.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("b2b_requried"));

    let _server = serve(&data, port, &[]);
    let http = reqwest::blocking::Client::new();
    let health: Value = http
        .get(format!("{base}/health"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["communities"], 1);
    let meta: Value = http
        .get(format!("{base}/.well-known/udap"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(meta["registration_endpoint"], format!("{base}/register"));
    assert_eq!(
        meta["udap_authorization_extensions_required"],
        json!(["hl7-b2b"])
    );
    // Metrics are exposed for scraping.
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(metrics.contains("udap_communities 1"));
}

#[test]
fn admin_commands_explain_a_locked_data_directory_and_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    // Issue 10: with its admin API off, a running server's data directory cannot be opened, and
    // the message says how to get the API back or to stop the server.
    let _server = serve(tmp.path(), port, &["--admin-listen", "off"]);
    let out = cli(tmp.path(), &["community", "list"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("in use")
            && err.contains("--admin-listen off")
            && err.contains("stop it first"),
        "{err}"
    );
    // A community whose key does not match its certificate is refused with a message saying so.
    let other = tempfile::tempdir().unwrap();
    let ca = other.path().join("ca");
    ok_json(other.path(), &["ca", "init", "--dir", ca.to_str().unwrap()]);
    ok_json(
        other.path(),
        &[
            "ca",
            "issue",
            "--dir",
            ca.to_str().unwrap(),
            "--server-cert",
            "--san",
            "https://as.example/fhir",
            "--out",
            other.path().join("s").to_str().unwrap(),
        ],
    );
    ok_json(
        other.path(),
        &[
            "ca",
            "issue",
            "--dir",
            ca.to_str().unwrap(),
            "--san",
            "https://x.example/c",
            "--out",
            other.path().join("c").to_str().unwrap(),
        ],
    );
    let out = cli(
        &other.path().join("data"),
        &[
            "community",
            "add",
            "--uri",
            "urn:example:x",
            "--anchor",
            ca.join("root.pem").to_str().unwrap(),
            "--signing-cert",
            other.path().join("s.pem").to_str().unwrap(),
            "--signing-key",
            other.path().join("c.key").to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("signing key does not belong"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn serve_with_nothing_configured_creates_a_working_dev_community() {
    // Zero configuration: a development community, and its client certificate registers.
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = serve(tmp.path(), port, &[]);
    let dev = tmp.path().join("certs/dev-community");
    for f in [
        "root.pem",
        "intermediate.pem",
        "server.pem",
        "client.pem",
        "client.key",
    ] {
        assert!(dev.join(f).exists(), "{f}");
    }
    let chain = std::fs::read_to_string(dev.join("client.pem")).unwrap();
    let key = std::fs::read_to_string(dev.join("client.key")).unwrap();
    let signer = udap_server::jose::Signer::from_pem(&key, Some(&chain)).unwrap();
    let san = udap_server::dev_community::DEV_CLIENT_SAN;
    let t = chrono::Utc::now().timestamp();
    let claims = json!({"iss": san, "sub": san, "aud": format!("{base}/register"), "exp": t + 300, "iat": t, "jti": "dev-1",
        "client_name": "dev", "contacts": ["mailto:dev@example.org"], "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt", "scope": "system/*.rs"});
    let st = signer
        .sign(
            &claims,
            udap_server::jose::SignOptions {
                include_x5c: true,
                typ: None,
            },
        )
        .unwrap();
    let res = reqwest::blocking::Client::new()
        .post(format!("{base}/register"))
        .json(&json!({"software_statement": st, "udap": "1"}))
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    drop(server);
    // A restart on another port re-issues the server certificate for the new base URL.
    let port2 = free_port();
    let _again = serve(tmp.path(), port2, &[]);
    let meta: Value = reqwest::blocking::get(format!("http://127.0.0.1:{port2}/.well-known/udap"))
        .unwrap()
        .json()
        .unwrap();
    let iss = crate::common::jwt_part(meta["signed_metadata"].as_str().unwrap(), 1)["iss"].clone();
    assert_eq!(iss, format!("http://127.0.0.1:{port2}"));
}

#[test]
fn invalid_configuration_stops_start_up_with_the_key_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = cli(
        tmp.path(),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--access-token-lifetime-secs",
            "7200",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("access_token_lifetime_secs"));
    let cfg = tmp.path().join("c.toml");
    std::fs::write(&cfg, "[server]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"/nonexistent.pem\"\ntls_key = \"/nonexistent.key\"\n").unwrap();
    let out = cli(tmp.path(), &["serve", "--config", cfg.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("server.tls_cert"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn client_add_prints_the_secret_once_and_list_flags_missing_intended_use() {
    let tmp = tempfile::tempdir().unwrap();
    let added = ok_json(
        tmp.path(),
        &[
            "client",
            "add",
            "--name",
            "FHIR API",
            "--auth",
            "client-secret-basic",
            "--grant-types",
            "client_credentials",
            "--scope",
            "udap-server/introspect",
        ],
    );
    let id = added["client_id"].as_str().unwrap().to_string();
    assert!(added["client_secret"].as_str().unwrap().len() >= 40);
    let shown = ok_json(tmp.path(), &["client", "show", &id]);
    assert!(shown.get("client_secret").is_none());
    let missing = ok_json(tmp.path(), &["client", "list", "--missing-intended-use"]);
    assert_eq!(missing.as_array().unwrap().len(), 1);
    ok_json(
        tmp.path(),
        &[
            "client",
            "set-intended-use",
            &id,
            "--users",
            "clinician",
            "--purposes",
            "treatment",
        ],
    );
    assert!(
        ok_json(tmp.path(), &["client", "list", "--missing-intended-use"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let disabled = ok_json(tmp.path(), &["client", "disable", &id]);
    assert_eq!(disabled["status"], "disabled");
    let out = cli(
        tmp.path(),
        &[
            "client",
            "add",
            "--name",
            "x",
            "--auth",
            "private-key-jwt",
            "--grant-types",
            "client_credentials",
            "--scope",
            "system/*.rs",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--jwks"));
}

#[test]
fn client_add_takes_the_oauth_auth_method_names_and_refuses_admin_scopes_for_public_clients() {
    // Issue 8 item 9: the OAuth registered names (token_endpoint_auth_method), kebab-case kept as aliases.
    let tmp = tempfile::tempdir().unwrap();
    for (given, stored) in [
        ("client_secret_basic", "client_secret_basic"),
        ("client-secret-basic", "client_secret_basic"),
    ] {
        let added = ok_json(
            tmp.path(),
            &[
                "client",
                "add",
                "--name",
                "svc",
                "--auth",
                given,
                "--grant-types",
                "client_credentials",
                "--scope",
                "system/*.rs",
            ],
        );
        assert_eq!(added["auth"], stored, "{given}");
    }
    let jwks = tmp.path().join("jwks.json");
    std::fs::write(
        &jwks,
        serde_json::to_string(&serde_json::json!({"keys": []})).unwrap(),
    )
    .unwrap();
    let added = ok_json(
        tmp.path(),
        &[
            "client",
            "add",
            "--name",
            "svc",
            "--auth",
            "private_key_jwt",
            "--jwks",
            jwks.to_str().unwrap(),
            "--grant-types",
            "client_credentials",
            "--scope",
            "system/*.rs",
        ],
    );
    assert_eq!(added["auth"], "private_key_jwt");
    // Issue 8 item 1: administrative scopes only for confidential clients.
    let out = cli(
        tmp.path(),
        &[
            "client",
            "add",
            "--name",
            "app",
            "--auth",
            "none",
            "--redirect-uri",
            "https://app.example/cb",
            "--grant-types",
            "authorization_code",
            "--scope",
            "openid udap-server/launch",
        ],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("confidential client"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn user_launch_and_grant_commands() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(tmp.path())
        .args([
            "--json",
            "user",
            "add",
            "alice",
            "--password-stdin",
            "--fhir-user",
            "Patient/p1",
            "--patient",
            "p1",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery staple\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let users = ok_json(tmp.path(), &["user", "list"]);
    assert_eq!(users[0]["username"], "alice");
    assert!(
        users[0].get("password_hash").is_none(),
        "the hash is never printed"
    );
    let app = ok_json(
        tmp.path(),
        &[
            "client",
            "add",
            "--name",
            "app",
            "--auth",
            "none",
            "--redirect-uri",
            "https://app.example/cb",
            "--grant-types",
            "authorization_code",
            "--scope",
            "launch patient/*.rs",
        ],
    );
    let app_id = app["client_id"].as_str().unwrap();
    let launch = ok_json(
        tmp.path(),
        &[
            "launch",
            "create",
            "--client-id",
            app_id,
            "--patient",
            "p1",
            "--encounter",
            "e1",
        ],
    );
    assert!(launch["launch"].as_str().unwrap().len() >= 20);
    // Issue 8 item 1: patient and encounter are FHIR ids.
    let out = cli(
        tmp.path(),
        &[
            "launch",
            "create",
            "--client-id",
            app_id,
            "--patient",
            "p1/../x",
        ],
    );
    assert!(!out.status.success());
    let out = cli(
        tmp.path(),
        &["grant", "revoke", "alice", "--client", "nobody"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no grants"));
}

#[test]
fn grant_revoke_ends_a_users_grant_at_once() {
    // HTI1-4 through the CLI: tokens from the grant introspect inactive, refresh stops working.
    use crate::authcode::flow::{
        add_app, add_user, authorize_url, exchange_public, json_of, walk, Browser, VERIFIER,
    };
    let mut s = crate::common::TestServer::start();
    let scope = "launch/patient patient/*.rs offline_access";
    add_app(&s, "app", "none", None, scope);
    add_user(&s, "alice", None, &["p1"]);
    let q = walk(
        &Browser::new(),
        &s,
        &authorize_url(&s, "app", scope, &[]),
        "alice",
        None,
        None,
        "approve",
    );
    let t = json_of(exchange_public(&s, "app", &q["code"], VERIFIER));
    let listed = std::cell::RefCell::new(Value::Null);
    s.restart_after(|dir| {
        *listed.borrow_mut() = ok_json(dir, &["grant", "list", "alice"]);
        let revoked = ok_json(dir, &["grant", "revoke", "alice", "--client", "app"]);
        assert_eq!(revoked["revoked"], 1);
    });
    assert_eq!(listed.borrow()[0]["client_id"], "app");
    let view: Value = s
        .post_form(
            &s.ep.introspection,
            &[
                ("token", t["access_token"].as_str().unwrap()),
                ("client_id", "app"),
            ],
        )
        .json()
        .unwrap();
    assert_eq!(view, json!({"active": false}));
    let res = s.post_form(
        &s.ep.token,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ("client_id", "app"),
        ],
    );
    assert_eq!(crate::common::error_of(res), (400, "invalid_grant".into()));
}

#[test]
fn access_log_has_one_line_per_request_without_the_query() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let log_path = tmp.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new(BIN)
        .env(ADMIN_LISTEN_ANY.0, ADMIN_LISTEN_ANY.1)
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--access-log",
            "true",
        ])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let _served = Served(child);
    let http = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "serve did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    http.get(format!(
        "http://127.0.0.1:{port}/.well-known/udap?community=secret-looking-value"
    ))
    .send()
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let text = std::fs::read_to_string(&log_path).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("path=/.well-known/udap"))
        .expect("an access line");
    assert!(
        line.contains("status=200") && line.contains("method=GET"),
        "{line}"
    );
    assert!(
        !text.contains("secret-looking-value"),
        "query strings are never logged"
    );
}

#[test]
fn private_keys_are_sealed_at_rest_with_a_key_encryption_key() {
    // Issue 9: private keys in the database are protected with a KEK from the environment.
    const KEK: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = free_port();
    let spawn = |kek: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.env(ADMIN_LISTEN_ANY.0, ADMIN_LISTEN_ANY.1)
            .arg("--data-dir")
            .arg(&data)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd.env_remove("UDAP_KEY_ENCRYPTION_KEY")
            .env_remove("UDAP_KEY_ENCRYPTION_KEY_FILE");
        if let Some(k) = kek {
            cmd.env("UDAP_KEY_ENCRYPTION_KEY", k);
        }
        cmd.spawn().expect("spawn serve")
    };
    let healthy = || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if reqwest::blocking::get(format!("http://127.0.0.1:{port}/.well-known/udap"))
                .is_ok_and(|r| r.status().is_success())
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    };
    let first = Served(spawn(Some(KEK)));
    assert!(healthy(), "zero-config serve with a KEK");
    drop(first);
    {
        let store = udap_server::store::Store::open(&data.join("udap.redb")).unwrap();
        let community = store
            .communities()
            .default()
            .unwrap()
            .expect("dev community");
        assert!(udap_server::kek::is_sealed(&community.signing_key_pem));
        assert!(!community.signing_key_pem.contains("PRIVATE KEY"));
        let key = store
            .server_keys()
            .get_or_create("token-rs256", 0, || panic!("created by serve"))
            .unwrap();
        assert!(udap_server::kek::is_sealed(&key.key_pem));
    }
    // Without the KEK the server refuses to start, and says which key it needs.
    let out = spawn(None).wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("key-encryption key"), "{err}");
    let _again = Served(spawn(Some(KEK)));
    assert!(healthy(), "serves again with the KEK");
}
