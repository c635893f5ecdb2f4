//! Access logs in the server and the CLI: the `[accesslog]` pipelines behind `POST
//! /push` (form `accesslog`, `text/plain` bodies) and `PUT /raw`, the `[[tail]]`
//! sources with their checkpoints in the trend store, and the `treestat tail` command.

use std::collections::HashMap;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use parking_lot::Mutex;
use serde::Deserialize;
use tracing::warn;
use treestat_engine::Engine;
use treestat_engine::stop::CancellationToken;
use treestat_engine::telemetry::Telemetry;
use treestat_engine::trend::TrendStore;
use treestat_pipes::tail::{self, Checkpoint, CheckpointStore, RunOptions, TailOptions, Tailer};
use treestat_pipes::{PipeTrouble, Pipeline, PipelineConfig, Troubles};
use treestat_web::{LogSink, LogSummary};

/// One `[[tail]]` entry: files to follow and the pipeline their lines go through.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailConfig {
    /// The files to follow (rotation by rename or copytruncate is followed); relative
    /// paths are taken from the configuration file's folder.
    pub paths: Vec<PathBuf>,
    /// Read files the checkpoints do not know from their start (default: only new
    /// lines, as `tail -f` does).
    #[serde(default)]
    pub from_start: bool,
    /// Format and pipes (`[tail.pipeline]`: `name`, `format`, `pipes`, `max_paths`; see
    /// docs/PIPES.md). Its `name` keys the checkpoints and the `_treestat` counters.
    #[serde(default)]
    pub pipeline: PipelineConfig,
}

/// The pipelines behind the HTTP log endpoints: one per source (`push`, `raw`,
/// `tornado`), each built from the `[accesslog]` configuration, each flushed into the
/// engine after every request so a request's lines are in the tree when it is answered.
pub struct HttpLogs {
    engine: Engine,
    pipelines: HashMap<&'static str, Mutex<Pipeline>>,
    troubles: Troubles,
}

impl HttpLogs {
    /// Builds a pipeline per source; their pipes' events are counted in `telemetry`
    /// (`treestat_pipe_events_total`).
    ///
    /// # Errors
    /// The `[accesslog]` configuration does not build (unknown format or pipe, a plugin
    /// that does not load); the message names it.
    pub fn new(
        engine: Engine,
        cfg: &PipelineConfig,
        telemetry: &Telemetry,
    ) -> anyhow::Result<HttpLogs> {
        let mut pipelines = HashMap::new();
        let troubles = Troubles::default();
        for source in ["push", "raw", "tornado"] {
            let mut c = cfg.clone();
            c.name = format!("{}-{source}", cfg.name);
            let p = Pipeline::from_config(&c)
                .with_context(|| format!("[accesslog] ({source})"))?
                .with_troubles(troubles.clone())
                .with_telemetry(telemetry);
            pipelines.insert(source, Mutex::new(p));
        }
        Ok(HttpLogs {
            engine,
            pipelines,
            troubles,
        })
    }

    /// The pipes that are not working now, for health reports: taken out for good (a
    /// Python pipe over its budget) or down and restarting (an isolated pipe's child
    /// that crashed). Cheap, and never waits for a pipeline at work: use it from
    /// `/health`.
    pub fn troubles(&self) -> Vec<PipeTrouble> {
        self.troubles.list()
    }

    /// The handle [`HttpLogs::troubles`] reads, to keep after the logs are handed to
    /// the web state.
    pub fn troubles_handle(&self) -> Troubles {
        self.troubles.clone()
    }
}

impl LogSink for HttpLogs {
    fn lines(&self, source: &str, lines: &[&str]) -> Result<LogSummary, String> {
        let pipeline = self
            .pipelines
            .get(source)
            .or_else(|| self.pipelines.get("push"))
            .ok_or_else(|| "no access-log pipeline".to_string())?;
        let mut p = pipeline.lock();
        let (lines_before, bad_before) = p.counts();
        for line in lines {
            p.feed_line(line);
        }
        let (lines_after, bad_after) = p.counts();
        let summary = p.flush(&self.engine).map_err(|e| e.to_string())?;
        // The pipeline counts parsed lines and bad lines apart.
        let bad_lines = bad_after - bad_before;
        Ok(LogSummary {
            lines: lines_after - lines_before + bad_lines,
            bad_lines,
            samples: summary.samples as u64,
        })
    }
}

/// The log sink of a server whose `[accesslog]` pipeline did not build: every batch is
/// refused with the cause, so clients learn why instead of losing lines silently.
#[derive(Debug)]
pub struct BrokenLogs(pub String);

impl LogSink for BrokenLogs {
    fn lines(&self, _source: &str, _lines: &[&str]) -> Result<LogSummary, String> {
        Err(format!("the access-log pipes did not load: {}", self.0))
    }
}

/// Tail checkpoints in the trend store's key-value space, so a restarted server
/// resumes after the last line it flushed.
pub struct StoreCheckpoints {
    store: TrendStore,
    prefix: String,
}

impl StoreCheckpoints {
    /// Checkpoints of the `[[tail]]` source named `name`.
    pub fn new(store: TrendStore, name: &str) -> StoreCheckpoints {
        StoreCheckpoints {
            store,
            prefix: format!("tail/{name}/"),
        }
    }
}

impl CheckpointStore for StoreCheckpoints {
    fn load(&self, key: &str) -> io::Result<Option<Checkpoint>> {
        let bytes = self
            .store
            .meta_get(&format!("{}{key}", self.prefix))
            .map_err(io::Error::other)?;
        bytes
            .map(|b| serde_json::from_slice(&b).map_err(io::Error::other))
            .transpose()
    }

    fn save(&mut self, entries: &[(String, Checkpoint)]) -> io::Result<()> {
        for (key, cp) in entries {
            let bytes = serde_json::to_vec(cp).map_err(io::Error::other)?;
            self.store
                .meta_put(&format!("{}{key}", self.prefix), &bytes)
                .map_err(io::Error::other)?;
        }
        Ok(())
    }
}

/// Checkpoints kept only for the life of the process (`treestat tail` without
/// `--checkpoints`: a replay reads its files again next time).
#[derive(Default)]
struct MemoryCheckpoints(HashMap<String, Checkpoint>);

impl CheckpointStore for MemoryCheckpoints {
    fn load(&self, key: &str) -> io::Result<Option<Checkpoint>> {
        Ok(self.0.get(key).copied())
    }
    fn save(&mut self, entries: &[(String, Checkpoint)]) -> io::Result<()> {
        self.0.extend(entries.iter().cloned());
        Ok(())
    }
}

/// A running `[[tail]]` source: its thread, stopped through the server's token.
#[derive(Debug)]
pub struct TailTask {
    thread: std::thread::JoinHandle<()>,
}

impl TailTask {
    /// Starts following `cfg.paths` on a thread of its own, flushing into `engine`
    /// every `flush_every`, until `stop` is cancelled (then a last flush and
    /// checkpoint); its pipes' troubles go into the given list and their events into
    /// the telemetry.
    ///
    /// # Errors
    /// The pipeline does not build.
    pub fn start(
        cfg: &TailConfig,
        engine: Engine,
        store: TrendStore,
        flush_every: Duration,
        troubles: Troubles,
        telemetry: &Telemetry,
        stop: CancellationToken,
    ) -> anyhow::Result<TailTask> {
        let mut pipeline = Pipeline::from_config(&cfg.pipeline)
            .with_context(|| format!("[[tail]] {}", cfg.pipeline.name))?
            .with_troubles(troubles)
            .with_telemetry(telemetry);
        let checkpoints = StoreCheckpoints::new(store, &cfg.pipeline.name);
        let opts = TailOptions {
            from_start: cfg.from_start,
            ..TailOptions::default()
        };
        let mut tailer = Tailer::new(&cfg.paths, opts, Box::new(checkpoints));
        let name = cfg.pipeline.name.clone();
        let thread = std::thread::Builder::new()
            .name(format!("tail-{name}"))
            .spawn(move || {
                let run = RunOptions {
                    flush_every,
                    ..RunOptions::default()
                };
                let result = tail::run(
                    &mut tailer,
                    &mut pipeline,
                    &run,
                    &stop,
                    &mut tail::engine_sink(&engine),
                    &mut |_, _| {},
                );
                if let Err(e) = result {
                    warn!("tail {name} stopped: {e}");
                }
                pipeline.cleanup();
            })?;
        Ok(TailTask { thread })
    }

    /// Waits for the thread: once its token is cancelled, it ends after a last flush
    /// and checkpoint.
    pub fn join(self) {
        if self.thread.join().is_err() {
            warn!("a tail thread panicked");
        }
    }
}

/// What `treestat tail` was asked to do.
#[derive(Debug, Clone)]
pub struct TailCommand {
    /// Files to follow.
    pub files: Vec<PathBuf>,
    /// A preset name or an nginx `log_format` string.
    pub format: String,
    /// Comma-separated pipes (`ua,status,geo=GeoLite2-City.mmdb,python=x.py`); empty:
    /// every built-in the format can feed.
    pub pipes: String,
    /// Push each interval's tree to this server instead of an in-process engine.
    pub server: Option<String>,
    /// Read files from their start.
    pub from_start: bool,
    /// Read to the end, print the tree as JSON and exit.
    pub once: bool,
    /// Keep checkpoints in this file (a later run resumes after the last line read).
    pub checkpoints: Option<PathBuf>,
    /// Time between flushes.
    pub interval: Duration,
    /// With `once`: write the report of the lines read here (`.json`: JSON, else HTML).
    pub report: Option<PathBuf>,
}

/// Runs `treestat tail`. With `--once` it prints the resulting tree (in-process) or
/// returns after the last push (`--server`); otherwise it runs until interrupted,
/// printing the tree after each flush when in process.
///
/// `-` (standard input) and gzip files (rotated logs) are read once, to their end,
/// before the plain files are followed. A stream that breaks off (a truncated `.gz`)
/// keeps the lines read before the break; the run goes on and fails at its end.
///
/// # Errors
/// A bad format or pipe list, unreadable files, a refused push, a broken stream.
pub fn run_tail(cmd: &TailCommand, stop: &CancellationToken) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let cfg = PipelineConfig::from_cli("tail", &cmd.format, &cmd.pipes)?;
    let mut collector = None;
    let mut extra: Vec<Box<dyn treestat_pipes::api::Pipe>> = Vec::new();
    if cmd.report.is_some() {
        let pipe = crate::report::collect::ReportPipe::new(crate::report::collect::Caps::default());
        collector = Some(pipe.handle());
        extra.push(Box::new(pipe));
    }
    let mut pipeline = Pipeline::from_config_with(&cfg, extra)?;
    let mut streams = Vec::new();
    let mut followed = Vec::new();
    for f in &cmd.files {
        match tail::open_stream(f) {
            Ok(Some(input)) => streams.push((f.display().to_string(), input)),
            // A plain file is followed, and so is one that cannot be read (yet): it
            // may appear later.
            Ok(None) | Err(_) => followed.push(f.clone()),
        }
    }
    let checkpoints: Box<dyn CheckpointStore> = match &cmd.checkpoints {
        Some(p) => Box::new(tail::FileCheckpoints::open(p)?),
        None => Box::<MemoryCheckpoints>::default(),
    };
    let opts = TailOptions {
        from_start: cmd.from_start || cmd.once,
        ..TailOptions::default()
    };
    let mut tailer = Tailer::new(&followed, opts, checkpoints);
    let engine = Engine::default();
    let run = RunOptions {
        flush_every: cmd.interval,
        once: cmd.once,
        ..RunOptions::default()
    };
    let bar = (cmd.once && !followed.is_empty() && io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let mut progress = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    };
    let mut sink = tail::engine_sink(&engine);
    let mut flush =
        |agg: treestat_pipes::pipeline::Aggregate| -> Result<(), treestat_pipes::Error> {
            match &cmd.server {
                Some(server) => {
                    if agg.is_empty() {
                        return Ok(());
                    }
                    crate::client::push(server, &agg.to_push_json().to_string()).map_err(|e| {
                        treestat_pipes::Error::new(treestat_pipes::ErrorKind::Engine, e.to_string())
                    })?;
                    // The report's browser, OS and geo panels read the local tree.
                    if collector.is_some() {
                        sink(agg)?;
                    }
                    Ok(())
                }
                None => {
                    sink(agg)?;
                    if !cmd.once {
                        print_tree(&engine).map_err(|e| {
                            treestat_pipes::Error::new(treestat_pipes::ErrorKind::Io, e.to_string())
                        })?;
                    }
                    Ok(())
                }
            }
        };
    let mut stats = tail::RunStats::default();
    let mut broken = Vec::new();
    for (name, input) in streams {
        let (s, failed) = tail::run_stream(&name, input, &mut pipeline, &run, stop, &mut flush)?;
        stats += s;
        if let Some(e) = failed {
            // The lines before the break were fed and flushed; say so and go on.
            eprintln!(
                "treestat: {name}: input broke off after {} lines: {e}",
                s.lines
            );
            broken.push(name);
        }
        if stop.is_cancelled() {
            break;
        }
    }
    if !followed.is_empty() {
        let s = tail::run(
            &mut tailer,
            &mut pipeline,
            &run,
            stop,
            &mut flush,
            &mut progress,
        )?;
        stats += s;
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    pipeline.cleanup();
    if cmd.once && cmd.server.is_none() {
        print_tree(&engine)?;
    }
    eprintln!("{} lines read, {} flushes", stats.lines, stats.flushes);
    if let (Some(out), Some(c)) = (&cmd.report, &collector) {
        let line = crate::report::write_tail_report(
            &c.lock(),
            &engine,
            &cmd.files,
            &cmd.format,
            started,
            out,
        )?;
        eprintln!("{line}");
    }
    if !broken.is_empty() {
        anyhow::bail!("broken input: {} (see above)", broken.join(", "));
    }
    Ok(())
}

fn print_tree(engine: &Engine) -> io::Result<()> {
    // The whole tree, the run's own `_treestat,pipes` counters included.
    let all = treestat_engine::Pattern::parse("")
        .map_err(io::Error::other)?
        .with_internal(true);
    let tree = treestat_engine::nest(&engine.query_pattern(&all));
    let mut out = io::stdout().lock();
    serde_json::to_writer(&mut out, &tree)?;
    writeln!(out)
}
