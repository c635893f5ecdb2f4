//! Reading a log that is not followed: standard input, or a gzip-compressed file such
//! as a rotated `access.log.2.gz`, read once from start to end.
//!
//! A reader thread cuts the stream into lines and sends them in bounded batches (about
//! [`BATCH_BYTES`] or one read's worth each, [`QUEUE`] batches waiting), so a slow
//! pipeline holds the reader back instead of buffering the whole input. The calling thread feeds the
//! pipeline and flushes on the same schedule as [`super::run`], also while the input
//! is idle (a `tail -F ... | treestat tail -` pipe).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use treestat_engine::stop::CancellationToken;

use super::{RunOptions, RunStats};
use crate::error::{Error, ErrorKind};
use crate::pipeline::{Aggregate, Pipeline};

/// Bytes of lines per batch sent from the reader thread.
const BATCH_BYTES: usize = 1 << 20;
/// Batches that may wait for the pipeline.
const QUEUE: usize = 8;
/// The two bytes every gzip member starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Opens `path` if it is read as a stream rather than followed: standard input for
/// `-`, a gzip decoder (every member, as `zcat` reads them) for a file that starts with
/// the gzip magic bytes. `None` for any other file.
///
/// # Errors
/// When the file cannot be opened or read.
pub fn open_stream(path: &Path) -> io::Result<Option<Box<dyn Read + Send>>> {
    if path.as_os_str() == "-" {
        return Ok(Some(Box::new(io::stdin())));
    }
    let mut file = File::open(path)?;
    let mut head = Vec::with_capacity(2);
    (&mut file).take(2).read_to_end(&mut head)?;
    if head != GZIP_MAGIC {
        return Ok(None);
    }
    file.rewind()?;
    Ok(Some(Box::new(flate2::read::MultiGzDecoder::new(
        BufReader::new(file),
    ))))
}

/// Lines packed in one buffer: line `i` is `data[ends[i-1]..ends[i]]`.
#[derive(Default)]
struct Lines {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl Lines {
    fn push(&mut self, line: &[u8]) {
        self.data.extend_from_slice(line);
        self.ends.push(self.data.len());
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let line = &self.data[start..end];
            start = end;
            line
        })
    }
}

/// The reader thread: lines of at most `max_line` bytes (longer ones are cut, as the
/// tailer cuts them), then the error that ended the input, if any.
fn read_lines(input: Box<dyn Read + Send>, max_line: usize, tx: &SyncSender<io::Result<Lines>>) {
    let mut r = BufReader::with_capacity(256 * 1024, input);
    let mut batch = Lines::default();
    let mut line: Vec<u8> = Vec::new();
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.send(Ok(batch));
                let _ = tx.send(Err(e));
                return;
            }
        };
        if buf.is_empty() {
            if !line.is_empty() {
                batch.push(&line);
            }
            let _ = tx.send(Ok(batch));
            return;
        }
        let (piece, used, complete) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], i + 1, true),
            None => (buf, buf.len(), false),
        };
        let room = max_line.saturating_sub(line.len());
        line.extend_from_slice(&piece[..piece.len().min(room)]);
        r.consume(used);
        if complete {
            batch.push(&line);
            line.clear();
        }
        // Send when the batch is full, and before a read that may block (a live pipe
        // must not hold its lines back until more arrive).
        let full =
            batch.data.len() >= BATCH_BYTES || (r.buffer().is_empty() && !batch.ends.is_empty());
        if full && tx.send(Ok(std::mem::take(&mut batch))).is_err() {
            return; // the run stopped
        }
    }
}

/// Reads `input` to its end through `pipeline`, flushing every `opts.flush_every`
/// and once at the end. Returns early, after a last flush, when `stop` is cancelled.
///
/// Returns what was read, and the read or decompression error that ended the input
/// early, if one did: the lines before it were fed and flushed.
///
/// # Errors
/// Errors returned by `flush`, or a reader thread that cannot start (`name` says
/// which input).
pub fn run_stream(
    name: &str,
    input: Box<dyn Read + Send>,
    pipeline: &mut Pipeline,
    opts: &RunOptions,
    stop: &CancellationToken,
    flush: &mut dyn FnMut(Aggregate) -> Result<(), Error>,
) -> Result<(RunStats, Option<io::Error>), Error> {
    let (tx, rx) = mpsc::sync_channel(QUEUE);
    let max_line = crate::format::MAX_LINE;
    std::thread::Builder::new()
        .name("tail-stream".into())
        .spawn(move || read_lines(input, max_line, &tx))
        .map_err(|e| Error::new(ErrorKind::Io, format!("tail {name}: {e}")))?;
    let mut stats = RunStats::default();
    let mut last_flush = Instant::now();
    let mut failed = None;
    loop {
        let wait = opts
            .flush_every
            .saturating_sub(last_flush.elapsed())
            .min(opts.poll)
            .max(Duration::from_millis(1));
        let ended = match rx.recv_timeout(wait) {
            Ok(Ok(lines)) => {
                for line in lines.iter() {
                    pipeline.feed_bytes(line);
                }
                stats.lines += lines.ends.len() as u64;
                false
            }
            Ok(Err(e)) => {
                failed = Some(e);
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        let stopping = ended || stop.is_cancelled();
        if stopping || last_flush.elapsed() >= opts.flush_every {
            flush(pipeline.take_updates())?;
            stats.flushes += 1;
            last_flush = Instant::now();
        }
        if stopping {
            return Ok((stats, failed));
        }
    }
}
