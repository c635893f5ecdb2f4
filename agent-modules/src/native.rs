//! Native modules: shared libraries with the C ABI of `include/treestat_module.h`,
//! loaded through libloading.
//!
//! Every symbol is resolved up front (an error names the one missing), the ABI version
//! is checked before anything else is called, and the library stays loaded until the
//! module is cleaned up. Handlers run on the collector thread, never an async worker.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString, c_char, c_int};
use std::path::Path;

use libloading::Library;

use crate::error::{Error, Result};
use crate::metric::{MetricDesc, Sample, Slope, Value, ValueType};
use crate::module::{Collection, Module};

/// The ABI version this agent speaks (`TREESTAT_MODULE_ABI_VERSION`).
pub const ABI_VERSION: u32 = 1;

const TEXT_CAP: usize = 1024;

#[repr(C)]
struct CParam {
    name: *const c_char,
    value: *const c_char,
}

#[repr(C)]
struct CValue {
    number: f64,
    text: *mut c_char,
    text_cap: usize,
}

type Handler = unsafe extern "C" fn(*const c_char, *mut CValue) -> c_int;

#[repr(C)]
struct CMetric {
    name: *const c_char,
    group: *const c_char,
    units: *const c_char,
    description: *const c_char,
    value_type: c_int,
    slope: c_int,
    handler: Option<Handler>,
}

type AbiFn = unsafe extern "C" fn() -> u32;
type InitFn = unsafe extern "C" fn(*const CParam, usize, *mut c_char, usize) -> c_int;
type MetricsFn = unsafe extern "C" fn(*mut usize) -> *const CMetric;
type CleanupFn = unsafe extern "C" fn();

/// A loaded native module.
pub struct NativeModule {
    name: String,
    metrics: Vec<(MetricDesc, CString, Handler)>,
    cleanup: CleanupFn,
    cleaned: bool,
    // Declared last: dropped after everything that points into it.
    _lib: Library,
}

// SAFETY: the module is only ever used from one thread at a time (the collector owns
// it); the C ABI documents that handlers are called from a single agent thread.
unsafe impl Send for NativeModule {}

fn opt_str(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: the ABI requires NUL-terminated strings valid until cleanup.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

fn buffer_text(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

impl NativeModule {
    /// Loads the library at `path`, checks its ABI version, calls its init with
    /// `params` and reads its metric list.
    ///
    /// # Errors
    /// The library cannot be opened, a symbol is missing, the ABI version differs, init
    /// fails (its message is included), or a metric descriptor is invalid.
    pub fn load(name: &str, path: &Path, params: &BTreeMap<String, String>) -> Result<Self> {
        let fail = |what: String| Error::module(format!("{name} ({}): {what}", path.display()));
        // SAFETY: loading a library runs its initialisers; loading a module is the
        // user's explicit choice (a file in the module folder).
        let lib = unsafe { Library::new(path) }.map_err(|e| fail(format!("cannot load: {e}")))?;
        // SAFETY (all four): the types match the declarations in treestat_module.h.
        let abi: AbiFn = unsafe { sym(&lib, b"treestat_module_abi_version\0") }.map_err(&fail)?;
        let init: InitFn = unsafe { sym(&lib, b"treestat_module_init\0") }.map_err(&fail)?;
        let list: MetricsFn = unsafe { sym(&lib, b"treestat_module_metrics\0") }.map_err(&fail)?;
        let cleanup: CleanupFn =
            unsafe { sym(&lib, b"treestat_module_cleanup\0") }.map_err(&fail)?;
        // SAFETY: a plain function with no arguments.
        let version = unsafe { abi() };
        if version != ABI_VERSION {
            return Err(fail(format!(
                "ABI version {version}, this agent speaks {ABI_VERSION}"
            )));
        }
        let owned: Vec<(CString, CString)> = params
            .iter()
            .map(|(k, v)| Ok((CString::new(k.as_str())?, CString::new(v.as_str())?)))
            .collect::<std::result::Result<_, std::ffi::NulError>>()
            .map_err(|_| fail("a parameter holds a NUL byte".into()))?;
        let cparams: Vec<CParam> = owned
            .iter()
            .map(|(k, v)| CParam {
                name: k.as_ptr(),
                value: v.as_ptr(),
            })
            .collect();
        let mut err = vec![0u8; TEXT_CAP];
        // SAFETY: params and err are valid for the lengths given during the call.
        let rc = unsafe {
            init(
                cparams.as_ptr(),
                cparams.len(),
                err.as_mut_ptr().cast(),
                err.len(),
            )
        };
        if rc != 0 {
            return Err(fail(format!("init failed ({rc}): {}", buffer_text(&err))));
        }
        let mut count = 0usize;
        // SAFETY: count is a valid out-pointer.
        let ptr = unsafe { list(&mut count) };
        if ptr.is_null() && count > 0 {
            return Err(fail("treestat_module_metrics returned NULL".into()));
        }
        let raw: &[CMetric] = if count == 0 {
            &[]
        } else {
            // SAFETY: the ABI promises an array of `count` metrics valid until cleanup.
            unsafe { std::slice::from_raw_parts(ptr, count) }
        };
        let mut metrics = Vec::with_capacity(count);
        for (i, m) in raw.iter().enumerate() {
            let mname = opt_str(m.name);
            crate::tree::check_key(&mname).map_err(|e| fail(format!("metric {i}: {e}")))?;
            let handler = m
                .handler
                .ok_or_else(|| fail(format!("metric {mname}: NULL handler")))?;
            let group = opt_str(m.group);
            let desc = MetricDesc {
                name: mname.clone(),
                group: if group.is_empty() {
                    name.to_string()
                } else {
                    group
                },
                value_type: if m.value_type == 1 {
                    ValueType::Text
                } else {
                    ValueType::Number
                },
                slope: match m.slope {
                    1 => Slope::Positive,
                    2 => Slope::Zero,
                    3 => Slope::Negative,
                    _ => Slope::Both,
                },
                units: opt_str(m.units),
                description: opt_str(m.description),
                ..MetricDesc::default()
            };
            let cname = CString::new(mname).map_err(|_| fail("NUL in a name".into()))?;
            metrics.push((desc, cname, handler));
        }
        Ok(NativeModule {
            name: name.to_string(),
            metrics,
            cleanup,
            cleaned: false,
            _lib: lib,
        })
    }

    /// The module's metric descriptors.
    pub fn descriptors(&self) -> Vec<MetricDesc> {
        self.metrics.iter().map(|(d, _, _)| d.clone()).collect()
    }
}

/// Resolves one symbol, naming it when missing.
///
/// # Safety
/// `T` must be the symbol's true type.
unsafe fn sym<T: Copy>(lib: &Library, name: &[u8]) -> std::result::Result<T, String> {
    // SAFETY: forwarded to the caller.
    unsafe { lib.get::<T>(name) }.map(|s| *s).map_err(|e| {
        let shown = String::from_utf8_lossy(&name[..name.len() - 1]);
        format!("missing symbol {shown}: {e}")
    })
}

impl Module for NativeModule {
    fn name(&self) -> &str {
        &self.name
    }

    fn collect(&mut self) -> Collection {
        let mut out = Collection::default();
        let mut buf = vec![0u8; TEXT_CAP];
        for (desc, cname, handler) in &self.metrics {
            buf.fill(0);
            let mut v = CValue {
                number: f64::NAN,
                text: buf.as_mut_ptr().cast(),
                text_cap: buf.len() - 1,
            };
            // SAFETY: the handler's signature is the ABI's; name and buffer outlive it.
            let rc = unsafe { handler(cname.as_ptr(), &mut v) };
            let text = buffer_text(&buf);
            if rc != 0 {
                if !(rc == 1 && text.is_empty()) {
                    out.errors.push(format!(
                        "{}: {}: failed ({rc}): {text}",
                        self.name, desc.name
                    ));
                }
                continue;
            }
            let value = match desc.value_type {
                ValueType::Text => Value::Text(text),
                ValueType::Number if v.number.is_finite() => Value::Number(v.number),
                ValueType::Number => {
                    out.errors
                        .push(format!("{}: {}: not a finite number", self.name, desc.name));
                    continue;
                }
            };
            out.samples.push(Sample::of(desc, value));
        }
        out
    }

    fn cleanup(&mut self) {
        if !self.cleaned {
            self.cleaned = true;
            // SAFETY: called once, before the library is unloaded.
            unsafe { (self.cleanup)() };
        }
    }
}

impl Drop for NativeModule {
    fn drop(&mut self) {
        Module::cleanup(self);
    }
}
