//! Headless Chromium for browser tests (shared by every page test): Debian's chromium driven over
//! WebDriver (chromedriver + `thirtyfour`), an app redirect URI on 127.0.0.1 that reports what it
//! receives, a session builder, and a temporary artifacts directory kept when a test fails.
//!
//! Needs /usr/bin/chromium and /usr/bin/chromedriver (`scripts/ensure-deps --browser`, which
//! `scripts/test` runs). Without them a browser test fails, unless `UDAP_SKIP_BROWSER_TESTS=1`.
//! `UDAP_KEEP_BROWSER_ARTIFACTS=1` keeps the artifacts directory (screenshots, chromedriver log).

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

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Bound on every single wait (a page, an element, a process).
pub const WAIT: Duration = Duration::from_secs(30);
pub const POLL: Duration = Duration::from_millis(100);

/// The flags every Chromium we start carries: headless, and silent on the (closed) network.
pub const CHROMIUM_ARGS: &[&str] = &[
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
pub fn browser_available() -> bool {
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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A chromedriver child process in its own process group; the group (chromedriver and any
/// Chromium it started) is killed on drop.
pub struct ChromeDriver {
    child: Child,
    pub url: String,
    log: PathBuf,
}

impl ChromeDriver {
    pub fn start(dir: &Path) -> Self {
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

    pub fn log_text(&self) -> String {
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
pub struct Callback {
    pub url: String,
    requests: mpsc::Receiver<String>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Callback {
    pub fn start() -> Self {
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
    pub fn callback_request(&self) -> String {
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

pub fn serve_callback(stream: TcpStream, tx: mpsc::Sender<String>) {
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

/// RFC 7636 S256 challenge of `verifier`.
pub fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(openssl::sha::sha256(verifier.as_bytes()))
}

/// The element matching `css`, waiting up to `WAIT` for it to appear.
pub async fn wait_for(driver: &WebDriver, css: &str) -> WebDriverResult<WebElement> {
    driver.query(By::Css(css)).wait(WAIT, POLL).first().await
}

pub fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .expect("url")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A temporary directory for screenshots, the browser profile and logs; kept (and its path
/// printed) when the test panics or `UDAP_KEEP_BROWSER_ARTIFACTS=1`.
pub struct Artifacts {
    dir: Option<tempfile::TempDir>,
    pub path: PathBuf,
}

impl Artifacts {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("udap-browser-")
            .tempdir()
            .expect("tempdir");
        let path = dir.path().to_path_buf();
        Artifacts {
            dir: Some(dir),
            path,
        }
    }

    /// A fresh Chromium profile directory inside the artifacts.
    pub fn profile(&self, name: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::create_dir_all(&p).expect("profile dir");
        p
    }
}

impl Default for Artifacts {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Artifacts {
    fn drop(&mut self) {
        let keep = std::thread::panicking()
            || std::env::var("UDAP_KEEP_BROWSER_ARTIFACTS").as_deref() == Ok("1");
        if let (true, Some(d)) = (keep, self.dir.take()) {
            eprintln!("browser test artifacts kept in {}", d.keep().display());
        }
    }
}

/// A WebDriver session on `chromedriver` with our Chromium flags and its own `profile`.
pub async fn session(chromedriver: &str, profile: &Path) -> Result<WebDriver, String> {
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(CHROMIUM).map_err(|e| e.to_string())?;
    for arg in CHROMIUM_ARGS {
        caps.add_arg(arg).map_err(|e| e.to_string())?;
    }
    caps.add_arg(&format!("--user-data-dir={}", profile.display()))
        .map_err(|e| e.to_string())?;
    tokio::time::timeout(
        WAIT,
        WebDriver::builder(chromedriver, caps).request_timeout(WAIT),
    )
    .await
    .map_err(|_| format!("no WebDriver session within {WAIT:?}"))?
    .map_err(|e| format!("WebDriver session: {e}"))
}

/// Ends a session: a screenshot of where it stopped when `result` is an error, then quit.
pub async fn finish<T>(
    driver: WebDriver,
    result: Result<T, String>,
    dir: &Path,
) -> Result<T, String> {
    if result.is_err() {
        let _ = tokio::time::timeout(WAIT, driver.screenshot(&dir.join("failure.png"))).await;
    }
    let _ = tokio::time::timeout(WAIT, driver.quit()).await;
    result
}

/// A single-threaded runtime for one browser walk.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}
