//! The C ABI of native pipes (`pipes/include/treestat_pipe.h` is its C spelling).
//!
//! A native pipe is a shared library exporting, all prefixed `treestat_pipe_`:
//! the data symbol `treestat_pipe_abi_version` (a `u32`, checked before anything else),
//! and the functions `init`, `process`, `flush` and `cleanup`. Records cross the
//! boundary without copying: the line and the field spans the splitter found.
//! Errors come back as a non-zero return plus a message written into a caller-owned
//! buffer. [`declare_pipe!`](crate::declare_pipe) writes all of this for a Rust
//! [`Pipe`](crate::Pipe), catching panics at every exported function.

use crate::Span;
use std::ffi::c_void;

/// The version of this ABI. A library built for another version is refused.
pub const ABI_VERSION: u32 = 1;

/// The `action` value that means "keep or inherit the node's action".
pub const ACTION_INHERIT: u8 = 255;

/// Symbol names, in the order the loader resolves them.
pub const SYM_ABI_VERSION: &str = "treestat_pipe_abi_version";
/// See [`InitFn`].
pub const SYM_INIT: &str = "treestat_pipe_init";
/// See [`ProcessFn`].
pub const SYM_PROCESS: &str = "treestat_pipe_process";
/// See [`FlushFn`].
pub const SYM_FLUSH: &str = "treestat_pipe_flush";
/// See [`CleanupFn`].
pub const SYM_CLEANUP: &str = "treestat_pipe_cleanup";

/// A borrowed string: `ptr` to `len` bytes of UTF-8, not NUL-terminated.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TsStr {
    /// First byte.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl TsStr {
    /// Borrows a Rust string.
    pub fn borrow(s: &str) -> TsStr {
        TsStr {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }
}

/// One record: the line, and one span per schema field (absent: both `u32::MAX`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TsRecord {
    /// The line's bytes (UTF-8).
    pub line: *const u8,
    /// The line's length.
    pub line_len: usize,
    /// `n_spans` spans, in schema order.
    pub spans: *const Span,
    /// How many spans.
    pub n_spans: usize,
}

/// Sends one update back to the host. `path` is `path_len` bytes of UTF-8.
pub type EmitFn = unsafe extern "C" fn(
    ctx: *mut c_void,
    path: *const u8,
    path_len: usize,
    value: f64,
    action: u8,
);

/// The host's sink for updates, valid for the duration of one call.
#[repr(C)]
#[derive(Debug)]
pub struct TsEmitter {
    /// Opaque host state passed back to `emit`.
    pub ctx: *mut c_void,
    /// The function to call per update.
    pub emit: EmitFn,
}

/// A caller-owned buffer for an error message (UTF-8, NUL-terminated, cut to fit).
#[repr(C)]
#[derive(Debug)]
pub struct TsErrBuf {
    /// Start of the buffer.
    pub buf: *mut u8,
    /// Its capacity in bytes, the NUL included.
    pub cap: usize,
}

impl TsErrBuf {
    /// Writes `msg` into the buffer, cut at a character boundary, NUL-terminated.
    ///
    /// # Safety
    /// `self.buf` must be valid for `self.cap` bytes of writes (or `cap` zero).
    pub unsafe fn write(&mut self, msg: &str) {
        if self.buf.is_null() || self.cap == 0 {
            return;
        }
        let n = msg.floor_char_boundary(self.cap - 1);
        // SAFETY: n + 1 <= cap bytes, the caller vouches for the buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(msg.as_ptr(), self.buf, n);
            *self.buf.add(n) = 0;
        }
    }
}

/// `void *treestat_pipe_init(const char *config, size_t config_len, const ts_str *fields,
/// size_t n_fields, ts_errbuf *err)`: the config is JSON; returns the pipe's state, or
/// NULL with a message in `err`.
pub type InitFn = unsafe extern "C" fn(
    config: *const u8,
    config_len: usize,
    fields: *const TsStr,
    n_fields: usize,
    err: *mut TsErrBuf,
) -> *mut c_void;

/// `int32_t treestat_pipe_process(void *state, const ts_record *rec, const ts_emitter *out,
/// ts_errbuf *err)`: 0 on success.
pub type ProcessFn = unsafe extern "C" fn(
    state: *mut c_void,
    rec: *const TsRecord,
    out: *const TsEmitter,
    err: *mut TsErrBuf,
) -> i32;

/// `int32_t treestat_pipe_flush(void *state, const ts_emitter *out, ts_errbuf *err)`:
/// 0 on success.
pub type FlushFn =
    unsafe extern "C" fn(state: *mut c_void, out: *const TsEmitter, err: *mut TsErrBuf) -> i32;

/// `void treestat_pipe_cleanup(void *state)`: frees the state.
pub type CleanupFn = unsafe extern "C" fn(state: *mut c_void);
