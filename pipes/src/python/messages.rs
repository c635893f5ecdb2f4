//! What a Python pipe and its worker thread share: the commands sent to the worker, the
//! record batches they carry, the updates coming back, and the worker's progress stamp.

use crossbeam_channel::Sender;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use treestat_pipe_api::{Action, Span};

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
    pub(super) fn len(&self) -> usize {
        self.starts.len()
    }
}

/// An update coming back from `result()`.
pub(crate) type Update = (String, f64, Option<Action>);

pub(crate) enum Cmd {
    Records(RecordBatch),
    Flush(Sender<Result<Vec<Update>, String>>),
    Stop,
}

/// When the worker started the command it is on: milliseconds since `epoch`, plus one
/// (0: idle). Written by the worker, read by whoever waits on it.
#[derive(Debug, Clone)]
pub(crate) struct Busy {
    epoch: Instant,
    since: Arc<AtomicU64>,
}

impl Busy {
    pub(super) fn new() -> Busy {
        Busy {
            epoch: Instant::now(),
            since: Arc::new(AtomicU64::new(0)),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    /// The worker starts a command.
    pub(crate) fn start(&self) {
        self.since.store(self.now(), Ordering::Relaxed);
    }

    /// The worker is done with it.
    pub(crate) fn idle(&self) {
        self.since.store(0, Ordering::Relaxed);
    }

    /// How long the command at hand has run, if any.
    pub(super) fn running(&self) -> Option<Duration> {
        match self.since.load(Ordering::Relaxed) {
            0 => None,
            t => Some(Duration::from_millis(self.now().saturating_sub(t))),
        }
    }
}
