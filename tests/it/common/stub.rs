//! A small HTTP/1.1 server on 127.0.0.1 that stands in for a remote host the server fetches from
//! (a client's `jwks_uri`, a CRL distribution point): answers with what a handler returns, counts
//! requests, and can hold its answers until released (slow hosts, concurrent requests). Each
//! connection gets its own thread; the server lives until the test binary exits.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use serde_json::Value;

/// What the stub answers.
pub struct StubReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl StubReply {
    pub fn json(body: &Value) -> Self {
        StubReply {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    pub fn status(status: u16) -> Self {
        StubReply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

type Handler = dyn Fn(&str) -> StubReply + Send + Sync;

struct Shared {
    handler: Box<Handler>,
    hits: AtomicUsize,
    held: Mutex<bool>,
    released: Condvar,
}

pub struct StubServer {
    pub base: String,
    pub port: u16,
    shared: Arc<Shared>,
}

impl StubServer {
    /// Answers every request with `handler(path)`.
    pub fn start(handler: impl Fn(&str) -> StubReply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind stub");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Shared {
            handler: Box::new(handler),
            hits: AtomicUsize::new(0),
            held: Mutex::new(false),
            released: Condvar::new(),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(stream, &s));
            }
        });
        StubServer {
            base: format!("http://127.0.0.1:{port}"),
            port,
            shared,
        }
    }

    /// Serves `jwks` at every path with the given `Cache-Control` (SMART-49 `jwks_uri`).
    pub fn jwks(jwks: Value, cache_control: &str) -> Self {
        let cache_control = cache_control.to_string();
        Self::start(move |_| StubReply::json(&jwks).header("Cache-Control", &cache_control))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Requests received so far (counted before a held answer is sent).
    pub fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }

    /// Answers wait until [`Self::release`].
    pub fn hold(&self) {
        *self.shared.held.lock().expect("lock") = true;
    }

    pub fn release(&self) {
        *self.shared.held.lock().expect("lock") = false;
        self.shared.released.notify_all();
    }
}

fn serve(mut stream: TcpStream, s: &Shared) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request);
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
    s.hits.fetch_add(1, Ordering::SeqCst);
    {
        let mut held = s.held.lock().expect("lock");
        while *held {
            held = s.released.wait(held).expect("wait");
        }
    }
    let reply = (s.handler)(&path);
    let mut head = format!(
        "HTTP/1.1 {} X\r\nConnection: close\r\nContent-Length: {}\r\n",
        reply.status,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&reply.body);
}

/// Polls `condition` until it holds (liveness only; no timing is asserted).
pub fn wait_for(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..3000 {
        if condition() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("gave up waiting for {what}");
}
