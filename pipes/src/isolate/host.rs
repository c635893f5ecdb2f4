//! The child side: `treestat pipe-host` runs one pipe for its parent, reading frames
//! on stdin and answering on stdout (see [`super::proto`]).
//!
//! Before anything else the protocol's stdout is set aside and file descriptor 1 is
//! pointed at stderr, so a plugin that prints (C `printf`, Python `print`) lands in the
//! server's log instead of corrupting the frames. A Python pipe over its budget inside
//! the host ends the host (exit status 3): the parent restarts it, which is what
//! isolation is for.

use super::proto::{self, Hello};
use crate::pipeline::build_pipe;
use std::io::{self, BufReader, BufWriter, Write};
use std::os::fd::AsFd;
use treestat_pipe_api::{Action, Emit, Pipe, PipeHealth, Record, Schema};

/// The exit status of a host whose pipe failed for good (a Python pipe over budget).
pub const EXIT_PIPE_FAILED: i32 = 3;

#[derive(Default)]
struct Collect(Vec<proto::Update>);

impl Emit for Collect {
    fn emit(&mut self, path: &str, value: f64, action: Option<Action>) {
        self.0.push((path.to_string(), value, action));
    }
}

/// Moves the process's stdout aside for the protocol and sends fd 1 to stderr.
fn take_stdout() -> io::Result<std::fs::File> {
    let proto = io::stdout().as_fd().try_clone_to_owned()?;
    // SAFETY: dup2 on two descriptors this process owns (2 and 1); it has no memory
    // effects, and Rust's stdout handle keeps writing to fd 1, now stderr.
    let r = unsafe { libc::dup2(2, 1) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(std::fs::File::from(proto))
}

/// Runs the host until its parent says quit or goes away; returns the exit status.
pub fn run_host() -> i32 {
    match serve() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("treestat pipe-host: {e}");
            1
        }
    }
}

fn serve() -> io::Result<i32> {
    let out = take_stdout()?;
    let mut w = BufWriter::with_capacity(1 << 16, out);
    let mut r = BufReader::with_capacity(1 << 16, io::stdin().lock());
    let Some((proto::INIT, hello)) = proto::read_frame(&mut r)? else {
        return Err(io::Error::other("the first frame is not a hello"));
    };
    let hello: Hello = serde_json::from_slice(&hello).map_err(io::Error::other)?;
    let mut cfg = hello.pipe;
    cfg.isolate = false;
    cfg.budget = Some(std::time::Duration::from_millis(hello.budget_ms));
    let schema = Schema::new(hello.fields);
    let mut pipe: Box<dyn Pipe> = match build_pipe(&cfg) {
        Ok(p) => p,
        Err(e) => {
            proto::write_frame(&mut w, proto::FAILED, e.to_string().as_bytes())?;
            return Ok(0);
        }
    };
    if let Err(e) = pipe.init(&schema) {
        proto::write_frame(&mut w, proto::FAILED, e.0.as_bytes())?;
        return Ok(0);
    }
    proto::write_frame(&mut w, proto::READY, pipe.name().as_bytes())?;
    let mut out = Collect::default();
    while let Some((tag, payload)) = proto::read_frame(&mut r)? {
        let mut errors = 0u64;
        match tag {
            proto::BATCH => proto::decode_batch(&payload, |line, spans| {
                if pipe
                    .process(&Record::new(&schema, line, spans), &mut out)
                    .is_err()
                {
                    errors += 1;
                }
            })?,
            proto::FLUSH => {
                if let Err(e) = pipe.flush(&mut out) {
                    eprintln!("pipe {}: flush: {e}", pipe.name());
                    errors += 1;
                }
            }
            proto::QUIT => break,
            other => return Err(io::Error::other(format!("unknown frame tag {other}"))),
        }
        if let PipeHealth::Failed(why) = pipe.health() {
            eprintln!("pipe {}: {why}; the host exits", pipe.name());
            // Exit without the pipe's cleanup: its thread is stuck.
            return Ok(EXIT_PIPE_FAILED);
        }
        errors += pipe.take_errors();
        let payload = proto::encode_updates(&out.0, errors);
        out.0.clear();
        proto::write_frame(&mut w, proto::UPDATES, &payload)?;
    }
    pipe.cleanup();
    w.flush()?;
    Ok(0)
}
