//! Issue 8 item 4: the outbound client's bounds (address policy, redirects, size cap, timeouts,
//! concurrency) against a server on 127.0.0.1, and the per-URL cache (single flight, backoff,
//! refresh ahead) with pinned times.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::test_server::{wait_for, Body, Reply, TestServer};
use super::*;

const NOW: i64 = 1_800_000_000;

fn local() -> Outbound {
    Outbound::new(OutboundConfig {
        policy: AddressPolicy {
            allow_private: true,
        },
        ..OutboundConfig::default()
    })
}

fn limits(max_bytes: u64) -> Limits {
    Limits {
        max_bytes,
        timeout: Duration::from_secs(5),
    }
}

#[test]
fn address_policy_table() {
    use AddressClass::{Never, NonPublic, Public};
    // (address, class; `None` in the range text means Public). One row per range.
    let rows: &[(&str, AddressClass)] = &[
        ("93.184.216.34", Public),
        ("8.8.8.8", Public),
        ("2606:4700::1111", Public),
        ("127.0.0.1", NonPublic("loopback (127.0.0.0/8)")),
        ("127.255.0.9", NonPublic("loopback (127.0.0.0/8)")),
        ("10.1.2.3", NonPublic("private (RFC 1918, 10.0.0.0/8)")),
        ("172.16.0.1", NonPublic("private (RFC 1918, 172.16.0.0/12)")),
        (
            "172.31.255.255",
            NonPublic("private (RFC 1918, 172.16.0.0/12)"),
        ),
        ("172.32.0.1", Public),
        (
            "192.168.1.1",
            NonPublic("private (RFC 1918, 192.168.0.0/16)"),
        ),
        (
            "100.64.0.1",
            NonPublic("shared address space (CGNAT, 100.64.0.0/10)"),
        ),
        ("100.128.0.1", Public),
        ("169.254.169.254", NonPublic("link-local (169.254.0.0/16)")),
        (
            "192.0.0.8",
            NonPublic("IETF protocol assignments (192.0.0.0/24)"),
        ),
        ("192.0.2.1", NonPublic("documentation (192.0.2.0/24)")),
        ("198.51.100.1", NonPublic("documentation (198.51.100.0/24)")),
        ("203.0.113.1", NonPublic("documentation (203.0.113.0/24)")),
        ("198.19.0.1", NonPublic("benchmarking (198.18.0.0/15)")),
        (
            "0.0.0.0",
            Never("unspecified (\"this network\", 0.0.0.0/8)"),
        ),
        ("224.0.0.1", Never("multicast (224.0.0.0/4)")),
        ("240.0.0.1", Never("reserved (240.0.0.0/4)")),
        ("255.255.255.255", Never("limited broadcast")),
        ("::", Never("unspecified (::)")),
        ("::1", NonPublic("loopback (::1)")),
        ("::ffff:127.0.0.1", NonPublic("loopback (127.0.0.0/8)")),
        (
            "::ffff:10.0.0.1",
            NonPublic("private (RFC 1918, 10.0.0.0/8)"),
        ),
        ("::ffff:8.8.8.8", Public),
        ("::10.0.0.1", Never("IPv4-compatible (deprecated, ::/96)")),
        (
            "64:ff9b::a9fe:a9fe",
            NonPublic("link-local (169.254.0.0/16)"),
        ),
        ("64:ff9b::808:808", Public),
        (
            "64:ff9b:1::1",
            NonPublic("local-use NAT64 (64:ff9b:1::/48)"),
        ),
        ("100::1", Never("discard-only (100::/64)")),
        (
            "2002:c0a8:0101::1",
            NonPublic("private (RFC 1918, 192.168.0.0/16)"),
        ),
        ("2001:0:1::1", NonPublic("Teredo (2001::/32)")),
        ("2001:db8::1", NonPublic("documentation (2001:db8::/32)")),
        ("fd00::1", NonPublic("unique local (fc00::/7)")),
        ("fe80::1", NonPublic("link-local (fe80::/10)")),
        ("fec0::1", NonPublic("site-local (deprecated, fec0::/10)")),
        ("ff02::1", Never("multicast (ff00::/8)")),
    ];
    let closed = AddressPolicy {
        allow_private: false,
    };
    let open = AddressPolicy {
        allow_private: true,
    };
    for (text, want) in rows {
        let ip: IpAddr = text.parse().unwrap();
        assert_eq!(classify(ip), *want, "{text}");
        let (closed_ok, open_ok) = match want {
            Public => (true, true),
            NonPublic(_) => (false, true),
            Never(_) => (false, false),
        };
        assert_eq!(
            closed.check(ip).is_ok(),
            closed_ok,
            "{text} with private networks refused"
        );
        assert_eq!(
            open.check(ip).is_ok(),
            open_ok,
            "{text} with private networks allowed"
        );
    }
}

#[test]
fn private_addresses_are_refused_unless_allowed() {
    let server = TestServer::start(|_| Reply::ok("{}"));
    let refusing = Outbound::default();
    // A literal IP, a name that resolves to loopback, an IPv6 literal: refused before connecting.
    for url in [
        server.url("/x"),
        format!("http://localhost:{}/x", server.port),
        format!("http://[::1]:{}/x", server.port),
        "http://0.0.0.0/x".into(),
    ] {
        match refusing.get(&url, limits(1024)) {
            Err(FetchError::AddressRefused { .. }) => {}
            other => panic!("{url}: expected AddressRefused, got {other:?}"),
        }
    }
    assert_eq!(server.hits(), 0);
    // Allowed when configured (the test harness's setting).
    assert_eq!(
        local().get(&server.url("/x"), limits(1024)).unwrap().body,
        b"{}"
    );
    assert_eq!(server.hits(), 1);
    // A name goes through the filtering resolver and connects to what it allows.
    let by_name = local().get(&format!("http://localhost:{}/x", server.port), limits(1024));
    assert_eq!(by_name.unwrap().body, b"{}");
    assert_eq!(server.hits(), 2);
}

#[test]
fn bad_urls_are_refused() {
    for url in [
        "ftp://example.org/x",
        "file:///etc/passwd",
        "not a url",
        "data:text/plain,x",
    ] {
        assert!(
            matches!(
                local().get(url, limits(1024)),
                Err(FetchError::BadUrl { .. })
            ),
            "{url}"
        );
    }
}

#[test]
fn size_cap_is_enforced_while_streaming() {
    let server = TestServer::start(|path| match path {
        // An endless body: the fetch can only end by giving up at the cap.
        "/endless" => Reply {
            status: 200,
            headers: vec![],
            body: Body::Endless,
        },
        // Announced too large: refused from Content-Length.
        _ => Reply::ok(vec![b'x'; 300 * 1024]),
    });
    let cap = 64 * 1024;
    assert_eq!(
        local().get(&server.url("/endless"), limits(cap)),
        Err(FetchError::TooLarge {
            url: server.url("/endless"),
            max_bytes: cap
        })
    );
    assert_eq!(
        local().get(&server.url("/big"), limits(cap)),
        Err(FetchError::TooLarge {
            url: server.url("/big"),
            max_bytes: cap
        })
    );
    // At the cap exactly is fine.
    assert_eq!(
        local()
            .get(&server.url("/big"), limits(300 * 1024))
            .unwrap()
            .body
            .len(),
        300 * 1024
    );
}

#[test]
fn redirects_stay_on_the_same_origin() {
    let target_hits = Arc::new(AtomicUsize::new(0));
    let (hits, port) = (target_hits.clone(), Arc::new(AtomicUsize::new(0)));
    let p = port.clone();
    let server = TestServer::start(move |path| {
        let base = format!("http://127.0.0.1:{}", p.load(Ordering::SeqCst));
        match path {
            "/same" => Reply::redirect(&format!("{base}/target")),
            // 127.0.0.1 -> localhost is another host, even if it is the same machine.
            "/cross" => Reply::redirect(&format!(
                "http://localhost:{}/target",
                p.load(Ordering::SeqCst)
            )),
            "/https" => Reply::redirect(&format!(
                "https://127.0.0.1:{}/target",
                p.load(Ordering::SeqCst)
            )),
            "/loop" => Reply::redirect(&format!("{base}/loop")),
            _ => {
                hits.fetch_add(1, Ordering::SeqCst);
                Reply::ok("done")
            }
        }
    });
    port.store(server.port as usize, Ordering::SeqCst);
    assert_eq!(
        local()
            .get(&server.url("/same"), limits(1024))
            .unwrap()
            .body,
        b"done"
    );
    assert_eq!(target_hits.load(Ordering::SeqCst), 1);
    for path in ["/cross", "/https", "/loop"] {
        assert!(
            matches!(
                local().get(&server.url(path), limits(1024)),
                Err(FetchError::Redirect { .. })
            ),
            "{path}"
        );
    }
    assert_eq!(
        target_hits.load(Ordering::SeqCst),
        1,
        "no cross-origin redirect was followed"
    );
    // /same, /same's target, /cross, /https, then /loop once plus MAX_REDIRECTS follow-ups.
    assert_eq!(server.hits(), 4 + 1 + MAX_REDIRECTS);
}

#[test]
fn status_and_timeout_errors() {
    let server = TestServer::start(|_| Reply::status(500));
    assert_eq!(
        local().get(&server.url("/x"), limits(1024)),
        Err(FetchError::Status {
            url: server.url("/x"),
            status: 500
        })
    );
    server.hold();
    let short = Limits {
        max_bytes: 1024,
        timeout: Duration::from_millis(300),
    };
    assert_eq!(
        local().get(&server.url("/slow"), short),
        Err(FetchError::Timeout {
            url: server.url("/slow")
        })
    );
    server.release();
}

#[test]
fn concurrent_fetches_beyond_the_bound_are_refused_at_once() {
    let server = TestServer::start(|_| Reply::ok("ok"));
    let outbound = Arc::new(Outbound::new(OutboundConfig {
        policy: AddressPolicy {
            allow_private: true,
        },
        max_concurrent: 1,
        ..OutboundConfig::default()
    }));
    server.hold();
    let first = {
        let (o, url) = (outbound.clone(), server.url("/first"));
        std::thread::spawn(move || o.get(&url, limits(1024)))
    };
    wait_for("the first fetch to reach the server", || server.hits() == 1);
    assert_eq!(
        outbound.get(&server.url("/second"), limits(1024)),
        Err(FetchError::Busy {
            url: server.url("/second")
        })
    );
    server.release();
    assert_eq!(first.join().unwrap().unwrap().body, b"ok");
    // The slot was released.
    assert!(outbound.get(&server.url("/third"), limits(1024)).is_ok());
}

#[test]
fn offline_never_connects() {
    let server = TestServer::start(|_| Reply::ok("x"));
    assert_eq!(
        Outbound::offline().get(&server.url("/x"), limits(1024)),
        Err(FetchError::Offline {
            url: server.url("/x")
        })
    );
    assert_eq!(server.hits(), 0);
}

fn fresh(value: u32, expires_at: i64) -> Result<Fresh<u32>, FetchError> {
    Ok(Fresh {
        value,
        expires_at,
        refresh_at: None,
    })
}

fn failed() -> Result<Fresh<u32>, FetchError> {
    Err(FetchError::Status {
        url: "u".into(),
        status: 500,
    })
}

#[test]
fn concurrent_requests_share_one_download() {
    const N: usize = 12;
    let cache = Arc::new(FetchCache::<u32>::new(Duration::from_secs(30)));
    let loads = Arc::new(AtomicUsize::new(0));
    let (go, gate) = mpsc::channel::<()>();
    let gate = Arc::new(parking_lot::Mutex::new(gate));
    let threads: Vec<_> = (0..N)
        .map(|_| {
            let (cache, loads, gate) = (cache.clone(), loads.clone(), gate.clone());
            std::thread::spawn(move || {
                // Not cached (expires at once): only single flight merges these.
                cache.get("u", NOW, || {
                    loads.fetch_add(1, Ordering::SeqCst);
                    let _ = gate.lock().recv();
                    fresh(7, NOW)
                })
            })
        })
        .collect();
    wait_for("the other requests to wait on the download", || {
        cache.waiters("u") == N - 1
    });
    go.send(()).unwrap();
    for t in threads {
        assert_eq!(*t.join().unwrap().unwrap(), 7);
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    // Not cached: the next request downloads again.
    assert_eq!(*cache.get("u", NOW, || fresh(8, NOW)).unwrap(), 8);
}

#[test]
fn failures_back_off_exponentially() {
    let cache = FetchCache::<u32>::new(Duration::from_secs(1));
    let loads = AtomicUsize::new(0);
    let load = || {
        loads.fetch_add(1, Ordering::SeqCst);
        failed()
    };
    // (time, downloaded?) — backoff 10 s after the first failure, 20 s after the second.
    let rows = [
        (NOW, true),
        (NOW + 9, false),
        (NOW + 10, true),
        (NOW + 29, false),
        (NOW + 30, true),
        (NOW + 69, false),
    ];
    for (at, downloads) in rows {
        let before = loads.load(Ordering::SeqCst);
        let got = cache.get("u", at, load);
        assert_eq!(
            loads.load(Ordering::SeqCst) - before,
            usize::from(downloads),
            "at {}",
            at - NOW
        );
        match got {
            Err(FetchError::Status { .. }) if downloads => {}
            Err(FetchError::Backoff { last, .. }) if !downloads => {
                assert!(matches!(*last, FetchError::Status { status: 500, .. }))
            }
            other => panic!("at {}: {other:?}", at - NOW),
        }
    }
    // A success clears the failure history.
    assert_eq!(*cache.get("u", NOW + 70, || fresh(1, NOW + 70)).unwrap(), 1);
    assert!(matches!(
        cache.get("u", NOW + 70, failed),
        Err(FetchError::Status { .. })
    ));
    assert!(matches!(
        cache.get("u", NOW + 79, failed),
        Err(FetchError::Backoff { .. })
    ));
    assert!(matches!(
        cache.get("u", NOW + 80, failed),
        Err(FetchError::Status { .. })
    ));
}

#[test]
fn backoff_doubles_up_to_five_minutes() {
    let rows = [
        (1, 10),
        (2, 20),
        (3, 40),
        (4, 80),
        (5, 160),
        (6, 300),
        (40, 300),
    ];
    for (count, secs) in rows {
        assert_eq!(backoff_secs(count), secs, "{count}");
    }
}

#[test]
fn busy_is_not_held_against_the_url() {
    let cache = FetchCache::<u32>::new(Duration::from_secs(1));
    assert!(matches!(
        cache.get("u", NOW, || Err(FetchError::Busy { url: "u".into() })),
        Err(FetchError::Busy { .. })
    ));
    assert_eq!(*cache.get("u", NOW, || fresh(3, NOW + 60)).unwrap(), 3);
    // Cached until it expires.
    assert_eq!(*cache.get("u", NOW + 59, failed).unwrap(), 3);
    assert!(matches!(
        cache.get("u", NOW + 60, failed),
        Err(FetchError::Status { .. })
    ));
}

#[test]
fn refresh_runs_beside_requests_and_keeps_the_value_on_failure() {
    let cache = Arc::new(FetchCache::<u32>::new(Duration::from_secs(30)));
    cache
        .get("u", NOW, || {
            Ok(Fresh {
                value: 1,
                expires_at: NOW + 100,
                refresh_at: Some(NOW + 80),
            })
        })
        .unwrap();
    assert!(cache.due(NOW + 79).is_empty());
    assert_eq!(cache.due(NOW + 80), vec!["u".to_string()]);
    // A failed refresh keeps the cached value and backs off.
    assert!(matches!(cache.refresh("u", NOW + 80, failed), Some(Err(_))));
    assert_eq!(*cache.get("u", NOW + 81, failed).unwrap(), 1);
    assert!(cache.due(NOW + 85).is_empty(), "backing off");
    // While a refresh is running, requests get the cached value without waiting.
    let (go, gate) = mpsc::channel::<()>();
    let refresher = {
        let cache = cache.clone();
        std::thread::spawn(move || {
            cache.refresh("u", NOW + 90, || {
                let _ = gate.recv();
                Ok(Fresh {
                    value: 2,
                    expires_at: NOW + 200,
                    refresh_at: None,
                })
            })
        })
    };
    wait_for("the refresh to start", || {
        cache.due(NOW + 90).is_empty() && cache.refresh("u", NOW + 90, failed).is_none()
    });
    assert_eq!(*cache.get("u", NOW + 90, failed).unwrap(), 1);
    go.send(()).unwrap();
    assert_eq!(*refresher.join().unwrap().unwrap().unwrap(), 2);
    assert_eq!(*cache.get("u", NOW + 150, failed).unwrap(), 2);
    // Unknown URLs are not refreshed.
    assert!(cache.refresh("other", NOW, failed).is_none());
    // A refreshed value nobody has asked for since is not refreshed again.
    let due_again = || {
        Ok(Fresh {
            value: 3,
            expires_at: NOW + 500,
            refresh_at: Some(NOW + 300),
        })
    };
    assert!(matches!(
        cache.refresh("u", NOW + 200, due_again),
        Some(Ok(_))
    ));
    assert!(cache.due(NOW + 400).is_empty());
    assert_eq!(*cache.get("u", NOW + 400, failed).unwrap(), 3);
    assert_eq!(cache.due(NOW + 400), vec!["u".to_string()]);
}

#[test]
fn a_panicking_loader_does_not_wedge_the_url() {
    let cache = Arc::new(FetchCache::<u32>::new(Duration::from_secs(30)));
    let c = cache.clone();
    assert!(
        std::thread::spawn(move || c.get("u", NOW, || panic!("parser bug")))
            .join()
            .is_err()
    );
    assert_eq!(*cache.get("u", NOW, || fresh(5, NOW + 10)).unwrap(), 5);
}

#[test]
fn the_cache_is_bounded() {
    let cache = FetchCache::<u32>::with_capacity(Duration::from_secs(1), 3);
    for i in 0..10 {
        cache
            .get(&format!("u{i}"), NOW, || fresh(i, NOW + 100))
            .unwrap();
        assert!(cache.len() <= 3);
    }
    // Expired entries go first.
    let cache = FetchCache::<u32>::with_capacity(Duration::from_secs(1), 2);
    cache.get("old", NOW, || fresh(1, NOW + 1)).unwrap();
    cache.get("live", NOW, || fresh(2, NOW + 100)).unwrap();
    cache.get("new", NOW + 50, || fresh(3, NOW + 100)).unwrap();
    assert_eq!(*cache.get("live", NOW + 50, failed).unwrap(), 2);
}

#[test]
fn clear_forgets_values_and_failures() {
    // Issue 9 item 4: a community change drops the CRLs downloaded for it.
    let cache = FetchCache::new(Duration::from_secs(1));
    assert_eq!(*cache.get("u", NOW, || fresh(1, NOW + 600)).unwrap(), 1);
    assert!(cache.get("f", NOW, failed).is_err());
    cache.clear();
    assert_eq!(
        *cache.get("u", NOW, || fresh(2, NOW + 600)).unwrap(),
        2,
        "downloaded again"
    );
    assert_eq!(
        *cache.get("f", NOW + 1, || fresh(3, NOW + 600)).unwrap(),
        3,
        "no backoff left"
    );
}
