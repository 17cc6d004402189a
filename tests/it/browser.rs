//! A real browser walks the authorization-code flow: Debian's headless Chromium, driven over
//! WebDriver (chromedriver + the `thirtyfour` client), signs in, picks a patient, unchecks one
//! resource on the consent page and lands on the app's redirect URI (SMART-17, SMART-18). The
//! code is then exchanged and the granted scopes checked.
//!
//! Needs /usr/bin/chromium and /usr/bin/chromedriver (`scripts/ensure-deps --browser`, which
//! `scripts/test` runs). Without them the test fails, unless `UDAP_SKIP_BROWSER_TESTS=1`.
//! `UDAP_KEEP_BROWSER_ARTIFACTS=1` keeps the temporary directory (screenshots, chromedriver log)
//! and prints its path; a failing run keeps it too.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;
use thirtyfour::prelude::*;
use udap_server::store::ClientRecord;

use crate::authcode::flow::{add_user, authorize_url, PASSWORD};
use crate::common::{now, TestServer};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Bound on every single wait (a page, an element, a process).
const WAIT: Duration = Duration::from_secs(30);
/// Bound on the whole browser walk.
const WALK: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(100);

/// The flags every Chromium we start carries: headless, and silent on the (closed) network.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1000,2000",
];

/// `true` when the test should run; panics when the browser is missing and skipping was not asked for.
fn browser_available() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("UDAP_SKIP_BROWSER_TESTS").as_deref() == Ok("1") {
        eprintln!(
            "note: browser test skipped (UDAP_SKIP_BROWSER_TESTS=1; missing {})",
            missing.join(", ")
        );
        return false;
    }
    panic!("the browser test needs {}: run `scripts/ensure-deps --browser` (or set UDAP_SKIP_BROWSER_TESTS=1 to skip it)", missing.join(" and "));
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A chromedriver child process in its own process group; the group (chromedriver and any
/// Chromium it started) is killed on drop.
struct ChromeDriver {
    child: Child,
    url: String,
    log: PathBuf,
}

impl ChromeDriver {
    fn start(dir: &Path) -> Self {
        use std::os::unix::process::CommandExt;
        let probe = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        let mut last = String::new();
        // A port picked here could be taken before chromedriver binds it: try a few.
        for attempt in 0..3 {
            let port = free_port();
            let log = dir.join(format!("chromedriver-{attempt}.log"));
            let out = std::fs::File::create(&log).expect("log file");
            let child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("log"))
                .stderr(out)
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
            let mut driver = ChromeDriver {
                child,
                url: format!("http://127.0.0.1:{port}"),
                log,
            };
            let deadline = Instant::now() + WAIT;
            while Instant::now() < deadline {
                if let Ok(Some(status)) = driver.child.try_wait() {
                    last = format!("chromedriver exited ({status}): {}", driver.log_text());
                    break;
                }
                let ready = probe
                    .get(format!("{}/status", driver.url))
                    .send()
                    .ok()
                    .and_then(|r| r.json::<Value>().ok())
                    .is_some_and(|v| v["value"]["ready"] == Value::Bool(true));
                if ready {
                    return driver;
                }
                std::thread::sleep(POLL);
            }
            if last.is_empty() {
                last = format!(
                    "chromedriver did not answer within {WAIT:?}: {}",
                    driver.log_text()
                );
            }
        }
        panic!("{last}");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the browser processes it started (by our child's id).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The app's redirect URI: a tiny HTTP listener on 127.0.0.1 answering 200 "ok" and reporting
/// every request line it receives.
struct Callback {
    url: String,
    requests: mpsc::Receiver<String>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Callback {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let (tx, requests) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let tx = tx.clone();
                        std::thread::spawn(move || serve_callback(stream, tx));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Callback {
            url: format!("http://127.0.0.1:{port}/callback"),
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// The first request for the callback path (ignoring e.g. /favicon.ico), within `WAIT`.
    fn callback_request(&self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.requests.recv_timeout(left) {
                Ok(line) if line.starts_with("GET /callback") => return line,
                Ok(_) => continue,
                Err(_) => panic!("the app's redirect URI received no request within {WAIT:?}"),
            }
        }
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_callback(stream: TcpStream, tx: mpsc::Sender<String>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return; // a preconnect that never sent a request
    }
    // The rest of the head.
    let mut line = String::new();
    while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false)
        && line != "\r\n"
        && line != "\n"
    {
        line.clear();
    }
    let _ = tx.send(request_line.trim_end().to_string());
    let body = "<!DOCTYPE html><html><head><title>App</title></head><body><p id=\"ok\">ok</p></body></html>";
    let mut stream = stream;
    let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    let _ = stream.flush();
}

/// A public administrator-registered SMART app whose redirect URI is `redirect_uri` (as
/// `authcode::flow::add_app`, with an http loopback redirect).
fn add_public_app(s: &TestServer, client_id: &str, redirect_uri: &str, scope: &str) {
    let mut client = ClientRecord::admin(
        client_id,
        "Browser Test App",
        "none",
        &["authorization_code", "refresh_token"],
        scope,
        now(),
    );
    client.metadata.response_types = vec!["code".into()];
    client.metadata.redirect_uris = vec![redirect_uri.into()];
    s.store.clients().put(&client).unwrap();
}

/// RFC 7636 S256 challenge of `verifier`.
fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(openssl::sha::sha256(verifier.as_bytes()))
}

/// The element matching `css`, waiting up to `WAIT` for it to appear.
async fn wait_for(driver: &WebDriver, css: &str) -> WebDriverResult<WebElement> {
    driver.query(By::Css(css)).wait(WAIT, POLL).first().await
}

/// The person's part: sign in, choose patient p2, uncheck Condition, allow. Returns the URL the
/// browser lands on.
async fn walk(
    driver: &WebDriver,
    authorize: &str,
    callback: &str,
    dir: &Path,
) -> anyhow::Result<String> {
    use anyhow::ensure;
    driver.goto(authorize).await?;

    // Login.
    wait_for(driver, "#username")
        .await?
        .send_keys("alice")
        .await?;
    driver
        .find(By::Css("#password"))
        .await?
        .send_keys(PASSWORD)
        .await?;
    driver.find(By::Css("#login")).await?.click().await?;

    // Patient picker: both of alice's patients are offered.
    wait_for(driver, "#continue").await?;
    let mut offered = Vec::new();
    for radio in driver.find_all(By::Css("input[name=patient]")).await? {
        offered.push(radio.value().await?.unwrap_or_default());
    }
    ensure!(
        offered == ["p1", "p2"],
        "the picker offers alice's patients, not {offered:?}"
    );
    let p2 = driver.find(By::Css("#patient-p2")).await?;
    p2.click().await?;
    ensure!(p2.is_selected().await?, "p2 is chosen");
    driver.find(By::Css("#continue")).await?.click().await?;

    // Consent: launch/patient required, both resources offered checked; uncheck Condition.
    wait_for(driver, "#approve").await?;
    let title = driver.title().await?;
    ensure!(
        title.contains("Browser Test App"),
        "consent page title: {title}"
    );
    let text = driver.find(By::Css("main")).await?.text().await?;
    ensure!(
        text.contains("Signed in as alice") && text.contains("p2"),
        "the consent page names the user and the chosen patient: {text}"
    );
    let scope_box = |value: &str| By::Css(format!(r#"input[name=scope][value="{value}"]"#));
    let launch = driver.find(scope_box("launch/patient")).await?;
    ensure!(
        launch.is_selected().await? && !launch.is_enabled().await?,
        "launch/patient is required: checked and disabled"
    );
    ensure!(
        driver
            .find(scope_box("patient/Observation.rs"))
            .await?
            .is_selected()
            .await?,
        "Observation is offered checked"
    );
    let condition = driver.find(scope_box("patient/Condition.rs")).await?;
    ensure!(
        condition.is_selected().await?,
        "Condition is offered checked"
    );
    condition.scroll_into_view().await?;
    condition.click().await?;
    ensure!(
        !condition.is_selected().await?,
        "Condition is unchecked after the click"
    );
    driver.screenshot(&dir.join("consent.png")).await?;
    driver.find(By::Css("#approve")).await?.click().await?;

    // The app's redirect URI.
    let deadline = Instant::now() + WAIT;
    loop {
        let url = driver.current_url().await?.to_string();
        if url.starts_with(callback) {
            wait_for(driver, "#ok").await?;
            return Ok(url);
        }
        ensure!(
            Instant::now() < deadline,
            "the browser did not reach {callback} within {WAIT:?}; it is at {url}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Starts a session on `chromedriver`, walks, and always quits the session (a screenshot of
/// where it stopped on failure).
async fn drive(
    chromedriver: &str,
    profile: &Path,
    authorize: &str,
    callback: &str,
    dir: &Path,
) -> Result<String, String> {
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(CHROMIUM).map_err(|e| e.to_string())?;
    for arg in CHROMIUM_ARGS {
        caps.add_arg(arg).map_err(|e| e.to_string())?;
    }
    caps.add_arg(&format!("--user-data-dir={}", profile.display()))
        .map_err(|e| e.to_string())?;
    let driver = tokio::time::timeout(
        WAIT,
        WebDriver::builder(chromedriver, caps).request_timeout(WAIT),
    )
    .await
    .map_err(|_| format!("no WebDriver session within {WAIT:?}"))?
    .map_err(|e| format!("WebDriver session: {e}"))?;
    let result = match tokio::time::timeout(WALK, walk(&driver, authorize, callback, dir)).await {
        Ok(Ok(url)) => Ok(url),
        Ok(Err(e)) => Err(format!("browser step failed: {e:#}")),
        Err(_) => Err(format!("the browser walk took longer than {WALK:?}")),
    };
    if result.is_err() {
        let _ = tokio::time::timeout(WAIT, driver.screenshot(&dir.join("failure.png"))).await;
    }
    let _ = tokio::time::timeout(WAIT, driver.quit()).await;
    result
}

fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .expect("url")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[test]
fn a_person_logs_in_picks_a_patient_and_deselects_a_resource_in_chromium() {
    if !browser_available() {
        return;
    }
    let started = Instant::now();
    let artifacts = tempfile::Builder::new()
        .prefix("udap-browser-")
        .tempdir()
        .expect("tempdir");
    let dir = artifacts.path().to_path_buf();
    let profile = dir.join("profile");
    std::fs::create_dir(&profile).expect("profile dir");
    // On a failure (panic) keep the screenshots and logs for a look.
    struct KeepOnPanic(Option<tempfile::TempDir>);
    impl Drop for KeepOnPanic {
        fn drop(&mut self) {
            let keep = std::thread::panicking()
                || std::env::var("UDAP_KEEP_BROWSER_ARTIFACTS").as_deref() == Ok("1");
            if let (true, Some(d)) = (keep, self.0.take()) {
                eprintln!("browser test artifacts kept in {}", d.keep().display());
            }
        }
    }
    let _keep = KeepOnPanic(Some(artifacts));

    let chromedriver = ChromeDriver::start(&dir);
    let callback = Callback::start();
    let s = TestServer::start();
    add_user(&s, "alice", Some("Patient/p1"), &["p1", "p2"]);
    let scope =
        "launch/patient patient/Observation.rs patient/Condition.rs openid fhirUser offline_access";
    add_public_app(&s, "browser-app", &callback.url, scope);
    let verifier = udap_server::oauth::random_token(32);
    let state = format!("browser-{}", udap_server::oauth::random_token(8));
    let authorize = authorize_url(
        &s,
        "browser-app",
        scope,
        &[
            ("redirect_uri", &callback.url),
            ("state", &state),
            ("code_challenge", &s256(&verifier)),
        ],
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let landed = rt.block_on(drive(
        &chromedriver.url,
        &profile,
        &authorize,
        &callback.url,
        &dir,
    ));
    drop(rt);
    let landed =
        landed.unwrap_or_else(|e| panic!("{e}\nchromedriver log:\n{}", chromedriver.log_text()));
    let walked = started.elapsed();

    // The consent screenshot is a real PNG.
    let png = std::fs::read(dir.join("consent.png")).expect("consent screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 5_000,
        "consent screenshot is a PNG ({} bytes)",
        png.len()
    );

    // What the app received: the same code and state the browser shows.
    let request = callback.callback_request();
    let target = request.split(' ').nth(1).expect("request target");
    let received = query_of(&format!("http://127.0.0.1{target}"));
    let shown = query_of(&landed);
    assert_eq!(
        received, shown,
        "request line {request} vs browser URL {landed}"
    );
    assert!(
        !received.contains_key("error"),
        "the flow ended in an error: {received:?}"
    );
    assert_eq!(
        received.get("state"),
        Some(&state),
        "state comes back exactly"
    );
    let code = received.get("code").expect("a code");

    // The app exchanges the code (public client, PKCE).
    let res = s.post_form(
        &s.ep.token,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &callback.url),
            ("client_id", "browser-app"),
            ("code_verifier", &verifier),
        ],
    );
    let status = res.status().as_u16();
    let token: Value = res.json().expect("token json");
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["patient"], "p2", "{token}");
    let granted: Vec<&str> = token["scope"].as_str().expect("scope").split(' ').collect();
    assert!(granted.contains(&"patient/Observation.rs"), "{granted:?}");
    assert!(
        !granted.iter().any(|g| g.starts_with("patient/Condition")),
        "Condition was unchecked: {granted:?}"
    );
    assert!(granted.contains(&"launch/patient"), "{granted:?}");
    assert!(
        granted.contains(&"openid") && granted.contains(&"fhirUser"),
        "{granted:?}"
    );
    assert!(
        token["access_token"].is_string() && token["id_token"].is_string(),
        "{token}"
    );
    eprintln!(
        "browser walk took {walked:?}; consent screenshot {} ({} bytes)",
        dir.join("consent.png").display(),
        png.len()
    );
}
