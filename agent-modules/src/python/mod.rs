//! Python modules with the Ganglia gmond interface, run on one dedicated thread.
//!
//! The interpreter is only ever entered from the thread [`PythonHost`] starts: each
//! [`PythonModule`] is a handle that sends its requests there over a channel and waits
//! for the answer, so the collector and async workers never hold the GIL.

mod gmond;
pub mod port;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::metric::MetricDesc;
use crate::module::{Collection, Module};

pub use gmond::format_py_error;

/// What a load answers: the module's id on the Python thread, its descriptors, and
/// where its 2to3 translation is when it was ported.
type LoadReply = Result<(usize, Vec<MetricDesc>, Option<String>)>;

enum Request {
    Load {
        name: String,
        path: PathBuf,
        params: BTreeMap<String, String>,
        cache: Option<PathBuf>,
        reply: mpsc::Sender<LoadReply>,
    },
    Collect {
        id: usize,
        reply: mpsc::Sender<Collection>,
    },
    Cleanup {
        id: usize,
        reply: mpsc::Sender<Option<String>>,
    },
}

/// The thread that owns every Python module of an agent. Dropping the host (and every
/// module handle) ends the thread.
#[derive(Clone)]
pub struct PythonHost {
    tx: mpsc::Sender<Request>,
}

impl std::fmt::Debug for PythonHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PythonHost")
    }
}

impl PythonHost {
    /// Starts the Python thread.
    ///
    /// # Errors
    /// The thread cannot be spawned.
    pub fn start() -> Result<PythonHost> {
        let (tx, rx) = mpsc::channel::<Request>();
        thread::Builder::new()
            .name("treestat-python".into())
            .spawn(move || serve(&rx))
            .map_err(|e| Error::io("spawning the Python thread", &e))?;
        Ok(PythonHost { tx })
    }

    /// Imports the module at `path`, calls `metric_init(params)` and returns a handle
    /// that collects its metrics. A Python 2 module is translated in memory; see
    /// [`PythonHost::load_cached`].
    ///
    /// # Errors
    /// The file does not import (syntax error...), `metric_init` raises or returns no
    /// valid descriptor: the error holds the Python traceback.
    pub fn load(
        &self,
        name: &str,
        path: &Path,
        params: BTreeMap<String, String>,
    ) -> Result<PythonModule> {
        self.load_cached(name, path, params, None)
    }

    /// As [`PythonHost::load`], a Python 2 module's 2to3 translation cached in
    /// `cache`'s `.ported/` folder (see [`port`]).
    ///
    /// # Errors
    /// As [`PythonHost::load`]; for a Python 2 module, with the translation's error too.
    pub fn load_cached(
        &self,
        name: &str,
        path: &Path,
        params: BTreeMap<String, String>,
        cache: Option<&Path>,
    ) -> Result<PythonModule> {
        let (reply, rx) = mpsc::channel();
        self.tx
            .send(Request::Load {
                name: name.to_string(),
                path: path.to_path_buf(),
                params,
                cache: cache.map(Path::to_path_buf),
                reply,
            })
            .map_err(|_| Error::module("the Python thread has stopped"))?;
        let (id, descriptors, ported) = rx.recv_timeout(CALL_TIMEOUT).map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => Error::module(format!(
                "{name}: metric_init gave no answer within {} s",
                CALL_TIMEOUT.as_secs()
            )),
            mpsc::RecvTimeoutError::Disconnected => Error::module("the Python thread has stopped"),
        })??;
        Ok(PythonModule {
            name: name.to_string(),
            id,
            descriptors,
            ported,
            tx: self.tx.clone(),
            cleaned: false,
            waiting: None,
        })
    }
}

/// A loaded Python module: a handle to it on the Python thread.
pub struct PythonModule {
    name: String,
    id: usize,
    descriptors: Vec<MetricDesc>,
    ported: Option<String>,
    tx: mpsc::Sender<Request>,
    cleaned: bool,
    waiting: Option<mpsc::Receiver<Collection>>,
}

/// How long a collection may take before the agent goes on without it.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

impl PythonModule {
    /// The descriptors `metric_init` returned.
    pub fn descriptors(&self) -> &[MetricDesc] {
        &self.descriptors
    }

    /// Where the module's 2to3 translation is, when it is a Python 2 module loaded
    /// through one (a file, or `<path> (2to3)` when it was not cached).
    pub fn ported(&self) -> Option<&str> {
        self.ported.as_deref()
    }

    /// Calls `metric_cleanup()` (once; later calls do nothing).
    ///
    /// # Errors
    /// `metric_cleanup` raised: the traceback.
    pub fn cleanup_checked(&mut self) -> Result<()> {
        if self.cleaned {
            return Ok(());
        }
        self.cleaned = true;
        let (reply, rx) = mpsc::channel();
        self.tx
            .send(Request::Cleanup { id: self.id, reply })
            .map_err(|_| Error::module("the Python thread has stopped"))?;
        match rx.recv_timeout(CALL_TIMEOUT) {
            Ok(None) => Ok(()),
            Ok(Some(e)) => Err(Error::module(e)),
            Err(_) => Err(Error::module(format!(
                "{}: metric_cleanup gave no answer (the Python thread is busy or stopped)",
                self.name
            ))),
        }
    }
}

impl Module for PythonModule {
    fn name(&self) -> &str {
        &self.name
    }

    fn collect(&mut self) -> Collection {
        let failed = |why: String| Collection {
            samples: Vec::new(),
            errors: vec![format!("{}: {why}", self.name)],
        };
        // A callback still running from an earlier interval: do not queue another call
        // behind it (that would grow without bound), report it instead.
        if let Some(rx) = &self.waiting {
            match rx.try_recv() {
                Err(mpsc::TryRecvError::Empty) => {
                    return failed("the previous collection is still running".into());
                }
                Ok(_) | Err(mpsc::TryRecvError::Disconnected) => self.waiting = None,
            }
        }
        let (reply, rx) = mpsc::channel();
        if self
            .tx
            .send(Request::Collect { id: self.id, reply })
            .is_err()
        {
            return failed("the Python thread has stopped".into());
        }
        match rx.recv_timeout(CALL_TIMEOUT) {
            Ok(c) => c,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                self.waiting = Some(rx);
                failed(format!(
                    "no answer within {} s; skipped until it returns",
                    CALL_TIMEOUT.as_secs()
                ))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                failed("the Python thread has stopped".into())
            }
        }
    }

    fn cleanup(&mut self) {
        if let Err(e) = self.cleanup_checked() {
            tracing::warn!(module = %self.name, "metric_cleanup failed: {e}");
        }
    }
}

impl Drop for PythonModule {
    fn drop(&mut self) {
        Module::cleanup(self);
    }
}

fn serve(rx: &mpsc::Receiver<Request>) {
    let mut modules: Vec<Option<gmond::Loaded>> = Vec::new();
    while let Ok(req) = rx.recv() {
        match req {
            Request::Load {
                name,
                path,
                params,
                cache,
                reply,
            } => {
                let result = gmond::load(&name, &path, &params, cache.as_deref()).map(|loaded| {
                    let descs = loaded.descriptors();
                    let ported = loaded.ported.clone();
                    modules.push(Some(loaded));
                    (modules.len() - 1, descs, ported)
                });
                let _ = reply.send(result);
            }
            Request::Collect { id, reply } => {
                let c = match modules.get(id).and_then(Option::as_ref) {
                    Some(m) => m.collect(),
                    None => Collection::default(),
                };
                let _ = reply.send(c);
            }
            Request::Cleanup { id, reply } => {
                let r = modules
                    .get_mut(id)
                    .and_then(Option::take)
                    .and_then(|m| m.cleanup());
                let _ = reply.send(r);
            }
        }
    }
}
