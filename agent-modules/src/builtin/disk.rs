//! `disk` (space per mounted block device, via statvfs) and `diskio` (bytes and
//! operations per second per disk, from /proc/diskstats).

use std::collections::BTreeSet;
use std::ffi::CString;

use crate::metric::Sample;
use crate::module::{Collection, Module};

/// The disk space module.
pub struct DiskSpace;

/// Mounts of real block devices (and the root file system, whatever its device) from
/// /proc/mounts text: `(device, mount point)`, one per device (the first mount wins),
/// octal escapes (`\040`) decoded.
pub fn real_mounts(text: &str) -> Vec<(String, String)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(dev), Some(mnt)) = (f.next(), f.next()) else {
            continue;
        };
        // Block devices, plus whatever holds `/` (overlay in a container).
        let real = (dev.starts_with('/') && !dev.starts_with("/dev/loop")) || mnt == "/";
        if !real || !seen.insert(dev) {
            continue;
        }
        out.push((dev.to_string(), unescape(mnt)));
    }
    out
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `(total, free for root, available to users)` bytes of the file system at `path`.
pub fn statvfs(path: &str) -> Option<(u64, u64, u64)> {
    let c = CString::new(path).ok()?;
    // SAFETY: zeroed statvfs is a valid out-buffer; c is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let frsize = st.f_frsize;
    Some((
        st.f_blocks.saturating_mul(frsize),
        st.f_bfree.saturating_mul(frsize),
        st.f_bavail.saturating_mul(frsize),
    ))
}

#[allow(
    clippy::cast_precision_loss,
    reason = "byte counts below 2^53 (8 PiB) convert exactly"
)]
fn f(v: u64) -> f64 {
    v as f64
}

impl Module for DiskSpace {
    fn name(&self) -> &str {
        "disk"
    }

    fn collect(&mut self) -> Collection {
        let mut out = Collection::default();
        let text = match super::procfs::read_file("/proc/mounts") {
            Ok(t) => t,
            Err(e) => {
                out.errors.push(format!("disk: {e}"));
                return out;
            }
        };
        for (_, mnt) in real_mounts(&text) {
            let Some((total, free, avail)) = statvfs(&mnt) else {
                continue;
            };
            if total == 0 {
                continue;
            }
            let used = total.saturating_sub(free);
            let m = mnt.as_str();
            out.samples
                .push(Sample::gauge("disk", &[m, "total"], f(total)));
            out.samples
                .push(Sample::gauge("disk", &[m, "used"], f(used)));
            out.samples
                .push(Sample::gauge("disk", &[m, "available"], f(avail)));
            let denom = used + avail;
            if denom > 0 {
                out.samples.push(Sample::gauge(
                    "disk",
                    &[m, "used_percent"],
                    f(used) * 100.0 / f(denom),
                ));
            }
        }
        out
    }
}

/// The disk I/O module.
pub struct DiskIo;

impl Module for DiskIo {
    fn name(&self) -> &str {
        "diskio"
    }

    fn collect(&mut self) -> Collection {
        let mut out = Collection::default();
        let text = match super::procfs::read_file("/proc/diskstats") {
            Ok(t) => t,
            Err(e) => {
                out.errors.push(format!("diskio: {e}"));
                return out;
            }
        };
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 14 {
                continue;
            }
            let dev = f[2];
            if ["loop", "ram", "zram", "fd", "sr"]
                .iter()
                .any(|p| dev.starts_with(p))
            {
                continue;
            }
            let n = |i: usize| f[i].parse::<u64>().unwrap_or(0);
            let (reads, rsect, writes, wsect, io_ms) = (n(3), n(5), n(7), n(9), n(12));
            if reads == 0 && writes == 0 {
                continue;
            }
            let c = |k: &str, v: u64| Sample::counter("diskio", &[dev, k], self::f(v));
            out.samples.push(c("reads", reads));
            out.samples.push(c("writes", writes));
            out.samples.push(c("read_bytes", rsect.saturating_mul(512)));
            out.samples
                .push(c("write_bytes", wsect.saturating_mul(512)));
            out.samples.push(c("busy_ms", io_ms));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_keep_block_devices_once() {
        let m = real_mounts(
            "overlay / overlay rw 0 0\nproc /proc proc rw 0 0\n/dev/sda1 /h ext4 rw 0 0\n/dev/sda1 /x ext4 rw 0 0\n\
             /dev/sdb1 /my\\040disk ext4 rw 0 0\n",
        );
        assert_eq!(
            m,
            vec![
                ("overlay".into(), "/".into()),
                ("/dev/sda1".into(), "/h".into()),
                ("/dev/sdb1".into(), "/my disk".into())
            ]
        );
    }
}
