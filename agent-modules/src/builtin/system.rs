//! `load` (/proc/loadavg), `uptime` (/proc/uptime) and `temperature` (hwmon sensors and
//! thermal zones under /sys, in degrees Celsius; a machine without any sends nothing).

use treestat_model::Action;

use crate::metric::Sample;
use crate::module::{Collection, Module};

fn one_file(name: &str, path: &str, parse: impl Fn(&str) -> Vec<Sample>) -> Collection {
    match super::procfs::read_file(path) {
        Ok(t) => Collection {
            samples: parse(&t),
            errors: Vec::new(),
        },
        Err(e) => Collection {
            samples: Vec::new(),
            errors: vec![format!("{name}: {e}")],
        },
    }
}

/// The load module.
pub struct Load;

impl Module for Load {
    fn name(&self) -> &str {
        "load"
    }

    fn collect(&mut self) -> Collection {
        one_file("load", "/proc/loadavg", |t| {
            let f: Vec<&str> = t.split_whitespace().collect();
            let mut out = Vec::new();
            for (i, key) in ["one", "five", "fifteen"].iter().enumerate() {
                if let Some(v) = f.get(i).and_then(|v| v.parse::<f64>().ok()) {
                    out.push(Sample::gauge("load", &[key], v));
                }
            }
            if let Some((run, total)) = f.get(3).and_then(|v| v.split_once('/'))
                && let (Ok(r), Ok(t)) = (run.parse::<f64>(), total.parse::<f64>())
            {
                out.push(Sample::gauge("load", &["running"], r));
                out.push(Sample::gauge("load", &["threads"], t));
            }
            out
        })
    }
}

/// The uptime module: seconds since boot, with action `last`.
pub struct Uptime;

impl Module for Uptime {
    fn name(&self) -> &str {
        "uptime"
    }

    fn collect(&mut self) -> Collection {
        one_file("uptime", "/proc/uptime", |t| {
            t.split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .map(|v| {
                    let mut s = Sample::gauge("uptime", &["seconds"], v);
                    s.action = Action::Last;
                    vec![s]
                })
                .unwrap_or_default()
        })
    }
}

/// The temperature module.
pub struct Temperature;

fn read_trim(p: &std::path::Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

fn milli(p: &std::path::Path) -> Option<f64> {
    read_trim(p)?.parse::<f64>().ok().map(|v| v / 1000.0)
}

impl Module for Temperature {
    fn name(&self) -> &str {
        "temperature"
    }

    fn collect(&mut self) -> Collection {
        let mut out = Collection::default();
        if let Ok(dir) = std::fs::read_dir("/sys/class/hwmon") {
            for hw in dir.flatten() {
                let hw = hw.path();
                let chip = read_trim(&hw.join("name")).unwrap_or_else(|| "hwmon".into());
                let Ok(files) = std::fs::read_dir(&hw) else {
                    continue;
                };
                for f in files.flatten() {
                    let fname = f.file_name().to_string_lossy().into_owned();
                    let Some(stem) = fname
                        .strip_prefix("temp")
                        .and_then(|s| s.strip_suffix("_input"))
                    else {
                        continue;
                    };
                    let label = read_trim(&hw.join(format!("temp{stem}_label")))
                        .unwrap_or_else(|| format!("temp{stem}"));
                    if let Some(v) = milli(&f.path()) {
                        out.samples
                            .push(Sample::gauge("temperature", &[&chip, &label], v));
                    }
                }
            }
        }
        if let Ok(dir) = std::fs::read_dir("/sys/class/thermal") {
            for z in dir.flatten() {
                let z = z.path();
                let zname = z.file_name().map(|n| n.to_string_lossy().into_owned());
                let Some(zname) = zname.filter(|n| n.starts_with("thermal_zone")) else {
                    continue;
                };
                let kind = read_trim(&z.join("type")).unwrap_or(zname);
                if let Some(v) = milli(&z.join("temp")) {
                    out.samples
                        .push(Sample::gauge("temperature", &["zone", &kind], v));
                }
            }
        }
        out
    }
}
