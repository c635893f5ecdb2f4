//! Built-in host modules, read from /proc and /sys directly.
//!
//! Why not `sysinfo`: the agent must stay under 1% of a core and 20 MB at a 1 s
//! interval, and these files are the source `sysinfo` reads anyway; reading them here
//! costs a few small reads per interval, gives exact kernel units (tests compare with
//! /proc byte for byte), and adds no dependency. Only `statvfs` and `getifaddrs` come
//! from libc.

mod cpu;
mod disk;
mod memory;
mod mmstats;
mod net;
mod probe;
mod procfs;
mod procs;
mod system;

use std::collections::BTreeMap;

pub use cpu::{CpuTimes, cpu_percentages, parse_proc_stat};
pub use memory::{memory_samples, parse_meminfo};

use crate::error::{Error, Result};
use crate::module::Module;

/// Every built-in module's name.
pub const NAMES: &[&str] = &[
    "cpu",
    "memory",
    "swap",
    "load",
    "disk",
    "diskio",
    "network",
    "uptime",
    "ip",
    "temperature",
    "processes",
    "nginx",
    "urlprobe",
    "mmstats",
];

/// Builds the built-in module `name` with its `.conf` parameters.
///
/// # Errors
/// No such built-in, or a parameter is invalid (named).
pub fn build(name: &str, params: &BTreeMap<String, String>) -> Result<Box<dyn Module>> {
    Ok(match name {
        "cpu" => Box::new(cpu::Cpu::new()),
        "memory" => Box::new(memory::Memory::new(false)),
        "swap" => Box::new(memory::Memory::new(true)),
        "load" => Box::new(system::Load),
        "uptime" => Box::new(system::Uptime),
        "temperature" => Box::new(system::Temperature),
        "disk" => Box::new(disk::DiskSpace),
        "diskio" => Box::new(disk::DiskIo),
        "network" => Box::new(net::Network),
        "ip" => Box::new(net::IpAddresses::default()),
        "processes" => Box::new(procs::Processes::new(params)?),
        "nginx" => Box::new(probe::Nginx::new(params)?),
        "urlprobe" => Box::new(probe::UrlProbe::new(params)?),
        "mmstats" => Box::new(mmstats::Mmstats::new(params)?),
        _ => return Err(Error::module(format!("no built-in module {name:?}"))),
    })
}
