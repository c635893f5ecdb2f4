//! Ganglia's own C modules (`modcpu.so`, `modmem.so`, ... of Debian's `ganglia-monitor`),
//! loaded unchanged, as gmond loads them.
//!
//! Such a module is a shared library exporting one `mmodule` struct named
//! `<name>_module` (libganglia1-dev's `gm_metric.h`). It is linked against libapr-1 and
//! expects libganglia's helpers (`slurpfile`, `skip_token`, `debug_msg`, ...) from the
//! host process, so libganglia is opened first with its symbols global (once per
//! process, and never closed). Then, per module: the struct is read and its magic
//! cookie and API version checked, `init` is called with an APR pool of its own,
//! `metrics_info` (an array of `Ganglia_25metric` ending in a NULL name) becomes the
//! metric declarations (the group from the `GROUP` metadata, as gmond reads it), and
//! each collection calls `handler(index)` for every metric and reads the returned
//! `g_val_t` by the declared type.
//!
//! A `.so` in the module folder is taken as a Ganglia module when its dynamic symbol
//! table defines a data object whose name ends in `_module` and it does not export
//! treestat's own `treestat_module_abi_version` ([`module_symbol`]).

use std::ffi::{CStr, CString, c_char, c_int, c_ulong, c_void};
use std::path::Path;
use std::sync::OnceLock;

use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_LOCAL, RTLD_NOW};

use crate::error::{Error, Result};
use crate::metric::{MetricDesc, Sample, Slope, Value, ValueType};
use crate::module::{Collection, Module};

/// `MMODULE_MAGIC_COOKIE` ("GM32").
const MAGIC_COOKIE: c_ulong = 0x474D_3332;
/// `MMODULE_MAGIC_NUMBER_MAJOR`: the module API version gmond 3.1 to 3.7 speak.
const API_MAJOR: c_int = 20_080_913;
/// More metrics than any module declares: a bound for a `metrics_info` array whose
/// terminating entry is missing.
const MAX_METRICS: usize = 4096;
/// `MAX_G_STRING_SIZE`.
const G_STRING: usize = 64;

/// `Ganglia_25metric` (gm_protocol.h).
#[repr(C)]
struct Ganglia25Metric {
    key: c_int,
    name: *const c_char,
    tmax: c_int,
    value_type: c_int,
    units: *const c_char,
    slope: *const c_char,
    fmt: *const c_char,
    msg_size: c_int,
    desc: *const c_char,
    /// An `apr_table_t *` of metadata (`GROUP`, ...), made by the module's init.
    metadata: *mut c_void,
}

/// `g_val_t` (gm_value.h), returned by value (through a hidden pointer: 64 bytes).
#[repr(C)]
#[derive(Clone, Copy)]
union GVal {
    int8: i8,
    uint8: u8,
    int16: i16,
    uint16: u16,
    int32: i32,
    uint32: u32,
    f: f32,
    d: f64,
    text: [c_char; G_STRING],
}

type InitFn = unsafe extern "C" fn(*mut c_void) -> c_int;
type CleanupFn = unsafe extern "C" fn();
type HandlerFn = unsafe extern "C" fn(c_int) -> GVal;

/// `mmodule` (gm_metric.h).
#[repr(C)]
struct MModule {
    version: c_int,
    minor_version: c_int,
    name: *const c_char,
    dynamic_load_handle: *mut c_void,
    module_name: *mut c_char,
    metric_name: *mut c_char,
    module_params: *mut c_char,
    module_params_list: *mut c_void,
    config_file: *mut c_void,
    next: *mut MModule,
    magic: c_ulong,
    init: Option<InitFn>,
    cleanup: Option<CleanupFn>,
    metrics_info: *mut Ganglia25Metric,
    handler: Option<HandlerFn>,
}

/// `Ganglia_value_types` (gm_protocol.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GType {
    Text,
    U16,
    I16,
    U32,
    I32,
    F32,
    F64,
}

impl GType {
    fn of(code: c_int) -> Option<GType> {
        Some(match code {
            1 => GType::Text,
            2 => GType::U16,
            3 => GType::I16,
            4 => GType::U32,
            5 => GType::I32,
            6 => GType::F32,
            7 => GType::F64,
            _ => return None,
        })
    }
}

type AprInitFn = unsafe extern "C" fn() -> c_int;
type PoolCreateFn =
    unsafe extern "C" fn(*mut *mut c_void, *mut c_void, *mut c_void, *mut c_void) -> c_int;
type PoolDestroyFn = unsafe extern "C" fn(*mut c_void);
type TableGetFn = unsafe extern "C" fn(*const c_void, *const c_char) -> *const c_char;

/// libganglia and libapr, opened once with their symbols global and never closed
/// (modules resolve their helpers against them).
struct Host {
    pool_create: PoolCreateFn,
    pool_destroy: PoolDestroyFn,
    table_get: TableGetFn,
    _libs: Vec<Library>,
}

fn open_global(names: &[&str]) -> std::result::Result<Library, String> {
    let mut why = Vec::new();
    for n in names {
        // SAFETY: opening a system library runs its initialisers, which is what loading
        // a Ganglia module requires (the user put the module in the folder).
        match unsafe { Library::open(Some(*n), RTLD_NOW | RTLD_GLOBAL) } {
            Ok(lib) => return Ok(lib),
            Err(e) => why.push(e.to_string()),
        }
    }
    Err(why.join("; "))
}

fn host() -> std::result::Result<&'static Host, String> {
    static HOST: OnceLock<std::result::Result<Host, String>> = OnceLock::new();
    HOST.get_or_init(|| {
        let apr = open_global(&["libapr-1.so.0", "libapr-1.so"])
            .map_err(|e| format!("libapr-1 (Debian package libapr1): {e}"))?;
        let ganglia = open_global(&["libganglia.so.0", "libganglia.so"])
            .map_err(|e| format!("libganglia (Debian package libganglia1): {e}"))?;
        // SAFETY (all four): the types are APR 1.x's declarations.
        let init: AprInitFn = unsafe { sym(&apr, b"apr_initialize\0") }?;
        let pool_create: PoolCreateFn = unsafe { sym(&apr, b"apr_pool_create_ex\0") }?;
        let pool_destroy: PoolDestroyFn = unsafe { sym(&apr, b"apr_pool_destroy\0") }?;
        let table_get: TableGetFn = unsafe { sym(&apr, b"apr_table_get\0") }?;
        // SAFETY: apr_initialize may be called more than once (it counts).
        let rc = unsafe { init() };
        if rc != 0 {
            return Err(format!("apr_initialize failed ({rc})"));
        }
        Ok(Host {
            pool_create,
            pool_destroy,
            table_get,
            _libs: vec![apr, ganglia],
        })
    })
    .as_ref()
    .map_err(Clone::clone)
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

fn c_text(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: Ganglia's strings are NUL-terminated and live as long as the module.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// The `*_module` symbol a `.so` exports if it is a Ganglia module: `Ok(None)` for any
/// other library (treestat's own ABI, not ELF, no such symbol). Reads only the ELF
/// header, the section headers and the dynamic symbol table (the folder is listed every
/// 10 s).
///
/// # Errors
/// The file cannot be opened.
pub fn module_symbol(path: &Path) -> std::io::Result<Option<String>> {
    let file = std::fs::File::open(path)?;
    let names = elf_dynamic_symbols(&file).unwrap_or_default();
    if names.iter().any(|n| n == "treestat_module_abi_version") {
        return Ok(None);
    }
    Ok(names
        .into_iter()
        .find(|n| n.ends_with("_module") && n.len() > "_module".len()))
}

/// The most bytes read for one table of an ELF file (a bound for a malformed one).
const ELF_TABLE_MAX: usize = 64 << 20;

/// The names of the symbols (functions and data) an ELF64 little-endian file defines in
/// its dynamic symbol table, or `None` when it is not such a file or is malformed.
fn elf_dynamic_symbols(file: &std::fs::File) -> Option<Vec<String>> {
    use std::os::unix::fs::FileExt;
    let read = |off: usize, len: usize| {
        if len > ELF_TABLE_MAX {
            return None;
        }
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, u64::try_from(off).ok()?)
            .ok()?;
        Some(buf)
    };
    let u16_at = |b: &[u8], o: usize| Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |b: &[u8], o: usize| Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?));
    let usize_at = |b: &[u8], o: usize| {
        usize::try_from(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?)).ok()
    };
    let header = read(0, 64)?;
    if header.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let shoff = usize_at(&header, 0x28)?;
    let shentsize = usize::from(u16_at(&header, 0x3A)?);
    let shnum = usize::from(u16_at(&header, 0x3C)?);
    if shentsize < 64 {
        return None;
    }
    let sections = read(shoff, shnum.checked_mul(shentsize)?)?;
    let section = |i: usize| sections.get(i * shentsize..(i + 1) * shentsize);
    let mut out = Vec::new();
    for i in 0..shnum {
        let sh = section(i)?;
        if u32_at(sh, 4)? != 11 {
            continue; // not SHT_DYNSYM
        }
        let syms = read(usize_at(sh, 0x18)?, usize_at(sh, 0x20)?)?;
        let strtab = section(usize::try_from(u32_at(sh, 0x28)?).ok()?)?;
        let strings = read(usize_at(strtab, 0x18)?, usize_at(strtab, 0x20)?)?;
        for s in syms.chunks_exact(24) {
            let name = usize::try_from(u32_at(s, 0)?).ok()?;
            let defined = u16_at(s, 6)? != 0;
            let kind = s[4] & 0xf; // 1 object, 2 function
            if !defined || !(kind == 1 || kind == 2) || name >= strings.len() {
                continue;
            }
            let end = strings[name..].iter().position(|&c| c == 0)?;
            out.push(String::from_utf8_lossy(&strings[name..name + end]).into_owned());
        }
    }
    Some(out)
}

/// A loaded Ganglia C module.
pub struct GangliaModule {
    name: String,
    module: *mut MModule,
    handler: HandlerFn,
    metrics: Vec<(MetricDesc, GType)>,
    pool: *mut c_void,
    cleaned: bool,
    _params: Option<CString>,
    _symbol: CString,
    // Declared last: closed after everything that points into it.
    _lib: Library,
}

// SAFETY: the module is used from one thread at a time (the collector owns it), as
// gmond calls its modules from one thread.
unsafe impl Send for GangliaModule {}

impl GangliaModule {
    /// Opens libganglia (once), loads the library at `path`, reads its `symbol`
    /// (`cpu_module`...), calls its init with a new APR pool and reads its metrics.
    /// `params` is gmond's single `params` string (`module_params`), if any.
    ///
    /// # Errors
    /// libganglia or libapr is missing, the library cannot be opened, the symbol is
    /// missing or not an `mmodule` of API 20080913, init fails, or a metric is invalid.
    pub fn load(name: &str, path: &Path, symbol: &str, params: Option<&str>) -> Result<Self> {
        let fail =
            |what: String| Error::module(format!("{name} ({}, {symbol}): {what}", path.display()));
        let host =
            host().map_err(|e| fail(format!("cannot open the Ganglia host libraries: {e}")))?;
        // SAFETY: loading a module is the user's explicit choice; as gmond does.
        let lib = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }
            .map_err(|e| fail(format!("cannot load: {e}")))?;
        let csym = CString::new(symbol).map_err(|_| fail("NUL in the symbol".into()))?;
        // SAFETY: the symbol is a data object; its address is what `get` gives.
        let module: *mut MModule = unsafe { lib.get::<*mut MModule>(csym.as_bytes_with_nul()) }
            .map(|s| *s)
            .map_err(|e| fail(format!("missing symbol: {e}")))?;
        // SAFETY: the symbol is at least the size of the fields read before the magic
        // check (every mmodule is); after it, it is an mmodule.
        let (magic, version) = unsafe { ((*module).magic, (*module).version) };
        if magic != MAGIC_COOKIE || version != API_MAJOR {
            return Err(fail(format!(
                "not a Ganglia module of API {API_MAJOR} (version {version}, magic {magic:#x})"
            )));
        }
        let params = params
            .map(CString::new)
            .transpose()
            .map_err(|_| fail("NUL in params".into()))?;
        // SAFETY: a valid mmodule (checked above); gmond fills these before init.
        let (init, handler) = unsafe {
            (*module).module_name = csym.as_ptr().cast_mut();
            (*module).module_params = params
                .as_ref()
                .map_or(std::ptr::null_mut(), |p| p.as_ptr().cast_mut());
            ((*module).init, (*module).handler)
        };
        let handler = handler.ok_or_else(|| fail("no metric handler".into()))?;
        let mut pool: *mut c_void = std::ptr::null_mut();
        // SAFETY: a root pool with APR's default allocator and abort function.
        let rc = unsafe {
            (host.pool_create)(
                &mut pool,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if rc != 0 || pool.is_null() {
            return Err(fail(format!("apr_pool_create_ex failed ({rc})")));
        }
        let mut loaded = GangliaModule {
            name: name.to_string(),
            module,
            handler,
            metrics: Vec::new(),
            pool,
            cleaned: true,
            _params: params,
            _symbol: csym,
            _lib: lib,
        };
        if let Some(init) = init {
            // SAFETY: the module's init with the pool gmond would give it.
            let rc = unsafe { init(pool) };
            if rc != 0 {
                return Err(fail(format!("init failed ({rc})")));
            }
        }
        loaded.cleaned = false;
        loaded.metrics = loaded.read_metrics(host).map_err(fail)?;
        Ok(loaded)
    }

    fn read_metrics(&self, host: &Host) -> std::result::Result<Vec<(MetricDesc, GType)>, String> {
        // SAFETY: set by the module (statically or in its init).
        let info = unsafe { (*self.module).metrics_info };
        if info.is_null() {
            return Err("metrics_info is NULL".into());
        }
        let mut out = Vec::new();
        for i in 0..MAX_METRICS {
            // SAFETY: the array ends with an entry whose name is NULL, and every entry
            // before it is valid.
            let m = unsafe { &*info.add(i) };
            if m.name.is_null() {
                return Ok(out);
            }
            let name = c_text(m.name);
            crate::tree::check_key(&name).map_err(|e| format!("metric {i}: {e}"))?;
            let gtype = GType::of(m.value_type)
                .ok_or_else(|| format!("metric {name}: unknown value type {}", m.value_type))?;
            let group = if m.metadata.is_null() {
                String::new()
            } else {
                // SAFETY: an apr_table_t made by MMETRIC_INIT_METADATA; the key is C text.
                c_text(unsafe { (host.table_get)(m.metadata, c"GROUP".as_ptr()) })
            };
            let mut desc = MetricDesc {
                group: if group.is_empty() {
                    self.name.clone()
                } else {
                    group
                },
                value_type: if gtype == GType::Text {
                    ValueType::Text
                } else {
                    ValueType::Number
                },
                slope: Slope::parse(&c_text(m.slope)),
                units: c_text(m.units).trim().to_string(),
                description: c_text(m.desc),
                name,
                ..MetricDesc::default()
            };
            desc.metadata.insert("time_max".into(), m.tmax.to_string());
            desc.metadata.insert("format".into(), c_text(m.fmt));
            out.push((desc, gtype));
        }
        Err(format!(
            "metrics_info has no end within {MAX_METRICS} entries"
        ))
    }

    /// The metric declarations read from `metrics_info`.
    pub fn descriptors(&self) -> Vec<MetricDesc> {
        self.metrics.iter().map(|(d, _)| d.clone()).collect()
    }
}

fn read_value(v: &GVal, t: GType) -> Value {
    // SAFETY: the module wrote the member of its declared type (gmond reads it so).
    unsafe {
        match t {
            GType::Text => {
                let bytes: Vec<u8> = v.text.iter().map(|&c| c.to_ne_bytes()[0]).collect();
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                Value::Text(String::from_utf8_lossy(&bytes[..end]).into_owned())
            }
            GType::U16 => Value::Number(f64::from(v.uint16)),
            GType::I16 => Value::Number(f64::from(v.int16)),
            GType::U32 => Value::Number(f64::from(v.uint32)),
            GType::I32 => Value::Number(f64::from(v.int32)),
            // Through the float's shortest decimal form: 10.71f32 reads 10.71, not
            // 10.710000038146973 (what gmond prints with its "%.2f" is kept honest).
            GType::F32 => Value::Number(f32_decimal(v.f)),
            GType::F64 => Value::Number(v.d),
        }
    }
}

/// A float as the decimal it prints as, widened: the value the module meant.
fn f32_decimal(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

impl Module for GangliaModule {
    fn name(&self) -> &str {
        &self.name
    }

    fn collect(&mut self) -> Collection {
        let mut out = Collection::default();
        for (i, (desc, t)) in self.metrics.iter().enumerate() {
            let index = c_int::try_from(i).unwrap_or(c_int::MAX);
            // SAFETY: the module's handler with an index into its metrics_info.
            let v = unsafe { (self.handler)(index) };
            match read_value(&v, *t) {
                Value::Number(n) if !n.is_finite() => out
                    .errors
                    .push(format!("{}: {}: not a finite number", self.name, desc.name)),
                value => out.samples.push(Sample::of(desc, value)),
            }
        }
        out
    }

    fn cleanup(&mut self) {
        if self.cleaned {
            return;
        }
        self.cleaned = true;
        // SAFETY: the module's cleanup, once, before its pool and library go.
        if let Some(cleanup) = unsafe { (*self.module).cleanup } {
            // SAFETY: as above.
            unsafe { cleanup() };
        }
    }
}

impl Drop for GangliaModule {
    fn drop(&mut self) {
        Module::cleanup(self);
        if let Ok(host) = host() {
            // SAFETY: the pool made in load, used by nothing once the module is cleaned.
            unsafe { (host.pool_destroy)(self.pool) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_as_the_decimal_they_print_as() {
        assert_eq!(f32_decimal(10.71), 10.71);
        assert_eq!(f32_decimal(0.1), 0.1);
        assert_eq!(f32_decimal(f32::INFINITY), f64::INFINITY);
        assert!(f32_decimal(f32::NAN).is_nan());
    }
}
