//! `treestat report`: a GoAccess-style report of access logs, as one self-contained HTML
//! file or as JSON (docs/REPORT.md).
//!
//! The lines go through the same format splitter and pipes as `treestat tail`: a
//! pipeline per input file, each on its own thread (up to the cores there are), with
//! the `ua` pipe (or the `--pipes` given) filling an in-process tree for the browser,
//! OS and geo panels, and the [`collect::ReportPipe`] summing the rest. The files'
//! sums are merged, turned into JSON ([`model`]) and written as such or inside the
//! page ([`html`]).
//!
//! Memory is bounded whatever the log: per-key tables hold at most twice the rows they
//! show ([`table`]), distinct counts switch from exact sets to HyperLogLog
//! ([`distinct`]), response times go into a DDSketch.

pub mod collect;
pub mod distinct;
pub mod html;
pub mod model;
pub mod table;
pub mod time;

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use parking_lot::Mutex;
use serde_json::Value;
use treestat_engine::Engine;
use treestat_engine::stop::CancellationToken;
use treestat_pipes::api::Pipe;
use treestat_pipes::builtin::ua::UaPipe;
use treestat_pipes::format::Format;
use treestat_pipes::tail::{self, RunOptions};
use treestat_pipes::{Pipeline, PipelineConfig};

use collect::{Caps, Collector, ReportPipe};
use model::Meta;

/// What `treestat report` was asked to do.
#[derive(Debug, Clone)]
pub struct ReportCommand {
    /// The logs (`-` is standard input; `.gz` files are decompressed).
    pub files: Vec<PathBuf>,
    /// A preset name, an nginx `log_format` string, or `regex:...`.
    pub format: String,
    /// Pipes whose trees feed the browser, OS and geo panels; empty: `ua` when the
    /// format has `$http_user_agent`.
    pub pipes: String,
    /// Where to write; `.json` writes JSON, anything else HTML.
    pub output: PathBuf,
    /// Write JSON whatever the extension.
    pub json: bool,
    /// Rows shown per table.
    pub rows: usize,
}

/// Builds a pipeline (the configured pipes, or `ua` by default) ending in a report
/// collector, and returns both.
///
/// # Errors
/// A bad format or pipe list.
pub fn pipeline(
    name: &str,
    format: &str,
    pipes: &str,
    caps: Caps,
) -> anyhow::Result<(Pipeline, Arc<Mutex<Collector>>)> {
    let report = ReportPipe::new(caps);
    let handle = report.handle();
    let p = if pipes.trim().is_empty() {
        let fmt = Format::new(format)?;
        let mut list: Vec<Box<dyn Pipe>> = Vec::new();
        if fmt.schema().index("http_user_agent").is_some() {
            list.push(Box::<UaPipe>::default());
        }
        list.push(Box::new(report));
        Pipeline::new(name, fmt, list, PipelineConfig::default().max_paths)?
    } else {
        let cfg = PipelineConfig::from_cli(name, format, pipes)?;
        Pipeline::from_config_with(&cfg, vec![Box::new(report)])?
    };
    Ok((p, handle))
}

/// Opens an input: standard input, a gzip stream, or a plain file.
fn open(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    match tail::open_stream(path)? {
        Some(s) => Ok(s),
        None => Ok(Box::new(File::open(path)?)),
    }
}

/// Lines that did not parse, from the pipelines' own counters in the tree.
pub fn failed_lines(engine: &Engine, source: &str) -> u64 {
    let path = format!("_treestat,pipes,{source},bad_lines");
    let v = engine
        .query(&path)
        .ok()
        .and_then(|rows| rows.into_iter().find(|(p, _)| *p == path).map(|r| r.1))
        .unwrap_or(0.0);
    // A counter of lines: integral and non-negative.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = v.max(0.0).round() as u64;
    n
}

fn now_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn file_size(path: &Path) -> u64 {
    if path.as_os_str() == "-" {
        return 0;
    }
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Reads every file (in parallel, one pipeline each) and returns the merged sums, the
/// tree of the pipes, and the unparsed line count.
fn read_all(
    cmd: &ReportCommand,
    stop: &CancellationToken,
) -> anyhow::Result<(Collector, Engine, u64)> {
    let caps = Caps {
        keys: cmd.rows,
        ..Caps::default()
    };
    // Fail on a bad format or pipe before any thread starts.
    drop(pipeline("report", &cmd.format, &cmd.pipes, caps)?);
    let engine = Engine::default();
    let queue: Mutex<VecDeque<&PathBuf>> = Mutex::new(cmd.files.iter().collect());
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(cmd.files.len())
        .max(1);
    let results: Vec<anyhow::Result<Collector>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| -> anyhow::Result<Collector> {
                    let mut total = Collector::new(caps);
                    while let Some(path) = queue.lock().pop_front() {
                        let name = path.display().to_string();
                        let input = open(path).with_context(|| format!("reading {name}"))?;
                        let (mut p, handle) = pipeline("report", &cmd.format, &cmd.pipes, caps)?;
                        let run = RunOptions {
                            flush_every: std::time::Duration::from_secs(3600),
                            once: true,
                            ..RunOptions::default()
                        };
                        let mut sink = tail::engine_sink(&engine);
                        let (_, failed) =
                            tail::run_stream(&name, input, &mut p, &run, stop, &mut sink)?;
                        if let Some(e) = failed {
                            anyhow::bail!("{name}: input broke off: {e}");
                        }
                        p.cleanup();
                        total.merge(&handle.lock());
                    }
                    Ok(total)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a report thread panicked")))
            })
            .collect()
    });
    let mut all = Collector::new(caps);
    for r in results {
        all.merge(&r?);
    }
    let failed = failed_lines(&engine, "report");
    Ok((all, engine, failed))
}

/// Writes the report to `out`: JSON when `json`, else the HTML page. Returns the bytes
/// written.
///
/// # Errors
/// The file cannot be written.
pub fn write(report: &Value, out: &Path, json: bool) -> anyhow::Result<u64> {
    let text = if json {
        let mut s = serde_json::to_string_pretty(report)?;
        s.push('\n');
        s
    } else {
        html::render(report)
    };
    let mut f = File::create(out).with_context(|| format!("writing {}", out.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.flush())
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(text.len() as u64)
}

/// True when `out` asks for JSON by its extension.
pub fn wants_json(out: &Path) -> bool {
    out.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// The one-line summary printed after writing.
pub fn summary(report: &Value, out: &Path, size: u64) -> String {
    let g = &report["general"];
    format!(
        "{}: {} requests ({} failed), {} unique visitors, {} unique URLs, {} to {}; \
         {} bytes written, made in {} ms",
        out.display(),
        g["requests"],
        g["failed"],
        g["unique_visitors"],
        g["unique_urls"],
        g["first"].as_str().unwrap_or("-"),
        g["last"].as_str().unwrap_or("-"),
        size,
        g["generation_ms"],
    )
}

/// Runs `treestat report`: reads, writes the report, prints the summary line.
///
/// # Errors
/// A bad format or pipe list, unreadable files, a broken stream, an unwritable output.
pub fn run_report(cmd: &ReportCommand, stop: &CancellationToken) -> anyhow::Result<()> {
    let start = Instant::now();
    let (collector, engine, failed) = read_all(cmd, stop)?;
    let meta = Meta {
        format: cmd.format.clone(),
        files: cmd
            .files
            .iter()
            .map(|f| (f.display().to_string(), file_size(f)))
            .collect(),
        failed,
        generated_at: now_epoch(),
        generation_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
        cap: cmd.rows,
    };
    let report = model::build(&collector, &engine, &meta);
    let size = write(&report, &cmd.output, cmd.json || wants_json(&cmd.output))?;
    eprintln!("{}", summary(&report, &cmd.output, size));
    Ok(())
}

/// The report of a `treestat tail --once --report FILE` run: its pipeline's collector
/// and tree. Returns the summary line.
///
/// # Errors
/// The output cannot be written.
pub fn write_tail_report(
    collector: &Collector,
    engine: &Engine,
    files: &[PathBuf],
    format: &str,
    started: Instant,
    out: &Path,
) -> anyhow::Result<String> {
    let meta = Meta {
        format: format.to_string(),
        files: files
            .iter()
            .map(|f| (f.display().to_string(), file_size(f)))
            .collect(),
        failed: failed_lines(engine, "tail"),
        generated_at: now_epoch(),
        generation_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        cap: Caps::default().keys,
    };
    let report = model::build(collector, engine, &meta);
    let size = write(&report, out, wants_json(out))?;
    Ok(summary(&report, out, size))
}
