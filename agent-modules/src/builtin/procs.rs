//! `processes`: the number of processes, and the top N commands by CPU percent and by
//! resident memory (summed over processes with the same command name, so the keys stay
//! stable across restarts of a process). Parameter `top` (default 5).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::metric::Sample;
use crate::module::{Collection, Module};

/// The processes module.
pub struct Processes {
    top: usize,
    ticks_per_sec: f64,
    page_size: u64,
    last: HashMap<u32, u64>,
    last_at: Option<Instant>,
}

/// One process from /proc/<pid>/stat: command, CPU ticks (user + system), RSS pages.
pub fn parse_pid_stat(text: &str) -> Option<(String, u64, u64)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 2..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14, stime 15, rss 24.
    let n = |field: usize| rest.get(field - 3).and_then(|v| v.parse::<u64>().ok());
    Some((comm, n(14)? + n(15)?, n(24)?))
}

impl Processes {
    /// Reads `top` from the parameters.
    ///
    /// # Errors
    /// `top` is not a number.
    pub fn new(params: &BTreeMap<String, String>) -> Result<Processes> {
        let top = match params.get("top") {
            Some(t) => t
                .parse()
                .map_err(|_| Error::config(format!("processes: top = {t:?} is not a number")))?,
            None => 5,
        };
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        // SAFETY: as above.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        #[allow(clippy::cast_precision_loss, reason = "a clock rate of about 100")]
        let ticks_per_sec = if ticks > 0 { ticks as f64 } else { 100.0 };
        Ok(Processes {
            top,
            ticks_per_sec,
            page_size: u64::try_from(page).unwrap_or(4096),
            last: HashMap::new(),
            last_at: None,
        })
    }
}

fn top_n(map: HashMap<String, f64>, n: usize) -> Vec<(String, f64)> {
    let mut v: Vec<_> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

impl Module for Processes {
    fn name(&self) -> &str {
        "processes"
    }

    fn collect(&mut self) -> Collection {
        let mut out = Collection::default();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            out.errors.push("processes: cannot read /proc".into());
            return out;
        };
        let now = Instant::now();
        let elapsed = self.last_at.map(|t| now.duration_since(t).as_secs_f64());
        let mut ticks_now = HashMap::new();
        let mut cpu: HashMap<String, f64> = HashMap::new();
        let mut mem: HashMap<String, f64> = HashMap::new();
        let mut count = 0u32;
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let Some((comm, ticks, rss)) = parse_pid_stat(&text) else {
                continue;
            };
            count += 1;
            ticks_now.insert(pid, ticks);
            #[allow(clippy::cast_precision_loss, reason = "RSS bytes below 2^53")]
            let rss_bytes = rss.saturating_mul(self.page_size) as f64;
            *mem.entry(comm.clone()).or_default() += rss_bytes;
            if let (Some(dt), Some(prev)) = (elapsed, self.last.get(&pid))
                && dt > 0.0
            {
                #[allow(clippy::cast_precision_loss, reason = "tick deltas are small")]
                let d = ticks.saturating_sub(*prev) as f64;
                *cpu.entry(comm).or_default() += d * 100.0 / self.ticks_per_sec / dt;
            }
        }
        self.last = ticks_now;
        self.last_at = Some(now);
        out.samples
            .push(Sample::gauge("processes", &["count"], f64::from(count)));
        if elapsed.is_some() {
            for (comm, v) in top_n(cpu, self.top) {
                out.samples
                    .push(Sample::gauge("processes", &["top_cpu", &comm], v));
            }
        }
        for (comm, v) in top_n(mem, self.top) {
            out.samples
                .push(Sample::gauge("processes", &["top_memory", &comm], v));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_even_with_odd_names() {
        let line = "42 (my (odd) cmd) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 \
                    100 1000 55 18446744073709551615";
        assert_eq!(parse_pid_stat(line), Some(("my (odd) cmd".into(), 10, 55)));
    }
}
