//! `memory` and `swap`: from /proc/meminfo, in bytes (the kernel's kB times 1024).

use std::collections::BTreeMap;

use crate::metric::Sample;
use crate::module::{Collection, Module};

/// Parses /proc/meminfo into bytes per field (`MemTotal` -> bytes).
pub fn parse_meminfo(text: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((k, rest)) = line.split_once(':') else {
            continue;
        };
        let mut it = rest.split_whitespace();
        let Some(Ok(n)) = it.next().map(str::parse::<u64>) else {
            continue;
        };
        let factor = if it.next() == Some("kB") { 1024 } else { 1 };
        out.insert(k.to_string(), n.saturating_mul(factor));
    }
    out
}

/// The memory module (`swap == false`) or the swap module.
pub struct Memory {
    swap: bool,
}

impl Memory {
    /// The memory module, or the swap module.
    pub fn new(swap: bool) -> Memory {
        Memory { swap }
    }
}

/// The samples for one meminfo reading (public for the tests).
pub fn memory_samples(m: &BTreeMap<String, u64>, swap: bool) -> Vec<Sample> {
    let get = |k: &str| m.get(k).copied().unwrap_or(0);
    #[allow(
        clippy::cast_precision_loss,
        reason = "byte counts below 2^53 (8 PiB) convert exactly"
    )]
    let f = |v: u64| v as f64;
    if swap {
        let (total, free) = (get("SwapTotal"), get("SwapFree"));
        return vec![
            Sample::gauge("swap", &["total"], f(total)),
            Sample::gauge("swap", &["free"], f(free)),
            Sample::gauge("swap", &["used"], f(total.saturating_sub(free))),
        ];
    }
    let total = get("MemTotal");
    let available = get("MemAvailable");
    vec![
        Sample::gauge("memory", &["total"], f(total)),
        Sample::gauge("memory", &["free"], f(get("MemFree"))),
        Sample::gauge("memory", &["available"], f(available)),
        Sample::gauge("memory", &["buffers"], f(get("Buffers"))),
        Sample::gauge("memory", &["cached"], f(get("Cached"))),
        Sample::gauge("memory", &["shared"], f(get("Shmem"))),
        Sample::gauge("memory", &["used"], f(total.saturating_sub(available))),
    ]
}

impl Module for Memory {
    fn name(&self) -> &str {
        if self.swap { "swap" } else { "memory" }
    }

    fn collect(&mut self) -> Collection {
        match super::procfs::read_file("/proc/meminfo") {
            Ok(t) => Collection {
                samples: memory_samples(&parse_meminfo(&t), self.swap),
                errors: Vec::new(),
            },
            Err(e) => Collection {
                samples: Vec::new(),
                errors: vec![format!("{}: {e}", self.name())],
            },
        }
    }
}
