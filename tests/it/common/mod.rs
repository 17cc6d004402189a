//! The test harness: a running server with one (or more) communities built from `TestPki`, a
//! blocking HTTP client, and helpers that act as a UDAP client would.

#![allow(dead_code)]

// Issue 8 item 4: a stand-in for the remote hosts the server fetches from (JWKS, CRLs).
pub mod cli;
pub mod stub;
// SMART backend-service clients, shared by token_smart and outbound_fetch.
pub mod smart;
// Headless Chromium for page tests (the authorize flow, the developer portal, connected apps).
pub mod browser;

use std::net::TcpListener;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use tempfile::TempDir;
use udap_server::config::{FileConfig, Overrides, Settings};
use udap_server::http::{self, RunningServer};
use udap_server::jose::{SignOptions, Signer};
use udap_server::oauth::urls::Endpoints;
use udap_server::pki::ca::{CertSpec, IssuedCert, KeyKind};
use udap_server::pki::testing::{TestPki, COMMUNITY_URI};
use udap_server::store::{CommunityRecord, Store};

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A client identity: certificate chain (leaf first) and key.
#[derive(Clone)]
pub struct Identity {
    pub chain_pem: String,
    pub key_pem: String,
    pub san: String,
}

impl Identity {
    /// The x5c header value for this identity (standard base64 DER, leaf first).
    pub fn x5c(&self) -> Vec<String> {
        use base64::Engine;
        openssl::x509::X509::stack_from_pem(self.chain_pem.as_bytes())
            .expect("chain")
            .iter()
            .map(|c| base64::engine::general_purpose::STANDARD.encode(c.to_der().expect("der")))
            .collect()
    }

    pub fn from_leaf(pki: &TestPki, leaf: &IssuedCert, san: &str) -> Self {
        Identity {
            chain_pem: format!("{}{}", leaf.cert_pem, pki.intermediate.cert_pem),
            key_pem: leaf.key_pem.clone(),
            san: san.to_string(),
        }
    }

    pub fn signer(&self) -> Signer {
        Signer::from_pem(&self.key_pem, Some(&self.chain_pem)).expect("client signer")
    }

    /// Signs `claims` with the x5c header (UDAP-3).
    pub fn sign(&self, claims: &Value) -> String {
        self.signer()
            .sign(
                claims,
                SignOptions {
                    include_x5c: true,
                    typ: None,
                },
            )
            .expect("sign")
    }
}

/// One community served by the test server.
pub struct TestCommunity {
    pub uri: String,
    pub pki: TestPki,
    /// Serials (hex) listed on the intermediate's CRL.
    pub revoked: Vec<String>,
}

impl TestCommunity {
    pub fn new(uri: &str) -> Self {
        TestCommunity {
            uri: uri.to_string(),
            pki: TestPki::new(now()).expect("pki"),
            revoked: Vec::new(),
        }
    }

    /// A client leaf with `san` issued by this community's intermediate.
    pub fn client(&self, san: &str) -> Identity {
        self.client_with(san, |s| s)
    }

    pub fn client_with(&self, san: &str, adjust: impl FnOnce(CertSpec) -> CertSpec) -> Identity {
        let spec = adjust(CertSpec::leaf("test client", san, self.pki.now));
        let leaf = self.pki.issue_leaf(&spec).expect("leaf");
        Identity::from_leaf(&self.pki, &leaf, san)
    }

    /// Issues a leaf and lists it on the CRL (before the server starts).
    pub fn revoked_client(&mut self, san: &str) -> Identity {
        let leaf = self
            .pki
            .issue_leaf(&CertSpec::leaf("revoked client", san, self.pki.now))
            .expect("leaf");
        self.revoked.push(leaf.serial_hex.clone());
        Identity::from_leaf(&self.pki, &leaf, san)
    }

    /// The stored record of this community for a server at `base_url`.
    pub fn record(&self, base_url: &str, is_default: bool) -> CommunityRecord {
        let server = self
            .pki
            .issue_leaf(&CertSpec::leaf("udap-server", base_url, self.pki.now))
            .expect("server cert");
        let crl = self.pki.intermediate_crl(&self.revoked).expect("crl");
        CommunityRecord {
            uri: self.uri.clone(),
            anchors_pem: vec![self.pki.root.cert_pem.clone()],
            intermediates_pem: vec![],
            crls_pem: vec![self.pki.root_crl_pem.clone(), crl],
            signing_chain_pem: format!("{}{}", server.cert_pem, self.pki.intermediate.cert_pem),
            signing_key_pem: server.key_pem,
            revocation: "fail-closed".into(),
            is_default,
            created_at: now(),
            updated_at: now(),
            settings: Map::new(),
            crl_files: Vec::new(),
        }
    }
}

/// Builds a community record once the base URL is known.
pub type RecordFactory = Box<dyn Fn(&str) -> CommunityRecord>;

/// Options for starting a server.
#[derive(Default)]
pub struct Options {
    pub extra_communities: Vec<TestCommunity>,
    pub community_settings: Map<String, Value>,
    pub overrides: Overrides,
    /// Extra community records built by the test from the base URL (e.g. the interop community).
    pub records: Vec<RecordFactory>,
    /// The default community (else a fresh `TestCommunity`).
    pub community: Option<TestCommunity>,
    /// A PostgreSQL database instead of the data directory's redb file (issue 9).
    pub database: Option<udap_server::store::PgOptions>,
    /// The database is shared with a running instance that already holds the communities: store
    /// nothing before starting (the second instance of a pair).
    pub join: bool,
    /// Path of the base URL, e.g. "/fhir" (empty: the root).
    pub base_path: String,
    /// Issue 10: also serve the admin API (on 127.0.0.1:0), with a token for the test.
    pub admin: bool,
}

/// A `Store` that `restart` can let go of.
pub struct StoreHandle(Option<Store>);

impl std::ops::Deref for StoreHandle {
    type Target = Store;
    fn deref(&self) -> &Store {
        self.0.as_ref().expect("store is open")
    }
}

pub struct TestServer {
    pub base: String,
    pub ep: Endpoints,
    pub community: TestCommunity,
    pub extra: Vec<TestCommunity>,
    pub dir: TempDir,
    /// The server's own store handle (shared, as the server holds the database lock).
    pub store: StoreHandle,
    pub http: reqwest::blocking::Client,
    server: Option<RunningServer>,
    overrides: Overrides,
    base_path: String,
    /// Where requests go when it differs from the base URL's origin (the second instance of a
    /// pair serves the first one's base URL, as instances behind one load balancer do).
    listen_origin: Option<(String, String)>,
    /// Issue 10: the admin API's base URL and a live admin token, when `Options::admin` was set.
    pub admin: Option<(String, String)>,
}

fn settings_for(
    dir: &std::path::Path,
    listener: &TcpListener,
    overrides: &Overrides,
    base_path: &str,
    database: Option<&udap_server::store::PgOptions>,
) -> Settings {
    let addr = listener.local_addr().expect("addr");
    let mut o = overrides.clone();
    o.listen = Some(addr.to_string());
    o.base_url = Some(
        o.base_url
            .unwrap_or_else(|| format!("http://{addr}{base_path}")),
    );
    // Issue 8 item 4: the stub JWKS and CRL hosts listen on 127.0.0.1, which the outbound address
    // policy refuses by default; a test can still set it to false.
    o.outbound_allow_private_networks = Some(o.outbound_allow_private_networks.unwrap_or(true));
    let mut settings =
        Settings::resolve(dir.to_path_buf(), FileConfig::default(), o).expect("settings");
    if let Some(db) = database {
        settings.store = udap_server::store::StoreLocation::Postgres(db.clone());
    }
    settings
}

impl TestServer {
    pub fn start() -> Self {
        Self::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let settings = settings_for(
            dir.path(),
            &listener,
            &opts.overrides,
            &opts.base_path,
            opts.database.as_ref(),
        );
        let base = settings.base_url.clone();
        let community = opts
            .community
            .unwrap_or_else(|| TestCommunity::new(COMMUNITY_URI));
        if !opts.join {
            let store = Store::open_at(&settings.store).expect("store");
            let mut rec = community.record(&base, true);
            rec.settings = opts.community_settings.clone();
            store.communities().put(rec).expect("put community");
            for extra in &opts.extra_communities {
                store
                    .communities()
                    .put(extra.record(&base, false))
                    .expect("put community");
            }
            for make in &opts.records {
                store.communities().put(make(&base)).expect("put record");
            }
        }
        let state = udap_server::cli::serve::prepare(settings).expect("prepare");
        let store = StoreHandle(Some(state.store.clone()));
        let listen = format!("http://{}", listener.local_addr().expect("addr"));
        let origin = origin_of(&base);
        let listen_origin = (origin != listen).then_some((origin, listen));
        let (server, admin) = if opts.admin {
            let (token, _) =
                udap_server::admin::tokens::issue(&state.store, "test-admin", None, now())
                    .expect("admin token");
            let admin_listener = TcpListener::bind("127.0.0.1:0").expect("bind admin");
            let server =
                http::start_with_admin(state, listener, Some(admin_listener)).expect("start");
            let url = format!("http://{}", server.admin_addr.expect("admin addr"));
            (server, Some((url, token)))
        } else {
            (http::start(state, listener).expect("start"), None)
        };
        TestServer {
            admin,
            ep: Endpoints::new(&base),
            base,
            community,
            extra: opts.extra_communities,
            dir,
            store,
            http: reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            server: Some(server),
            overrides: opts.overrides,
            base_path: opts.base_path,
            listen_origin,
        }
    }

    /// Stops the server and starts it again on the same data directory and address.
    pub fn restart(&mut self) {
        self.restart_after(|_| {});
    }

    /// Stops the server, runs `between` on the data directory (e.g. an admin CLI command, which
    /// needs the database unlocked), then starts the server again.
    pub fn restart_after(&mut self, between: impl FnOnce(&std::path::Path)) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
        self.store.0 = None;
        between(self.dir.path());
        // Wait until the store is released by the old server's state.
        let addr = url::Url::parse(&self.base)
            .ok()
            .and_then(|u| u.socket_addrs(|| None).ok())
            .and_then(|a| a.first().copied())
            .expect("addr");
        let mut tries = 0;
        let (state, listener) = loop {
            let listener = TcpListener::bind(addr);
            let settings = listener
                .as_ref()
                .ok()
                .map(|l| settings_for(self.dir.path(), l, &self.overrides, &self.base_path, None));
            match (listener, settings.map(udap_server::cli::serve::prepare)) {
                (Ok(l), Some(Ok(state))) => break (state, l),
                _ if tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                _ => panic!("server did not restart"),
            }
        };
        self.store = StoreHandle(Some(state.store.clone()));
        self.server = Some(http::start(state, listener).expect("restart"));
    }

    /// Issue 10: runs the real `udap-server` binary as an administrator on another machine would:
    /// `--server ADMIN_URL` with the token in UDAP_ADMIN_TOKEN, and a data directory of its own
    /// (so nothing can reach this server's store but the API).
    pub fn admin_cli(&self, args: &[&str]) -> std::process::Output {
        let (url, token) = self.admin.as_ref().expect("started with Options::admin");
        let elsewhere = tempfile::tempdir().expect("tempdir");
        std::process::Command::new(cli::BIN)
            .arg("--data-dir")
            .arg(elsewhere.path())
            .args(["--server", url])
            .args(args)
            .env("UDAP_ADMIN_TOKEN", token)
            .env_remove("UDAP_DATABASE_URL")
            .output()
            .expect("run udap-server")
    }

    /// [`admin_cli`](Self::admin_cli) with `--json`, asserting success.
    pub fn admin_json(&self, args: &[&str]) -> Value {
        let out = self.admin_cli(&[&["--json"], args].concat());
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON output")
    }

    /// The running server's state (issue 10 item 4: its `TokenIssuer`, to reload rotated keys).
    pub fn state(&self) -> &udap_server::http::AppState {
        self.server
            .as_ref()
            .and_then(RunningServer::state)
            .expect("the server is running")
    }

    /// GET a path under the base URL.
    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        self.http
            .get(self.route(&format!("{}{}", self.base.trim_end_matches('/'), path)))
            .send()
            .expect("GET")
    }

    /// GET a path at the server root (health, metrics).
    pub fn get_root(&self, path: &str) -> reqwest::blocking::Response {
        self.http
            .get(self.route(&format!("{}{path}", origin_of(&self.base))))
            .send()
            .expect("GET")
    }

    /// `url` sent to this instance: the base URL's origin swapped for the listening address when
    /// they differ (the second instance of a pair).
    pub fn route(&self, url: &str) -> String {
        match &self.listen_origin {
            Some((origin, listen)) if url.starts_with(origin.as_str()) => {
                format!("{listen}{}", &url[origin.len()..])
            }
            _ => url.to_string(),
        }
    }

    pub fn post_json(&self, url: &str, body: &Value) -> reqwest::blocking::Response {
        self.http
            .post(self.route(url))
            .json(body)
            .send()
            .expect("POST")
    }

    pub fn post_form(&self, url: &str, form: &[(&str, &str)]) -> reqwest::blocking::Response {
        self.http
            .post(self.route(url))
            .form(form)
            .send()
            .expect("POST form")
    }

    /// A software statement for `identity` with sensible client_credentials defaults; `patch`
    /// overrides or removes (Null) claims.
    pub fn statement(&self, identity: &Identity, patch: Value) -> String {
        let now = now();
        let mut claims = json!({
            "iss": identity.san, "sub": identity.san, "aud": self.ep.registration,
            "exp": now + 300, "iat": now, "jti": udap_server::oauth::random_token(16),
            "client_name": "Test B2B client", "contacts": ["mailto:ops@example.org"],
            "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
            "scope": "system/Patient.rs system/Observation.rs",
        });
        merge(&mut claims, patch);
        identity.sign(&claims)
    }

    /// Registers `identity` (client_credentials) and returns the client_id.
    pub fn register(&self, identity: &Identity) -> String {
        let res = self.post_json(
            &self.ep.registration,
            &json!({"software_statement": self.statement(identity, json!({})), "udap": "1"}),
        );
        assert_eq!(res.status().as_u16(), 201, "registration failed");
        res.json::<Value>().expect("json")["client_id"]
            .as_str()
            .expect("client_id")
            .to_string()
    }

    /// A UDAP authentication JWT (AnT) for `client_id` (UDAP-28), with the Inferno hl7-b2b object.
    pub fn assertion(&self, identity: &Identity, client_id: &str, patch: Value) -> String {
        let now = now();
        let mut claims = json!({
            "iss": client_id, "sub": client_id, "aud": self.ep.token,
            "exp": now + 300, "iat": now, "jti": udap_server::oauth::random_token(16),
            "extensions": {"hl7-b2b": {"version": "1", "subject_name": "UDAP Test Kit", "organization_name": "Inferno Framework",
                "organization_id": "https://inferno-framework.github.io/", "purpose_of_use": ["SYSDEV"]}},
        });
        merge(&mut claims, patch);
        identity.sign(&claims)
    }

    /// POSTs a client_credentials request with a UDAP assertion.
    pub fn udap_token(&self, assertion: &str) -> reqwest::blocking::Response {
        self.post_form(
            &self.ep.token,
            &[
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion),
                ("udap", "1"),
            ],
        )
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
    }
}

/// Polls `f` until it returns true (servers reload communities from the store every 2 s); false
/// after 15 s.
pub fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    false
}

/// `scheme://host:port` of a URL.
pub fn origin_of(url: &str) -> String {
    let u = url::Url::parse(url).expect("URL");
    format!(
        "{}://{}{}",
        u.scheme(),
        u.host_str().unwrap_or("127.0.0.1"),
        u.port().map(|p| format!(":{p}")).unwrap_or_default()
    )
}

/// Shallow-merges `patch` into `target`; `null` removes a key.
pub fn merge(target: &mut Value, patch: Value) {
    if let (Some(t), Value::Object(p)) = (target.as_object_mut(), patch) {
        for (k, v) in p {
            if v.is_null() {
                t.remove(&k);
            } else {
                t.insert(k, v);
            }
        }
    }
}

/// Status and `error` of an OAuth error response.
pub fn error_of(res: reqwest::blocking::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().unwrap_or(Value::Null);
    (
        status,
        body["error"]
            .as_str()
            .unwrap_or("<no error field>")
            .to_string(),
    )
}

/// Decodes a compact JWS part without verification (test inspection only).
pub fn jwt_part(token: &str, index: usize) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(index).expect("part");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .expect("b64"),
    )
    .expect("json")
}

/// A PKI no community trusts, issuing a leaf with `san` (same subject DN as the real root).
pub fn untrusted_identity(san: &str) -> Identity {
    let pki = TestPki::new(now()).expect("pki");
    let leaf = pki
        .issue_leaf(&CertSpec::leaf("untrusted", san, pki.now))
        .expect("leaf");
    Identity::from_leaf(&pki, &leaf, san)
}

pub fn rsa_key_pem() -> String {
    let key = KeyKind::Rsa2048.generate().expect("key");
    String::from_utf8(key.private_key_to_pem_pkcs8().expect("pem")).expect("utf8")
}

pub fn shared_path(rel: &str) -> Option<std::path::PathBuf> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(rel);
    p.exists().then_some(p)
}

pub type Shared<T> = Arc<T>;

/// Signs `claims` with `key_pem` (RS256 for RSA, ES256 for P-256), whatever the header says (forged or hand-made tokens).
pub fn sign_raw(header: &Value, claims: &Value, key_pem: &str) -> String {
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let input = format!("{}.{}", b64(header), b64(claims));
    let key = openssl::pkey::PKey::private_key_from_pem(key_pem.as_bytes()).expect("key");
    let sig = match key.ec_key() {
        // JWS ES256: the raw r || s, 32 bytes each (not DER).
        Ok(ec) => {
            let digest = openssl::sha::sha256(input.as_bytes());
            let sig = openssl::ecdsa::EcdsaSig::sign(&digest, &ec).expect("ecdsa");
            let mut out = sig.r().to_vec_padded(32).expect("r");
            out.extend(sig.s().to_vec_padded(32).expect("s"));
            out
        }
        Err(_) => {
            let mut signer =
                openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key)
                    .expect("signer");
            signer.update(input.as_bytes()).expect("update");
            signer.sign_to_vec().expect("sign")
        }
    };
    format!(
        "{input}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
    )
}

/// A statement/assertion signed by a random key but carrying `identity`'s real x5c.
pub fn impostor_sign(identity: &Identity, claims: &Value) -> String {
    sign_raw(
        &json!({"alg": "RS256", "x5c": identity.x5c()}),
        claims,
        &rsa_key_pem(),
    )
}
