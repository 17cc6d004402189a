//! Benchmark driver for udap-server (run through `scripts/bench`; see README "Benchmark").
//!
//! Subcommands:
//! - `micro`: in-process timings of the hot paths (chain validation cached and uncached, the
//!   durable replay store under concurrency, JWS sign/verify, the whole token path without HTTP);
//! - `smart-key`: a client key and JWK Set for a SMART backend-services client (registered with
//!   `udap-server client add --jwks`);
//! - `load`: acts as the client against a running server: registers (UDAP) or uses the
//!   administrator-registered client (SMART), pre-signs N unique assertions, then fires them with a
//!   fixed number of requests in flight, each body once, and reports requests/s, p50, p99, errors;
//! - `summary`: the markdown table of a run, with the `openssl speed` ceiling and the ratios.
//!
//! It reports figures; it never fails because a number is low.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[path = "bench/load.rs"]
mod load;
#[path = "bench/micro.rs"]
mod micro;
#[path = "bench/summary.rs"]
mod summary;
#[path = "bench/util.rs"]
mod util;

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "udap-server benchmark driver (see scripts/bench)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// UDAP client_credentials: x5c assertion (3-certificate chain), hl7-b2b, udap=1.
    Udap,
    /// SMART backend services: private_key_jwt with a registered inline JWK Set.
    Smart,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// In-process timings: validate_chain, JtiStore, jose sign/verify, token path without HTTP.
    Micro {
        /// Directory for the temporary databases (must be on a real disk to measure fsync).
        #[arg(long, default_value_os_t = std::env::temp_dir())]
        dir: PathBuf,
        /// Seconds per time-bounded measurement.
        #[arg(long, default_value_t = 1.0)]
        secs: f64,
        /// Append the results as one JSON object to this file.
        #[arg(long)]
        results: Option<PathBuf>,
    },
    /// Writes KEY_DIR/smart.key (RSA-2048, PKCS#8) and KEY_DIR/smart-jwks.json (its public JWK Set).
    SmartKey {
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Load test one endpoint configuration of a running server.
    Load {
        /// The server's base URL, e.g. http://127.0.0.1:18080
        #[arg(long)]
        base_url: String,
        /// The server's data directory (UDAP mode reads certs/dev-community/client.{pem,key}).
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, value_enum)]
        mode: Mode,
        /// Requests to time (each with its own pre-signed assertion).
        #[arg(long)]
        n: usize,
        /// Requests in flight at all times.
        #[arg(long)]
        concurrency: usize,
        /// SMART: the JSON printed by `udap-server client add --json` (for the client_id).
        #[arg(long)]
        smart_client: Option<PathBuf>,
        /// SMART: the client's private key (from `smart-key`).
        #[arg(long)]
        smart_key: Option<PathBuf>,
        /// The server's process id, to report its CPU time per request; repeat for several
        /// instances (their CPU is added up).
        #[arg(long)]
        server_pid: Vec<u32>,
        /// Send the requests round-robin to these origins (e.g. two instances serving one base
        /// URL, as behind a load balancer) instead of the base URL's own; repeat for each.
        #[arg(long)]
        target: Vec<String>,
        /// A label for this run in the results (e.g. "postgres, 2 instances").
        #[arg(long)]
        label: Option<String>,
        /// Threads of the client's async runtime (kept small: it shares the machine).
        #[arg(long, default_value_t = 1)]
        client_threads: usize,
        /// Append the result as one JSON line to this file.
        #[arg(long)]
        results: Option<PathBuf>,
    },
    /// Prints the summary table from `load` and `micro` results and `openssl speed` output.
    Summary {
        #[arg(long)]
        results: PathBuf,
        #[arg(long)]
        micro: Option<PathBuf>,
        /// Output of `openssl speed rsa2048 ecdsap256`.
        #[arg(long)]
        openssl_speed: PathBuf,
        /// Cores the ceiling assumes [default: available parallelism].
        #[arg(long)]
        cores: Option<usize>,
        /// Issue 10 item 5: `load` results of a server started with `--audit false`, compared
        /// with the rows of `--results` (audit on) at the same endpoint, token algorithm and c.
        #[arg(long)]
        audit_off: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Micro { dir, secs, results } => micro::run(&dir, secs, results.as_deref()),
        Cmd::SmartKey { out_dir } => load::smart_key(&out_dir),
        Cmd::Load {
            base_url,
            data_dir,
            mode,
            n,
            concurrency,
            smart_client,
            smart_key,
            server_pid,
            target,
            label,
            client_threads,
            results,
        } => load::run(load::LoadArgs {
            base_url,
            data_dir,
            mode,
            n,
            concurrency,
            smart_client,
            smart_key,
            server_pids: server_pid,
            targets: target,
            label,
            client_threads,
            results,
        }),
        Cmd::Summary {
            results,
            micro,
            openssl_speed,
            cores,
            audit_off,
        } => {
            summary::run(&results, micro.as_deref(), &openssl_speed, cores)?;
            match audit_off {
                Some(off) => summary::audit_cost(&results, &off),
                None => Ok(()),
            }
        }
    }
}
