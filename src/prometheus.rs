//! Prometheus text-format primitives (issue 10 item 6): a lock-free latency histogram, label
//! escaping, and a checker for the exposition format used by the tests.
//!
//! No metrics framework: a few fixed families do not need one, and fixed arrays of atomics keep
//! the request path free of locks and allocations. Every label set is fixed at compile time or
//! comes from administrators (community URIs), never from a request.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bucket upper bounds in seconds: 0.5 ms (a cached JWKS answer) to 5 s (an outbound fetch's
/// timeout); slower observations land in `+Inf`.
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The same bounds in nanoseconds, for comparing without floating point on the hot path.
const BOUNDS_NANOS: [u64; 13] = [
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
];

const SLOTS: usize = LATENCY_BUCKETS.len() + 1;

/// A latency histogram over [`LATENCY_BUCKETS`]. Each observation is three relaxed atomic adds.
/// Buckets are stored per range (not cumulative) and summed when rendered.
pub struct Histogram {
    /// Observations per range; the last slot is above the largest bound.
    slots: [AtomicU64; SLOTS],
    sum_nanos: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub const fn new() -> Self {
        Histogram {
            slots: [const { AtomicU64::new(0) }; SLOTS],
            sum_nanos: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let slot = BOUNDS_NANOS
            .iter()
            .position(|bound| nanos <= *bound)
            .unwrap_or(SLOTS - 1);
        self.slots[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.slots.iter().map(|s| s.load(Ordering::Relaxed)).sum()
    }

    /// Writes `NAME_bucket{LABELS,le=..}` (cumulative), `NAME_sum{LABELS}` and `NAME_count{LABELS}`.
    /// `labels` is `key="value"` text already escaped, or empty. `_count` is the `+Inf` bucket, so
    /// the two agree even while other threads observe.
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0u64;
        for (slot, bound) in self.slots.iter().zip(LATENCY_BUCKETS.iter()) {
            cumulative += slot.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += self.slots[SLOTS - 1].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}"
        );
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let braced = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braced} {sum}");
        let _ = writeln!(out, "{name}_count{braced} {cumulative}");
    }
}

/// Writes the `# HELP` and `# TYPE` lines of a family.
pub fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value escaped per the text format: backslash, double quote and line feed.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Checks that every line of `text` is a valid exposition line (text format 0.0.4): a comment
/// (`# HELP name text`, `# TYPE name counter|gauge|histogram|summary|untyped`, or another `#`
/// line), or `name{label="value",...} number`. Returns the first bad line and why. For tests.
#[doc(hidden)]
pub fn check_exposition(text: &str) -> Result<(), String> {
    for (n, line) in text.lines().enumerate() {
        check_line(line).map_err(|why| format!("line {}: {why}: {line:?}", n + 1))?;
    }
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the text does not end with a line feed".into());
    }
    Ok(())
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    is_name(name) && !name.contains(':')
}

fn check_line(line: &str) -> Result<(), String> {
    if line.is_empty() {
        return Ok(());
    }
    if let Some(comment) = line.strip_prefix('#') {
        let mut parts = comment.trim_start().splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("HELP"), Some(name), _) if is_name(name) => return Ok(()),
            (Some("TYPE"), Some(name), Some(kind)) if is_name(name) => {
                return match kind {
                    "counter" | "gauge" | "histogram" | "summary" | "untyped" => Ok(()),
                    _ => Err(format!("unknown type {kind}")),
                }
            }
            (Some("HELP" | "TYPE"), _, _) => return Err("malformed HELP/TYPE".into()),
            _ => return Ok(()),
        }
    }
    let name_end = line
        .find(['{', ' '])
        .ok_or_else(|| "no value".to_string())?;
    let name = &line[..name_end];
    if !is_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    if let Some(labels) = rest.strip_prefix('{') {
        rest = check_labels(labels)?;
    }
    let rest = rest
        .strip_prefix(' ')
        .ok_or_else(|| "no space before the value".to_string())?;
    let mut fields = rest.split(' ');
    let value = fields.next().unwrap_or_default();
    let numeric = matches!(value, "+Inf" | "-Inf" | "NaN") || value.parse::<f64>().is_ok();
    if !numeric {
        return Err(format!("bad value {value:?}"));
    }
    match (fields.next(), fields.next()) {
        (None, _) => Ok(()),
        (Some(ts), None) if ts.parse::<i64>().is_ok() => Ok(()),
        _ => Err("junk after the value".into()),
    }
}

/// Checks `name="value",...}` and returns what follows the closing brace.
fn check_labels(mut s: &str) -> Result<&str, String> {
    loop {
        if let Some(rest) = s.strip_prefix('}') {
            return Ok(rest);
        }
        let eq = s.find('=').ok_or_else(|| "label without =".to_string())?;
        if !is_label_name(&s[..eq]) {
            return Err(format!("bad label name {:?}", &s[..eq]));
        }
        s = s[eq + 1..]
            .strip_prefix('"')
            .ok_or_else(|| "label value not quoted".to_string())?;
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value".into()),
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\' | '"' | 'n')) => {}
                    _ => return Err("bad escape in a label value".into()),
                },
                Some((_, '\n')) => return Err("raw line feed in a label value".into()),
                Some((i, '"')) => break i,
                Some(_) => {}
            }
        };
        s = &s[end + 1..];
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err("labels not separated by commas".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_agree() {
        for (secs, nanos) in LATENCY_BUCKETS.iter().zip(BOUNDS_NANOS) {
            assert_eq!((secs * 1e9).round() as u64, nanos);
        }
    }

    /// Issue 10 item 6: buckets are cumulative, `le` bounds inclusive, `_count` is the `+Inf`
    /// bucket and `_sum` the total in seconds.
    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new();
        for micros in [100, 500, 501, 3_000, 7_000_000] {
            h.observe(Duration::from_micros(micros));
        }
        let mut out = String::new();
        h.render(&mut out, "x_seconds", "endpoint=\"/token\"");
        check_exposition(&out).unwrap();
        let value = |le: &str| -> u64 {
            let prefix = format!("x_seconds_bucket{{endpoint=\"/token\",le=\"{le}\"}} ");
            out.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .unwrap_or_else(|| panic!("no bucket {le} in {out}"))
                .parse()
                .unwrap()
        };
        assert_eq!(value("0.0005"), 2, "0.1 ms and exactly 0.5 ms");
        assert_eq!(value("0.001"), 3);
        assert_eq!(value("0.0025"), 3);
        assert_eq!(value("0.005"), 4);
        assert_eq!(value("5"), 4);
        assert_eq!(value("+Inf"), 5);
        let mut previous = 0;
        for line in out.lines().filter(|l| l.contains("_bucket")) {
            let v: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
            assert!(v >= previous, "not cumulative: {out}");
            previous = v;
        }
        assert!(out.contains("x_seconds_count{endpoint=\"/token\"} 5\n"));
        assert!(out.contains("x_seconds_sum{endpoint=\"/token\"} 7.004101\n"));
        assert_eq!(h.count(), 5);
    }

    #[test]
    fn label_values_are_escaped() {
        let rows = [
            ("urn:example:community", "urn:example:community"),
            (r#"a"b"#, r#"a\"b"#),
            (r"a\b", r"a\\b"),
            ("a\nb", r"a\nb"),
            ("a\\\"\n", r#"a\\\"\n"#),
        ];
        for (raw, want) in rows {
            assert_eq!(escape_label(raw), want, "{raw:?}");
            let line = format!("m{{community=\"{}\"}} 1\n", escape_label(raw));
            check_exposition(&line).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
        }
    }

    #[test]
    fn the_checker_refuses_what_is_not_exposition_text() {
        let good = "# HELP a_total Things.\n# TYPE a_total counter\na_total 3\nb{x=\"1\",y=\"\\\"\"} 0.5\nc +Inf\n";
        check_exposition(good).unwrap();
        for bad in [
            "a_total\n",
            "a_total three\n",
            "9a 1\n",
            "a{x=1} 1\n",
            "a{x=\"1\" 1\n",
            "a{x=\"\\q\"} 1\n",
            "a{x=\"1\"y=\"2\"} 1\n",
            "# TYPE a nonsense\n",
            "a 1 2 3\n",
            "a 1",
        ] {
            assert!(check_exposition(bad).is_err(), "{bad:?} accepted");
        }
    }
}
