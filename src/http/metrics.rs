//! Process metrics in the Prometheus text format (`GET /metrics`).
//!
//! A fixed set of counters, incremented on the request path with relaxed atomics: cheap enough for
//! the token endpoint's hot path, and no dependency on a metrics framework for a dozen numbers.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($name:ident : $help:literal),* $(,)?) => {
        /// Counters exposed at `/metrics`.
        #[derive(Default)]
        pub struct Metrics { $(pub $name: AtomicU64,)* }

        impl Metrics {
            /// Renders every counter, with its help text, in the Prometheus exposition format.
            pub fn render(&self, extra: &[(&str, &str, u64)]) -> String {
                let mut out = String::with_capacity(2048);
                $(
                    out.push_str(concat!("# HELP udap_", stringify!($name), " ", $help, "\n# TYPE udap_", stringify!($name), " counter\n"));
                    out.push_str(&format!(concat!("udap_", stringify!($name), " {}\n"), self.$name.load(Ordering::Relaxed)));
                )*
                for (name, help, value) in extra {
                    out.push_str(&format!("# HELP udap_{name} {help}\n# TYPE udap_{name} gauge\nudap_{name} {value}\n"));
                }
                out
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
