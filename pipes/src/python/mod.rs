//! Python pipes: a `.py` with `init(config)`, `process(fields)`, `result()` and
//! `cleanup()` (`init` and `cleanup` optional), run on a dedicated thread.
//!
//! As arrow-udf-python and dora do: the module is compiled once; records are copied into
//! batches (one string buffer plus spans per batch) and sent over a bounded channel, so a
//! slow script slows the reader instead of filling memory; the worker enters the
//! interpreter once per batch. `process` gets a dict of the fields that have a value. An
//! exception in `process` counts one error for the pipe, its traceback goes to the log
//! (the first few per interval), and the batch goes on. `result()` is called at each
//! flush; it returns a tree (nested dicts of numbers, `default_action` keys allowed) or a
//! list of `(name, tree)` pairs, each put under the key `name`. Its numbers become
//! samples, with the action the tree sets, or none (the node keeps or inherits its own).
//!
//! Every command has a time budget (`budget`, default 5 s): the worker stamps when it
//! starts one, and whoever waits on it (a send into the full queue, a flush's answer,
//! `init`, the stop at cleanup) gives up once the command at hand has run longer than
//! the budget. The pipe then reports itself [`PipeHealth::Failed`], so the pipeline
//! takes it out, and the thread is abandoned: Python code cannot be interrupted from
//! outside, and joining it would hold the caller (and at shutdown the process) forever.

mod messages;
mod worker;

use crate::error::{Error, ErrorKind};
use crate::pipeline::PipeConfig;
use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender, bounded};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use treestat_pipe_api::{Emit, Pipe, PipeError, PipeHealth, Record, Schema, Span};

use messages::{Busy, Cmd, RecordBatch};

/// Records per call into Python, by default.
pub const DEFAULT_BATCH: usize = 1024;
/// Batches that may wait for the worker before the reader blocks.
pub const QUEUE: usize = 4;

/// How often a waiter looks at the worker's progress: a slice of the budget.
fn slice(budget: Duration) -> Duration {
    (budget / 4).clamp(Duration::from_millis(5), Duration::from_millis(250))
}

/// A Python pipe.
pub struct PythonPipe {
    name: String,
    path: std::path::PathBuf,
    config: serde_json::Value,
    batch_size: usize,
    batch: RecordBatch,
    tx: Option<Sender<Cmd>>,
    thread: Option<JoinHandle<()>>,
    errors: Arc<AtomicU64>,
    budget: Duration,
    busy: Busy,
    /// Why the pipe was given up on; then it takes no more records.
    failed: Option<String>,
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
            budget: cfg.budget(),
            busy: Busy::new(),
            failed: None,
        })
    }

    fn send_batch(&mut self) -> Result<(), PipeError> {
        if self.batch.len() == 0 {
            return Ok(());
        }
        let fields = self.batch.fields;
        let full = std::mem::take(&mut self.batch);
        self.batch.fields = fields;
        self.send(Cmd::Records(full))
    }

    /// Sends a command, waiting for room in the queue while the worker keeps within
    /// its budget.
    fn send(&mut self, cmd: Cmd) -> Result<(), PipeError> {
        let mut cmd = cmd;
        loop {
            let tx = self.tx.as_ref().ok_or_else(|| self.gone())?;
            match tx.send_timeout(cmd, slice(self.budget)) {
                Ok(()) => return Ok(()),
                Err(SendTimeoutError::Disconnected(_)) => return Err(self.gone()),
                Err(SendTimeoutError::Timeout(back)) => {
                    cmd = back;
                    self.check_budget()?;
                }
            }
        }
    }

    /// Waits for an answer while the worker keeps within its budget.
    fn wait<T>(&mut self, rx: &Receiver<T>) -> Result<T, PipeError> {
        loop {
            match rx.recv_timeout(slice(self.budget)) {
                Ok(v) => return Ok(v),
                Err(RecvTimeoutError::Disconnected) => return Err(self.gone()),
                Err(RecvTimeoutError::Timeout) => self.check_budget()?,
            }
        }
    }

    /// Gives the pipe up when the worker's command has run past the budget.
    fn check_budget(&mut self) -> Result<(), PipeError> {
        match self.busy.running() {
            Some(t) if t > self.budget => {
                let reason = format!(
                    "over its time budget of {:?} on one batch (stuck for {:?}); its \
                     thread is abandoned",
                    self.budget, t
                );
                self.give_up(&reason);
                Err(PipeError::new(format!(
                    "python pipe {}: {reason}",
                    self.name
                )))
            }
            _ => Ok(()),
        }
    }

    /// Stops feeding the worker and lets its thread go without joining it.
    fn give_up(&mut self, reason: &str) {
        self.failed = Some(reason.to_string());
        self.tx = None;
        self.batch = RecordBatch {
            fields: self.batch.fields,
            ..RecordBatch::default()
        };
        // Dropping the handle detaches the thread: it ends on its own if the script
        // ever returns (its channel is closed), and nobody waits for it.
        drop(self.thread.take());
    }

    fn gone(&self) -> PipeError {
        match &self.failed {
            Some(why) => PipeError::new(format!("python pipe {}: {why}", self.name)),
            None => PipeError::new(format!("python pipe {}: its thread has stopped", self.name)),
        }
    }
}

impl Pipe for PythonPipe {
    fn name(&self) -> &str {
        &self.name
    }

    fn init(&mut self, schema: &Schema) -> Result<(), PipeError> {
        let code = std::fs::read_to_string(&self.path)
            .map_err(|e| PipeError::new(format!("{}: {e}", self.path.display())))?;
        let (tx, rx): (Sender<Cmd>, Receiver<Cmd>) = bounded(QUEUE);
        let (ready_tx, ready_rx) = bounded(1);
        let job = worker::Job {
            name: self.name.clone(),
            path: self.path.display().to_string(),
            code,
            config: self.config.clone(),
            fields: schema.names().to_vec(),
            errors: self.errors.clone(),
            busy: self.busy.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("py-pipe-{}", self.name))
            .spawn(move || worker::run(job, &rx, &ready_tx))
            .map_err(|e| PipeError::new(format!("cannot start a thread: {e}")))?;
        self.thread = Some(thread);
        match self.wait(&ready_rx) {
            Ok(Ok(())) => {}
            Ok(Err(msg)) => {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
                return Err(PipeError::new(msg));
            }
            Err(e) => {
                // Over budget (the thread is abandoned) or died while loading.
                if self.failed.is_none()
                    && let Some(t) = self.thread.take()
                {
                    let _ = t.join();
                }
                return Err(PipeError::new(format!("{e} (while loading)")));
            }
        }
        self.batch.fields = schema.len();
        self.tx = Some(tx);
        Ok(())
    }

    fn process(&mut self, record: &Record<'_>, _out: &mut dyn Emit) -> Result<(), PipeError> {
        if self.failed.is_some() {
            return Err(self.gone());
        }
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
        if self.failed.is_some() {
            return Err(self.gone());
        }
        self.send_batch()?;
        let (rtx, rrx) = bounded(1);
        self.send(Cmd::Flush(rtx))?;
        let updates = self
            .wait(&rrx)?
            .map_err(|m| PipeError::new(format!("python pipe {}: result(): {m}", self.name)))?;
        for (path, value, action) in updates {
            out.emit(&path, value, action);
        }
        Ok(())
    }

    fn take_errors(&mut self) -> u64 {
        self.errors.swap(0, Ordering::Relaxed)
    }

    fn health(&self) -> PipeHealth {
        match &self.failed {
            Some(why) => PipeHealth::Failed(why.clone()),
            None => PipeHealth::Ok,
        }
    }

    fn cleanup(&mut self) {
        if self.failed.is_some() || self.tx.is_none() {
            return;
        }
        // The last records and the stop keep to the budget like any batch; so does
        // the script's own cleanup(): past it, the thread is left to itself.
        if self.send_batch().is_err() || self.send(Cmd::Stop).is_err() {
            return;
        }
        self.tx = None;
        while let Some(t) = self.thread.take() {
            if t.is_finished() {
                let _ = t.join();
                return;
            }
            self.thread = Some(t);
            if self.check_budget().is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for PythonPipe {
    fn drop(&mut self) {
        self.cleanup();
    }
}
