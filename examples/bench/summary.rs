//! `summary`: one markdown report from the run's results, with the crypto ceiling.
//!
//! Ceiling: every token request costs at least one RSA-2048 verification (the client's RS256
//! assertion; the chain itself comes from the validation cache) and one signature with the token
//! algorithm (RSA-2048 for RS256, P-256 for ES256). With `openssl speed`'s single-core rates,
//! ceiling = cores / (1/sign_per_s + 1/verify_per_s); the ratio is achieved / ceiling.

use std::path::Path;

use anyhow::Context;
use serde_json::Value;

/// (sign/s, verify/s) from the `openssl speed` line containing `marker`.
fn speed_pair(text: &str, marker: &str) -> Option<(f64, f64)> {
    let line = text.lines().find(|l| l.contains(marker))?;
    let nums: Vec<f64> = line
        .split_whitespace()
        .filter_map(|w| w.parse::<f64>().ok())
        .collect();
    match nums.as_slice() {
        [.., s, v] => Some((*s, *v)),
        _ => None,
    }
}

fn f(v: &Value, digits: usize) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{x:.digits$}"))
}

pub fn run(
    results: &Path,
    micro: Option<&Path>,
    speed: &Path,
    cores: Option<usize>,
) -> anyhow::Result<()> {
    let cores = cores.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    }) as f64;
    let speed_text =
        std::fs::read_to_string(speed).with_context(|| format!("{}", speed.display()))?;
    let rsa = speed_pair(&speed_text, "rsa 2048 bits")
        .context("no `rsa 2048 bits` line in the openssl speed output")?;
    let ec = speed_pair(&speed_text, "(nistp256)")
        .context("no nistp256 line in the openssl speed output")?;
    let loads = read_lines(results)?;
    let micro: Option<Value> = match micro {
        Some(p) => std::fs::read_to_string(p)?
            .lines()
            .find(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .transpose()?,
        None => None,
    };
    let m = |key: &str, field: &str| micro.as_ref().and_then(|m| m[key][field].as_f64());

    // Per request: RSA-2048 verify + token signature.
    let ceiling = |token_alg: &str| {
        let sign = if token_alg == "ES256" { ec.0 } else { rsa.0 };
        cores / (1.0 / sign + 1.0 / rsa.1)
    };
    // The same with the server's own crypto (aws-lc through udap_server::jose, from `micro`).
    let lib_ceiling = |mode: &str, token_alg: &str| {
        let verify = if mode == "udap" {
            m("udap_assertion_signature_RS256", "us_per_op")
        } else {
            m("jws_verify_RS256", "us_per_op")
        };
        let sign = m(&format!("jws_sign_{token_alg}"), "us_per_op");
        verify.zip(sign).map(|(v, s)| cores * 1e6 / (v + s))
    };

    println!("### udap-server benchmark\n");
    println!(
        "Machine: {cores} cores; `openssl speed` (1 core): RSA-2048 sign {:.0}/s, verify {:.0}/s; ECDSA P-256 sign {:.0}/s, verify {:.0}/s.",
        rsa.0, rsa.1, ec.0, ec.1
    );
    println!(
        "Ceiling per request = 1 RSA-2048 verify (client assertion) + 1 token signature, × {cores} cores: RS256 tokens {:.0} req/s, ES256 tokens {:.0} req/s.\n",
        ceiling("RS256"),
        ceiling("ES256")
    );
    let lib = |mode: &str| {
        let rs = lib_ceiling(mode, "RS256").map_or("-".into(), |v| format!("{v:.0}"));
        let es = lib_ceiling(mode, "ES256").map_or("-".into(), |v| format!("{v:.0}"));
        format!("RS256 tokens {rs}, ES256 tokens {es}")
    };
    println!(
        "With the server's own crypto (aws-lc, `micro`): UDAP {}; SMART {} req/s.\n",
        lib("udap"),
        lib("smart")
    );
    println!("| endpoint | token | c | req/s | p50 ms | p99 ms | errors | server CPU µs/req | server cores busy | machine idle % | CPU-bound req/s | ceiling req/s | ratio | CPU-bound ratio |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &loads {
        let mode = r["mode"].as_str().unwrap_or("?");
        let alg = r["token_alg"].as_str().unwrap_or("?");
        let rps = r["rps"].as_f64().unwrap_or(0.0);
        let c = ceiling(alg);
        let srv = r["server_cpu_us_per_req"].as_f64();
        let cli = r["client_cpu_us_per_req"].as_f64().unwrap_or(0.0);
        // What the machine would do if both processes had every core and CPU were the only limit.
        let bound = srv.map(|s| cores * 1e6 / (s + cli));
        let name = if mode == "udap" {
            "(a) UDAP b2b, 3-cert chain"
        } else {
            "(b) SMART backend, JWKS"
        };
        println!(
            "| {name} | {alg} | {} | {rps:.0} | {} | {} | {} | {} | {} | {} | {} | {c:.0} | {:.2} | {} |",
            r["concurrency"],
            f(&r["p50_ms"], 2),
            f(&r["p99_ms"], 2),
            r["errors"],
            srv.map_or("-".into(), |s| format!("{s:.0}")),
            srv.map_or("-".into(), |s| format!("{:.2}", s * rps / 1e6)),
            f(&r["machine_idle_pct"], 0),
            bound.map_or("-".into(), |b| format!("{b:.0}")),
            rps / c,
            bound.map_or("-".into(), |b| format!("{:.2}", b / c)),
        );
    }
    println!(
        "\nratio = req/s ÷ ceiling. server cores busy = server CPU/request × req/s (below {cores} with machine idle near 0 %: other processes took the rest). \
         CPU-bound req/s = {cores} cores ÷ (server + load-generator CPU per request): the throughput of a dedicated machine if CPU were the only limit; \
         it varies much less than req/s when the machine is shared (at c=1 requests wait on the replay store's fsync, so only the c=32 rows are CPU-bound)."
    );
    if let (Some(rs), Some(es)) = (
        m("token_path_RS256", "cpu_us_per_req"),
        m("token_path_ES256", "cpu_us_per_req"),
    ) {
        println!(
            "\nThe same token work without HTTP (`micro`, 32 threads) costs {rs:.0} µs CPU/request with RS256 tokens and {es:.0} µs with ES256; \
             the rest of the server's CPU/request is the HTTP stack, the hop to the blocking pool, logging and the kernel."
        );
    }
    if let Some(mv) = &micro {
        println!("\nIn-process (examples/bench.rs `micro`):\n");
        println!("| operation | µs/op | ops/s | notes |");
        println!("|---|---:|---:|---|");
        let rows: &[(&str, &str)] = &[
            (
                "validate_chain_uncached",
                "validate_chain, uncached (new x5c: path build + CRLs)",
            ),
            ("validate_chain_cached", "validate_chain, cached (same x5c)"),
            (
                "validate_chain_fresh_community",
                "TrustCommunity::from_pem + validate_chain",
            ),
            (
                "udap_assertion_signature_RS256",
                "UDAP assertion signature stage, RS256 x5c",
            ),
            ("jws_sign_RS256", "JWS sign RS256"),
            ("jws_verify_RS256", "JWS verify RS256"),
            ("jws_sign_ES256", "JWS sign ES256"),
            ("jws_verify_ES256", "JWS verify ES256"),
            ("jti_insert_1t", "replay store insert (durable), 1 thread"),
            ("jti_insert_8t", "replay store insert (durable), 8 threads"),
            (
                "jti_insert_32t",
                "replay store insert (durable), 32 threads",
            ),
            (
                "token_path_RS256",
                "token path without HTTP, RS256 token, 32 threads",
            ),
            (
                "token_path_ES256",
                "token path without HTTP, ES256 token, 32 threads",
            ),
        ];
        for (key, label) in rows {
            let v = &mv[*key];
            if v.is_null() {
                continue;
            }
            let mut notes = Vec::new();
            if !v["mean_batch"].is_null() {
                notes.push(format!(
                    "{} inserts/commit, p50 {} ms, p99 {} ms",
                    f(&v["mean_batch"], 1),
                    f(&v["p50_ms"], 2),
                    f(&v["p99_ms"], 2)
                ));
            }
            if !v["cpu_us_per_req"].is_null() {
                notes.push(format!("CPU {} µs/req", f(&v["cpu_us_per_req"], 0)));
            }
            // Wall time per op is meaningless for concurrent runs; show it only for sequential ones.
            let us =
                if v["threads"].as_u64().is_some_and(|t| t > 1) || key.starts_with("token_path") {
                    "-".into()
                } else {
                    f(&v["us_per_op"], 1)
                };
            println!(
                "| {label} | {us} | {} | {} |",
                f(&v["ops_per_s"], 0),
                notes.join("; ")
            );
        }
    }
    if let Some(a) = loads
        .iter()
        .filter(|r| r["mode"] == "udap" && r["token_alg"] == "RS256")
        .max_by_key(|r| r["concurrency"].as_u64())
    {
        println!(
            "\nIssue target, (a) UDAP with RS256 tokens at c={}: {:.0} req/s measured, target >= 5000 req/s on 2 cores; the crypto ceiling on this machine is {:.0} req/s.",
            a["concurrency"],
            a["rps"].as_f64().unwrap_or(0.0),
            ceiling("RS256")
        );
    }
    Ok(())
}

fn read_lines(path: &Path) -> anyhow::Result<Vec<Value>> {
    std::fs::read_to_string(path)
        .with_context(|| format!("{}", path.display()))?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(anyhow::Error::from))
        .collect()
}

/// Issue 10 item 5: throughput and CPU per request with the audit trail on (the main runs) and
/// off (`--audit false`), same endpoint, token algorithm and concurrency; goal: on >= 90 % of off.
pub fn audit_cost(results: &Path, off: &Path) -> anyhow::Result<()> {
    let on_rows = read_lines(results)?;
    let off_rows = read_lines(off)?;
    println!(
        "\nAudit trail cost (issue 10 item 5; one record per token request, batched commits):\n"
    );
    println!("| endpoint | token | c | req/s audit on | req/s audit off | on ÷ off | server CPU µs/req on | off | p99 ms on | off |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for off in &off_rows {
        let same = |r: &&Value| {
            r["mode"] == off["mode"]
                && r["token_alg"] == off["token_alg"]
                && r["concurrency"] == off["concurrency"]
        };
        let Some(on) = on_rows.iter().find(same) else {
            continue;
        };
        let (a, b) = (
            on["rps"].as_f64().unwrap_or(0.0),
            off["rps"].as_f64().unwrap_or(0.0),
        );
        let name = if off["mode"] == "udap" {
            "(a) UDAP b2b, 3-cert chain"
        } else {
            "(b) SMART backend, JWKS"
        };
        println!(
            "| {name} | {} | {} | {a:.0} | {b:.0} | {} | {} | {} | {} | {} |",
            off["token_alg"].as_str().unwrap_or("?"),
            off["concurrency"],
            if b > 0.0 {
                format!("{:.2}", a / b)
            } else {
                "-".into()
            },
            f(&on["server_cpu_us_per_req"], 0),
            f(&off["server_cpu_us_per_req"], 0),
            f(&on["p99_ms"], 2),
            f(&off["p99_ms"], 2),
        );
    }
    println!(
        "\non ÷ off: throughput with the audit trail relative to without (goal >= 0.90). The two runs are minutes apart on a \
         shared machine; compare CPU µs/request too, which varies less than req/s."
    );
    Ok(())
}
