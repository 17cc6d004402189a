//! `load`: the client side of the HTTP benchmark, and `smart-key`.
//!
//! Every assertion is signed before the clock starts, each carries its own `jti`, and each request
//! body is sent exactly once: the server does the full work (signature, chain from cache, durable
//! replay record, token signature) on every request.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use anyhow::{bail, Context};
use serde_json::{json, Value};
use udap_server::dev_community::{ca_dir, DEV_CLIENT_SAN};
use udap_server::jose::{SignOptions, Signer};
use udap_server::oauth::client_auth::JWT_BEARER;
use udap_server::oauth::urls::Endpoints;
use udap_server::pki::ca::KeyKind;

use super::util::{append_json, cpu_secs, machine_jiffies, now, percentile_ms};
use super::Mode;

pub struct LoadArgs {
    pub base_url: String,
    pub data_dir: PathBuf,
    pub mode: Mode,
    pub n: usize,
    pub concurrency: usize,
    pub smart_client: Option<PathBuf>,
    pub smart_key: Option<PathBuf>,
    pub server_pids: Vec<u32>,
    /// Origins to spread requests over (empty: the base URL's).
    pub targets: Vec<String>,
    pub label: Option<String>,
    pub client_threads: usize,
    pub results: Option<PathBuf>,
}

const FORM: &str = "application/x-www-form-urlencoded";

/// Writes `smart.key` and `smart-jwks.json` for an administrator-registered SMART client.
pub fn smart_key(out_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out_dir)?;
    let key = KeyKind::Rsa2048.generate()?;
    let pem = String::from_utf8(key.private_key_to_pem_pkcs8()?)?;
    let signer = Signer::from_pem(&pem, None)?;
    let jwks = json!({ "keys": [signer.public_jwk()] });
    std::fs::write(out_dir.join("smart.key"), &pem)?;
    std::fs::write(
        out_dir.join("smart-jwks.json"),
        serde_json::to_string_pretty(&jwks)?,
    )?;
    println!("kid {}", signer.kid());
    Ok(())
}

/// Who the benchmark client is and how it signs.
struct ClientIdentity {
    key_pem: String,
    chain_pem: Option<String>,
    client_id: String,
}

/// The claims of assertion `i` (UDAP: with the hl7-b2b object Inferno sends; SMART: the minimum).
fn assertion_claims(
    mode: Mode,
    client_id: &str,
    ep: &Endpoints,
    run: &str,
    i: usize,
    now: i64,
) -> Value {
    let mut claims = json!({
        "iss": client_id, "sub": client_id, "aud": ep.token,
        // UDAP: exp - iat <= 300; SMART: exp at most 300 s ahead.
        "exp": now + 280, "iat": now, "jti": format!("bench-{run}-{i}"),
    });
    if mode == Mode::Udap {
        claims["extensions"] = json!({"hl7-b2b": {"version": "1", "subject_name": "udap-server benchmark",
            "organization_name": "Benchmark Org", "organization_id": "https://bench.example.org/",
            "purpose_of_use": ["SYSDEV"]}});
    }
    claims
}

/// Signs `count` token-request bodies on all cores (before timing starts).
fn presign(
    mode: Mode,
    id: &ClientIdentity,
    ep: &Endpoints,
    count: usize,
) -> anyhow::Result<Vec<Bytes>> {
    let run = udap_server::oauth::random_token(6);
    let now = now();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(count.max(1));
    let chunk = count.div_ceil(threads);
    let parts: Vec<anyhow::Result<Vec<Bytes>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let run = &run;
                s.spawn(move || -> anyhow::Result<Vec<Bytes>> {
                    let signer = Signer::from_pem(&id.key_pem, id.chain_pem.as_deref())?;
                    let opts = match mode {
                        Mode::Udap => SignOptions {
                            include_x5c: true,
                            typ: None,
                        },
                        Mode::Smart => SignOptions {
                            include_x5c: false,
                            typ: Some("JWT"),
                        },
                    };
                    let mut out = Vec::with_capacity(chunk);
                    for i in (t * chunk)..((t + 1) * chunk).min(count) {
                        let jwt = signer.sign(
                            &assertion_claims(mode, &id.client_id, ep, run, i, now),
                            opts,
                        )?;
                        let mut form = vec![
                            ("grant_type", "client_credentials"),
                            ("client_assertion_type", JWT_BEARER),
                            ("client_assertion", jwt.as_str()),
                        ];
                        if mode == Mode::Udap {
                            form.push(("udap", "1"));
                        }
                        out.push(Bytes::from(serde_urlencoded::to_string(&form)?));
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("signing thread"))
            .collect()
    });
    let mut all = Vec::with_capacity(count);
    for p in parts {
        all.extend(p?);
    }
    Ok(all)
}

/// UDAP dynamic registration of the development client (201 first time, 200 when it re-registers).
async fn register_udap(
    http: &reqwest::Client,
    ep: &Endpoints,
    key_pem: &str,
    chain_pem: &str,
) -> anyhow::Result<String> {
    let now = now();
    let statement = Signer::from_pem(key_pem, Some(chain_pem))?.sign(
        &json!({
            "iss": DEV_CLIENT_SAN, "sub": DEV_CLIENT_SAN, "aud": ep.registration,
            "exp": now + 300, "iat": now, "jti": udap_server::oauth::random_token(16),
            "client_name": "udap-server benchmark client", "contacts": ["mailto:bench@example.org"],
            "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
            "scope": "system/Patient.rs system/Observation.rs",
        }),
        SignOptions {
            include_x5c: true,
            typ: None,
        },
    )?;
    let res = http
        .post(&ep.registration)
        .json(&json!({"software_statement": statement, "udap": "1"}))
        .send()
        .await?;
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if status != 201 && status != 200 {
        bail!("registration failed: HTTP {status}: {body}");
    }
    body["client_id"]
        .as_str()
        .map(String::from)
        .context("registration response has no client_id")
}

/// One request's outcome.
struct Sample {
    micros: u32,
    ok: bool,
}

/// Fires `bodies` with exactly `concurrency` requests in flight; each body once, request `i` to
/// `urls[i % urls.len()]`.
async fn fire(
    http: &reqwest::Client,
    urls: &[String],
    bodies: Arc<Vec<Bytes>>,
    concurrency: usize,
) -> (Vec<Sample>, Duration, Option<String>) {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, urls, bodies, next) = (
                http.clone(),
                urls.to_vec(),
                Arc::clone(&bodies),
                Arc::clone(&next),
            );
            tokio::spawn(async move {
                let mut samples = Vec::with_capacity(bodies.len() / concurrency + 1);
                let mut first_error = None;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    let t = Instant::now();
                    let url = &urls[i % urls.len()];
                    let res = http
                        .post(url)
                        .header(reqwest::header::CONTENT_TYPE, FORM)
                        .body(body.clone())
                        .send()
                        .await;
                    let (ok, err) = match res {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            match r.bytes().await {
                                Ok(_) if status == 200 => (true, None),
                                Ok(b) => (
                                    false,
                                    Some(format!("HTTP {status}: {}", String::from_utf8_lossy(&b))),
                                ),
                                Err(e) => (false, Some(format!("reading the response: {e}"))),
                            }
                        }
                        Err(e) => (false, Some(format!("request failed: {e}"))),
                    };
                    let micros = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
                    samples.push(Sample { micros, ok });
                    if first_error.is_none() {
                        first_error = err;
                    }
                }
                (samples, first_error)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(bodies.len());
    let mut first_error = None;
    for t in tasks {
        let (s, e) = t.await.expect("load task");
        all.extend(s);
        if first_error.is_none() {
            first_error = e;
        }
    }
    (all, start.elapsed(), first_error)
}

/// CPU seconds of these processes together; `None` when there are none or one cannot be read.
fn cpu_of(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|p| cpu_secs(Some(*p))).sum()
}

pub fn run(a: LoadArgs) -> anyhow::Result<()> {
    if a.n == 0 || a.concurrency == 0 {
        bail!("--n and --concurrency must be at least 1");
    }
    let ep = Endpoints::new(&a.base_url);
    // Where the token requests go: the base URL, or the same path on each target origin.
    let urls: Vec<String> = if a.targets.is_empty() {
        vec![ep.token.clone()]
    } else {
        let origin = url::Url::parse(&a.base_url)?.origin().ascii_serialization();
        a.targets
            .iter()
            .map(|t| ep.token.replacen(&origin, t.trim_end_matches('/'), 1))
            .collect()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.client_threads.max(1))
        .enable_all()
        .build()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.concurrency)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;

    // Which algorithm the server signs tokens with (its published key).
    let jwks: Value =
        rt.block_on(async { http.get(&ep.jwks).send().await?.json::<Value>().await })?;
    let token_alg = jwks["keys"][0]["alg"].as_str().unwrap_or("?").to_string();

    let id = match a.mode {
        Mode::Udap => {
            let dir = ca_dir(&a.data_dir);
            let chain_pem = std::fs::read_to_string(dir.join("client.pem"))
                .with_context(|| format!("{}/client.pem", dir.display()))?;
            let key_pem = std::fs::read_to_string(dir.join("client.key"))
                .with_context(|| format!("{}/client.key", dir.display()))?;
            let certs = openssl::x509::X509::stack_from_pem(chain_pem.as_bytes())?.len();
            if certs != 2 {
                bail!("expected client.pem to hold leaf + intermediate (x5c of 2; the root is the anchor), found {certs}");
            }
            let client_id = rt.block_on(register_udap(&http, &ep, &key_pem, &chain_pem))?;
            ClientIdentity {
                key_pem,
                chain_pem: Some(chain_pem),
                client_id,
            }
        }
        Mode::Smart => {
            let client_file = a
                .smart_client
                .as_ref()
                .context("--smart-client is required in smart mode")?;
            let key_file = a
                .smart_key
                .as_ref()
                .context("--smart-key is required in smart mode")?;
            let added: Value = serde_json::from_str(&std::fs::read_to_string(client_file)?)
                .context("--smart-client is not JSON")?;
            let client_id = added["client_id"]
                .as_str()
                .context("--smart-client has no client_id")?
                .to_string();
            ClientIdentity {
                key_pem: std::fs::read_to_string(key_file)?,
                chain_pem: None,
                client_id,
            }
        }
    };

    // Warm-up (untimed): opens the connections, fills the chain-validation cache; distinct jtis too.
    let warm = (2 * a.concurrency).max(16);
    let t = Instant::now();
    let mut bodies = presign(a.mode, &id, &ep, warm + a.n)?;
    let presign_secs = t.elapsed().as_secs_f64();
    let timed = Arc::new(bodies.split_off(warm));
    let warm = Arc::new(bodies);

    let mode_name = match a.mode {
        Mode::Udap => "udap",
        Mode::Smart => "smart",
    };
    let (samples, elapsed, cpu_server, cpu_client, idle_pct, first_error) = rt.block_on(async {
        let (w, _, err) = fire(&http, &urls, warm, a.concurrency).await;
        if w.iter().any(|s| !s.ok) {
            bail!("warm-up requests failed: {}", err.unwrap_or_default());
        }
        let (s0, c0, m0) = (cpu_of(&a.server_pids), cpu_secs(None), machine_jiffies());
        let (samples, elapsed, err) = fire(&http, &urls, timed, a.concurrency).await;
        let (s1, c1, m1) = (cpu_of(&a.server_pids), cpu_secs(None), machine_jiffies());
        let diff = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| b - a);
        let idle = m0
            .zip(m1)
            .map(|((i0, t0), (i1, t1))| 100.0 * (i1 - i0) as f64 / (t1 - t0).max(1) as f64);
        Ok((samples, elapsed, diff(s0, s1), diff(c0, c1), idle, err))
    })?;

    let errors = samples.iter().filter(|s| !s.ok).count();
    let mut lat: Vec<u32> = samples.iter().map(|s| s.micros).collect();
    lat.sort_unstable();
    let rps = samples.len() as f64 / elapsed.as_secs_f64();
    let (p50, p99) = (percentile_ms(&lat, 50.0), percentile_ms(&lat, 99.0));
    let per_req = |cpu: Option<f64>| cpu.map(|c| c * 1e6 / samples.len() as f64);
    let (srv_us, cli_us) = (per_req(cpu_server), per_req(cpu_client));
    let fmt_us = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    println!(
        "load mode={mode_name:<5} token={token_alg} c={:<3} n={:<6} {rps:>8.0} req/s  p50 {p50:>7.2} ms  p99 {p99:>7.2} ms  errors {errors}  cpu/req server {} µs, client {} µs  machine idle {}%  ({:.1} s; presign {presign_secs:.1} s)",
        a.concurrency,
        samples.len(),
        fmt_us(srv_us),
        fmt_us(cli_us),
        idle_pct.map_or("-".to_string(), |p| format!("{p:.0}")),
        elapsed.as_secs_f64(),
    );
    if let Some(e) = &first_error {
        println!("  first error: {}", e.chars().take(300).collect::<String>());
    }
    if let Some(path) = &a.results {
        append_json(
            path,
            &json!({
                "mode": mode_name, "token_alg": token_alg, "concurrency": a.concurrency, "n": samples.len(),
                "elapsed_s": elapsed.as_secs_f64(), "rps": rps, "p50_ms": p50, "p99_ms": p99, "errors": errors,
                "server_cpu_us_per_req": srv_us, "client_cpu_us_per_req": cli_us,
                "label": a.label, "instances": a.targets.len().max(1), "machine_idle_pct": idle_pct, "presign_s": presign_secs,
                "first_error": first_error,
            }),
        )?;
    }
    Ok(())
}
