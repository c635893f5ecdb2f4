//! `network` (bytes, packets and errors per second per interface, from /proc/net/dev)
//! and `ip` (each interface's addresses, sent as a marker when they change).

use std::collections::BTreeMap;
use std::ffi::CStr;

use crate::metric::Sample;
use crate::module::{Collection, Module};

/// The network module.
pub struct Network;

/// Parses /proc/net/dev: `(interface, [rx_bytes, rx_packets, rx_errors, tx_bytes,
/// tx_packets, tx_errors])`.
pub fn parse_net_dev(text: &str) -> Vec<(String, [u64; 6])> {
    let mut out = Vec::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let v: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        if v.len() < 11 {
            continue;
        }
        out.push((
            name.trim().to_string(),
            [v[0], v[1], v[2], v[8], v[9], v[10]],
        ));
    }
    out
}

const KEYS: [&str; 6] = [
    "rx_bytes",
    "rx_packets",
    "rx_errors",
    "tx_bytes",
    "tx_packets",
    "tx_errors",
];

impl Module for Network {
    fn name(&self) -> &str {
        "network"
    }

    fn collect(&mut self) -> Collection {
        let mut out = Collection::default();
        match super::procfs::read_file("/proc/net/dev") {
            Ok(t) => {
                for (iface, vals) in parse_net_dev(&t) {
                    for (k, v) in KEYS.iter().zip(vals) {
                        #[allow(
                            clippy::cast_precision_loss,
                            reason = "interface counters stay below 2^53"
                        )]
                        let v = v as f64;
                        out.samples
                            .push(Sample::counter("network", &[&iface, k], v));
                    }
                }
            }
            Err(e) => out.errors.push(format!("network: {e}")),
        }
        out
    }
}

/// The ip module: remembers what it last sent.
#[derive(Default)]
pub struct IpAddresses {
    last: BTreeMap<String, String>,
}

/// Every interface's addresses (IPv4 and IPv6), space-separated, sorted by interface.
pub fn interface_addresses() -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return BTreeMap::new();
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: cur is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated interface name.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: ifa_addr points to a sockaddr whose family says its real type.
        let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
        let addr = if family == libc::AF_INET {
            // SAFETY: family AF_INET means a sockaddr_in.
            let sin = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in>() };
            std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)).to_string()
        } else if family == libc::AF_INET6 {
            // SAFETY: family AF_INET6 means a sockaddr_in6.
            let sin6 = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in6>() };
            std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr).to_string()
        } else {
            continue;
        };
        out.entry(name).or_default().push(addr);
    }
    // SAFETY: head came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    out.into_iter().map(|(k, v)| (k, v.join(" "))).collect()
}

impl Module for IpAddresses {
    fn name(&self) -> &str {
        "ip"
    }

    fn collect(&mut self) -> Collection {
        let now = interface_addresses();
        let mut out = Collection::default();
        for (iface, addrs) in &now {
            if self.last.get(iface) != Some(addrs) {
                out.samples.push(Sample::text("ip", &[iface], addrs));
            }
        }
        self.last = now;
        out
    }
}
