//! Two server instances on one PostgreSQL database, serving one base URL as instances behind a
//! load balancer do (issue 9 item 5). Each test gets a database of its own; without
//! `UDAP_TEST_DATABASE_URL` they report themselves skipped (scripts/test always sets it; CI
//! requires it).

use std::sync::Arc;

use serde_json::{json, Value};
use udap_server::oauth::client_auth::hash_secret;
use udap_server::store::test_db::TestDb;
use udap_server::store::ClientRecord;

use crate::common::{error_of, eventually, now, Options, TestCommunity, TestServer};

const SAN: &str = "https://client.example.org/b2b";

/// Instance `a` (which seeds the community) and instance `b`, sharing `a`'s base URL.
struct Pair {
    a: TestServer,
    b: TestServer,
    _db: TestDb,
}

impl Pair {
    fn start() -> Option<Pair> {
        Self::start_admin(false)
    }

    /// With `admin`, instance `a` also serves the admin API (issue 10).
    fn start_admin(admin: bool) -> Option<Pair> {
        let db = TestDb::empty()?;
        let a = TestServer::start_with(Options {
            database: Some(db.options()),
            admin,
            ..Default::default()
        });
        let overrides = udap_server::config::Overrides {
            base_url: Some(a.base.clone()),
            ..Default::default()
        };
        let b = TestServer::start_with(Options {
            database: Some(db.options()),
            join: true,
            overrides,
            ..Default::default()
        });
        Some(Pair { a, b, _db: db })
    }
}

#[test]
fn both_instances_publish_the_same_keys_and_metadata_signer() {
    let Some(p) = Pair::start() else { return };
    let ja: Value = p.a.get("/jwks").json().unwrap();
    let jb: Value = p.b.get("/jwks").json().unwrap();
    assert_eq!(ja, jb, "one set of server keys, from the database");
    assert!(!ja["keys"].as_array().unwrap().is_empty());
}

#[test]
fn register_on_one_instance_and_get_a_token_from_the_other() {
    let Some(p) = Pair::start() else { return };
    let id = p.a.community.client(SAN);
    let client_id = p.a.register(&id);
    let res = p.b.udap_token(&p.a.assertion(&id, &client_id, json!({})));
    assert_eq!(res.status().as_u16(), 200);
    let token = res.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    // The token B signed verifies with the keys A publishes (one key set).
    let kid = crate::common::jwt_part(&token, 0)["kid"]
        .as_str()
        .unwrap()
        .to_string();
    let jwks: Value = p.a.get("/jwks").json().unwrap();
    assert!(jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["kid"] == kid.as_str()));
}

#[test]
fn one_assertion_sent_fifty_times_across_both_instances_gets_one_token() {
    // UDAP-5 across instances: the replay check is one atomic statement in the shared database.
    let Some(p) = Pair::start() else { return };
    let id = p.a.community.client(SAN);
    let client_id = p.a.register(&id);
    let assertion = Arc::new(p.a.assertion(&id, &client_id, json!({})));
    let p = Arc::new(p);
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let (p, a) = (p.clone(), assertion.clone());
            std::thread::spawn(move || {
                if i % 2 == 0 {
                    p.a.udap_token(&a)
                } else {
                    p.b.udap_token(&a)
                }
                .status()
                .as_u16()
            })
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|c| **c == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|c| **c == 400).count(),
        49,
        "{statuses:?}"
    );
}

#[test]
fn a_token_revoked_on_one_instance_introspects_inactive_on_the_other() {
    let Some(p) = Pair::start() else { return };
    let secret = "rs-secret-0123456789abcdef0123456789abcdef";
    let mut rs = ClientRecord::admin(
        "fhir-resource-server",
        "FHIR server",
        "client_secret_basic",
        &["client_credentials"],
        "udap-server/introspect",
        now(),
    );
    rs.secret_hash = Some(hash_secret(secret));
    p.a.store.clients().put(&rs).unwrap();
    let id = p.a.community.client(SAN);
    let client_id = p.a.register(&id);
    let token: Value =
        p.a.udap_token(&p.a.assertion(&id, &client_id, json!({})))
            .json()
            .unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    let introspect = |s: &TestServer| -> Value {
        s.http
            .post(s.route(&s.ep.introspection))
            .basic_auth("fhir-resource-server", Some(secret))
            .form(&[("token", token.as_str())])
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    assert_eq!(introspect(&p.a)["active"], true);
    // RFC 7009 on B, with the client's own assertion.
    let res = p.b.post_form(
        &p.b.ep.revocation,
        &[
            ("token", token.as_str()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            (
                "client_assertion",
                &p.a.assertion(&id, &client_id, json!({})),
            ),
            ("udap", "1"),
        ],
    );
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        introspect(&p.a),
        json!({"active": false}),
        "revocation takes effect at once on every instance (HTI1-4)"
    );
}

#[test]
fn a_community_added_through_one_instance_is_trusted_by_the_other() {
    let Some(p) = Pair::start() else { return };
    let newcomer = TestCommunity::new("urn:example:newcomer");
    let id = newcomer.client(SAN);
    let register = |s: &TestServer| {
        s.post_json(
            &s.ep.registration,
            &json!({"software_statement": s.statement(&id, json!({})), "udap": "1"}),
        )
        .status()
        .as_u16()
    };
    assert_eq!(register(&p.b), 400);
    p.a.store
        .communities()
        .put(newcomer.record(&p.a.base, false))
        .unwrap();
    assert!(
        eventually(|| register(&p.b) == 201),
        "B picks up the community added to the database"
    );
    assert!(
        eventually(|| register(&p.a) == 200),
        "and so does A (an update of the same registration)"
    );
    // And a cancelled registration is seen by both at once (no per-instance client cache).
    let other = newcomer.client("https://client.example.org/other");
    let client_id = p.b.register(&other);
    let cancel = p.a.post_json(&p.a.ep.registration, &json!({"software_statement": p.a.statement(&other, json!({"grant_types": []})), "udap": "1"}));
    assert_eq!(cancel.status().as_u16(), 200);
    assert_eq!(
        error_of(p.b.udap_token(&p.a.assertion(&other, &client_id, json!({})))),
        (400, "invalid_client".into())
    );
}

#[test]
fn sign_in_on_one_instance_consent_on_the_other_and_exchange_on_the_first() {
    // Sessions, interactions, codes and grants live in the shared database.
    use crate::authcode::flow::{
        add_app, add_user, authorize_url, exchange_public, hidden, location, query, Browser,
        PASSWORD, REDIRECT, VERIFIER,
    };
    let Some(p) = Pair::start() else { return };
    let scope = "launch/patient patient/*.rs openid fhirUser";
    add_app(&p.a, "app", "none", None, scope);
    add_user(&p.a, "alice", Some("Patient/p1"), &["p1"]);
    let b = Browser::new();
    // Instance A: the authorization request and the sign-in.
    let login_url = location(&b.get(&authorize_url(&p.a, "app", scope, &[])));
    let html = b.get(&login_url).text().unwrap();
    let signed_in = b.post(
        &format!("{}/login", p.a.base),
        &[
            ("username", "alice"),
            ("password", PASSWORD),
            ("csrf", &hidden(&html, "csrf")),
            ("interaction", &hidden(&html, "interaction")),
        ],
    );
    let next = location(&signed_in);
    // Instance B: the consent page and the decision (the browser's cookie names a session A made).
    let res = b.get(&p.b.route(&next));
    assert_eq!(
        res.status().as_u16(),
        200,
        "B knows A's session and interaction"
    );
    let html = res.text().unwrap();
    assert!(html.contains("id=\"approve\""), "the consent page");
    let mut form: Vec<(&str, &str)> = vec![("decision", "approve")];
    let (csrf, interaction) = (hidden(&html, "csrf"), hidden(&html, "interaction"));
    form.push(("csrf", &csrf));
    form.push(("interaction", &interaction));
    let offered = crate::authcode::flow::checkbox_values(&html);
    for (value, checked) in &offered {
        if *checked {
            form.push(("scope", value));
        }
    }
    let done = location(&b.post(
        &p.b.route(&format!("{}/authorize/consent", p.a.base)),
        &form,
    ));
    assert!(done.starts_with(REDIRECT), "{done}");
    let code = query(&done)["code"].clone();
    // Instance A: the code exchange.
    let res = exchange_public(&p.a, "app", &code, VERIFIER);
    assert_eq!(res.status().as_u16(), 200);
    let t: Value = res.json().unwrap();
    assert_eq!(t["patient"], "p1");
}

#[test]
fn killing_one_instance_under_load_loses_no_replay_protection() {
    // Issue 9 item 5: kill -9 instance A under load; B keeps serving, and no assertion A accepted
    // is accepted again (A answered 200 only after the jti was committed to the shared database).
    use crate::common::cli::{free_port, serve};
    use udap_server::oauth::urls::Endpoints;
    let Some(db) = TestDb::create() else { return };
    let (port_a, port_b) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{port_a}");
    let community = TestCommunity::new(udap_server::pki::testing::COMMUNITY_URI);
    db.store()
        .communities()
        .put(community.record(&base, true))
        .unwrap();
    let args = [
        "--database-url",
        db.url(),
        "--base-url",
        base.as_str(),
        "--outbound-allow-private-networks",
    ];
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = serve(dirs.0.path(), port_a, &args);
    let _b = serve(dirs.1.path(), port_b, &args);
    let ep = Endpoints::new(&base);
    let at = |port: u16, url: &str| url.replacen(&base, &format!("http://127.0.0.1:{port}"), 1);
    let http = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    let id = community.client(SAN);
    let t = now();
    let statement = id.sign(&json!({"iss": SAN, "sub": SAN, "aud": ep.registration, "exp": t + 300, "iat": t, "jti": udap_server::oauth::random_token(16),
        "client_name": "B2B", "contacts": ["mailto:ops@example.org"], "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt", "scope": "system/Patient.rs"}));
    let res = http
        .post(at(port_b, &ep.registration))
        .json(&json!({"software_statement": statement, "udap": "1"}))
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let client_id = res.json::<Value>().unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let assertions: Vec<String> = (0..410)
        .map(|_| id.sign(&json!({"iss": client_id, "sub": client_id, "aud": ep.token, "exp": t + 300, "iat": t, "jti": udap_server::oauth::random_token(16)})))
        .collect();
    let token = |port: u16, assertion: &str| {
        http.post(at(port, &ep.token))
            .form(&[
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion),
                ("udap", "1"),
            ])
            .send()
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    // Load on A from 4 threads (the first 400 assertions), killed part-way.
    let to_a: Vec<String> = assertions[..400].to_vec();
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for chunk in to_a.chunks(100) {
            let (token, results) = (&token, &results);
            scope.spawn(move || {
                for a in chunk {
                    let status = token(port_a, a);
                    results.lock().unwrap().push((a.clone(), status));
                }
            });
        }
        // Killed once A has answered some of them, with most still to come.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while results.lock().unwrap().len() < 40 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let mut a = a;
        a.0.kill().unwrap(); // SIGKILL
        let _ = a.0.wait();
    });
    let results = results.into_inner().unwrap();
    let accepted: Vec<&String> = results
        .iter()
        .filter(|(_, s)| *s == 200)
        .map(|(a, _)| a)
        .collect();
    assert!(!accepted.is_empty(), "A accepted some before it was killed");
    assert!(
        results.iter().any(|(_, s)| *s == 0),
        "A was killed under load (some requests failed)"
    );
    for a in &accepted {
        assert_eq!(
            token(port_b, a),
            400,
            "an assertion A accepted is never accepted again"
        );
    }
    // B keeps serving.
    for a in &assertions[400..410] {
        assert_eq!(token(port_b, a), 200);
    }
}

#[test]
fn a_crl_published_through_one_instance_revokes_on_the_other() {
    // UDAP-48 across instances: a community's CRL changed in the shared database is applied by
    // every instance without a restart.
    use udap_server::pki::ca::CertSpec;
    let Some(mut p) = Pair::start() else { return };
    let leaf =
        p.a.community
            .pki
            .issue_leaf(&CertSpec::leaf("member", SAN, p.a.community.pki.now))
            .unwrap();
    let id = crate::common::Identity::from_leaf(&p.a.community.pki, &leaf, SAN);
    let client_id = p.a.register(&id);
    assert_eq!(
        p.b.udap_token(&p.a.assertion(&id, &client_id, json!({})))
            .status()
            .as_u16(),
        200
    );
    // The administrator publishes a CRL listing the member's certificate (through A's database).
    p.a.community.revoked.push(leaf.serial_hex.clone());
    let mut record =
        p.a.store
            .communities()
            .get(&p.a.community.uri)
            .unwrap()
            .unwrap();
    record.crls_pem = p.a.community.record(&p.a.base, true).crls_pem;
    p.a.store.communities().put(record).unwrap();
    assert!(
        eventually(
            || error_of(p.b.udap_token(&p.a.assertion(&id, &client_id, json!({}))))
                == (400, "invalid_client".into())
        ),
        "B refuses the revoked certificate"
    );
}

#[test]
fn a_change_through_one_instances_admin_api_reaches_the_other_instance() {
    // Issue 10 item 2: with PostgreSQL, any instance's admin API will do.
    let Some(p) = Pair::start_admin(true) else {
        return;
    };
    let id = p.a.community.client(SAN);
    let client_id = p.a.register(&id);
    let token = || p.b.udap_token(&p.a.assertion(&id, &client_id, json!({})));
    assert_eq!(token().status().as_u16(), 200);
    p.a.admin_json(&["client", "disable", &client_id]);
    // Clients are read from the database on every request: instance b refuses at once.
    assert_eq!(error_of(token()), (400, "invalid_client".into()));
    p.a.admin_json(&["client", "enable", &client_id]);
    assert_eq!(token().status().as_u16(), 200);
}
