//! A log source's pipeline: a format and an ordered list of pipes, fed line by line,
//! folding the interval's updates locally and handing them to the engine at flush.
//!
//! Own counters (all `add`), per source `<name>`: `_treestat,pipes,<name>,lines`
//! (parsed), `...,bad_lines` (did not parse), `...,dropped` (updates past the path
//! cap), `...,unsketched` (histogram samples past the interval's bound of held samples,
//! [`MAX_HELD_SAMPLES`]: counted in their leaf's sum and count, not in its sketch), and
//! per pipe `_treestat,pipes,<name>,<pipe>,errors` and the pipe's own events
//! (`taken_out`, and for isolated pipes `crashes`, `restarts`, `killed`,
//! `dropped_lines`). A bad line or a failing pipe never stops the pipeline.
//!
//! A pipe that reports itself [`PipeHealth::Failed`] (a Python pipe over its time
//! budget) is taken out: logged at ERROR, counted, listed in the pipeline's
//! [`Troubles`], and never called again, so one stuck pipe cannot hold the others. A
//! pipe [`PipeHealth::Down`] (an isolated pipe being restarted) stays in and is listed
//! until it is back.

mod aggregate;
mod config;
mod registry;

pub use aggregate::{Aggregate, CHUNK, Folded, MAX_HELD_SAMPLES};
pub use config::{DEFAULT_BUDGET, DEFAULT_PIPES, PipeConfig, PipeSpec, PipelineConfig};
pub use registry::build_pipe;

use crate::error::{Error, ErrorKind};
use crate::format::Format;
use parking_lot::Mutex;
use std::sync::Arc;
use treestat_engine::telemetry::Telemetry;
use treestat_engine::{Engine, PushSummary};
use treestat_pipe_api::{Action, Emit, Pipe, PipeError, PipeHealth, Span};

struct Slot {
    pipe: Box<dyn Pipe>,
    errors: u64,
    errors_path: String,
    /// `_treestat,pipes,<source>,<pipe>,` (event names follow).
    events_prefix: String,
    last_error: Option<String>,
    /// Why the pipe was taken out; it is not called again.
    out: Option<String>,
    /// The reason it is listed as down, while it is.
    down: Option<String>,
    /// Events to add at the next flush (`taken_out`).
    pending: Vec<(&'static str, u64)>,
}

/// A pipe that is not working: taken out for good, or down for now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeTrouble {
    /// The pipeline (log source) it belongs to.
    pub source: String,
    /// The pipe's name.
    pub pipe: String,
    /// What happened, in words (`over its time budget of 5s on one batch`, `child
    /// killed by signal 11; restart 2 in 4s`).
    pub reason: String,
    /// True: taken out for good (only a restart of the server brings it back); false:
    /// down and being restarted.
    pub taken_out: bool,
}

/// The pipes that are not working, shared by any number of pipelines: a cheap-clone
/// handle (`Arc` inside) that health reports read without touching a pipeline (which
/// may be busy with a batch). A std-like short lock is right: entries change only when
/// a pipe fails or comes back.
#[derive(Debug, Clone, Default)]
pub struct Troubles(Arc<Mutex<Vec<PipeTrouble>>>);

impl Troubles {
    /// The pipes not working now, in the order they failed.
    pub fn list(&self) -> Vec<PipeTrouble> {
        self.0.lock().clone()
    }

    fn set(&self, t: PipeTrouble) {
        let mut v = self.0.lock();
        v.retain(|x| !(x.source == t.source && x.pipe == t.pipe));
        v.push(t);
    }

    fn clear(&self, source: &str, pipe: &str) {
        self.0
            .lock()
            .retain(|x| !(x.source == source && x.pipe == pipe && !x.taken_out));
    }
}

/// What became of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOutcome {
    /// Parsed and given to every pipe.
    Parsed,
    /// Did not follow the format; counted and skipped.
    Bad,
    /// Empty (or only `\r`); ignored.
    Empty,
}

/// One log source's pipeline.
pub struct Pipeline {
    name: String,
    format: Format,
    spans: Vec<Span>,
    slots: Vec<Slot>,
    agg: Aggregate,
    lines: u64,
    bad_lines: u64,
    paths: [String; 4],
    cleaned: bool,
    troubles: Troubles,
    telemetry: Option<Telemetry>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("name", &self.name)
            .field("format", &self.format.name())
            .field("pipes", &self.pipe_names())
            .finish()
    }
}

impl Pipeline {
    /// Builds the format and every pipe, and binds the pipes to the format.
    ///
    /// # Errors
    /// A bad format, an unknown pipe, or a pipe that refuses to start; the message
    /// names the pipe.
    pub fn from_config(cfg: &PipelineConfig) -> Result<Pipeline, Error> {
        Pipeline::from_config_with(cfg, Vec::new())
    }

    /// As [`Pipeline::from_config`], with `extra` pipes (already built, e.g. the
    /// report's collector) after the configured ones.
    ///
    /// # Errors
    /// As [`Pipeline::from_config`].
    pub fn from_config_with(
        cfg: &PipelineConfig,
        extra: Vec<Box<dyn Pipe>>,
    ) -> Result<Pipeline, Error> {
        let format = Format::new(&cfg.format)?;
        let mut pipes = Vec::with_capacity(cfg.pipes.len());
        if cfg.pipes.is_empty() {
            for name in DEFAULT_PIPES {
                let mut pipe = build_pipe(&PipeSpec::Name(name.to_string()).to_config())?;
                // Defaults that the format cannot feed are left out, not errors.
                if pipe.init(format.schema()).is_ok() {
                    pipes.push(pipe);
                }
            }
        }
        for spec in &cfg.pipes {
            pipes.push(build_pipe(&spec.to_config())?);
        }
        pipes.extend(extra);
        Pipeline::new(&cfg.name, format, pipes, cfg.max_paths)
    }

    /// A pipeline from parts already built.
    ///
    /// # Errors
    /// When a pipe's `init` refuses the format.
    pub fn new(
        name: &str,
        format: Format,
        pipes: Vec<Box<dyn Pipe>>,
        max_paths: usize,
    ) -> Result<Pipeline, Error> {
        let key = treestat_pipe_api::sanitize_key(name).into_owned();
        let mut slots = Vec::with_capacity(pipes.len());
        for mut pipe in pipes {
            pipe.init(format.schema()).map_err(|e| {
                Error::new(
                    ErrorKind::PipeInit,
                    format!("pipe {} with format {}: {e}", pipe.name(), format.name()),
                )
            })?;
            let pname = treestat_pipe_api::sanitize_key(pipe.name()).into_owned();
            slots.push(Slot {
                errors_path: format!("_treestat,pipes,{key},{pname},errors"),
                events_prefix: format!("_treestat,pipes,{key},{pname},"),
                pipe,
                errors: 0,
                last_error: None,
                out: None,
                down: None,
                pending: Vec::new(),
            });
        }
        Ok(Pipeline {
            paths: [
                format!("_treestat,pipes,{key},lines"),
                format!("_treestat,pipes,{key},bad_lines"),
                format!("_treestat,pipes,{key},dropped"),
                format!("_treestat,pipes,{key},unsketched"),
            ],
            name: name.to_string(),
            format,
            spans: Vec::new(),
            slots,
            agg: Aggregate::new(usize::MAX),
            lines: 0,
            bad_lines: 0,
            cleaned: false,
            troubles: Troubles::default(),
            telemetry: None,
        }
        .with_max_paths(max_paths))
    }

    fn with_max_paths(mut self, max_paths: usize) -> Pipeline {
        self.agg = Aggregate::new(max_paths);
        self
    }

    /// Reports this pipeline's troubles into `troubles` (shared with other pipelines)
    /// instead of a list of its own.
    #[must_use]
    pub fn with_troubles(mut self, troubles: Troubles) -> Pipeline {
        self.troubles = troubles;
        self
    }

    /// Counts the pipes' events (taken out, crashes, restarts, ...) in `telemetry` too,
    /// as `treestat_pipe_events_total{source, pipe, event}`.
    #[must_use]
    pub fn with_telemetry(mut self, telemetry: &Telemetry) -> Pipeline {
        telemetry.describe(
            "treestat_pipe_events_total",
            "Pipe events by source, pipe and event (taken_out, crashes, restarts, killed, \
             dropped_lines).",
        );
        self.telemetry = Some(telemetry.clone());
        self
    }

    /// The pipes not working now (taken out, or down and restarting), from the handle
    /// this pipeline reports into. Cheap; does not wait for a busy pipe.
    pub fn troubles(&self) -> Troubles {
        self.troubles.clone()
    }

    /// The source's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The compiled format.
    pub fn format(&self) -> &Format {
        &self.format
    }

    /// The pipes' names, in order.
    pub fn pipe_names(&self) -> Vec<String> {
        self.slots
            .iter()
            .map(|s| s.pipe.name().to_string())
            .collect()
    }

    /// Lines parsed and lines that did not parse since the last flush.
    pub fn counts(&self) -> (u64, u64) {
        (self.lines, self.bad_lines)
    }

    /// Errors per pipe since the last flush, with the newest message.
    pub fn errors(&self) -> Vec<(String, u64, Option<String>)> {
        self.slots
            .iter()
            .map(|s| (s.pipe.name().to_string(), s.errors, s.last_error.clone()))
            .collect()
    }

    /// Feeds one line (without its newline).
    pub fn feed_line(&mut self, line: &str) -> LineOutcome {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            return LineOutcome::Empty;
        }
        let Pipeline {
            name,
            format,
            spans,
            slots,
            agg,
            troubles,
            ..
        } = self;
        let Ok(record) = format.parse(line, spans) else {
            self.bad_lines += 1;
            return LineOutcome::Bad;
        };
        for slot in slots.iter_mut() {
            if slot.out.is_some() {
                continue;
            }
            if let Err(e) = slot.pipe.process(&record, agg) {
                note_error(slot, &e);
                check_health(slot, name, troubles);
            }
        }
        self.lines += 1;
        LineOutcome::Parsed
    }

    /// Feeds text holding any number of lines (`\n` or `\r\n`); a last line without a
    /// newline counts too. Returns the number of non-empty lines.
    pub fn feed_text(&mut self, text: &str) -> usize {
        let mut n = 0;
        for line in text.split('\n') {
            if self.feed_line(line) != LineOutcome::Empty {
                n += 1;
            }
        }
        n
    }

    /// Feeds raw bytes of one line, replacing invalid UTF-8.
    pub fn feed_bytes(&mut self, line: &[u8]) -> LineOutcome {
        match std::str::from_utf8(line) {
            Ok(s) => self.feed_line(s),
            Err(_) => {
                let s = String::from_utf8_lossy(line).into_owned();
                self.feed_line(&s)
            }
        }
    }

    /// Flushes every pipe, adds the pipeline's own counters, and returns the interval's
    /// updates, leaving the pipeline empty for the next interval.
    pub fn take_updates(&mut self) -> Aggregate {
        for slot in &mut self.slots {
            if slot.out.is_none() {
                if let Err(e) = slot.pipe.flush(&mut self.agg) {
                    note_error(slot, &e);
                }
                check_health(slot, &self.name, &self.troubles);
            }
            let late = slot.pipe.take_errors();
            slot.errors += late;
            let mut events = std::mem::take(&mut slot.pending);
            slot.pipe
                .take_counters(&mut |name, n| events.push((name, n)));
            for (event, n) in events {
                if n == 0 {
                    continue;
                }
                emit_count(&mut self.agg, &format!("{}{event}", slot.events_prefix), n);
                if let Some(t) = &self.telemetry {
                    let pipe = slot.pipe.name();
                    let labels = [
                        ("source", self.name.as_str()),
                        ("pipe", pipe),
                        ("event", event),
                    ];
                    t.counter("treestat_pipe_events_total", &labels).add(n);
                }
            }
        }
        let counters = [
            (0, self.lines),
            (1, self.bad_lines),
            (2, self.agg.dropped()),
            (3, self.agg.unsketched()),
        ];
        for (i, n) in counters {
            if n > 0 {
                emit_count(&mut self.agg, &self.paths[i], n);
            }
        }
        for slot in &mut self.slots {
            if slot.errors > 0 {
                emit_count(&mut self.agg, &slot.errors_path, slot.errors);
                slot.errors = 0;
            }
        }
        self.lines = 0;
        self.bad_lines = 0;
        self.agg.take()
    }

    /// Hands the interval's updates to the engine (see [`Aggregate::apply_to`]).
    ///
    /// # Errors
    /// When the engine refuses a batch (a full tree); the rest still applies.
    pub fn flush(&mut self, engine: &Engine) -> Result<PushSummary, Error> {
        let agg = self.take_updates();
        agg.apply_to(engine)
            .map_err(|e| Error::new(ErrorKind::Engine, format!("pipes {}: {e}", self.name)))
    }

    /// Calls every pipe's `cleanup`. The pipeline should not be fed afterwards.
    pub fn cleanup(&mut self) {
        if std::mem::replace(&mut self.cleaned, true) {
            return;
        }
        for slot in &mut self.slots {
            slot.pipe.cleanup();
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.cleanup();
    }
}

fn emit_count(agg: &mut Aggregate, path: &str, n: u64) {
    // Counts stay far below 2^53.
    #[allow(clippy::cast_precision_loss)]
    agg.emit(path, n as f64, Some(Action::Add));
}

/// Takes a failed pipe out, or lists a down pipe (and unlists it once it is back).
fn check_health(slot: &mut Slot, source: &str, troubles: &Troubles) {
    match slot.pipe.health() {
        PipeHealth::Ok => {
            if slot.down.take().is_some() {
                tracing::info!(source, pipe = slot.pipe.name(), "pipe is back");
                troubles.clear(source, slot.pipe.name());
            }
        }
        PipeHealth::Down(reason) => {
            if slot.down.as_deref() != Some(reason.as_str()) {
                troubles.set(PipeTrouble {
                    source: source.to_string(),
                    pipe: slot.pipe.name().to_string(),
                    reason: reason.clone(),
                    taken_out: false,
                });
                slot.down = Some(reason);
            }
        }
        PipeHealth::Failed(reason) => {
            tracing::error!(
                source,
                pipe = slot.pipe.name(),
                "pipe taken out of the pipeline: {reason}"
            );
            troubles.set(PipeTrouble {
                source: source.to_string(),
                pipe: slot.pipe.name().to_string(),
                reason: reason.clone(),
                taken_out: true,
            });
            slot.out = Some(reason);
            slot.down = None;
            slot.pending.push(("taken_out", 1));
        }
    }
}

fn note_error(slot: &mut Slot, e: &PipeError) {
    slot.errors += 1;
    if slot.errors <= 3 {
        tracing::warn!(pipe = slot.pipe.name(), error = %e, "pipe failed on a record");
    }
    slot.last_error = Some(e.0.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server hands pipelines to blocking threads: they must be `Send`.
    #[test]
    fn pipelines_are_send() {
        fn is_send<T: Send>(_: &T) {}
        let p = Pipeline::from_config(&PipelineConfig::default()).unwrap();
        is_send(&p);
        assert_eq!(
            p.pipe_names(),
            vec!["ua", "status", "errors", "bytes", "url"]
        );
    }
}
