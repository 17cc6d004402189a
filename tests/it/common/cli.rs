//! The real binary, as an administrator runs it: admin commands and `serve` child processes.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_udap-server");

/// Issue 10: `serve`'s admin API defaults to the public port + 1, which a parallel test may hold;
/// tests give every spawned server an admin port of its own choosing (flags still win).
pub const ADMIN_LISTEN_ANY: (&str, &str) = ("UDAP_ADMIN_LISTEN", "127.0.0.1:0");

pub fn cli(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("run udap-server")
}

/// [`cli`] with `stdin` piped in (passwords).
pub fn cli_stdin(data_dir: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run udap-server");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("udap-server output")
}

pub fn ok_json(data_dir: &Path, args: &[&str]) -> Value {
    let out = cli(data_dir, &[&["--json"], args].concat());
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{args:?}: not JSON: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `serve` child process, killed on drop.
pub struct Served(pub Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn serve(data_dir: &Path, port: u16, extra: &[&str]) -> Served {
    let child = Command::new(BIN)
        .env(ADMIN_LISTEN_ANY.0, ADMIN_LISTEN_ANY.1)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let served = Served(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let http = reqwest::blocking::Client::new();
    while Instant::now() < deadline {
        if http
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            return served;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("serve did not become healthy on port {port}");
}
