//! The thread a Python pipe runs on: compiles the module, calls `init`, then serves
//! record batches and flushes until told to stop, then calls `cleanup`.

use super::messages::{Busy, Cmd, RecordBatch, Update};
use crossbeam_channel::{Receiver, Sender};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use std::ffi::CString;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use treestat_pipe_api::{ACTION_KEYS, Action, is_action_key, sanitize_key};

/// Tracebacks logged per batch at most; the rest are only counted.
const LOGGED_PER_BATCH: usize = 3;
/// Deepest tree `result()` may return.
const MAX_DEPTH: usize = 32;
/// Most updates one `result()` may return.
const MAX_UPDATES: usize = 1_000_000;

pub(super) struct Job {
    pub(super) name: String,
    pub(super) path: String,
    pub(super) code: String,
    pub(super) config: serde_json::Value,
    pub(super) fields: Vec<String>,
    pub(super) errors: Arc<AtomicU64>,
    pub(super) busy: Busy,
}

struct Loaded {
    process: Py<PyAny>,
    result: Py<PyAny>,
    cleanup: Option<Py<PyAny>>,
    keys: Vec<Py<PyString>>,
}

/// The error text of a Python exception, traceback included.
fn describe(py: Python<'_>, e: &PyErr) -> String {
    let tb = e
        .traceback(py)
        .and_then(|tb| tb.format().ok())
        .unwrap_or_default();
    format!("{tb}{e}")
}

fn json_to_py<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    let json = py.import("json")?;
    json.call_method1("loads", (v.to_string(),))
}

fn load(py: Python<'_>, job: &Job) -> Result<Loaded, String> {
    let code = CString::new(job.code.as_str())
        .map_err(|_| format!("{}: the file contains a NUL byte", job.path))?;
    let file = CString::new(job.path.as_str()).unwrap_or_default();
    let modname = CString::new(format!(
        "treestat_pipe_{}",
        sanitize_key(&job.name).replace(['-', '.', ' '], "_")
    ))
    .unwrap_or_default();
    let module = PyModule::from_code(py, &code, &file, &modname)
        .map_err(|e| format!("{}: {}", job.path, describe(py, &e)))?;
    let get = |n: &str| -> Option<Py<PyAny>> {
        module
            .getattr(n)
            .ok()
            .filter(|f| f.is_callable())
            .map(Bound::unbind)
    };
    let missing: Vec<&str> = ["process", "result"]
        .into_iter()
        .filter(|n| get(n).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{}: missing function(s) {}",
            job.path,
            missing.join(", ")
        ));
    }
    if let Some(init) = get("init") {
        let cfg = json_to_py(py, &job.config).map_err(|e| describe(py, &e))?;
        init.call1(py, (cfg,))
            .map_err(|e| format!("{}: init(): {}", job.path, describe(py, &e)))?;
    }
    Ok(Loaded {
        process: get("process").ok_or("process")?,
        result: get("result").ok_or("result")?,
        cleanup: get("cleanup"),
        keys: job
            .fields
            .iter()
            .map(|f| PyString::intern(py, f).unbind())
            .collect(),
    })
}

pub(super) fn run(job: Job, rx: &Receiver<Cmd>, ready: &Sender<Result<(), String>>) {
    job.busy.start();
    let loaded = Python::attach(|py| load(py, &job));
    job.busy.idle();
    let loaded = match loaded {
        Ok(l) => {
            let _ = ready.send(Ok(()));
            l
        }
        Err(msg) => {
            let _ = ready.send(Err(msg));
            return;
        }
    };
    while let Ok(cmd) = rx.recv() {
        job.busy.start();
        match cmd {
            Cmd::Records(batch) => Python::attach(|py| process(py, &job, &loaded, &batch)),
            Cmd::Flush(reply) => {
                let r = Python::attach(|py| result(py, &loaded));
                let _ = reply.send(r);
            }
            Cmd::Stop => break,
        }
        job.busy.idle();
    }
    // Still marked busy from the stop: cleanup() keeps to the budget too.
    Python::attach(|py| {
        if let Some(c) = &loaded.cleanup
            && let Err(e) = c.call0(py)
        {
            tracing::warn!(pipe = %job.name, "cleanup() raised: {}", describe(py, &e));
        }
    });
}

fn process(py: Python<'_>, job: &Job, loaded: &Loaded, batch: &RecordBatch) {
    let n = batch.starts.len();
    let mut logged = 0;
    for r in 0..n {
        let start = batch.starts[r];
        let end = batch.starts.get(r + 1).copied().unwrap_or(batch.text.len());
        let line = &batch.text[start..end];
        let spans = &batch.spans[r * batch.fields..(r + 1) * batch.fields];
        let outcome = (|| -> PyResult<()> {
            let dict = PyDict::new(py);
            for (i, sp) in spans.iter().enumerate() {
                let Some(v) = line.get(sp.start as usize..sp.end as usize) else {
                    continue;
                };
                if v.is_empty() || v == "-" {
                    continue;
                }
                dict.set_item(loaded.keys[i].bind(py), PyString::new(py, v))?;
            }
            loaded.process.call1(py, (dict,))?;
            Ok(())
        })();
        if let Err(e) = outcome {
            job.errors.fetch_add(1, Ordering::Relaxed);
            if logged < LOGGED_PER_BATCH {
                logged += 1;
                tracing::warn!(pipe = %job.name, "process() raised: {}", describe(py, &e));
            }
        }
    }
}

fn result(py: Python<'_>, loaded: &Loaded) -> Result<Vec<Update>, String> {
    let value = loaded.result.call0(py).map_err(|e| describe(py, &e))?;
    let value = value.bind(py);
    let mut out = Vec::new();
    if value.is_none() {
        return Ok(out);
    }
    if let Ok(list) = value.cast::<PyList>() {
        for item in list.iter() {
            let pair = item
                .cast::<PyTuple>()
                .map_err(|_| "a list from result() must hold (name, tree) pairs".to_string())?;
            if pair.len() != 2 {
                return Err("a list from result() must hold (name, tree) pairs".into());
            }
            let name: String = pair
                .get_item(0)
                .and_then(|n| n.extract())
                .map_err(|_| "the name in a (name, tree) pair must be a string".to_string())?;
            let mut keys = vec![sanitize_key(&name).into_owned()];
            flatten(
                &pair.get_item(1).map_err(|e| e.to_string())?,
                &mut keys,
                None,
                &mut out,
            )?;
        }
        return Ok(out);
    }
    flatten(value, &mut Vec::new(), None, &mut out)?;
    Ok(out)
}

fn flatten(
    v: &Bound<'_, PyAny>,
    keys: &mut Vec<String>,
    action: Option<Action>,
    out: &mut Vec<Update>,
) -> Result<(), String> {
    if keys.len() > MAX_DEPTH || out.len() > MAX_UPDATES {
        return Err(format!(
            "result() is deeper than {MAX_DEPTH} levels or larger than {MAX_UPDATES} values"
        ));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        let mut action = action;
        for k in ACTION_KEYS {
            if let Ok(Some(a)) = d.get_item(k) {
                let s: String = a.extract().map_err(|_| format!("{k} must be a string"))?;
                action = Some(s.parse::<Action>().map_err(|e| e.to_string())?);
            }
        }
        for (k, child) in d.iter() {
            let key: String = match k.extract::<String>() {
                Ok(s) => s,
                Err(_) => k.str().map_err(|e| e.to_string())?.to_string(),
            };
            if is_action_key(&key) {
                continue;
            }
            keys.push(sanitize_key(&key).into_owned());
            let r = flatten(&child, keys, action, out);
            keys.pop();
            r?;
        }
        return Ok(());
    }
    if keys.is_empty() {
        return Err("result() must return a dict (a tree) or a list of (name, tree) pairs".into());
    }
    if v.is_none() || v.is_instance_of::<PyString>() {
        return Ok(());
    }
    if let Ok(list) = v.cast::<PyList>() {
        for item in list.iter() {
            if let Ok(x) = item.extract::<f64>() {
                out.push((keys.join(","), x, action));
            }
        }
        return Ok(());
    }
    match v.extract::<f64>() {
        Ok(x) => out.push((keys.join(","), x, action)),
        Err(_) => {
            return Err(format!("value at {} is not a number", keys.join(",")));
        }
    }
    Ok(())
}
