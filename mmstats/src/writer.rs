//! The writer: declare fields with a [`Builder`], create the file once, then update
//! fields through cheap handles (see `handles.rs`) with no locks and no syscalls.
//!
//! Creation lays the whole file out in a hidden temporary file in the target directory
//! (zero-filled, a whole number of pages), maps it shared, writes every record, writes
//! the version byte last, and renames it to `mmstats-<pid>-<tid>`; a reader therefore
//! never sees a half-written layout. Where each field goes is `layout.rs`.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

pub use crate::error::WriteError;
use crate::handles::{FieldHandle, Slot};
use crate::layout::{Layout, Spec, StaticValue, layout, write_records};
use crate::mem::Region;
use crate::reader::{self, Field, ReadError};

/// Environment variable naming the directory for stats files (default: the temp dir).
pub const PATH_ENV: &str = "MMSTATS_PATH";

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
        let region = Region::new(map);
        write_records(&region.live, layout);
        fs::rename(&tmp, path).map_err(io(path))?;
        Ok(region)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
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
