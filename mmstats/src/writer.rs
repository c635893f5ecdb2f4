//! The writer: declare fields with a [`Builder`], create the file once, then update
//! fields through cheap handles (see `handles.rs`) with no locks and no syscalls.
//!
//! Creation lays the whole file out in a hidden temporary file in the target directory
//! (zero-filled, a whole number of pages), maps it shared, writes every record, writes
//! the version byte last, and renames it to `mmstats-<pid>-<tid>`; a reader therefore
//! never sees a half-written layout.
//!
//! Decision: every value is placed at an offset aligned to its size, so that each
//! buffer is one naturally aligned atomic cell and no reader can ever see it torn. The
//! format has no padding, so the alignment is bought with leading spaces in the type
//! string (`"   Q"`), which Python's `struct` ignores like every reader of this crate.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::format::{Kind, UNBUFFERED, VERSION_1};
use crate::handles::{FieldHandle, Slot};
use crate::mem::Live;
use crate::reader::{self, Field, ReadError};

/// Environment variable naming the directory for stats files (default: the temp dir).
pub const PATH_ENV: &str = "MMSTATS_PATH";

/// Why a stats file could not be created or a handle taken.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Creating, sizing, mapping or renaming the file failed.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// Empty, longer than 65535 bytes, or declared twice.
    #[error("bad label {label:?}: {reason}")]
    BadLabel { label: String, reason: &'static str },
    /// A string field of size 0 or larger than the format allows.
    #[error("string field {label:?}: size {size} is not in 1..={max}")]
    BadSize {
        label: String,
        size: usize,
        max: usize,
    },
    /// A moving average or timer with a window of 0 samples.
    #[error("field {label:?}: the window must hold at least one sample")]
    EmptyWindow { label: String },
    /// The declaration belongs to another builder.
    #[error("field {label:?} was declared by another builder")]
    ForeignField { label: String },
}

/// What a declared field is; decides the type code and the handle. (Crate-internal:
/// public only because [`crate::FieldHandle`] names it.)
#[derive(Debug, Clone)]
pub enum Spec {
    Counter,
    Double,
    Average,
    MovingAverage(usize),
    Timer(usize),
    Text(usize),
    Static(StaticValue),
}

/// The value of a static (unbuffered, written once) field.
#[derive(Debug, Clone)]
pub enum StaticValue {
    U32(u32),
    U64(u64),
    I64(i64),
    F64(f64),
    Text(String),
}

impl Spec {
    fn kind(&self) -> Kind {
        match self {
            Spec::Counter => Kind::U64,
            Spec::Double | Spec::Average | Spec::MovingAverage(_) | Spec::Timer(_) => Kind::F64,
            Spec::Text(n) => Kind::Str(*n),
            Spec::Static(StaticValue::U32(_)) => Kind::U32,
            Spec::Static(StaticValue::U64(_)) => Kind::U64,
            Spec::Static(StaticValue::I64(_)) => Kind::I64,
            Spec::Static(StaticValue::F64(_)) => Kind::F64,
            Spec::Static(StaticValue::Text(s)) => Kind::Str(s.len().max(1)),
        }
    }
}

/// A declared field, turned into its handle by [`MmStats::handle`]. Not `Clone`: each
/// field gets exactly one handle, so each field has exactly one writer.
#[must_use = "a declared field is updated through MmStats::handle(decl)"]
pub struct Decl<T> {
    builder: u64,
    index: usize,
    _handle: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Decl<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Decl(#{})", self.index)
    }
}

/// Declares the fields of one stats file. Every label gets the builder's prefix.
#[derive(Debug)]
pub struct Builder {
    id: u64,
    prefix: String,
    filename: Option<String>,
    fields: Vec<(String, Spec)>,
}

static NEXT_BUILDER: AtomicU64 = AtomicU64::new(1);

impl Builder {
    fn declare<T>(&mut self, name: &str, spec: Spec) -> Decl<T> {
        self.fields.push((format!("{}{name}", self.prefix), spec));
        Decl {
            builder: self.id,
            index: self.fields.len() - 1,
            _handle: PhantomData,
        }
    }

    /// A `u64` counter (`Q`): `inc`, `add`.
    pub fn counter(&mut self, name: &str) -> Decl<crate::Counter> {
        self.declare(name, Spec::Counter)
    }

    /// An `f64` gauge (`d`): `set`.
    pub fn gauge(&mut self, name: &str) -> Decl<crate::Gauge> {
        self.declare(name, Spec::Double)
    }

    /// A running mean of every sample added (`d`).
    pub fn average(&mut self, name: &str) -> Decl<crate::Average> {
        self.declare(name, Spec::Average)
    }

    /// The mean of the last `window` samples (`d`).
    pub fn moving_average(&mut self, name: &str, window: usize) -> Decl<crate::MovingAverage> {
        self.declare(name, Spec::MovingAverage(window))
    }

    /// Durations in seconds, exposed as the mean of the last `window` (`d`).
    pub fn timer(&mut self, name: &str, window: usize) -> Decl<crate::Timer> {
        self.declare(name, Spec::Timer(window))
    }

    /// A string of at most `size` bytes (`<size>s`, NUL-padded).
    pub fn text(&mut self, name: &str, size: usize) -> Decl<crate::Text> {
        self.declare(name, Spec::Text(size))
    }

    /// A static `u64` (`Q`, unbuffered), written once.
    pub fn static_u64(&mut self, name: &str, value: u64) -> &mut Self {
        let _ = self.declare::<()>(name, Spec::Static(StaticValue::U64(value)));
        self
    }

    /// A static `i64` (`q`, unbuffered).
    pub fn static_i64(&mut self, name: &str, value: i64) -> &mut Self {
        let _ = self.declare::<()>(name, Spec::Static(StaticValue::I64(value)));
        self
    }

    /// A static `f64` (`d`, unbuffered).
    pub fn static_f64(&mut self, name: &str, value: f64) -> &mut Self {
        let _ = self.declare::<()>(name, Spec::Static(StaticValue::F64(value)));
        self
    }

    /// A static string (`<n>s` of its length, unbuffered).
    pub fn static_text(&mut self, name: &str, value: &str) -> &mut Self {
        let _ = self.declare::<()>(name, Spec::Static(StaticValue::Text(value.to_owned())));
        self
    }

    /// Uses `name` instead of `mmstats-<pid>-<tid>` for the file.
    pub fn filename(&mut self, name: &str) -> &mut Self {
        self.filename = Some(name.to_owned());
        self
    }

    /// Creates the file in `dir`, or in `$MMSTATS_PATH`, or in the temp dir, and writes
    /// every declared field with its initial value.
    ///
    /// # Errors
    /// [`WriteError`] for a bad declaration or when the file cannot be made.
    pub fn create(&self, dir: Option<&Path>) -> Result<MmStats, WriteError> {
        let dir = dir.map_or_else(default_dir, Path::to_owned);
        let layout = layout(&self.fields)?;
        let name = match &self.filename {
            Some(n) => n.clone(),
            None => format!("mmstats-{}-{}", std::process::id(), gettid()),
        };
        let path = claim_name(&dir, &name);
        let region = match lay_out(&dir, &path, &layout) {
            Ok(region) => region,
            Err(e) => {
                release_name(&path);
                return Err(e);
            }
        };
        Ok(MmStats {
            builder: self.id,
            path,
            region: Arc::new(region),
            layout,
        })
    }
}

/// `$MMSTATS_PATH`, or the temp dir when it is unset or empty.
pub fn default_dir() -> PathBuf {
    match std::env::var_os(PATH_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => std::env::temp_dir(),
    }
}

/// The OS id of the calling thread.
pub fn gettid() -> i64 {
    // SAFETY: gettid(2) has no preconditions and cannot fail.
    i64::from(unsafe { libc::gettid() })
}

/// Where one field lives in the file.
#[derive(Debug, Clone)]
pub(crate) struct Placed {
    pub label: String,
    pub spec: Spec,
    pub type_str: String,
    pub record_off: usize,
    pub wb_off: usize,
    pub value_off: usize,
    pub kind: Kind,
}

#[derive(Debug)]
pub(crate) struct Layout {
    pub fields: Vec<Placed>,
    pub len: usize,
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

/// The default fields of every file, as the original writes them (`sys.*`).
fn default_fields() -> Vec<(&'static str, StaticValue)> {
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    // SAFETY: getuid/getgid have no preconditions and cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    vec![
        ("sys.pid", StaticValue::U32(std::process::id())),
        ("sys.tid", StaticValue::I64(gettid())),
        ("sys.uid", StaticValue::U64(u64::from(uid))),
        ("sys.gid", StaticValue::U64(u64::from(gid))),
        ("sys.created", StaticValue::F64(created)),
    ]
}

fn layout(declared: &[(String, Spec)]) -> Result<Layout, WriteError> {
    place(declared.to_vec())
}

fn place(all: Vec<(String, Spec)>) -> Result<Layout, WriteError> {
    let mut seen = HashSet::new();
    let mut fields = Vec::with_capacity(all.len());
    let mut off = 1usize;
    for (label, spec) in all {
        if label.is_empty() || label.len() > usize::from(u16::MAX) {
            return Err(WriteError::BadLabel {
                label,
                reason: "must be 1..=65535 bytes",
            });
        }
        if !seen.insert(label.clone()) {
            return Err(WriteError::BadLabel {
                label,
                reason: "declared twice",
            });
        }
        match spec {
            Spec::Text(n) if n == 0 || n > crate::format::MAX_STRING_LEN => {
                let max = crate::format::MAX_STRING_LEN;
                return Err(WriteError::BadSize {
                    label,
                    size: n,
                    max,
                });
            }
            Spec::Static(StaticValue::Text(ref t)) if t.len() > crate::format::MAX_STRING_LEN => {
                let (size, max) = (t.len(), crate::format::MAX_STRING_LEN);
                return Err(WriteError::BadSize { label, size, max });
            }
            Spec::MovingAverage(0) | Spec::Timer(0) => {
                return Err(WriteError::EmptyWindow { label });
            }
            _ => {}
        }
        let kind = spec.kind();
        let code = kind.code();
        let align = match kind {
            Kind::Str(_) => 1,
            k => k.size(),
        };
        // value offset without padding: label length, label, type length, type, wb.
        let bare = off + 2 + label.len() + 2 + code.len() + 1;
        let pad = (align - bare % align) % align;
        let type_str = format!("{}{code}", " ".repeat(pad));
        let wb_off = bare + pad - 1;
        let value_off = bare + pad;
        let buffers = if matches!(spec, Spec::Static(_)) {
            1
        } else {
            2
        };
        fields.push(Placed {
            label,
            spec,
            type_str,
            record_off: off,
            wb_off,
            value_off,
            kind,
        });
        off = value_off + buffers * kind.size();
    }
    // Two zero bytes end the records; the rest of the last page is zero too.
    let page = page_size();
    let len = (off + 2).div_ceil(page) * page;
    Ok(Layout { fields, len })
}

/// The mapped file, kept alive by the [`MmStats`] and every handle.
pub(crate) struct Region {
    // Field order: `live` points into `_map`, which must outlive it.
    pub live: Live,
    _map: memmap2::MmapRaw,
}

/// Names this process has created, so a second file from one thread gets a suffix
/// instead of replacing the first.
static CLAIMED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

fn claim_name(dir: &Path, name: &str) -> PathBuf {
    let mut claimed = CLAIMED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let set = claimed.get_or_insert_with(HashSet::new);
    let mut path = dir.join(name);
    let mut n = 1;
    while set.contains(&path) {
        path = dir.join(format!("{name}-{n}"));
        n += 1;
    }
    set.insert(path.clone());
    path
}

fn release_name(path: &Path) {
    let mut claimed = CLAIMED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(set) = claimed.as_mut() {
        set.remove(path);
    }
}

fn lay_out(dir: &Path, path: &Path, layout: &Layout) -> Result<Region, WriteError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp"));
    let io = |p: &Path| {
        let p = p.to_owned();
        move |source| WriteError::Io { path: p, source }
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io(&tmp))?;
    let result = (|| {
        let len = u64::try_from(layout.len)
            .map_err(io::Error::other)
            .map_err(io(&tmp))?;
        file.set_len(len).map_err(io(&tmp))?;
        let map = memmap2::MmapOptions::new()
            .map_raw(&file)
            .map_err(io(&tmp))?;
        // SAFETY: the shared mapping is page-aligned and lives in `Region` beside `live`;
        // this process touches it only through `Live`'s atomics.
        let live = unsafe { Live::new(map.as_mut_ptr(), map.len()) };
        write_records(&live, layout);
        fs::rename(&tmp, path).map_err(io(path))?;
        Ok(Region { live, _map: map })
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_records(live: &Live, layout: &Layout) {
    for f in &layout.fields {
        let rec = f.record_off;
        let label_len = u16::try_from(f.label.len()).unwrap_or(u16::MAX);
        let type_len = u16::try_from(f.type_str.len()).unwrap_or(u16::MAX);
        live.store_bytes(rec, &label_len.to_ne_bytes());
        live.store_bytes(rec + 2, f.label.as_bytes());
        let t = rec + 2 + f.label.len();
        live.store_bytes(t, &type_len.to_ne_bytes());
        live.store_bytes(t + 2, f.type_str.as_bytes());
        match &f.spec {
            Spec::Static(v) => {
                live.store_u8(f.wb_off, UNBUFFERED, Ordering::Relaxed);
                let bytes = match v {
                    StaticValue::U32(x) => x.to_ne_bytes().to_vec(),
                    StaticValue::U64(x) => x.to_ne_bytes().to_vec(),
                    StaticValue::I64(x) => x.to_ne_bytes().to_vec(),
                    StaticValue::F64(x) => x.to_ne_bytes().to_vec(),
                    StaticValue::Text(s) if s.is_empty() => vec![0],
                    StaticValue::Text(s) => s.as_bytes().to_vec(),
                };
                live.store_bytes(f.value_off, &bytes);
            }
            // Buffered fields start at write_buffer 0 with both buffers zero (the file is
            // zero-filled), so they read as 0 / 0.0 / "" until first set.
            _ => live.store_u8(f.wb_off, 0, Ordering::Relaxed),
        }
    }
    // The version byte last: a reader that sees it sees every record.
    live.store_u8(0, VERSION_1, Ordering::Release);
}

/// A created stats file. Hand out field handles with [`MmStats::handle`]; the mapping
/// stays alive as long as this or any handle lives. Dropping it leaves the file in place
/// (as the original does; `treestat mmstats clean` removes files of dead processes).
pub struct MmStats {
    builder: u64,
    path: PathBuf,
    region: Arc<Region>,
    layout: Layout,
}

impl std::fmt::Debug for MmStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmStats").field("path", &self.path).finish()
    }
}

impl MmStats {
    /// Starts declaring a file whose labels all begin with `label_prefix` (e.g.
    /// `"myapp."`). The default fields `sys.pid`, `sys.tid`, `sys.uid`, `sys.gid` and
    /// `sys.created` are declared first, with the prefix too.
    pub fn builder(label_prefix: &str) -> Builder {
        let mut b = Builder {
            id: NEXT_BUILDER.fetch_add(1, Ordering::Relaxed),
            prefix: label_prefix.to_owned(),
            filename: None,
            fields: Vec::new(),
        };
        for (name, value) in default_fields() {
            let _ = b.declare::<()>(name, Spec::Static(value));
        }
        b
    }

    /// A file holding only the default fields, in `dir` (or `$MMSTATS_PATH`, or the temp
    /// dir).
    ///
    /// # Errors
    /// As [`Builder::create`].
    pub fn create(dir: Option<&Path>, label_prefix: &str) -> Result<MmStats, WriteError> {
        MmStats::builder(label_prefix).create(dir)
    }

    /// The handle that updates a declared field (exactly one per field).
    ///
    /// # Errors
    /// [`WriteError::ForeignField`] when `decl` came from another builder.
    pub fn handle<T: FieldHandle>(&self, decl: Decl<T>) -> Result<T, WriteError> {
        let placed = match self.layout.fields.get(decl.index) {
            Some(p) if decl.builder == self.builder => p,
            other => {
                let label = other.map(|p| p.label.clone()).unwrap_or_default();
                return Err(WriteError::ForeignField { label });
            }
        };
        let slot = Slot::new(Arc::clone(&self.region), placed);
        Ok(T::from_slot(slot, &placed.spec))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file back as any reader would.
    ///
    /// # Errors
    /// As [`reader::parse`] (only if the mapping was damaged from outside).
    pub fn read(&self) -> Result<Vec<Field>, ReadError> {
        reader::parse_live(&self.region.live)
    }

    /// Removes the file. Handles keep working on the unlinked mapping until dropped.
    ///
    /// # Errors
    /// When the file cannot be removed.
    pub fn remove(self) -> io::Result<()> {
        release_name(&self.path);
        fs::remove_file(&self.path)
    }
}
