//! The gmond side of Python modules, run only on the Python thread: import the file,
//! call `metric_init(params)`, read the descriptors, call the callbacks, coerce values.
//!
//! Descriptor keys are matched case-insensitively (`Name`, `CALL_BACK` work); keys the
//! agent does not use are kept as metadata. A numeric metric whose callback returns a
//! numeric string is coerced (`"3.5"` -> 3.5), as gmond does; a callback returning
//! `None` sends nothing for that interval.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::Path;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::error::{Error, Result};
use crate::metric::{MetricDesc, Sample, Slope, Value, ValueType};
use crate::module::Collection;

use super::port;

/// A module imported and initialised on the Python thread.
pub(super) struct Loaded {
    name: String,
    module: Py<PyModule>,
    metrics: Vec<(MetricDesc, Py<PyAny>)>,
    /// Problems with single descriptors, reported with the first collection.
    pending_errors: std::cell::RefCell<Vec<String>>,
    /// Where its 2to3 translation is, when it is a Python 2 module.
    pub(super) ported: Option<String>,
}

/// Formats a Python exception with its traceback, as Python prints it.
pub fn format_py_error(py: Python<'_>, err: &PyErr) -> String {
    let formatted = py
        .import("traceback")
        .and_then(|tb| {
            tb.call_method1(
                "format_exception",
                (err.get_type(py), err.value(py), err.traceback(py)),
            )
        })
        .and_then(|lines| lines.extract::<Vec<String>>());
    match formatted {
        Ok(lines) => lines.concat().trim_end().to_string(),
        Err(_) => err.to_string(),
    }
}

/// Imports the module at `path` (through its 2to3 translation when it is Python 2,
/// cached in `cache`'s `.ported/` folder when given) and calls its `metric_init`.
pub(super) fn load(
    name: &str,
    path: &Path,
    params: &BTreeMap<String, String>,
    cache: Option<&Path>,
) -> Result<Loaded> {
    let source = std::fs::read_to_string(path).map_err(|e| Error::io_at(path, &e))?;
    let nul = |what: &str| Error::module(format!("{name}: {what} holds a NUL byte"));
    let code = CString::new(source.as_str()).map_err(|_| nul("the source"))?;
    let file = CString::new(path.display().to_string()).map_err(|_| nul("the path"))?;
    let modname = CString::new(format!("treestat_module_{name}")).map_err(|_| nul("the name"))?;
    Python::attach(|py| {
        let fail = |what: &str, e: &PyErr| {
            Error::module(format!("{name}: {what}:\n{}", format_py_error(py, e)))
        };
        port::install_shims(py).map_err(|e| fail("installing the Python 2 shims", &e))?;
        if let Some(dir) = path.parent().and_then(Path::to_str) {
            let added = py
                .import("sys")
                .and_then(|sys| sys.getattr("path"))
                .and_then(|p| {
                    if p.contains(dir)? {
                        Ok(())
                    } else {
                        p.call_method1("append", (dir,)).map(|_| ())
                    }
                });
            added.map_err(|e| fail("cannot extend sys.path", &e))?;
        }
        let cannot = format!("cannot import {}", path.display());
        let (module, ported) = match PyModule::from_code(py, &code, &file, &modname) {
            Ok(m) => (m, None),
            Err(e) if port::is_python2_failure(py, &e) => {
                let first = format_py_error(py, &e);
                let p = port::port(py, name, &source, cache).map_err(|t| {
                    Error::module(format!(
                        "{name}: {cannot}:\n{first}\nand 2to3 cannot translate it:\n{}",
                        format_py_error(py, &t)
                    ))
                })?;
                let shown = p.file.as_ref().map_or_else(
                    || format!("{} (2to3)", path.display()),
                    |f| f.display().to_string(),
                );
                let ported_code = CString::new(p.source).map_err(|_| nul("the translation"))?;
                // Imported as the original file: `__file__` stays where the module looks
                // for what lies beside it, and tracebacks name the file the user wrote
                // (2to3 keeps line numbers).
                let m = PyModule::from_code(py, &ported_code, &file, &modname).map_err(|t| {
                    Error::module(format!(
                        "{name}: {cannot}:\n{first}\nnor its 2to3 translation ({shown}):\n{}",
                        format_py_error(py, &t)
                    ))
                })?;
                (m, Some((shown, p.how)))
            }
            Err(e) => return Err(fail(&cannot, &e)),
        };
        let init = module
            .getattr("metric_init")
            .map_err(|e| fail("no metric_init", &e))?;
        let dict = PyDict::new(py);
        for (k, v) in params {
            dict.set_item(k, v)
                .map_err(|e| fail("building params", &e))?;
        }
        let result = init
            .call1((dict,))
            .map_err(|e| fail("metric_init raised", &e))?;
        let items: Vec<Bound<'_, PyAny>> = if result.is_instance_of::<PyDict>() {
            vec![result]
        } else if result.is_instance_of::<PyList>() || result.is_instance_of::<PyTuple>() {
            result
                .try_iter()
                .and_then(|it| it.collect::<PyResult<Vec<_>>>())
                .map_err(|e| fail("reading descriptors", &e))?
        } else {
            return Err(Error::module(format!(
                "{name}: metric_init returned {}, expected a list of descriptor dicts or one dict",
                type_name(&result)
            )));
        };
        let mut metrics = Vec::new();
        let mut errors = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match descriptor(name, item) {
                Ok(m) => metrics.push(m),
                Err(e) => errors.push(format!("{name}: descriptor {i}: {e}")),
            }
        }
        if metrics.is_empty() {
            let why = if errors.is_empty() {
                "metric_init returned no descriptors".to_string()
            } else {
                errors.join("; ")
            };
            return Err(Error::module(format!("{name}: {why}")));
        }
        for e in &errors {
            tracing::warn!("{e}");
        }
        // Said once, when the module is in use (not at each retry of a failing init).
        if let Some((shown, how)) = &ported {
            tracing::info!(
                module = name,
                "a Python 2 module: loaded through its 2to3 translation ({how}, {shown})"
            );
        }
        let ported = ported.map(|(shown, _)| shown);
        Ok(Loaded {
            name: name.to_string(),
            module: module.unbind(),
            metrics,
            pending_errors: std::cell::RefCell::new(errors),
            ported,
        })
    })
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "an object".into())
}

fn descriptor(
    module: &str,
    item: &Bound<'_, PyAny>,
) -> std::result::Result<(MetricDesc, Py<PyAny>), String> {
    let Ok(dict) = item.cast::<PyDict>() else {
        return Err(format!("expected a dict, got {}", type_name(item)));
    };
    let mut desc = MetricDesc {
        group: module.to_string(),
        ..MetricDesc::default()
    };
    let mut call_back = None;
    for (k, v) in dict.iter() {
        let key = k
            .extract::<String>()
            .map_err(|_| format!("a key is {}, not a string", type_name(&k)))?
            .to_ascii_lowercase();
        if key == "call_back" {
            if !v.is_callable() {
                return Err(format!("call_back is {}, not callable", type_name(&v)));
            }
            call_back = Some(v.unbind());
            continue;
        }
        let text = v
            .str()
            .map(|s| s.to_string())
            .map_err(|_| format!("{key}: value cannot be shown as text"))?;
        match key.as_str() {
            "name" => desc.name = text,
            "value_type" => {
                desc.value_type = ValueType::parse(&text);
                desc.metadata.insert(key, text);
            }
            "slope" => desc.slope = Slope::parse(&text),
            "units" => desc.units = text,
            "description" => desc.description = text,
            "groups" => {
                if let Some(g) = text.split(',').map(str::trim).find(|g| !g.is_empty()) {
                    desc.group = g.to_string();
                }
                desc.metadata.insert(key, text);
            }
            "action" => {
                desc.action = Some(text.parse().map_err(|e| format!("action: {e}"))?);
            }
            _ => {
                desc.metadata.insert(key, text);
            }
        }
    }
    if desc.name.is_empty() {
        return Err("no name".to_string());
    }
    crate::tree::check_key(&desc.name).map_err(|e| format!("name: {e}"))?;
    let call_back = call_back.ok_or_else(|| format!("metric {}: no call_back", desc.name))?;
    Ok((desc, call_back))
}

impl Loaded {
    pub(super) fn descriptors(&self) -> Vec<MetricDesc> {
        self.metrics.iter().map(|(d, _)| d.clone()).collect()
    }

    pub(super) fn collect(&self) -> Collection {
        let mut out = Collection {
            samples: Vec::with_capacity(self.metrics.len()),
            errors: self.pending_errors.take(),
        };
        Python::attach(|py| {
            for (desc, cb) in &self.metrics {
                match cb.call1(py, (desc.name.as_str(),)) {
                    Ok(v) => match coerce(desc, v.bind(py)) {
                        Ok(Some(value)) => out.samples.push(Sample::of(desc, value)),
                        Ok(None) => {}
                        Err(e) => out
                            .errors
                            .push(format!("{}: {}: {e}", self.name, desc.name)),
                    },
                    Err(e) => out.errors.push(format!(
                        "{}: {}: callback raised:\n{}",
                        self.name,
                        desc.name,
                        format_py_error(py, &e)
                    )),
                }
            }
        });
        out
    }

    /// Calls `metric_cleanup()` if the module has one; returns the error, if any.
    pub(super) fn cleanup(self) -> Option<String> {
        Python::attach(|py| {
            let module = self.module.bind(py);
            let Ok(f) = module.getattr("metric_cleanup") else {
                return None;
            };
            f.call0().err().map(|e| {
                format!(
                    "{}: metric_cleanup raised:\n{}",
                    self.name,
                    format_py_error(py, &e)
                )
            })
        })
    }
}

/// Converts a callback's return value per the descriptor's type.
fn coerce(desc: &MetricDesc, v: &Bound<'_, PyAny>) -> std::result::Result<Option<Value>, String> {
    if v.is_none() {
        return Ok(None);
    }
    match desc.value_type {
        ValueType::Text => Ok(Some(Value::Text(
            v.str().map(|s| s.to_string()).map_err(|e| e.to_string())?,
        ))),
        ValueType::Number => {
            if let Ok(s) = v.cast::<PyString>() {
                let s = s.to_string();
                return s
                    .trim()
                    .parse::<f64>()
                    .map(|n| Some(Value::Number(n)))
                    .map_err(|_| format!("returned {s:?}, not a number"));
            }
            v.extract::<f64>()
                .map(|n| Some(Value::Number(n)))
                .map_err(|_| format!("returned {}, not a number", type_name(v)))
        }
    }
}
