//! Small helpers shared by the subcommands: percentiles, CPU time from /proc, result files.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `q`-th percentile (0..=100) of sorted microsecond latencies, in milliseconds.
pub fn percentile_ms(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let rank = ((q / 100.0) * sorted_us.len() as f64).ceil() as usize;
    let idx = rank.saturating_sub(1).min(sorted_us.len() - 1);
    f64::from(sorted_us[idx]) / 1000.0
}

/// User + system CPU seconds of a process (Linux `/proc/PID/stat`, USER_HZ = 100), or None.
pub fn cpu_secs(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Runs `f` repeatedly for about `secs` seconds (at least `min_iters` times); returns
/// (iterations, elapsed).
pub fn time_for(secs: f64, min_iters: u64, mut f: impl FnMut()) -> (u64, Duration) {
    let budget = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut n = 0u64;
    loop {
        // Check the clock every few iterations only; the operations measured take microseconds.
        for _ in 0..8 {
            f();
        }
        n += 8;
        let el = start.elapsed();
        if el >= budget && n >= min_iters {
            return (n, el);
        }
    }
}

/// Appends one JSON value as a line.
pub fn append_json(path: &Path, v: &Value) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{v}")?;
    Ok(())
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Machine-wide (idle, total) jiffies from `/proc/stat`, to tell "the server could not use the
/// cores" (idle time left) from "other processes used them" (no idle time).
pub fn machine_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((idle, total))
}
