//! Process metrics in the Prometheus text format (`GET /metrics`).
//!
//! Fixed sets of counters and histograms, updated on the request path with relaxed atomics: cheap
//! enough for the token endpoint's hot path, and no dependency on a metrics framework for a few
//! families. Every label value comes from a fixed list here (endpoints, refusal kinds, outcomes),
//! never from a request, so a client cannot grow the label set.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::oauth::Reason;
use crate::prometheus::{header, Histogram};

/// Issue 10 item 6: the label values of `udap_http_request_duration_seconds`: every route (each
/// is a fixed path, relative to the base URL's path, except `/health` and `/metrics` at the
/// root), and `other` for everything else.
pub const ENDPOINTS: [&str; 19] = [
    "/token",
    "/register",
    "/authorize",
    "/authorize/continue",
    "/authorize/patient",
    "/authorize/consent",
    "/login",
    "/logout",
    "/launch",
    "/introspect",
    "/revoke",
    "/jwks",
    "/.well-known/udap",
    "/.well-known/smart-configuration",
    "/.well-known/openid-configuration",
    "/smart-style.json",
    "/health",
    "/metrics",
    "other",
];

/// The index in [`ENDPOINTS`] of a request path, given the base URL's path `prefix` ("" or
/// "/fhir"). By path, whatever the method: a wrong method on a route still counts under it.
/// No allocation: this runs on every request.
pub fn endpoint_index(path: &str, prefix: &str) -> usize {
    const OTHER: usize = ENDPOINTS.len() - 1;
    let root = match path {
        "/health" => Some(ENDPOINTS.len() - 3),
        "/metrics" => Some(ENDPOINTS.len() - 2),
        _ => None,
    };
    if let Some(i) = root {
        return i;
    }
    let Some(route) = path.strip_prefix(prefix) else {
        return OTHER;
    };
    ENDPOINTS[..ENDPOINTS.len() - 3]
        .iter()
        .position(|e| *e == route)
        .unwrap_or(OTHER)
}

/// Issue 10 item 6: the refusal kinds of `udap_token_refusals_total`, in the order of
/// [`reason_index`].
pub const REASONS: [Reason; 9] = [
    Reason::Replay,
    Reason::Trust,
    Reason::ClientAuth,
    Reason::Grant,
    Reason::Scope,
    Reason::Request,
    Reason::Throttled,
    Reason::Internal,
    Reason::Other,
];

/// Position of `reason` in [`REASONS`]; exhaustive, so a new kind cannot be left uncounted.
fn reason_index(reason: Reason) -> usize {
    match reason {
        Reason::Replay => 0,
        Reason::Trust => 1,
        Reason::ClientAuth => 2,
        Reason::Grant => 3,
        Reason::Scope => 4,
        Reason::Request => 5,
        Reason::Throttled => 6,
        Reason::Internal => 7,
        Reason::Other => 8,
    }
}

macro_rules! counters {
    ($($name:ident : $help:literal),* $(,)?) => {
        /// Counters and histograms exposed at `/metrics`.
        #[derive(Default)]
        pub struct Metrics {
            $(pub $name: AtomicU64,)*
            /// Issue 10 item 6: per [`ENDPOINTS`] entry.
            request_duration: [Histogram; ENDPOINTS.len()],
            /// Issue 10 item 6: per [`REASONS`] entry.
            token_refusals: [AtomicU64; REASONS.len()],
            /// Issue 10 item 6: admin changes applied, refused.
            admin_changes: [AtomicU64; 2],
        }

        impl Metrics {
            fn render_counters(&self, out: &mut String) {
                $(
                    out.push_str(concat!("# HELP udap_", stringify!($name), " ", $help, "\n# TYPE udap_", stringify!($name), " counter\n"));
                    out.push_str(&format!(concat!("udap_", stringify!($name), " {}\n"), self.$name.load(Ordering::Relaxed)));
                )*
            }
        }
    };
}

counters! {
    http_responses_2xx_total: "HTTP responses with a 2xx status",
    http_responses_4xx_total: "HTTP responses with a 4xx status",
    http_responses_5xx_total: "HTTP responses with a 5xx status",
    tokens_issued_total: "Access tokens issued",
    token_errors_total: "Token requests rejected",
    registrations_total: "Successful UDAP registrations (new, updated or cancelled)",
    registration_errors_total: "Rejected UDAP registrations",
    jti_replays_total: "JWTs rejected as replays of an (iss, jti) already seen",
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a response by status class.
    pub fn record_status(&self, status: u16) {
        match status {
            200..=299 => Self::inc(&self.http_responses_2xx_total),
            400..=499 => Self::inc(&self.http_responses_4xx_total),
            500..=599 => Self::inc(&self.http_responses_5xx_total),
            _ => {}
        }
    }

    /// Issue 10 item 6: one request's latency under its endpoint (an index from
    /// [`endpoint_index`]; out of range counts as `other`).
    pub fn record_duration(&self, endpoint: usize, elapsed: Duration) {
        let i = endpoint.min(ENDPOINTS.len() - 1);
        self.request_duration[i].observe(elapsed);
    }

    /// Issue 10 item 6: a refused token request, counted in `token_errors_total` and by its kind.
    pub fn token_refused(&self, reason: Reason) {
        Self::inc(&self.token_errors_total);
        Self::inc(&self.token_refusals[reason_index(reason)]);
    }

    /// Issue 10 item 6: an admin change, applied (`ok`) or refused.
    pub fn admin_change(&self, ok: bool) {
        Self::inc(&self.admin_changes[usize::from(!ok)]);
    }

    /// Renders every family this struct owns, then `extra` gauges, in the Prometheus exposition
    /// format. Other families (outbound fetches, CRL ages) are appended by the handler.
    pub fn render(&self, extra: &[(&str, &str, u64)]) -> String {
        let mut out = String::with_capacity(16 * 1024);
        self.render_counters(&mut out);
        for (name, help, value) in extra {
            out.push_str(&format!(
                "# HELP udap_{name} {help}\n# TYPE udap_{name} gauge\nudap_{name} {value}\n"
            ));
        }
        const DURATION: &str = "udap_http_request_duration_seconds";
        header(
            &mut out,
            DURATION,
            "histogram",
            "Time from request to response head, by endpoint",
        );
        for (endpoint, h) in ENDPOINTS.iter().zip(&self.request_duration) {
            // Endpoint names are fixed and hold nothing that needs escaping.
            h.render(&mut out, DURATION, &format!("endpoint=\"{endpoint}\""));
        }
        header(
            &mut out,
            "udap_token_refusals_total",
            "counter",
            "Token requests refused, by kind of refusal",
        );
        for (reason, n) in REASONS.iter().zip(&self.token_refusals) {
            out.push_str(&format!(
                "udap_token_refusals_total{{reason=\"{}\"}} {}\n",
                reason.as_str(),
                n.load(Ordering::Relaxed)
            ));
        }
        header(
            &mut out,
            "udap_admin_changes_total",
            "counter",
            "Administrative changes, applied (ok) or refused",
        );
        for (outcome, n) in ["ok", "refused"].iter().zip(&self.admin_changes) {
            out.push_str(&format!(
                "udap_admin_changes_total{{outcome=\"{outcome}\"}} {}\n",
                n.load(Ordering::Relaxed)
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::check_exposition;

    #[test]
    fn render_lists_every_counter_with_its_value() {
        let m = Metrics::default();
        m.record_status(201);
        m.record_status(400);
        m.record_status(400);
        let text = m.render(&[("communities", "Configured trust communities", 2)]);
        assert!(text.contains("udap_http_responses_2xx_total 1\n"));
        assert!(text.contains("udap_http_responses_4xx_total 2\n"));
        assert!(text.contains("udap_http_responses_5xx_total 0\n"));
        assert!(text.contains("# TYPE udap_communities gauge\nudap_communities 2\n"));
    }

    /// Issue 10 item 6: latency per endpoint, refusals per kind, admin changes; the whole output
    /// is valid exposition text.
    #[test]
    fn new_families_render_and_parse() {
        let m = Metrics::default();
        m.record_duration(
            endpoint_index("/fhir/token", "/fhir"),
            Duration::from_millis(3),
        );
        m.record_duration(endpoint_index("/nope", "/fhir"), Duration::from_secs(9));
        m.record_duration(usize::MAX, Duration::from_millis(1));
        m.token_refused(Reason::Replay);
        m.token_refused(Reason::Trust);
        m.token_refused(Reason::Trust);
        m.admin_change(true);
        m.admin_change(false);
        m.admin_change(false);
        let text = m.render(&[]);
        check_exposition(&text).unwrap();
        for want in [
            "udap_http_request_duration_seconds_bucket{endpoint=\"/token\",le=\"0.0025\"} 0\n",
            "udap_http_request_duration_seconds_bucket{endpoint=\"/token\",le=\"0.005\"} 1\n",
            "udap_http_request_duration_seconds_count{endpoint=\"/token\"} 1\n",
            "udap_http_request_duration_seconds_count{endpoint=\"other\"} 2\n",
            "udap_http_request_duration_seconds_bucket{endpoint=\"other\",le=\"5\"} 1\n",
            "udap_http_request_duration_seconds_count{endpoint=\"/jwks\"} 0\n",
            "udap_token_refusals_total{reason=\"replay\"} 1\n",
            "udap_token_refusals_total{reason=\"trust\"} 2\n",
            "udap_token_refusals_total{reason=\"scope\"} 0\n",
            "udap_token_errors_total 3\n",
            "udap_admin_changes_total{outcome=\"ok\"} 1\n",
            "udap_admin_changes_total{outcome=\"refused\"} 2\n",
        ] {
            assert!(text.contains(want), "missing {want:?}");
        }
        assert_eq!(
            text.matches("# TYPE ").count(),
            text.matches("# HELP ").count()
        );
    }

    #[test]
    fn paths_map_to_fixed_endpoints() {
        let rows = [
            ("/token", "", "/token"),
            ("/fhir/token", "/fhir", "/token"),
            ("/token", "/fhir", "other"),
            ("/fhir/.well-known/udap", "/fhir", "/.well-known/udap"),
            ("/fhir/authorize/consent", "/fhir", "/authorize/consent"),
            ("/health", "/fhir", "/health"),
            ("/metrics", "", "/metrics"),
            ("/fhir/health", "/fhir", "other"),
            ("/fhir/token/", "/fhir", "other"),
            ("/fhir/tokenx", "/fhir", "other"),
            ("/", "", "other"),
        ];
        for (path, prefix, want) in rows {
            assert_eq!(ENDPOINTS[endpoint_index(path, prefix)], want, "{path}");
        }
        for (i, r) in REASONS.iter().enumerate() {
            assert_eq!(reason_index(*r), i);
        }
    }
}
