//! `micro`: in-process timings of the hot paths, without HTTP.
//!
//! - `validate_chain` uncached (each x5c seen for the first time by the community: path building,
//!   two RSA signature checks, CRL lookups) and cached (the same x5c again: a SHA-256 of the DER
//!   and a hash-map lookup);
//! - the durable replay store (`JtiStore::insert_if_absent`, group commit + fsync) at 1, 8 and 32
//!   threads;
//! - JWS sign and verify, RS256 and ES256 (aws-lc, as the server uses them), and the UDAP
//!   assertion's signature stage (parse, x5c leaf key, verify);
//! - the whole token path without HTTP (client authentication, grant, replay record, token
//!   signature) at 32 threads, for RS256 and ES256 tokens: its CPU per request, compared with the
//!   server's CPU per request under load, is the HTTP stack's share.

use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Map, Value};
use udap_server::config::{FileConfig, Overrides, Settings};
use udap_server::dev_community::{ca_dir, DEV_CLIENT_SAN};
use udap_server::jose::{parse_compact, AlgPolicy, SignOptions, Signer, VerifyingKey};
use udap_server::oauth::client_auth::{self, Credentials, JWT_BEARER};
use udap_server::oauth::grants::client_credentials;
use udap_server::oauth::registration;
use udap_server::oauth::udap_jwt;
use udap_server::pki::ca::{self, CertSpec, KeyKind};
use udap_server::pki::testing::TestPki;
use udap_server::pki::validate_chain;
use udap_server::store::Store;

use super::util::{append_json, cpu_secs, now, percentile_ms, time_for};

fn line(name: &str, ops: u64, el: Duration) -> Value {
    let us = el.as_secs_f64() * 1e6 / ops as f64;
    let per_s = ops as f64 / el.as_secs_f64();
    println!("micro {name:<50} {us:>10.1} µs/op {per_s:>12.0} ops/s");
    json!({"us_per_op": us, "ops_per_s": per_s})
}

fn pem_of(kind: KeyKind) -> anyhow::Result<String> {
    Ok(String::from_utf8(
        kind.generate()?.private_key_to_pem_pkcs8()?,
    )?)
}

pub fn run(dir: &Path, secs: f64, results: Option<&Path>) -> anyhow::Result<()> {
    let mut out = Map::new();
    let now = now();

    // --- JWS sign / verify (the server's signer and verifier) ---
    let token_claims = json!({
        "iss": "http://127.0.0.1:8080", "sub": "client-id-0123456789", "aud": "http://127.0.0.1:8080",
        "client_id": "client-id-0123456789", "scope": "system/Patient.rs system/Observation.rs",
        "iat": now, "exp": now + 300, "jti": "0123456789abcdef0123456789abcdef",
    });
    let policy = AlgPolicy::default();
    for (alg, kind) in [("RS256", KeyKind::Rsa2048), ("ES256", KeyKind::EcP256)] {
        let signer = Signer::from_pem(&pem_of(kind)?, None)?;
        let opts = SignOptions {
            include_x5c: false,
            typ: Some("at+jwt"),
        };
        let (n, el) = time_for(secs, 50, || {
            black_box(signer.sign(&token_claims, opts).expect("sign"));
        });
        out.insert(
            format!("jws_sign_{alg}"),
            line(&format!("jws sign {alg}"), n, el),
        );
        let token = signer.sign(&token_claims, opts)?;
        let key = VerifyingKey::from_jwk(&signer.public_jwk())?;
        let (n, el) = time_for(secs, 50, || {
            black_box(
                parse_compact(&token)
                    .expect("parse")
                    .verify(&key, &policy)
                    .expect("verify"),
            );
        });
        out.insert(
            format!("jws_verify_{alg}"),
            line(&format!("jws verify {alg} (parse + verify)"), n, el),
        );
    }

    // --- validate_chain: uncached and cached ---
    let pki = TestPki::new(now)?;
    let community = pki.community()?;
    // The UDAP assertion's signature stage: parse, decode x5c, key from the leaf, verify.
    let client = Signer::from_pem(
        &pki.rsa_leaf.key_pem,
        Some(&format!(
            "{}{}",
            pki.rsa_leaf.cert_pem, pki.intermediate.cert_pem
        )),
    )?;
    let assertion = client.sign(
        &json!({"iss": "c", "sub": "c", "aud": "http://127.0.0.1:8080/token", "iat": now, "exp": now + 300, "jti": "j",
            "extensions": {"hl7-b2b": {"version": "1", "organization_id": "https://bench.example.org/", "purpose_of_use": ["SYSDEV"]}}}),
        SignOptions { include_x5c: true, typ: None },
    )?;
    let (n, el) = time_for(secs, 50, || {
        black_box(udap_jwt::verify_signature(&assertion, &policy).expect("verify_signature"));
    });
    out.insert(
        "udap_assertion_signature_RS256".into(),
        line("udap assertion signature stage RS256 (x5c)", n, el),
    );

    // Distinct leaves (EC keys are quick to generate; the leaf's key type does not change the path
    // work, whose signatures are the RSA intermediate's and root's).
    let distinct = 300;
    let chains: Vec<Vec<Vec<u8>>> = (0..distinct)
        .map(|i| {
            let spec = CertSpec {
                key: KeyKind::EcP256,
                ..CertSpec::leaf(
                    &format!("bench leaf {i}"),
                    &format!("https://bench.example.org/c/{i}"),
                    now,
                )
            };
            ca::issue(&spec, &pki.intermediate.cert_pem, &pki.intermediate.key_pem)
                .map(|leaf| vec![leaf.der, pki.intermediate.der.clone()])
        })
        .collect::<Result<_, _>>()?;
    let t = Instant::now();
    for x5c in &chains {
        black_box(validate_chain(x5c, &community, now).expect("uncached validation"));
    }
    out.insert(
        "validate_chain_uncached".into(),
        line(
            "validate_chain uncached (leaf+intermediate→root)",
            distinct as u64,
            t.elapsed(),
        ),
    );
    let x5c = pki.x5c(&pki.rsa_leaf);
    validate_chain(&x5c, &community, now)?;
    let (n, el) = time_for(secs, 1000, || {
        black_box(validate_chain(&x5c, &community, now).expect("cached validation"));
    });
    out.insert(
        "validate_chain_cached".into(),
        line("validate_chain cached", n, el),
    );
    let t = Instant::now();
    let fresh = 100;
    for _ in 0..fresh {
        black_box(validate_chain(&x5c, &pki.community()?, now)?);
    }
    out.insert(
        "validate_chain_fresh_community".into(),
        line(
            "TrustCommunity::from_pem + validate_chain",
            fresh,
            t.elapsed(),
        ),
    );

    // --- JtiStore: durable group commit under concurrency ---
    let tmp = tempfile::tempdir_in(dir)
        .with_context(|| format!("temporary directory in {}", dir.display()))?;
    {
        let store = Store::open(&tmp.path().join("jti.redb"))?;
        for threads in [1usize, 8, 32] {
            let (ops, el, commits, lat) = jti_run(&store, threads, secs.max(1.0) * 2.0)?;
            let mut v = line(
                &format!("jti insert_if_absent durable, {threads:>2} threads"),
                ops,
                el,
            );
            v["threads"] = json!(threads);
            v["mean_batch"] = json!(ops as f64 / commits.max(1) as f64);
            v["p50_ms"] = json!(percentile_ms(&lat, 50.0));
            v["p99_ms"] = json!(percentile_ms(&lat, 99.0));
            println!(
                "      mean batch {:.1} inserts/commit, latency p50 {:.2} ms p99 {:.2} ms",
                ops as f64 / commits.max(1) as f64,
                percentile_ms(&lat, 50.0),
                percentile_ms(&lat, 99.0)
            );
            out.insert(format!("jti_insert_{threads}t"), v);
        }
    }

    // --- the token path without HTTP ---
    for alg in ["RS256", "ES256"] {
        let v = token_path(dir, alg, 32, 4000)?;
        out.insert(format!("token_path_{alg}"), v);
    }

    if let Some(path) = results {
        append_json(path, &Value::Object(out))?;
    }
    Ok(())
}

/// `threads` threads insert unique jtis for `secs`; returns (inserts, elapsed, commits, sorted latencies µs).
fn jti_run(
    store: &Store,
    threads: usize,
    secs: f64,
) -> anyhow::Result<(u64, Duration, u64, Vec<u32>)> {
    let commits0 = store.jti().commit_count();
    let total = AtomicU64::new(0);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let run = udap_server::oauth::random_token(6);
    let now = now();
    let lats: Vec<Vec<u32>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (total, run) = (&total, &run);
                s.spawn(move || {
                    let mut lat = Vec::new();
                    let mut i = 0u64;
                    while Instant::now() < deadline {
                        let jti = format!("{run}-{t}-{i}");
                        let t0 = Instant::now();
                        let fresh = store
                            .jti()
                            .insert_if_absent("https://bench.example.org/iss", &jti, now + 300, now)
                            .expect("insert");
                        lat.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
                        assert!(fresh, "unique jti reported as replay");
                        i += 1;
                    }
                    total.fetch_add(i, Ordering::Relaxed);
                    lat
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("jti thread"))
            .collect()
    });
    let el = start.elapsed();
    let mut all: Vec<u32> = lats.into_iter().flatten().collect();
    all.sort_unstable();
    Ok((
        total.load(Ordering::Relaxed),
        el,
        store.jti().commit_count() - commits0,
        all,
    ))
}

/// The token endpoint's work for `count` UDAP requests (after the HTTP layer has parsed the form),
/// on `threads` threads: authenticate (signature, cached chain, client lookup, durable replay
/// record), decide the grant, sign the token, build the response.
fn token_path(dir: &Path, alg: &str, threads: usize, count: usize) -> anyhow::Result<Value> {
    let tmp = tempfile::tempdir_in(dir)?;
    let overrides = Overrides {
        listen: Some("127.0.0.1:9".into()),
        base_url: Some("http://127.0.0.1:9".into()),
        token_signing_alg: Some(alg.into()),
        ..Default::default()
    };
    let settings = Settings::resolve(tmp.path().to_path_buf(), FileConfig::default(), overrides)?;
    let st = udap_server::cli::serve::prepare(settings)?;
    let now = now();
    let cdir = ca_dir(tmp.path());
    let chain_pem = std::fs::read_to_string(cdir.join("client.pem"))?;
    let key_pem = std::fs::read_to_string(cdir.join("client.key"))?;
    let signer = Signer::from_pem(&key_pem, Some(&chain_pem))?;
    let statement = signer.sign(
        &json!({"iss": DEV_CLIENT_SAN, "sub": DEV_CLIENT_SAN, "aud": st.endpoints.registration, "exp": now + 300, "iat": now,
            "jti": "bench-statement", "client_name": "bench", "contacts": ["mailto:bench@example.org"],
            "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt", "scope": "system/Patient.rs"}),
        SignOptions { include_x5c: true, typ: None },
    )?;
    let reg_ctx = st.registration_context();
    let body = serde_json::to_vec(&json!({"software_statement": statement, "udap": "1"}))?;
    let client_id = registration::register(&reg_ctx, &body, now)
        .map_err(|e| anyhow::anyhow!("registration: {e}"))?
        .client
        .client_id;
    let assertions: Vec<String> = (0..count + threads)
        .map(|i| {
            signer.sign(
                &json!({"iss": client_id, "sub": client_id, "aud": st.endpoints.token, "exp": now + 280, "iat": now,
                    "jti": format!("bench-{i}"),
                    "extensions": {"hl7-b2b": {"version": "1", "organization_id": "https://bench.example.org/", "purpose_of_use": ["SYSDEV"]}}}),
                SignOptions { include_x5c: true, typ: None },
            )
        })
        .collect::<Result<_, _>>()?;
    let ctx = st.auth_context();
    let one = |a: &str| -> anyhow::Result<()> {
        let creds = Credentials {
            client_assertion_type: Some(JWT_BEARER.into()),
            client_assertion: Some(a.to_string()),
            udap: Some("1".into()),
            ..Default::default()
        };
        let auth = client_auth::authenticate(&ctx, &creds, now)
            .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.description))?;
        let body = client_credentials::issue(&st.tokens, &auth, None, &st.grant_policy, now)
            .map_err(|e| anyhow::anyhow!("{}", e.description))?;
        black_box(serde_json::to_vec(&body)?);
        Ok(())
    };
    // Warm-up: the first request validates the chain (uncached); then one per thread.
    let (warm, timed) = assertions.split_at(threads);
    for a in warm {
        one(a.as_str())?;
    }
    let next = AtomicU64::new(0);
    let barrier = Barrier::new(threads + 1);
    let c0 = cpu_secs(None);
    let (el, failures) = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                let (next, barrier, one) = (&next, &barrier, &one);
                s.spawn(move || {
                    barrier.wait();
                    let mut failures = 0u64;
                    while let Some(a) = timed.get(next.fetch_add(1, Ordering::Relaxed) as usize) {
                        if one(a.as_str()).is_err() {
                            failures += 1;
                        }
                    }
                    failures
                })
            })
            .collect();
        let start = Instant::now();
        barrier.wait();
        let f: u64 = hs
            .into_iter()
            .map(|h| h.join().expect("token thread"))
            .sum();
        (start.elapsed(), f)
    });
    let cpu = cpu_secs(None)
        .zip(c0)
        .map(|(b, a)| (b - a) * 1e6 / count as f64);
    let mut v = line(
        &format!("token path, no HTTP, {alg} token, {threads} threads"),
        count as u64,
        el,
    );
    println!(
        "      cpu {} µs/request, failures {failures}",
        cpu.map_or("-".into(), |c| format!("{c:.0}"))
    );
    v["cpu_us_per_req"] = json!(cpu);
    v["failures"] = json!(failures);
    drop(st);
    Ok(v)
}
