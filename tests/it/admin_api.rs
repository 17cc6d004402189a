//! Issue 10: the admin API and live administration. Admin commands run by the real binary reach a
//! running server through its API, change what it serves at once, and the API refuses callers
//! without a live admin token.

use std::path::Path;

use serde_json::{json, Value};
use udap_server::pki::ca::CertSpec;

use crate::common::cli::{cli, cli_stdin, free_port, ok_json, serve};
use crate::common::{error_of, now, Identity, Options, TestCommunity, TestServer};

const SAN: &str = "https://client.example.org/b2b";

fn admin_server() -> TestServer {
    TestServer::start_with(Options {
        admin: true,
        ..Default::default()
    })
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn post_op(url: &str, token: Option<&str>, body: &str) -> reqwest::blocking::Response {
    let mut req = reqwest::blocking::Client::new()
        .post(format!("{url}/admin/v1/ops"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().unwrap()
}

#[test]
fn the_admin_api_refuses_missing_wrong_expired_and_revoked_tokens_and_is_not_on_the_public_listener(
) {
    let s = admin_server();
    let (url, token) = s.admin.clone().unwrap();
    let list = r#"{"client": {"list": {"missing_intended_use": false}}}"#;
    assert_eq!(post_op(&url, Some(&token), list).status().as_u16(), 200);

    let missing = post_op(&url, None, list);
    assert_eq!(missing.status().as_u16(), 401);
    assert!(missing.headers().get("www-authenticate").is_some());
    assert_eq!(error_of(missing), (401, "unauthorized".into()));
    let wrong = format!("{}x", &token[..token.len() - 1]);
    assert_eq!(
        error_of(post_op(&url, Some(&wrong), list)),
        (401, "unauthorized".into())
    );
    let expired = udap_server::admin::tokens::issue(&s.store, "expired", Some(60), now() - 120)
        .unwrap()
        .0;
    assert_eq!(
        error_of(post_op(&url, Some(&expired), list)),
        (401, "unauthorized".into())
    );

    // A token created through the API works until it is revoked, then not at all.
    let created = s.admin_json(&["admin", "token", "create", "ops-laptop"]);
    let second = created["token"].as_str().unwrap().to_string();
    assert!(second.starts_with("udapadm_"));
    assert_eq!(post_op(&url, Some(&second), list).status().as_u16(), 200);
    let listed = s.admin_json(&["admin", "token", "list"]);
    assert!(
        !listed.to_string().contains(&second),
        "tokens are never listed"
    );
    s.admin_json(&["admin", "token", "revoke", "ops-laptop"]);
    assert_eq!(
        error_of(post_op(&url, Some(&second), list)),
        (401, "unauthorized".into())
    );
    // Only its hash is stored.
    let stored = serde_json::to_string(&s.store.admin_tokens().list().unwrap()).unwrap();
    assert!(!stored.contains(&second[8..]));

    // The token is checked before the body is read: a caller without one who announces 20 MB
    // and sends 1 KB gets its 401 at once, not after the server waited for (or read) the rest.
    {
        use std::io::{Read, Write};
        let addr = url.trim_start_matches("http://");
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        write!(
            tcp,
            "POST /admin/v1/ops HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 20000000\r\n\r\n{}",
            " ".repeat(1024)
        )
        .unwrap();
        let mut head = [0u8; 12];
        tcp.read_exact(&mut head)
            .expect("an answer before the body is complete");
        assert_eq!(&head, b"HTTP/1.1 401");
    }
    // A malformed op is a JSON 400 and changes nothing.
    assert_eq!(
        error_of(post_op(
            &url,
            Some(&token),
            r#"{"client": {"explode": {}}}"#
        )),
        (400, "invalid_request".into())
    );
    // The public listener has no admin routes, with or without a token.
    let origin = url::Url::parse(&s.base)
        .unwrap()
        .origin()
        .ascii_serialization();
    for path in ["/admin/v1/ops", "/fhir/admin/v1/ops"] {
        let public = format!("{origin}{path}");
        let res = reqwest::blocking::Client::new()
            .post(&public)
            .bearer_auth(&token)
            .body(list)
            .send()
            .unwrap();
        assert_eq!(res.status().as_u16(), 404, "{public}");
    }
}

#[test]
fn an_anchor_added_while_serving_lets_its_members_register_at_once_and_a_bad_one_changes_nothing() {
    let s = admin_server();
    let tmp = tempfile::tempdir().unwrap();
    let newcomer = TestCommunity::new("urn:example:newcomer");
    let id = newcomer.client(SAN);
    let register = |id: &Identity| {
        s.post_json(
            &s.ep.registration,
            &json!({"software_statement": s.statement(id, json!({})), "udap": "1"}),
        )
        .status()
        .as_u16()
    };
    assert_eq!(register(&id), 400, "not trusted before the change");
    let uri = s.community.uri.clone();
    let old_root = write(tmp.path(), "old.pem", &s.community.pki.root.cert_pem);
    let new_root = write(tmp.path(), "new.pem", &newcomer.pki.root.cert_pem);
    let mut crls = Vec::new();
    for (i, pem) in [
        &s.community.pki.root_crl_pem,
        &s.community.pki.intermediate_crl_pem,
        &newcomer.pki.root_crl_pem,
        &newcomer.pki.intermediate_crl_pem,
    ]
    .into_iter()
    .enumerate()
    {
        crls.push("--crl".to_string());
        crls.push(write(tmp.path(), &format!("{i}.crl"), pem));
    }
    let mut args: Vec<&str> = vec![
        "community",
        "update",
        &uri,
        "--anchor",
        &old_root,
        "--anchor",
        &new_root,
    ];
    args.extend(crls.iter().map(String::as_str));
    let out = s.admin_json(&args);
    assert_eq!(out["uri"], json!(uri));
    // No poll interval to wait for: the API applies the change before it answers.
    assert_eq!(register(&id), 201, "trusted right after the change");

    // An unreadable anchor is refused whole, with the file named, and the served set stays.
    let garbage = write(
        tmp.path(),
        "garbage.pem",
        "-----BEGIN CERTIFICATE-----\nnope\n",
    );
    let bad = s.admin_cli(&["community", "update", &uri, "--anchor", &garbage]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains(&uri), "{err}");
    let again = newcomer.client("https://client.example.org/second");
    assert_eq!(register(&again), 201, "the previous anchors still serve");
    let member = s.community.client("https://client.example.org/member");
    assert_eq!(register(&member), 201);
    // A signing key that does not match the certificate: refused, nothing changed.
    let wrong_key = write(tmp.path(), "wrong.key", &newcomer.pki.rsa_leaf.key_pem);
    let chain = s.store.communities().get(&uri).unwrap().unwrap();
    let cert = write(tmp.path(), "sign.pem", &chain.signing_chain_pem);
    let bad = s.admin_cli(&[
        "community",
        "update",
        &uri,
        "--signing-cert",
        &cert,
        "--signing-key",
        &wrong_key,
    ]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("signing key"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let after = s.store.communities().get(&uri).unwrap().unwrap();
    assert_eq!(
        (after.updated_at, after.signing_key_pem, after.anchors_pem),
        (chain.updated_at, chain.signing_key_pem, chain.anchors_pem),
        "the stored community is unchanged"
    );
}

#[test]
fn a_crl_published_while_serving_refuses_the_revoked_client_at_once() {
    let s = admin_server();
    let leaf = s
        .community
        .pki
        .issue_leaf(&CertSpec::leaf("client", SAN, s.community.pki.now))
        .unwrap();
    let id = Identity::from_leaf(&s.community.pki, &leaf, SAN);
    let client_id = s.register(&id);
    let token = |s: &TestServer| s.udap_token(&s.assertion(&id, &client_id, json!({})));
    assert_eq!(token(&s).status().as_u16(), 200);

    let tmp = tempfile::tempdir().unwrap();
    let root_crl = write(tmp.path(), "root.crl", &s.community.pki.root_crl_pem);
    let crl = s
        .community
        .pki
        .intermediate_crl(std::slice::from_ref(&leaf.serial_hex))
        .unwrap();
    let inter_crl = write(tmp.path(), "inter.crl", &crl);
    let uri = s.community.uri.clone();
    let out = s.admin_json(&[
        "community",
        "set-crls",
        &uri,
        "--crl",
        &root_crl,
        "--crl",
        &inter_crl,
    ]);
    assert_eq!(out["crls"], json!(2));
    // UDAP-32: a revoked certificate is invalid_client, from the very next request.
    assert_eq!(error_of(token(&s)), (400, "invalid_client".into()));
}

fn run_ok(dir: &Path, args: &[&str]) -> Value {
    ok_json(dir, args)
}

/// The admin commands of one pass, returning each command's JSON with volatile values (ids,
/// times, secrets) replaced by their type, so a pass on a running server and one on a stopped data
/// directory can be compared.
fn admin_pass(dir: &Path, files: &Path, tag: &str) -> Vec<(String, Value)> {
    let mut seen = Vec::new();
    let mut record = |name: &str, v: Value| seen.push((name.to_string(), shape(&v)));
    let uri = "urn:udap-server:dev";
    let communities = run_ok(dir, &["community", "list"]);
    let uri = communities[0]["uri"].as_str().unwrap_or(uri).to_string();
    record("community list", communities);
    record(
        "community set-policy",
        run_ok(
            dir,
            &[
                "community",
                "set-policy",
                &uri,
                "--purpose-of-use",
                "urn:oid:2.16.840.1.113883.5.8#TREAT",
            ],
        ),
    );
    record(
        "community update",
        run_ok(
            dir,
            &["community", "update", &uri, "--revocation", "fail-closed"],
        ),
    );
    // The CA-driven update: publish fresh CRLs with `ca crl`, then hand them to the community.
    let ca_dir = dir.join("certs").join("dev-community");
    let published = run_ok(dir, &["ca", "crl", "--dir", ca_dir.to_str().unwrap()]);
    let mut args = vec!["community".to_string(), "set-crls".into(), uri.clone()];
    for c in published["crls"].as_array().unwrap() {
        args.push("--crl".into());
        args.push(c["pem"].as_str().unwrap().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    record("community set-crls", run_ok(dir, &args));
    record("community show", run_ok(dir, &["community", "show", &uri]));
    record(
        "community set-default",
        run_ok(dir, &["community", "set-default", &uri]),
    );
    let extra = format!("urn:example:extra-{tag}");
    let f = |n: &str| files.join(n).to_str().unwrap().to_string();
    record(
        "community add",
        run_ok(
            dir,
            &[
                "community",
                "add",
                "--uri",
                &extra,
                "--anchor",
                &f("ca/root.pem"),
                "--signing-cert",
                &f("server.pem"),
                "--signing-key",
                &f("server.key"),
            ],
        ),
    );
    record(
        "community remove",
        run_ok(dir, &["community", "remove", &extra]),
    );
    let added = run_ok(
        dir,
        &[
            "client",
            "add",
            "--name",
            &format!("API {tag}"),
            "--auth",
            "client_secret_basic",
            "--grant-types",
            "authorization_code,client_credentials",
            "--redirect-uri",
            "https://app.example.org/callback",
            "--scope",
            "launch patient/*.rs system/*.rs",
        ],
    );
    let client_id = added["client_id"].as_str().unwrap().to_string();
    assert!(added["client_secret"].is_string());
    record("client add", added);
    record("client list", run_ok(dir, &["client", "list"]));
    record("client show", run_ok(dir, &["client", "show", &client_id]));
    record(
        "client disable",
        run_ok(dir, &["client", "disable", &client_id]),
    );
    record(
        "client enable",
        run_ok(dir, &["client", "enable", &client_id]),
    );
    record(
        "client set-intended-use",
        run_ok(
            dir,
            &[
                "client",
                "set-intended-use",
                &client_id,
                "--users",
                "patient",
                "--purposes",
                "treatment",
            ],
        ),
    );
    let user = format!("user-{tag}");
    let out = cli_stdin(
        dir,
        &[
            "--json",
            "user",
            "add",
            &user,
            "--password-stdin",
            "--patient",
            "p1",
        ],
        "correct horse battery staple\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    record("user add", serde_json::from_slice(&out.stdout).unwrap());
    record("user list", run_ok(dir, &["user", "list"]));
    let out = cli_stdin(
        dir,
        &["--json", "user", "set-password", &user, "--password-stdin"],
        "another long password\n",
    );
    assert!(out.status.success());
    record(
        "user set-password",
        serde_json::from_slice(&out.stdout).unwrap(),
    );
    record(
        "launch create",
        run_ok(
            dir,
            &[
                "launch",
                "create",
                "--client-id",
                &client_id,
                "--patient",
                "p1",
            ],
        ),
    );
    record("grant list", run_ok(dir, &["grant", "list", &user]));
    let out = cli(dir, &["grant", "revoke", &user, "--client", &client_id]);
    assert!(!out.status.success(), "no grant to revoke");
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no grants"));
    let token_name = format!("ci-{tag}");
    record(
        "admin token create",
        run_ok(dir, &["admin", "token", "create", &token_name]),
    );
    record("admin token list", run_ok(dir, &["admin", "token", "list"]));
    record(
        "admin token revoke",
        run_ok(dir, &["admin", "token", "revoke", &token_name]),
    );
    let keys = run_ok(dir, &["keys", "list"]);
    record("keys list", keys);
    let rotated = run_ok(dir, &["keys", "rotate", "--purpose", "access"]);
    record("keys rotate", rotated);
    let previous = run_ok(dir, &["keys", "list"])
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["state"] == "previous" && k["retired_at"].is_null())
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .expect("a previous key after rotation");
    let out = cli(dir, &["keys", "retire", &previous]);
    assert!(!out.status.success(), "tokens it signed may still be valid");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot be retired before"), "{err}");
    let trail = run_ok(
        dir,
        &["audit", "list", "--since", "1h", "--type", "admin_change"],
    );
    assert!(
        !trail.as_array().unwrap().is_empty(),
        "the changes above are in the audit trail"
    );
    record("audit list", trail);
    let export = cli(
        dir,
        &["audit", "export", "--format", "ndjson", "--since", "1h"],
    );
    assert!(export.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&export.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one AuditEvent per line"))
        .collect();
    assert!(lines.iter().all(|e| e["resourceType"] == "AuditEvent"));
    record("user remove", run_ok(dir, &["user", "remove", &user]));
    record(
        "client remove",
        run_ok(dir, &["client", "remove", &client_id]),
    );
    // Back to the policy the pass started with, so the next pass sees the same state.
    let empty = files.join("empty-policy.json");
    std::fs::write(&empty, "{}").unwrap();
    record(
        "community set-policy --file",
        run_ok(
            dir,
            &[
                "community",
                "set-policy",
                &uri,
                "--file",
                empty.to_str().unwrap(),
            ],
        ),
    );
    seen
}

/// Replaces every scalar (and null: a field may be unset in one pass only) by one marker and every
/// array by its first element's shape: what remains is the document's structure and field names.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.first().map(shape).into_iter().collect()),
        _ => json!("scalar"),
    }
}

#[test]
fn every_admin_command_works_the_same_against_a_running_server_and_a_stopped_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let files = tmp.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let ca = files.join("ca");
    ok_json(tmp.path(), &["ca", "init", "--dir", ca.to_str().unwrap()]);
    ok_json(
        tmp.path(),
        &[
            "ca",
            "issue",
            "--dir",
            ca.to_str().unwrap(),
            "--server-cert",
            "--san",
            "https://as.example/fhir",
            "--out",
            files.join("server").to_str().unwrap(),
        ],
    );

    let (port, admin_port) = (free_port(), free_port());
    let server = serve(
        &data,
        port,
        &["--admin-listen", &format!("127.0.0.1:{admin_port}")],
    );
    let endpoint: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("admin.json")).unwrap()).unwrap();
    assert_eq!(
        endpoint["url"],
        json!(format!("http://127.0.0.1:{admin_port}"))
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("admin-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the admin token is the owner's only");
    }
    // The server holds the embedded database: these succeed only through its admin API.
    let live = admin_pass(&data, &files, "live");
    drop(server);
    let stopped = admin_pass(&data, &files, "stopped");
    assert_eq!(live.len(), stopped.len());
    for ((name, a), (_, b)) in live.iter().zip(&stopped) {
        assert_eq!(a, b, "`{name}` prints the same shape both ways");
    }
}

#[test]
fn a_renewed_signing_certificate_signs_the_metadata_from_the_next_request() {
    // Issue 10 item 3: renewing the server's community signing certificate without a restart.
    let s = admin_server();
    let tmp = tempfile::tempdir().unwrap();
    let renewed = s
        .community
        .pki
        .issue_leaf(&CertSpec::leaf("udap-server renewed", &s.base, now()))
        .unwrap();
    let chain = write(
        tmp.path(),
        "renewed.pem",
        &format!(
            "{}{}",
            renewed.cert_pem, s.community.pki.intermediate.cert_pem
        ),
    );
    let key = write(tmp.path(), "renewed.key", &renewed.key_pem);
    let leaf_b64 = Identity::from_leaf(&s.community.pki, &renewed, &s.base).x5c()[0].clone();
    let signer_x5c = || {
        let m: Value = s.get("/.well-known/udap").json().unwrap();
        crate::common::jwt_part(m["signed_metadata"].as_str().unwrap(), 0)["x5c"][0].clone()
    };
    assert_ne!(signer_x5c(), json!(leaf_b64));
    let uri = s.community.uri.clone();
    s.admin_json(&[
        "community",
        "update",
        &uri,
        "--signing-cert",
        &chain,
        "--signing-key",
        &key,
    ]);
    assert_eq!(
        signer_x5c(),
        json!(leaf_b64),
        "the renewed certificate signs at once"
    );
}

#[test]
fn admin_requests_are_audited_by_token_name_without_any_secret() {
    // Issue 10 items 1 and 5: every admin request is audited, refused ones included; records hold
    // the admin token's name, never a token, password, key or client secret.
    let s = admin_server();
    let (url, token) = s.admin.clone().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let password = "correct horse battery staple";
    let mut secrets = vec![token.clone(), password.to_string()];
    let added = s.admin_json(&[
        "client",
        "add",
        "--name",
        "Audited",
        "--auth",
        "client_secret_basic",
        "--grant-types",
        "client_credentials",
        "--scope",
        "system/*.rs",
    ]);
    secrets.push(added["client_secret"].as_str().unwrap().to_string());
    let (admin_url, admin_token) = s.admin.clone().unwrap();
    let mut child = std::process::Command::new(crate::common::cli::BIN)
        .args(["--data-dir", tmp.path().to_str().unwrap()])
        .args([
            "--server",
            &admin_url,
            "user",
            "add",
            "auditee",
            "--password-stdin",
        ])
        .env("UDAP_ADMIN_TOKEN", &admin_token)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{password}").unwrap();
    }
    assert!(child.wait().unwrap().success());
    let created = s.admin_json(&["admin", "token", "create", "second"]);
    secrets.push(created["token"].as_str().unwrap().to_string());
    let key = write(tmp.path(), "k.pem", &s.community.pki.rsa_leaf.key_pem);
    let cert = write(tmp.path(), "c.pem", &s.community.pki.rsa_leaf.cert_pem);
    let refused = s.admin_cli(&[
        "community",
        "update",
        &s.community.uri,
        "--signing-cert",
        &cert,
        "--signing-key",
        &key,
    ]);
    assert!(!refused.status.success());
    assert_eq!(
        post_op(&url, Some("udapadm_wrong"), r#"{"keys": "list"}"#)
            .status()
            .as_u16(),
        401
    );
    assert!(s.state().audit.flush());

    let out = s.admin_cli(&[
        "audit",
        "export",
        "--format",
        "ndjson",
        "--type",
        "admin_change",
    ]);
    assert!(out.status.success());
    // Reads and calls refused before any op ran are `admin_read` records.
    let reads = s.admin_cli(&[
        "audit",
        "export",
        "--format",
        "ndjson",
        "--type",
        "admin_read",
    ]);
    assert!(reads.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&reads.stdout)
    );
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_op = |op: &str| {
        records
            .iter()
            .filter(|r| r.to_string().contains(op))
            .cloned()
            .collect::<Vec<_>>()
    };
    for op in [
        "client.add",
        "user.add",
        "admin-token.create",
        "community.update",
    ] {
        let found = by_op(op);
        assert!(!found.is_empty(), "{op} audited: {text}");
        assert!(
            found[0].to_string().contains("test-admin"),
            "{op} names the admin token: {}",
            found[0]
        );
    }
    assert_eq!(
        by_op("community.update")[0]["outcome"],
        json!("4"),
        "the refusal is recorded as one"
    );
    assert!(by_op("authenticate")
        .iter()
        .any(|r| r.to_string().contains("unauthorized")));
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret leaked into the audit trail"
        );
    }
    for marker in ["PRIVATE KEY", "$argon2", "udapadm_"] {
        assert!(!text.contains(marker), "{marker} in the audit trail");
    }
}
