//! Native pipes: shared libraries speaking the C ABI of `include/treestat_pipe.h`.
//!
//! Loading follows the plugin conventions of polars and dora: the ABI version symbol is
//! read and checked before anything else; then every function is resolved up front, and
//! one error names all that are missing. A library is never unloaded (code it started may
//! still run, and `dlclose` of Rust cdylibs is unsafe), so it is leaked on purpose. An
//! error return, or a panic caught by `declare_pipe!`, becomes a [`PipeError`] with the
//! plugin's message; the pipeline goes on.

use crate::error::{Error, ErrorKind};
use crate::pipeline::PipeConfig;
use libloading::Library;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use treestat_pipe_api::abi::{
    ABI_VERSION, CleanupFn, FlushFn, InitFn, ProcessFn, SYM_ABI_VERSION, SYM_CLEANUP, SYM_FLUSH,
    SYM_INIT, SYM_PROCESS, TsEmitter, TsErrBuf, TsRecord, TsStr,
};
use treestat_pipe_api::{Action, Emit, Pipe, PipeError, Record, Schema, sanitize_key};

/// Size of the buffer a plugin writes its error message into.
const ERR_CAP: usize = 1024;

/// The resolved entry points of a loaded library.
#[derive(Clone, Copy)]
struct Api {
    init: InitFn,
    process: ProcessFn,
    flush: FlushFn,
    cleanup: CleanupFn,
}

/// Loads a library and checks it is a treestat pipe of this ABI version.
///
/// # Errors
/// `Native` errors naming the file and the cause: not loadable, no ABI symbol, another
/// ABI version, missing functions.
fn load(path: &Path) -> Result<Api, Error> {
    let err = |msg: String| Error::new(ErrorKind::Native, format!("{}: {msg}", path.display()));
    // SAFETY: loading runs the library's initialisers; loading a plugin means trusting it.
    let lib = unsafe { Library::new(path) }.map_err(|e| err(format!("cannot load: {e}")))?;
    let lib: &'static Library = Box::leak(Box::new(lib));
    // SAFETY: the symbol is declared as a `u32` in the ABI; we only read it.
    let version = unsafe {
        let sym = lib
            .get::<*const u32>(SYM_ABI_VERSION.as_bytes())
            .map_err(|_| {
                err(format!(
                    "missing symbol {SYM_ABI_VERSION}: not a treestat pipe"
                ))
            })?;
        let ptr: *const u32 = *sym;
        if ptr.is_null() {
            return Err(err(format!("{SYM_ABI_VERSION} is null")));
        }
        *ptr
    };
    if version != ABI_VERSION {
        return Err(err(format!(
            "ABI version {version}, but this treestat speaks version {ABI_VERSION}; rebuild the pipe against include/treestat_pipe.h"
        )));
    }
    let mut missing = Vec::new();
    // SAFETY: the types are those the ABI declares for these names.
    let init = unsafe { lib.get::<InitFn>(SYM_INIT.as_bytes()) }
        .ok()
        .map(|s| *s);
    let process = unsafe { lib.get::<ProcessFn>(SYM_PROCESS.as_bytes()) }
        .ok()
        .map(|s| *s);
    let flush = unsafe { lib.get::<FlushFn>(SYM_FLUSH.as_bytes()) }
        .ok()
        .map(|s| *s);
    let cleanup = unsafe { lib.get::<CleanupFn>(SYM_CLEANUP.as_bytes()) }
        .ok()
        .map(|s| *s);
    for (name, found) in [
        (SYM_INIT, init.is_some()),
        (SYM_PROCESS, process.is_some()),
        (SYM_FLUSH, flush.is_some()),
        (SYM_CLEANUP, cleanup.is_some()),
    ] {
        if !found {
            missing.push(name);
        }
    }
    match (init, process, flush, cleanup) {
        (Some(init), Some(process), Some(flush), Some(cleanup)) => Ok(Api {
            init,
            process,
            flush,
            cleanup,
        }),
        _ => Err(err(format!("missing symbols: {}", missing.join(", ")))),
    }
}

/// A pipe in a shared library.
pub struct NativePipe {
    name: String,
    path: String,
    api: Api,
    config: String,
    state: *mut c_void,
    err: Vec<u8>,
    scratch: String,
}

// SAFETY: the plugin's state is used by one thread at a time (the pipe is moved between
// threads, never shared); the header tells plugin authors so.
unsafe impl Send for NativePipe {}

struct Ctx<'a> {
    out: &'a mut dyn Emit,
    path: String,
}

/// Called by the plugin for each update.
unsafe extern "C" fn host_emit(
    ctx: *mut c_void,
    path: *const u8,
    path_len: usize,
    value: f64,
    action: u8,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: ctx is the `Ctx` we passed for this call; path/len come from the plugin.
        let Some(ctx) = (unsafe { ctx.cast::<Ctx<'_>>().as_mut() }) else {
            return;
        };
        if path.is_null() {
            return;
        }
        let bytes = unsafe { std::slice::from_raw_parts(path, path_len) };
        // Fast path: a valid path goes through as it is.
        if let Ok(text) = std::str::from_utf8(bytes)
            && path_is_valid(text)
        {
            ctx.out.emit(text, value, Action::from_code(action));
            return;
        }
        let text = String::from_utf8_lossy(bytes);
        ctx.path.clear();
        for (i, k) in text.split(',').enumerate() {
            if i > 0 {
                ctx.path.push(',');
            }
            ctx.path.push_str(&sanitize_key(k));
        }
        ctx.out.emit(&ctx.path, value, Action::from_code(action));
    }));
}

/// Whether every key of a path is already valid (docs/CONCEPTS.md, "The tree").
fn path_is_valid(path: &str) -> bool {
    !path.is_empty()
        && path
            .split(',')
            .all(|k| !k.is_empty() && k.len() <= treestat_pipe_api::MAX_KEY_LEN)
        && !path.bytes().any(|b| b < 0x20 || b == 0x7f)
        && !path.chars().any(char::is_control)
}

impl NativePipe {
    /// Loads the library named by `cfg.path`.
    ///
    /// # Errors
    /// No path, or the library fails to load or to pass the ABI checks.
    pub fn from_config(cfg: &PipeConfig) -> Result<NativePipe, Error> {
        let path = cfg.path.as_deref().ok_or_else(|| {
            Error::new(ErrorKind::Config, "a native pipe needs `path` to its .so")
        })?;
        let api = load(path)?;
        let name = cfg.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map_or("native".to_string(), |s| s.to_string_lossy().into_owned())
        });
        let config = match &cfg.config {
            None => "{}".to_string(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
        };
        Ok(NativePipe {
            name,
            path: path.display().to_string(),
            api,
            config,
            state: std::ptr::null_mut(),
            err: vec![0; ERR_CAP],
            scratch: String::new(),
        })
    }

    fn errbuf(&mut self) -> TsErrBuf {
        self.err[0] = 0;
        TsErrBuf {
            buf: self.err.as_mut_ptr(),
            cap: self.err.len(),
        }
    }

    fn message(&self, code: i32) -> PipeError {
        let end = self
            .err
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.err.len());
        let msg = String::from_utf8_lossy(&self.err[..end]);
        let msg = if msg.is_empty() { "no message" } else { &msg };
        PipeError::new(format!("{} returned {code}: {msg}", self.name))
    }
}

impl Pipe for NativePipe {
    fn name(&self) -> &str {
        &self.name
    }

    fn init(&mut self, schema: &Schema) -> Result<(), PipeError> {
        let names: Vec<TsStr> = schema.names().iter().map(|n| TsStr::borrow(n)).collect();
        let mut err = self.errbuf();
        // SAFETY: arguments per the ABI; the strings outlive the call.
        let state = unsafe {
            (self.api.init)(
                self.config.as_ptr(),
                self.config.len(),
                names.as_ptr(),
                names.len(),
                &raw mut err,
            )
        };
        if state.is_null() {
            let e = self.message(-1);
            return Err(PipeError::new(format!(
                "{} ({}): init failed: {}",
                self.name, self.path, e.0
            )));
        }
        self.state = state;
        Ok(())
    }

    fn process(&mut self, record: &Record<'_>, out: &mut dyn Emit) -> Result<(), PipeError> {
        if self.state.is_null() {
            return Err(PipeError::new(format!("{} is not initialised", self.name)));
        }
        let line = record.line();
        let spans = record.spans();
        let rec = TsRecord {
            line: line.as_ptr(),
            line_len: line.len(),
            spans: spans.as_ptr(),
            n_spans: spans.len(),
        };
        let mut ctx = Ctx {
            out,
            path: std::mem::take(&mut self.scratch),
        };
        let emitter = TsEmitter {
            ctx: (&raw mut ctx).cast(),
            emit: host_emit,
        };
        let mut err = self.errbuf();
        // SAFETY: state from init; every pointer lives for the call.
        let code = unsafe {
            (self.api.process)(self.state, &raw const rec, &raw const emitter, &raw mut err)
        };
        self.scratch = ctx.path;
        if code == 0 {
            Ok(())
        } else {
            Err(self.message(code))
        }
    }

    fn flush(&mut self, out: &mut dyn Emit) -> Result<(), PipeError> {
        if self.state.is_null() {
            return Ok(());
        }
        let mut ctx = Ctx {
            out,
            path: std::mem::take(&mut self.scratch),
        };
        let emitter = TsEmitter {
            ctx: (&raw mut ctx).cast(),
            emit: host_emit,
        };
        let mut err = self.errbuf();
        // SAFETY: as in process.
        let code = unsafe { (self.api.flush)(self.state, &raw const emitter, &raw mut err) };
        self.scratch = ctx.path;
        if code == 0 {
            Ok(())
        } else {
            Err(self.message(code))
        }
    }

    fn cleanup(&mut self) {
        if !self.state.is_null() {
            // SAFETY: state from init, not used again.
            unsafe { (self.api.cleanup)(self.state) };
            self.state = std::ptr::null_mut();
        }
    }
}

impl Drop for NativePipe {
    fn drop(&mut self) {
        self.cleanup();
    }
}
