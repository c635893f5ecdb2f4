//! Python pipes: a `.py` with `init(config)`, `process(fields)`, `result()` and
//! `cleanup()` (`init` and `cleanup` optional), run on a dedicated thread.
//!
//! As arrow-udf-python and dora do (STYLE.md 10): the module is compiled once; records
//! are copied into batches (one string buffer plus spans per batch) and sent over a
//! bounded channel, so a slow script slows the reader instead of filling memory; the
//! worker enters the interpreter once per batch. `process` gets a dict of the fields
//! that have a value. An exception in `process` counts one error for the pipe, its
//! traceback goes to the log (the first few per interval), and the batch goes on.
//! `result()` is called at each flush; it returns a tree (nested dicts of numbers,
//! `default_action` keys allowed) or a list of `(name, tree)` pairs, each put under
//! the key `name`. Its numbers become samples, with the action the tree sets, or none
//! (the node keeps or inherits its own).

mod worker;

use crate::error::{Error, ErrorKind};
use crate::pipeline::PipeConfig;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use treestat_pipe_api::{Action, Emit, Pipe, PipeError, Record, Schema, Span};

/// Records per call into Python, by default.
pub const DEFAULT_BATCH: usize = 1024;
/// Batches that may wait for the worker before the reader blocks.
pub const QUEUE: usize = 4;

/// Records copied out of their lines: one text buffer, spans relative to it.
#[derive(Debug, Default)]
pub(crate) struct RecordBatch {
    /// The records' lines, one after the other.
    pub(crate) text: String,
    /// `fields` spans per record, relative to the record's own line.
    pub(crate) spans: Vec<Span>,
    /// Where each record's line starts in `text`.
    pub(crate) starts: Vec<usize>,
    /// Spans per record (the schema's length).
    pub(crate) fields: usize,
}

impl RecordBatch {
    fn len(&self) -> usize {
        self.starts.len()
    }
}

/// An update coming back from `result()`.
pub(crate) type Update = (String, f64, Option<Action>);

pub(crate) enum Cmd {
    Records(RecordBatch),
    Flush(SyncSender<Result<Vec<Update>, String>>),
    Stop,
}

/// A Python pipe.
pub struct PythonPipe {
    name: String,
    path: std::path::PathBuf,
    config: serde_json::Value,
    batch_size: usize,
    batch: RecordBatch,
    tx: Option<SyncSender<Cmd>>,
    thread: Option<JoinHandle<()>>,
    errors: Arc<AtomicU64>,
}

impl PythonPipe {
    /// Remembers the script; it is compiled and `init` called when the pipe is bound
    /// to a format (so a syntax error is reported when the pipeline is built).
    ///
    /// # Errors
    /// No path, or a file that cannot be read.
    pub fn from_config(cfg: &PipeConfig) -> Result<PythonPipe, Error> {
        let path = cfg.path.clone().ok_or_else(|| {
            Error::new(ErrorKind::Config, "a python pipe needs `path` to its .py")
        })?;
        if !path.is_file() {
            return Err(Error::new(
                ErrorKind::Python,
                format!("{}: no such file", path.display()),
            ));
        }
        let name = cfg.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map_or("python".to_string(), |s| s.to_string_lossy().into_owned())
        });
        let batch_size = cfg.batch.unwrap_or(DEFAULT_BATCH).clamp(1, 65_536);
        Ok(PythonPipe {
            name,
            path,
            config: cfg.config.clone().unwrap_or(serde_json::json!({})),
            batch_size,
            batch: RecordBatch::default(),
            tx: None,
            thread: None,
            errors: Arc::new(AtomicU64::new(0)),
        })
    }

    fn send_batch(&mut self) -> Result<(), PipeError> {
        if self.batch.len() == 0 {
            return Ok(());
        }
        let fields = self.batch.fields;
        let full = std::mem::take(&mut self.batch);
        self.batch.fields = fields;
        let tx = self.tx.as_ref().ok_or_else(|| self.gone())?;
        tx.send(Cmd::Records(full)).map_err(|_| self.gone())
    }

    fn gone(&self) -> PipeError {
        PipeError::new(format!("python pipe {}: its thread has stopped", self.name))
    }
}

impl Pipe for PythonPipe {
    fn name(&self) -> &str {
        &self.name
    }

    fn init(&mut self, schema: &Schema) -> Result<(), PipeError> {
        let code = std::fs::read_to_string(&self.path)
            .map_err(|e| PipeError::new(format!("{}: {e}", self.path.display())))?;
        let (tx, rx): (SyncSender<Cmd>, Receiver<Cmd>) = sync_channel(QUEUE);
        let (ready_tx, ready_rx) = sync_channel(1);
        let job = worker::Job {
            name: self.name.clone(),
            path: self.path.display().to_string(),
            code,
            config: self.config.clone(),
            fields: schema.names().to_vec(),
            errors: self.errors.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("py-pipe-{}", self.name))
            .spawn(move || worker::run(job, &rx, &ready_tx))
            .map_err(|e| PipeError::new(format!("cannot start a thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(msg)) => {
                let _ = thread.join();
                return Err(PipeError::new(msg));
            }
            Err(_) => {
                let _ = thread.join();
                return Err(PipeError::new(format!(
                    "python pipe {}: the worker died while loading",
                    self.name
                )));
            }
        }
        self.batch.fields = schema.len();
        self.tx = Some(tx);
        self.thread = Some(thread);
        Ok(())
    }

    fn process(&mut self, record: &Record<'_>, _out: &mut dyn Emit) -> Result<(), PipeError> {
        let line = record.line();
        let base = self.batch.text.len();
        self.batch.starts.push(base);
        self.batch.text.push_str(line);
        self.batch.spans.extend_from_slice(record.spans());
        // Short records (fewer spans than fields) are padded so indexing stays regular.
        let want = self.batch.starts.len() * self.batch.fields;
        self.batch.spans.resize(want, Span::ABSENT);
        if self.batch.len() >= self.batch_size {
            self.send_batch()?;
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut dyn Emit) -> Result<(), PipeError> {
        self.send_batch()?;
        let (rtx, rrx) = sync_channel(1);
        let tx = self.tx.as_ref().ok_or_else(|| self.gone())?;
        tx.send(Cmd::Flush(rtx)).map_err(|_| self.gone())?;
        let updates = rrx
            .recv()
            .map_err(|_| self.gone())?
            .map_err(|m| PipeError::new(format!("python pipe {}: result(): {m}", self.name)))?;
        for (path, value, action) in updates {
            out.emit(&path, value, action);
        }
        Ok(())
    }

    fn take_errors(&mut self) -> u64 {
        self.errors.swap(0, Ordering::Relaxed)
    }

    fn cleanup(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = self.send_batch_to(&tx);
            let _ = tx.send(Cmd::Stop);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl PythonPipe {
    fn send_batch_to(&mut self, tx: &SyncSender<Cmd>) -> Result<(), ()> {
        if self.batch.len() == 0 {
            return Ok(());
        }
        let full = std::mem::take(&mut self.batch);
        tx.send(Cmd::Records(full)).map_err(|_| ())
    }
}

impl Drop for PythonPipe {
    fn drop(&mut self) {
        self.cleanup();
    }
}
