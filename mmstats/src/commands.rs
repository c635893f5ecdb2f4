//! The functions behind `treestat mmstats slurp | poll | clean`, which do what the
//! original's slurpstats, pollstats and cleanstats do. Each writes to the writers it is
//! given (stdout and stderr in the CLI, buffers in tests) and returns what it did.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::format::Value;
use crate::reader::{StatsFile, read_file};
use crate::writer::default_dir;

/// Files named `mmstats-*` in `dir`, sorted.
fn stats_files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("mmstats-"))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

/// The `mmstats-*` files in `$MMSTATS_PATH` (or the temp dir), sorted.
pub fn default_files() -> Vec<PathBuf> {
    stats_files_in(&default_dir())
}

/// The command line's FILES: each directory becomes the `mmstats-*` files in it, other
/// paths stay as given (duplicates dropped); no arguments means [`default_files`].
pub fn expand_files(args: &[PathBuf]) -> Vec<PathBuf> {
    if args.is_empty() {
        return default_files();
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for a in args {
        let found = if a.is_dir() {
            stats_files_in(a)
        } else {
            vec![a.clone()]
        };
        for f in found {
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    out
}

/// What [`slurp`] did.
#[derive(Debug, Default)]
pub struct SlurpReport {
    /// Files printed.
    pub read: usize,
    /// Files that could not be read, with the reason.
    pub failed: Vec<(PathBuf, String)>,
}

/// Prints every field of every file, as slurpstats does:
/// `==> PATH`, then one `  label  value` line per field (labels padded), then a blank
/// line. A file that cannot be read is reported on `err` and skipped.
///
/// # Errors
/// Only when writing to `out` or `err` fails.
pub fn slurp(
    files: &[PathBuf],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<SlurpReport> {
    let mut report = SlurpReport::default();
    for path in files {
        match read_file(path) {
            Ok(fields) => {
                writeln!(out, "==> {}", path.display())?;
                let width = fields
                    .iter()
                    .map(|f| f.label.chars().count())
                    .max()
                    .unwrap_or(0);
                for f in &fields {
                    writeln!(out, "  {:<width$} {}", f.label, f.value)?;
                }
                writeln!(out)?;
                report.read += 1;
            }
            Err(e) => {
                writeln!(err, "Error reading: {}: {e}", path.display())?;
                report.failed.push((path.clone(), e.to_string()));
            }
        }
    }
    Ok(report)
}

/// A column's sum: exact for integers, floating once any file holds a float.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    fn of(v: &Value) -> Option<Num> {
        match v {
            Value::U64(x) => Some(Num::Int(i128::from(*x))),
            Value::I64(x) => Some(Num::Int(i128::from(*x))),
            Value::F64(x) => Some(Num::Float(*x)),
            Value::Bool(b) => Some(Num::Int(i128::from(*b))),
            Value::Str(_) => None,
        }
    }

    fn float(self) -> f64 {
        match self {
            #[allow(
                clippy::cast_precision_loss,
                reason = "mixing with floats is already inexact"
            )]
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    fn add(self, o: Num) -> Num {
        match (self, o) {
            (Num::Int(a), Num::Int(b)) => Num::Int(a.saturating_add(b)),
            (a, b) => Num::Float(a.float() + b.float()),
        }
    }

    fn sub(self, o: Num) -> Num {
        match (self, o) {
            (Num::Int(a), Num::Int(b)) => Num::Int(a.saturating_sub(b)),
            (a, b) => Num::Float(a.float() - b.float()),
        }
    }
}

/// Width of a `poll` column.
const COLUMN: usize = 20;
/// `poll` repeats its header after this many lines.
const HEADER_EVERY: u64 = 20;

/// A vmstat-like view, as pollstats: one line per tick with, for each field, the change
/// of its value summed over all files since the previous tick (the first line shows the
/// totals). `fields` are label names after `prefix` (each entry may hold several,
/// comma-separated). Files that cannot be read, or that hold none of the fields, are
/// reported on `err` and left out; a file that stops being readable keeps its last
/// values. `ticks` = `None` polls until the process ends. Sleeps `interval` between
/// ticks. No fields at all is reported on `err` and polls nothing.
///
/// # Errors
/// Only when writing to `out` or `err` fails.
pub fn poll(
    prefix: &str,
    fields: &[String],
    files: &[PathBuf],
    ticks: Option<u64>,
    interval: Duration,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<()> {
    let names: Vec<String> = fields
        .iter()
        .flat_map(|f| f.split(','))
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    if names.is_empty() {
        writeln!(
            err,
            "No fields to poll: give a comma-separated list of labels"
        )?;
        return Ok(());
    }
    let labels: Vec<String> = names.iter().map(|n| format!("{prefix}{n}")).collect();

    let mut open: Vec<(StatsFile, HashMap<String, Num>)> = Vec::new();
    for path in files {
        let file = match StatsFile::open(path) {
            Ok(f) => f,
            Err(e) => {
                writeln!(err, "Skipping {}: {e}", path.display())?;
                continue;
            }
        };
        match file.read() {
            Ok(read)
                if read
                    .iter()
                    .any(|f| labels.iter().any(|l| f.label.starts_with(l.as_str()))) =>
            {
                open.push((file, HashMap::new()));
            }
            Ok(_) => writeln!(err, "Skipping {}: none of the fields", path.display())?,
            Err(e) => writeln!(err, "Skipping {}: {e}", path.display())?,
        }
    }
    if open.is_empty() {
        writeln!(err, "No file holds any of the fields {}", labels.join(","))?;
    }

    let header = names
        .iter()
        .map(|n| {
            let n: String = n.chars().take(COLUMN).collect();
            format!("{n:^COLUMN$}")
        })
        .collect::<Vec<_>>()
        .join("|");
    let mut last: Vec<Num> = vec![Num::Int(0); labels.len()];
    let mut tick = 0u64;
    while ticks.is_none_or(|t| tick < t) {
        if tick > 0 {
            std::thread::sleep(interval);
        }
        if tick.is_multiple_of(HEADER_EVERY) {
            writeln!(out, "{header}")?;
        }
        let mut sums = vec![Num::Int(0); labels.len()];
        for (file, values) in &mut open {
            if let Ok(read) = file.read() {
                for f in read {
                    if let (true, Some(n)) = (labels.contains(&f.label), Num::of(&f.value)) {
                        values.insert(f.label, n);
                    }
                }
            }
            for (sum, label) in sums.iter_mut().zip(&labels) {
                if let Some(v) = values.get(label) {
                    *sum = sum.add(*v);
                }
            }
        }
        let line = sums
            .iter()
            .zip(&last)
            .map(|(now, before)| match now.sub(*before) {
                Num::Int(d) => format!("{d:>w$} ", w = COLUMN - 1),
                Num::Float(d) => format!("{d:>w$.3} ", w = COLUMN - 1),
            })
            .collect::<Vec<_>>()
            .join("|");
        writeln!(out, "{line}")?;
        out.flush()?;
        last = sums;
        tick += 1;
    }
    Ok(())
}

/// What [`clean`] did.
#[derive(Debug, Default)]
pub struct CleanReport {
    /// Files of processes that are gone, removed.
    pub removed: Vec<PathBuf>,
    /// Files of live processes, kept.
    pub kept: Vec<PathBuf>,
    /// Files left alone for another reason (unreadable, no `sys.pid`, not removable).
    pub skipped: Vec<(PathBuf, String)>,
}

fn skip_file(
    report: &mut CleanReport,
    path: &Path,
    why: String,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "Skipping {}: {why}", path.display())?;
    report.skipped.push((path.to_owned(), why));
    Ok(())
}

/// Whether a process with this pid exists (it has a `/proc` entry).
fn alive(pid: u64) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes the files whose `sys.pid` process is gone and keeps those of live processes,
/// as cleanstats does; the pid is the value of the last label ending in `sys.pid`.
/// Directories and files that are unreadable or have no usable `sys.pid` are skipped
/// with the reason. Prints one line per file and a summary to `out`.
///
/// A pid reused by an unrelated process keeps its stale file (the safe side).
///
/// # Errors
/// Only when writing to `out` fails.
pub fn clean(files: &[PathBuf], out: &mut dyn Write) -> io::Result<CleanReport> {
    let mut report = CleanReport::default();
    for path in files {
        if path.is_dir() {
            skip_file(&mut report, path, "a directory".into(), out)?;
            continue;
        }
        let fields = match read_file(path) {
            Ok(f) => f,
            Err(e) => {
                skip_file(&mut report, path, format!("invalid file: {e}"), out)?;
                continue;
            }
        };
        let pid = fields
            .iter()
            .rev()
            .find(|f| f.label.ends_with("sys.pid"))
            .map(|f| &f.value);
        let pid = match pid {
            Some(Value::U64(p)) if *p > 0 => *p,
            Some(Value::I64(p)) if *p > 0 => p.unsigned_abs(),
            Some(v) => {
                skip_file(
                    &mut report,
                    path,
                    format!("sys.pid holds {v}, not a pid"),
                    out,
                )?;
                continue;
            }
            None => {
                skip_file(&mut report, path, "no sys.pid field".into(), out)?;
                continue;
            }
        };
        if alive(pid) {
            writeln!(out, "Keeping {}: pid {pid} is alive", path.display())?;
            report.kept.push(path.clone());
            continue;
        }
        match fs::remove_file(path) {
            Ok(()) => {
                writeln!(out, "PID {pid} not found. Deleted {}", path.display())?;
                report.removed.push(path.clone());
            }
            Err(e) => {
                skip_file(&mut report, path, format!("could not remove: {e}"), out)?;
            }
        }
    }
    writeln!(
        out,
        "Removed {}  -  {} alive",
        report.removed.len(),
        report.kept.len()
    )?;
    Ok(report)
}
