//! The Rust side of a native pipe: generic bodies for the exported C functions, used by
//! [`declare_pipe!`](crate::declare_pipe). Every body catches panics and turns them into
//! an error return, because unwinding across `extern "C"` would abort the host.

use crate::abi::{ACTION_INHERIT, TsEmitter, TsErrBuf, TsRecord, TsStr};
use crate::{Action, Emit, Pipe, PipeError, Record, Schema};
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// A pipe that can be built from its JSON config inside a shared library.
pub trait NativePipe: Pipe + Sized + 'static {
    /// Builds the pipe from the JSON text of its config table (`{}` when none).
    ///
    /// # Errors
    /// When the config is not acceptable.
    fn new(config_json: &str) -> Result<Self, PipeError>;
}

struct State<P> {
    pipe: P,
    schema: Schema,
}

struct CEmit<'a>(&'a TsEmitter);

impl Emit for CEmit<'_> {
    fn emit(&mut self, path: &str, value: f64, action: Option<Action>) {
        let code = action.map_or(ACTION_INHERIT, Action::code);
        // SAFETY: the host keeps the emitter valid for the duration of the call.
        unsafe { (self.0.emit)(self.0.ctx, path.as_ptr(), path.len(), value, code) }
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        format!("panic: {s}")
    } else if let Some(s) = p.downcast_ref::<String>() {
        format!("panic: {s}")
    } else {
        "panic".to_string()
    }
}

/// # Safety
/// `ptr` must be valid for `len` bytes (or null with `len` zero).
unsafe fn text<'a>(ptr: *const u8, len: usize) -> Result<&'a str, PipeError> {
    if ptr.is_null() || len == 0 {
        return Ok("");
    }
    // SAFETY: the caller vouches for ptr and len.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    std::str::from_utf8(bytes).map_err(|e| PipeError::new(format!("not UTF-8: {e}")))
}

unsafe fn report(err: *mut TsErrBuf, msg: &str) {
    if let Some(e) = unsafe { err.as_mut() } {
        // SAFETY: the host provides a buffer of `cap` bytes.
        unsafe { e.write(msg) };
    }
}

/// Body of `treestat_pipe_init`.
///
/// # Safety
/// Arguments as documented on [`crate::abi::InitFn`].
pub unsafe fn init<P: NativePipe>(
    config: *const u8,
    config_len: usize,
    fields: *const TsStr,
    n_fields: usize,
    err: *mut TsErrBuf,
) -> *mut c_void {
    let run = || -> Result<Box<State<P>>, PipeError> {
        // SAFETY: host-provided buffers, per the ABI.
        let cfg = unsafe { text(config, config_len) }?;
        let cfg = if cfg.trim().is_empty() { "{}" } else { cfg };
        let mut names = Vec::with_capacity(n_fields);
        if !fields.is_null() {
            // SAFETY: `n_fields` entries, per the ABI.
            let fs = unsafe { std::slice::from_raw_parts(fields, n_fields) };
            for f in fs {
                names.push(unsafe { text(f.ptr, f.len) }?.to_string());
            }
        }
        let schema = Schema::new(names);
        let mut pipe = P::new(cfg)?;
        pipe.init(&schema)?;
        Ok(Box::new(State { pipe, schema }))
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(state)) => Box::into_raw(state).cast(),
        Ok(Err(e)) => {
            unsafe { report(err, &e.0) };
            std::ptr::null_mut()
        }
        Err(p) => {
            unsafe { report(err, &panic_text(&*p)) };
            std::ptr::null_mut()
        }
    }
}

/// Body of `treestat_pipe_process`.
///
/// # Safety
/// Arguments as documented on [`crate::abi::ProcessFn`]; `state` from [`init`] of the
/// same `P`.
pub unsafe fn process<P: NativePipe>(
    state: *mut c_void,
    rec: *const TsRecord,
    out: *const TsEmitter,
    err: *mut TsErrBuf,
) -> i32 {
    let run = || -> Result<(), PipeError> {
        // SAFETY: the host passes back the state `init` returned, and live pointers.
        let (st, rec, out) = unsafe {
            (
                state.cast::<State<P>>().as_mut(),
                rec.as_ref(),
                out.as_ref(),
            )
        };
        let (Some(st), Some(rec), Some(out)) = (st, rec, out) else {
            return Err(PipeError::new("null argument"));
        };
        let line = unsafe { text(rec.line, rec.line_len) }?;
        let spans = if rec.spans.is_null() {
            &[][..]
        } else {
            // SAFETY: `n_spans` spans, per the ABI.
            unsafe { std::slice::from_raw_parts(rec.spans, rec.n_spans) }
        };
        let record = Record::new(&st.schema, line, spans);
        st.pipe.process(&record, &mut CEmit(out))
    };
    finish(catch_unwind(AssertUnwindSafe(run)), err)
}

/// Body of `treestat_pipe_flush`.
///
/// # Safety
/// As [`process`].
pub unsafe fn flush<P: NativePipe>(
    state: *mut c_void,
    out: *const TsEmitter,
    err: *mut TsErrBuf,
) -> i32 {
    let run = || -> Result<(), PipeError> {
        // SAFETY: as in `process`.
        let (st, out) = unsafe { (state.cast::<State<P>>().as_mut(), out.as_ref()) };
        let (Some(st), Some(out)) = (st, out) else {
            return Err(PipeError::new("null argument"));
        };
        st.pipe.flush(&mut CEmit(out))
    };
    finish(catch_unwind(AssertUnwindSafe(run)), err)
}

/// Body of `treestat_pipe_cleanup`.
///
/// # Safety
/// `state` from [`init`] of the same `P`, not used again afterwards.
pub unsafe fn cleanup<P: NativePipe>(state: *mut c_void) {
    if state.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the state came from Box::into_raw in `init`.
        let mut st = unsafe { Box::from_raw(state.cast::<State<P>>()) };
        st.pipe.cleanup();
    }));
}

fn finish(r: std::thread::Result<Result<(), PipeError>>, err: *mut TsErrBuf) -> i32 {
    match r {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            unsafe { report(err, &e.0) };
            1
        }
        Err(p) => {
            unsafe { report(err, &panic_text(&*p)) };
            2
        }
    }
}

/// Exports a [`NativePipe`] type as a native pipe: the ABI version symbol and the four
/// `treestat_pipe_*` functions. Use once per `cdylib`.
///
/// ```text
/// treestat_pipe_api::declare_pipe!(MyPipe);
/// ```
#[macro_export]
macro_rules! declare_pipe {
    ($ty:ty) => {
        /// The ABI version this library was built for.
        #[allow(non_upper_case_globals)]
        #[unsafe(no_mangle)]
        pub static treestat_pipe_abi_version: u32 = $crate::abi::ABI_VERSION;

        /// # Safety
        /// Called by the treestat host per the ABI.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn treestat_pipe_init(
            config: *const u8,
            config_len: usize,
            fields: *const $crate::abi::TsStr,
            n_fields: usize,
            err: *mut $crate::abi::TsErrBuf,
        ) -> *mut ::core::ffi::c_void {
            unsafe { $crate::plugin::init::<$ty>(config, config_len, fields, n_fields, err) }
        }

        /// # Safety
        /// Called by the treestat host per the ABI.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn treestat_pipe_process(
            state: *mut ::core::ffi::c_void,
            rec: *const $crate::abi::TsRecord,
            out: *const $crate::abi::TsEmitter,
            err: *mut $crate::abi::TsErrBuf,
        ) -> i32 {
            unsafe { $crate::plugin::process::<$ty>(state, rec, out, err) }
        }

        /// # Safety
        /// Called by the treestat host per the ABI.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn treestat_pipe_flush(
            state: *mut ::core::ffi::c_void,
            out: *const $crate::abi::TsEmitter,
            err: *mut $crate::abi::TsErrBuf,
        ) -> i32 {
            unsafe { $crate::plugin::flush::<$ty>(state, out, err) }
        }

        /// # Safety
        /// Called by the treestat host per the ABI.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn treestat_pipe_cleanup(state: *mut ::core::ffi::c_void) {
            unsafe { $crate::plugin::cleanup::<$ty>(state) }
        }
    };
}
