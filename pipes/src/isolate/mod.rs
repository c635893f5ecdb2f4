//! Isolated pipes (`isolate = true`): the pipe runs in a child process, `treestat
//! pipe-host`, so that a crash (a segfault in a `.so`) or a hang costs that pipe only.
//!
//! The parent copies each batch of parsed records (line and spans) to the child over
//! its stdin and waits for the updates on its stdout, at most the pipe's budget (see
//! [`proto`]). A writer thread and a reader thread do the I/O, so a stuck child never
//! blocks the parent on a full pipe; the parent itself only waits on a channel with a
//! timeout. One batch is in flight at a time, so a crash is charged to exactly the
//! records of that batch.
//!
//! When the child dies (its exit status or signal is logged), or is killed for going
//! over its budget, the batch in flight is dropped and counted, and the pipe is *down*:
//! records are dropped and counted (`dropped_lines`) until the next start, after a
//! backoff that doubles from 1 s to 60 s and starts over once a child has lived 60 s.
//! Counters (see [`Pipe::take_counters`]): `crashes`, `killed`, `restarts`,
//! `dropped_lines`. While down, [`Pipe::health`] says so, with the reason.
//!
//! Which program is the host: `$TREESTAT_PIPE_HOST` when set, else this executable
//! (the `treestat` binary has the hidden `pipe-host` command; another program that
//! embeds pipes calls [`host::run_host`] when started with `pipe-host`).

pub mod host;
pub mod proto;

use crate::error::{Error, ErrorKind};
use crate::pipeline::PipeConfig;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded, unbounded};
use proto::BatchBuf;
use std::io::{self, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};
use treestat_pipe_api::{Emit, Pipe, PipeError, PipeHealth, Record, Schema};

/// The environment variable naming the host program.
pub const HOST_ENV: &str = "TREESTAT_PIPE_HOST";
/// The host's command-line argument.
pub const HOST_ARG: &str = "pipe-host";
/// First wait before a restart.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest wait before a restart; a child that lived this long resets the backoff.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// The program run as the host.
///
/// # Errors
/// Neither `$TREESTAT_PIPE_HOST` nor the current executable can be found.
pub fn host_program() -> io::Result<PathBuf> {
    match std::env::var_os(HOST_ENV) {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => std::env::current_exe(),
    }
}

/// A running child.
struct Host {
    child: Child,
    to_child: Sender<Vec<u8>>,
    from_child: Receiver<io::Result<(u8, Vec<u8>)>>,
    started: Instant,
}

/// How a child was lost.
enum Lost {
    /// It ended on its own (crash, exit) or broke the protocol.
    Crashed(String),
    /// It went over its budget and was killed.
    Killed(String),
}

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lost::Crashed(w) | Lost::Killed(w) => f.write_str(w),
        }
    }
}

enum State {
    /// Not started yet (before `init`).
    Idle,
    Up(Host),
    /// Waiting to restart.
    Down {
        until: Instant,
        reason: String,
    },
}

/// A pipe in a child process.
pub struct IsolatedPipe {
    name: String,
    cfg: PipeConfig,
    budget: Duration,
    batch_size: usize,
    fields: Vec<String>,
    batch: BatchBuf,
    state: State,
    backoff: Duration,
    errors: u64,
    crashes: u64,
    killed: u64,
    restarts: u64,
    dropped_lines: u64,
}

impl IsolatedPipe {
    /// The pipe of `cfg`, to run in a child; nothing starts before `init`.
    ///
    /// # Errors
    /// A `native` or `python` pipe without `path`.
    pub fn from_config(cfg: &PipeConfig) -> Result<IsolatedPipe, Error> {
        if matches!(cfg.pipe.as_str(), "native" | "python") && cfg.path.is_none() {
            return Err(Error::new(
                ErrorKind::Config,
                format!("a {} pipe needs `path`", cfg.pipe),
            ));
        }
        let name = cfg.name.clone().unwrap_or_else(|| {
            cfg.path
                .as_ref()
                .and_then(|p| p.file_stem())
                .map_or(cfg.pipe.clone(), |s| s.to_string_lossy().into_owned())
        });
        let mut inner = cfg.clone();
        inner.isolate = false;
        inner.budget = None;
        Ok(IsolatedPipe {
            name,
            cfg: inner,
            budget: cfg.budget(),
            batch_size: cfg
                .batch
                .unwrap_or(crate::python::DEFAULT_BATCH)
                .clamp(1, 65_536),
            fields: Vec::new(),
            batch: BatchBuf::default(),
            state: State::Idle,
            backoff: BACKOFF_MIN,
            errors: 0,
            crashes: 0,
            killed: 0,
            restarts: 0,
            dropped_lines: 0,
        })
    }

    /// Starts a child and waits (at most the budget) for its pipe to be up.
    fn spawn(&mut self) -> Result<Host, String> {
        let program = host_program().map_err(|e| format!("no host program: {e}"))?;
        let mut child = Command::new(&program)
            .arg(HOST_ARG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {} {HOST_ARG}: {e}", program.display()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the child has no pipes".into());
        };
        let to_child = writer(stdin, &self.name);
        let from_child = reader(stdout, &self.name);
        let mut host = Host {
            child,
            to_child,
            from_child,
            started: Instant::now(),
        };
        let hello = proto::Hello {
            pipe: self.cfg.clone(),
            budget_ms: u64::try_from(self.budget.as_millis()).unwrap_or(u64::MAX),
            fields: self.fields.clone(),
        };
        let hello = serde_json::to_vec(&hello).map_err(|e| e.to_string())?;
        let _ = host.to_child.send(proto::frame(proto::INIT, &hello));
        match self.answer(&mut host) {
            Ok((proto::READY, name)) => {
                self.name = String::from_utf8_lossy(&name).into_owned();
                Ok(host)
            }
            Ok((proto::FAILED, why)) => {
                stop(host, Duration::ZERO);
                Err(String::from_utf8_lossy(&why).into_owned())
            }
            Ok((tag, _)) => {
                stop(host, Duration::ZERO);
                Err(format!("the host answered the hello with frame {tag}"))
            }
            Err(lost) => Err(lost.to_string()),
        }
    }

    /// The next frame from the child within the budget; on a timeout or the child's
    /// end, the child is killed and reaped and how it was lost returned.
    fn answer(&self, host: &mut Host) -> Result<(u8, Vec<u8>), Lost> {
        match host.from_child.recv_timeout(self.budget) {
            Ok(Ok(frame)) => Ok(frame),
            Ok(Err(e)) => Err(Lost::Crashed(reap(host, &format!("broken answer ({e})")))),
            Err(RecvTimeoutError::Disconnected) => Err(Lost::Crashed(reap(host, ""))),
            Err(RecvTimeoutError::Timeout) => {
                let _ = host.child.kill();
                let _ = host.child.wait();
                Err(Lost::Killed(format!(
                    "over its time budget of {:?}: the child was killed",
                    self.budget
                )))
            }
        }
    }

    /// Sends a frame and emits the updates of the answer; on failure the pipe goes
    /// down, `lost` records counted as dropped.
    fn exchange(&mut self, frame: Vec<u8>, lost: usize, out: &mut dyn Emit) {
        let State::Up(host) = &mut self.state else {
            self.dropped_lines += lost as u64;
            return;
        };
        let _ = host.to_child.send(frame);
        let got = match self.answer_up() {
            Ok((proto::UPDATES, payload)) => proto::decode_updates(&payload, |p, v, a| {
                out.emit(p, v, a);
            })
            .map_err(|e| Lost::Crashed(format!("a broken answer ({e})"))),
            Ok((tag, _)) => Err(Lost::Crashed(format!("an unexpected frame {tag}"))),
            Err(lost) => Err(lost),
        };
        match got {
            Ok(errors) => self.errors += errors,
            Err(why) => {
                self.dropped_lines += lost as u64;
                self.go_down(&why);
            }
        }
    }

    fn answer_up(&mut self) -> Result<(u8, Vec<u8>), Lost> {
        let State::Up(mut host) = std::mem::replace(&mut self.state, State::Idle) else {
            return Err(Lost::Crashed("not running".into()));
        };
        let r = self.answer(&mut host);
        self.state = State::Up(host);
        r
    }

    /// Marks the pipe down after losing its child (already reaped, or never started).
    fn go_down(&mut self, lost: &Lost) {
        let mut lived = Duration::ZERO;
        if let State::Up(h) = std::mem::replace(&mut self.state, State::Idle) {
            lived = h.started.elapsed();
            stop(h, Duration::ZERO);
        }
        let why = match lost {
            Lost::Crashed(why) => {
                self.crashes += 1;
                why
            }
            Lost::Killed(why) => {
                self.killed += 1;
                why
            }
        };
        if lived >= BACKOFF_MAX {
            self.backoff = BACKOFF_MIN;
        }
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        let reason = format!("{why}; restart in {wait:?}");
        tracing::error!(pipe = %self.name, "isolated pipe down: {reason}");
        self.state = State::Down {
            until: Instant::now() + wait,
            reason,
        };
    }

    /// Restarts a down pipe whose backoff has passed.
    fn revive(&mut self) {
        let State::Down { until, .. } = &self.state else {
            return;
        };
        if Instant::now() < *until {
            return;
        }
        self.restarts += 1;
        match self.spawn() {
            Ok(host) => {
                tracing::info!(pipe = %self.name, restarts = self.restarts, "isolated pipe restarted");
                self.state = State::Up(host);
            }
            Err(why) => self.go_down(&Lost::Crashed(format!("restart failed: {why}"))),
        }
    }

    fn send_batch(&mut self, out: &mut dyn Emit) {
        if self.batch.is_empty() {
            return;
        }
        let n = self.batch.len();
        let frame = self.batch.take_frame();
        self.exchange(frame, n, out);
    }
}

/// Reaps a child whose stdout ended and describes how it ended.
fn reap(host: &mut Host, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        match host.child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = host.child.kill();
                break host.child.wait().ok();
            }
        }
    };
    let how = status.map_or("ended".to_string(), |s| format!("ended with {s}"));
    if what.is_empty() {
        format!("the child crashed: {how}")
    } else {
        format!("the child crashed: {how}, {what}")
    }
}

/// Asks a child to quit and waits up to `grace` before killing it.
fn stop(mut host: Host, grace: Duration) {
    let _ = host.to_child.send(proto::frame(proto::QUIT, &[]));
    drop(host.to_child);
    let deadline = Instant::now() + grace;
    loop {
        match host.child.try_wait() {
            Ok(Some(_)) => return,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = host.child.kill();
                let _ = host.child.wait();
                return;
            }
        }
    }
}

fn writer(mut stdin: ChildStdin, name: &str) -> Sender<Vec<u8>> {
    let (tx, rx) = unbounded::<Vec<u8>>();
    let spawned = std::thread::Builder::new()
        .name(format!("pipe-host-w-{name}"))
        .spawn(move || {
            for frame in rx {
                if stdin
                    .write_all(&frame)
                    .and_then(|()| stdin.flush())
                    .is_err()
                {
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start a thread for pipe {name}: {e}");
    }
    tx
}

fn reader(stdout: ChildStdout, name: &str) -> Receiver<io::Result<(u8, Vec<u8>)>> {
    let (tx, rx) = bounded(1);
    let spawned = std::thread::Builder::new()
        .name(format!("pipe-host-r-{name}"))
        .spawn(move || {
            let mut r = BufReader::with_capacity(1 << 16, stdout);
            loop {
                match proto::read_frame(&mut r) {
                    Ok(Some(f)) => {
                        if tx.send(Ok(f)).is_err() {
                            return;
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start a thread for pipe {name}: {e}");
    }
    rx
}

impl Pipe for IsolatedPipe {
    fn name(&self) -> &str {
        &self.name
    }

    fn init(&mut self, schema: &Schema) -> Result<(), PipeError> {
        self.fields = schema.names().to_vec();
        let host = self
            .spawn()
            .map_err(|e| PipeError::new(format!("isolated pipe {}: {e}", self.name)))?;
        self.state = State::Up(host);
        Ok(())
    }

    fn process(&mut self, record: &Record<'_>, out: &mut dyn Emit) -> Result<(), PipeError> {
        self.revive();
        match self.state {
            State::Up(_) => {
                self.batch.push(record, self.fields.len());
                if self.batch.len() >= self.batch_size {
                    self.send_batch(out);
                }
            }
            State::Idle | State::Down { .. } => self.dropped_lines += 1,
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut dyn Emit) -> Result<(), PipeError> {
        self.send_batch(out);
        if let State::Up(_) = self.state {
            self.exchange(proto::frame(proto::FLUSH, &[]), 0, out);
        }
        Ok(())
    }

    fn take_errors(&mut self) -> u64 {
        std::mem::take(&mut self.errors)
    }

    fn health(&self) -> PipeHealth {
        match &self.state {
            State::Down { reason, .. } => PipeHealth::Down(reason.clone()),
            State::Idle | State::Up(_) => PipeHealth::Ok,
        }
    }

    fn take_counters(&mut self, out: &mut dyn FnMut(&'static str, u64)) {
        out("crashes", std::mem::take(&mut self.crashes));
        out("killed", std::mem::take(&mut self.killed));
        out("restarts", std::mem::take(&mut self.restarts));
        out("dropped_lines", std::mem::take(&mut self.dropped_lines));
    }

    fn cleanup(&mut self) {
        self.batch.clear();
        if let State::Up(host) = std::mem::replace(&mut self.state, State::Idle) {
            stop(host, self.budget);
        }
    }
}

impl Drop for IsolatedPipe {
    fn drop(&mut self) {
        self.cleanup();
    }
}
