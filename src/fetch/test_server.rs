//! A small HTTP/1.1 server on 127.0.0.1 for the fetch and CRL tests: answers each request with
//! what a handler returns, counts requests, can hold answers until released, and can stream an
//! endless body. Each connection gets its own thread; the server lives until the test binary exits.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

pub(crate) enum Body {
    Bytes(Vec<u8>),
    /// Zeros, without Content-Length, until the client goes away.
    Endless,
}

pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

impl Reply {
    pub(crate) fn ok(body: impl Into<Vec<u8>>) -> Self {
        Reply {
            status: 200,
            headers: Vec::new(),
            body: Body::Bytes(body.into()),
        }
    }

    pub(crate) fn status(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
        }
    }

    pub(crate) fn redirect(location: &str) -> Self {
        Reply {
            status: 302,
            headers: vec![("Location", location.to_string())],
            body: Body::Bytes(Vec::new()),
        }
    }
}

type Handler = dyn Fn(&str) -> Reply + Send + Sync;

struct Shared {
    handler: Mutex<Arc<Handler>>,
    hits: AtomicUsize,
    held: Mutex<bool>,
    released: Condvar,
}

pub(crate) struct TestServer {
    pub base: String,
    pub port: u16,
    shared: Arc<Shared>,
}

impl TestServer {
    /// Answers every request with `handler(path)`.
    pub(crate) fn start(handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            handler: Mutex::new(Arc::new(handler)),
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
        TestServer {
            base: format!("http://127.0.0.1:{port}"),
            port,
            shared,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Requests received so far (counted before any held answer is sent).
    pub(crate) fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }

    pub(crate) fn set_handler(&self, handler: impl Fn(&str) -> Reply + Send + Sync + 'static) {
        *self.shared.handler.lock() = Arc::new(handler);
    }

    /// Answers wait until [`Self::release`].
    pub(crate) fn hold(&self) {
        *self.shared.held.lock() = true;
    }

    pub(crate) fn release(&self) {
        *self.shared.held.lock() = false;
        self.shared.released.notify_all();
    }
}

/// Polls `condition` until it holds (liveness only; no timing is asserted).
pub(crate) fn wait_for(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..3000 {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("gave up waiting for {what}");
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
    let line = String::from_utf8_lossy(&request);
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    s.hits.fetch_add(1, Ordering::SeqCst);
    {
        let mut held = s.held.lock();
        while *held {
            s.released.wait(&mut held);
        }
    }
    let handler = s.handler.lock().clone();
    let reply = handler(&path);
    let mut head = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", reply.status);
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    match reply.body {
        Body::Bytes(body) => {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
        Body::Endless => {
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes());
            let chunk = vec![b'0'; 64 * 1024];
            while stream.write_all(&chunk).is_ok() {}
        }
    }
}
