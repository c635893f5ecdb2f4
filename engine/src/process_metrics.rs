//! The `process_*` metrics that Prometheus exporters conventionally expose (the names
//! and units of the Go and Python clients), read from `/proc/self` at each render:
//! CPU time, resident and virtual memory, open and allowed file descriptors, and the
//! start time. Nothing is sampled in between, so they cost nothing until scraped.
//!
//! Linux only: where `/proc/self/stat` cannot be read, [`register`] registers nothing.
//! Times in `/proc` are in `USER_HZ` clock ticks, which the kernel fixes at 100 for
//! user space on every architecture (as the Prometheus clients assume too).

use crate::telemetry::Telemetry;

/// Reads one figure from `/proc`; `None` when it cannot.
type Reader = fn() -> Option<f64>;

/// Clock ticks per second in `/proc` (`USER_HZ`).
const TICKS: f64 = 100.0;

/// Registers the `process_*` metrics in `telemetry` (once per process is enough;
/// registering again replaces them). They also land in the tree under
/// `_treestat,process,...`.
pub fn register(telemetry: &Telemetry) {
    if stat_fields().is_none() {
        tracing::debug!("no /proc/self/stat: the process_* metrics are off");
        return;
    }
    let metrics: [(&str, &str, Reader); 5] = [
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            || status_kib("VmRSS:").map(|k| k * 1024.0),
        ),
        (
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            || status_kib("VmSize:").map(|k| k * 1024.0),
        ),
        (
            "process_open_fds",
            "Number of open file descriptors.",
            open_fds,
        ),
        (
            "process_max_fds",
            "Maximum number of open file descriptors.",
            max_fds,
        ),
        (
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            start_time,
        ),
    ];
    for (name, help, read) in metrics {
        telemetry.describe(name, help);
        telemetry.gauge_fn(name, &[], move || read().unwrap_or(f64::NAN));
    }
    telemetry.describe(
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.",
    );
    telemetry.counter_fn("process_cpu_seconds_total", &[], || {
        cpu_seconds().unwrap_or(f64::NAN)
    });
}

/// The fields of `/proc/self/stat` after the command name (which may hold spaces and
/// parentheses): the first one returned is field 3, `state`.
fn stat_fields() -> Option<Vec<String>> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// Field `n` (1-based, as proc(5) numbers them) of `/proc/self/stat`, as a number.
fn stat_field(fields: &[String], n: usize) -> Option<f64> {
    fields.get(n.checked_sub(3)?)?.parse().ok()
}

fn cpu_seconds() -> Option<f64> {
    let f = stat_fields()?;
    // utime (14) and stime (15).
    Some((stat_field(&f, 14)? + stat_field(&f, 15)?) / TICKS)
}

fn start_time() -> Option<f64> {
    let f = stat_fields()?;
    // starttime (22): ticks after boot; boot time from /proc/stat's `btime`.
    let since_boot = stat_field(&f, 22)? / TICKS;
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let btime: f64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(btime + since_boot)
}

/// A `kB` figure of `/proc/self/status` (`VmRSS:`, `VmSize:`).
fn status_kib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn open_fds() -> Option<f64> {
    let n = std::fs::read_dir("/proc/self/fd").ok()?.count();
    // The directory handle read_dir opened is listed too.
    #[allow(clippy::cast_precision_loss)] // descriptors stay far below 2^53
    Some(n.saturating_sub(1) as f64)
}

/// The soft limit on open files, from `/proc/self/limits`.
fn max_fds() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    let soft = line.split_whitespace().next()?;
    if soft == "unlimited" {
        return Some(f64::INFINITY);
    }
    soft.parse().ok()
}

/// Seconds since the epoch now, for tests to bound the start time.
#[cfg(test)]
fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_metrics_have_sane_values() {
        let t = Telemetry::default();
        register(&t);
        let v = |name: &str| t.value(name, &[]).unwrap_or_else(|| panic!("{name}"));
        let rss = v("process_resident_memory_bytes");
        let vsz = v("process_virtual_memory_bytes");
        assert!(rss > 100_000.0 && rss <= vsz, "rss {rss}, vsz {vsz}");
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        let open = v("process_open_fds");
        assert!(open >= 4.0, "stdin, stdout, stderr and the file: {open}");
        drop(file);
        assert!(v("process_max_fds") >= open);
        let start = v("process_start_time_seconds");
        let now = now();
        assert!(
            start > now - 86_400.0 && start <= now + 1.0,
            "started at {start}, now {now}"
        );
        // Burn some CPU: the count can only grow.
        let before = v("process_cpu_seconds_total");
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(v("process_cpu_seconds_total") >= before && before >= 0.0);
        let mut out = String::new();
        t.render_prometheus(&mut out);
        assert!(
            out.contains("# TYPE process_cpu_seconds_total counter\n"),
            "{out}"
        );
        assert!(out.contains("# TYPE process_open_fds gauge\n"), "{out}");
        let paths: Vec<String> = t
            .to_batch()
            .updates()
            .iter()
            .map(|u| u.path().to_string())
            .collect();
        assert!(
            paths
                .iter()
                .any(|p| p == "_treestat,process,resident_memory_bytes"),
            "{paths:?}"
        );
    }
}
