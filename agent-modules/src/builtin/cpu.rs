//! `cpu`: user, nice, system, idle, iowait and steal percent, for the whole machine and
//! per core, from the change of /proc/stat between two collections.

use crate::metric::Sample;
use crate::module::{Collection, Module};

/// The jiffies of one `cpu` line of /proc/stat: user, nice, system, idle, iowait, irq,
/// softirq, steal (guest time is already inside user and nice).
pub type CpuTimes = [u64; 8];

/// Parses the `cpu` and `cpuN` lines of /proc/stat: `("cpu", ..)`, `("cpu0", ..)`...
pub fn parse_proc_stat(text: &str) -> Vec<(String, CpuTimes)> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("cpu")) {
        let mut it = line.split_whitespace();
        let Some(name) = it.next() else { continue };
        let mut t = [0u64; 8];
        for slot in &mut t {
            *slot = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        }
        out.push((name.to_string(), t));
    }
    out
}

const NAMES: [&str; 6] = ["user", "nice", "system", "idle", "iowait", "steal"];

/// Percentages between two snapshots, per line present in both:
/// `(name, [user, nice, system, idle, iowait, steal])`. irq and softirq count in the
/// total but are not reported. A line whose total did not move is left out.
pub fn cpu_percentages(
    before: &[(String, CpuTimes)],
    after: &[(String, CpuTimes)],
) -> Vec<(String, [f64; 6])> {
    let mut out = Vec::new();
    for (name, a) in after {
        let Some((_, b)) = before.iter().find(|(n, _)| n == name) else {
            continue;
        };
        let d: Vec<u64> = a.iter().zip(b).map(|(x, y)| x.saturating_sub(*y)).collect();
        let total: u64 = d.iter().sum();
        if total == 0 {
            continue;
        }
        #[allow(
            clippy::cast_precision_loss,
            reason = "jiffy deltas between two collections are far below 2^52"
        )]
        let pct = |v: u64| v as f64 * 100.0 / total as f64;
        out.push((
            name.clone(),
            [
                pct(d[0]),
                pct(d[1]),
                pct(d[2]),
                pct(d[3]),
                pct(d[4]),
                pct(d[7]),
            ],
        ));
    }
    out
}

/// The cpu module: keeps the previous snapshot.
pub struct Cpu {
    last: Vec<(String, CpuTimes)>,
}

impl Cpu {
    /// Takes the first snapshot now, so the first collection has a delta.
    pub fn new() -> Cpu {
        let last = super::procfs::read_file("/proc/stat")
            .map(|t| parse_proc_stat(&t))
            .unwrap_or_default();
        Cpu { last }
    }
}

impl Module for Cpu {
    fn name(&self) -> &str {
        "cpu"
    }

    fn collect(&mut self) -> Collection {
        let mut out = Collection::default();
        let now = match super::procfs::read_file("/proc/stat") {
            Ok(t) => parse_proc_stat(&t),
            Err(e) => {
                out.errors.push(format!("cpu: {e}"));
                return out;
            }
        };
        for (name, pcts) in cpu_percentages(&self.last, &now) {
            let core = name.strip_prefix("cpu").filter(|n| !n.is_empty());
            for (metric, v) in NAMES.iter().zip(pcts) {
                let sample = match core {
                    None => Sample::gauge("cpu", &[metric], v),
                    Some(n) => Sample::gauge("cpu", &[&format!("core{n}"), metric], v),
                };
                out.samples.push(sample);
            }
        }
        self.last = now;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_from_two_snapshots() {
        let a = parse_proc_stat("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 0 1 1 1 0 0 0\nintr 5\n");
        let b = parse_proc_stat("cpu  130 0 60 900 60 0 0 0 0 0\ncpu0 1 0 1 1 1 0 0 0\n");
        let p = cpu_percentages(&a, &b);
        assert_eq!(p.len(), 1, "an idle core with no delta is left out");
        assert_eq!(p[0].0, "cpu");
        assert_eq!(
            p[0].1,
            [
                20.0,
                0.0,
                6.666666666666667,
                66.66666666666667,
                6.666666666666667,
                0.0
            ]
        );
    }
}
