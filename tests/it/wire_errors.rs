//! What the wire layer does with malformed, oversized and slow requests (issue 8 items 6 and 7):
//! OAuth JSON errors on the API, an error page on the pages, 413 from `Content-Length` before any
//! body (and never `100 Continue` for it), and a bound on how long a body may take.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::common::TestServer;

fn host_port(s: &TestServer) -> String {
    url::Url::parse(&s.base)
        .unwrap()
        .socket_addrs(|| None)
        .unwrap()[0]
        .to_string()
}

/// Sends `head` (request line and headers, CRLF-terminated, without the blank line) and
/// returns everything the server sends before closing or going quiet.
fn raw(s: &TestServer, head: &str, body: &[u8]) -> String {
    let mut conn = TcpStream::connect(host_port(s)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    conn.write_all(format!("{head}\r\n").as_bytes()).unwrap();
    conn.write_all(body).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                // One response is enough; stop once its headers and a JSON body are in.
                if String::from_utf8_lossy(&out).contains("\r\n\r\n{") && out.ends_with(b"}") {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn framework_parse_errors_are_oauth_json_on_the_api_and_a_page_on_the_pages() {
    // Issue 8 item 7: "Query deserialize error: duplicate field" reached clients as text/plain.
    let s = TestServer::start();
    let res = s.get("/.well-known/udap?community=a&community=b");
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: Value = res.json().unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(!body["error_description"]
        .as_str()
        .unwrap()
        .contains("deserialize"));

    let res = s.get("/login?interaction=a&interaction=b");
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(!res.text().unwrap().contains("deserialize"));

    let res = s.get("/no-such-endpoint");
    assert_eq!(res.status().as_u16(), 404);
    assert_eq!(res.json::<Value>().unwrap()["error"], "invalid_request");
}

#[test]
fn an_oversized_content_length_gets_413_at_once_and_no_100_continue() {
    // Issue 8 item 6: a 10 GB Content-Length got `100 Continue` and no early 413.
    let s = TestServer::start();
    let path = url::Url::parse(&s.ep.token).unwrap().path().to_string();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10000000000\r\nExpect: 100-continue\r\n"
    );
    let out = raw(&s, &head, b"");
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    assert!(!out.contains("100 Continue"), "{out}");
    assert!(out.contains("\"invalid_request\""), "{out}");
    // Without Expect: answered from the headers, before any of the body is sent.
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10000000000\r\n");
    assert!(raw(&s, &head, b"").starts_with("HTTP/1.1 413"));
    // A body within the limit still gets its 100 Continue.
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 5\r\nExpect: 100-continue\r\n");
    let out = raw(&s, &head, b"a=b&c");
    assert!(out.starts_with("HTTP/1.1 100 Continue"), "{out}");
}

#[test]
fn a_body_that_never_finishes_arriving_is_cut_off() {
    // Issue 8 item 6: a client sending headers and part of a body held the connection for minutes.
    let s = TestServer::start();
    let path = url::Url::parse(&s.ep.token).unwrap().path().to_string();
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n");
    let out = raw(&s, &head, b"grant_type");
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
}
