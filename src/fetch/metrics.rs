//! Issue 10 item 6: counts and latency of outbound downloads (CRLs, JWK Sets).
//!
//! A process-wide registry ([`OUTBOUND_METRICS`]) rather than a handle: the fetchers are built
//! deep inside the PKI and OAuth layers (a `CrlFetcher` per server, an offline one for
//! configuration checks, a `JwksCache` per state), none of which holds the HTTP layer's
//! `Metrics`, and threading a handle through all of them would change a dozen constructors for
//! a few counters. One process serves one server, so process-wide numbers are the server's (in
//! the test binary, several servers share them: tests assert increases, never exact values).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::prometheus::{header, Histogram};

use super::FetchError;

/// What was downloaded; the `kind` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchKind {
    Crl,
    Jwks,
}

impl FetchKind {
    pub const ALL: [FetchKind; 2] = [FetchKind::Crl, FetchKind::Jwks];

    pub fn as_str(self) -> &'static str {
        match self {
            FetchKind::Crl => "crl",
            FetchKind::Jwks => "jwks",
        }
    }

    fn index(self) -> usize {
        match self {
            FetchKind::Crl => 0,
            FetchKind::Jwks => 1,
        }
    }
}

/// Downloads by kind and outcome, and their latency by kind.
pub struct OutboundMetrics {
    /// `[kind][0 = ok, 1 = error]`.
    fetches: [[AtomicU64; 2]; 2],
    duration: [Histogram; 2],
}

/// The process's outbound-fetch metrics, rendered at `/metrics`.
pub static OUTBOUND_METRICS: OutboundMetrics = OutboundMetrics::new();

impl Default for OutboundMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl OutboundMetrics {
    pub const fn new() -> Self {
        OutboundMetrics {
            fetches: [const { [const { AtomicU64::new(0) }; 2] }; 2],
            duration: [const { Histogram::new() }; 2],
        }
    }

    /// Records one download (connect to parsed value) that took `elapsed`.
    pub fn record(&self, kind: FetchKind, ok: bool, elapsed: Duration) {
        self.fetches[kind.index()][usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
        self.duration[kind.index()].observe(elapsed);
    }

    /// Records the outcome of a download started at `started`. An `Offline` refusal touched no
    /// network (offline fetchers for configuration checks and air-gapped setups) and is not a
    /// fetch.
    pub fn observe<T>(&self, kind: FetchKind, started: Instant, result: &Result<T, FetchError>) {
        if matches!(result, Err(FetchError::Offline { .. })) {
            return;
        }
        self.record(kind, result.is_ok(), started.elapsed());
    }

    /// Downloads of `kind` with that outcome so far.
    pub fn count(&self, kind: FetchKind, ok: bool) -> u64 {
        self.fetches[kind.index()][usize::from(!ok)].load(Ordering::Relaxed)
    }

    /// `udap_outbound_fetches_total{kind,outcome}` and `udap_outbound_fetch_duration_seconds{kind}`.
    pub fn render(&self, out: &mut String) {
        header(
            out,
            "udap_outbound_fetches_total",
            "counter",
            "Outbound downloads (CRLs from distribution points, SMART JWK Sets), by outcome",
        );
        for kind in FetchKind::ALL {
            for (outcome, ok) in [("ok", true), ("error", false)] {
                out.push_str(&format!(
                    "udap_outbound_fetches_total{{kind=\"{}\",outcome=\"{outcome}\"}} {}\n",
                    kind.as_str(),
                    self.count(kind, ok)
                ));
            }
        }
        const DURATION: &str = "udap_outbound_fetch_duration_seconds";
        header(
            out,
            DURATION,
            "histogram",
            "Time per outbound download, failures included",
        );
        for kind in FetchKind::ALL {
            self.duration[kind.index()].render(
                out,
                DURATION,
                &format!("kind=\"{}\"", kind.as_str()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_kind_and_outcome_and_skips_offline() {
        let m = OutboundMetrics::new();
        let started = Instant::now();
        m.observe(FetchKind::Crl, started, &Ok::<(), FetchError>(()));
        m.observe::<()>(
            FetchKind::Jwks,
            started,
            &Err(FetchError::Timeout { url: "u".into() }),
        );
        m.observe::<()>(
            FetchKind::Crl,
            started,
            &Err(FetchError::Offline { url: "u".into() }),
        );
        assert_eq!(m.count(FetchKind::Crl, true), 1);
        assert_eq!(m.count(FetchKind::Crl, false), 0, "offline is not a fetch");
        assert_eq!(m.count(FetchKind::Jwks, false), 1);
        let mut out = String::new();
        m.render(&mut out);
        crate::prometheus::check_exposition(&out).unwrap();
        for want in [
            "udap_outbound_fetches_total{kind=\"crl\",outcome=\"ok\"} 1\n",
            "udap_outbound_fetches_total{kind=\"jwks\",outcome=\"error\"} 1\n",
            "udap_outbound_fetch_duration_seconds_count{kind=\"crl\"} 1\n",
            "udap_outbound_fetch_duration_seconds_count{kind=\"jwks\"} 1\n",
        ] {
            assert!(out.contains(want), "missing {want:?} in {out}");
        }
    }
}
