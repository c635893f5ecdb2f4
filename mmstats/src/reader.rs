//! The reader: a version-1 mmstats file (a byte slice, or a live mapping of a file that
//! its writer keeps changing) into typed [`Field`]s.
//!
//! Any input gives fields or a [`ReadError`] naming what is wrong and where, never a
//! panic and never an allocation larger than the (bounded) file. A double-buffered value
//! is read as a seqlock reader would: `write_buffer` (acquire), the readable buffer,
//! an acquire fence, `write_buffer` again; if it moved, the read is retried, so a read
//! never returns a value the writer was still writing, nor one older than a previous read.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::format::{self, TypeCode, UNBUFFERED, VERSION_1, Value};
use crate::mem::{Live, Mem};

/// Largest file the reader maps, in bytes. A stats file holds a few pages.
pub const MAX_FILE_LEN: u64 = 16 << 20;
/// Most fields one file may hold.
pub const MAX_FIELDS: usize = 100_000;
/// Attempts at reading one double-buffered value before giving up on it.
const MAX_ATTEMPTS: u32 = 10_000;

/// One field of a stats file.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The label, e.g. `myapp.hits` (invalid UTF-8 replaced).
    pub label: String,
    /// The type string as stored, e.g. `Q` or `16s`.
    pub type_code: String,
    /// The readable value.
    pub value: Value,
    /// Double-buffered (`write_buffer` 0 or 1) rather than a single value (`0xff`).
    pub buffered: bool,
    /// Offset of the record in the file.
    pub offset: usize,
}

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Opening, inspecting or mapping the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The stats file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file has no version byte.
    #[error("empty file (no version byte)")]
    Empty,
    /// The version byte is not 0x01 (a writer still laying out its file shows 0x00).
    #[error("unsupported version byte 0x{found:02x} (this reader knows version 1)")]
    WrongVersion {
        /// The version byte found.
        found: u8,
    },
    /// Larger than [`MAX_FILE_LEN`].
    #[error("file of {len} bytes is larger than the {limit}-byte limit")]
    TooLarge {
        /// The file's length in bytes.
        len: u64,
        /// The largest length read.
        limit: u64,
    },
    /// The file ends inside a record.
    #[error(
        "truncated at offset {offset}{}: {what} needs {need} bytes, {left} left",
        in_field(label.as_deref())
    )]
    Truncated {
        /// Where the record starts.
        offset: usize,
        /// The field's label, when it was read before the end.
        label: Option<String>,
        /// The part of the record that did not fit.
        what: &'static str,
        /// Bytes that part needs.
        need: usize,
        /// Bytes left in the file.
        left: usize,
    },
    /// The type string is not one value of a known Python `struct` code.
    #[error(
        "unsupported type {type_code:?} at offset {offset}{}",
        in_field(Some(label))
    )]
    UnsupportedType {
        /// Where the record starts.
        offset: usize,
        /// The field's label.
        label: String,
        /// The type string found.
        type_code: String,
    },
    /// `write_buffer` is neither 0, 1 nor 0xff.
    #[error(
        "write_buffer 0x{value:02x} at offset {offset}{} is neither 0, 1 nor 0xff",
        in_field(Some(label))
    )]
    BadWriteBuffer {
        /// Where the record starts.
        offset: usize,
        /// The field's label.
        label: String,
        /// The byte found.
        value: u8,
    },
    /// More than [`MAX_FIELDS`] records.
    #[error("more than {limit} fields")]
    TooManyFields {
        /// The most fields read.
        limit: usize,
    },
    /// The writer flipped the buffer during every attempt to read the value.
    #[error("field {label:?} at offset {offset} changed during every read attempt")]
    Unstable {
        /// Where the record starts.
        offset: usize,
        /// The field's label.
        label: String,
    },
}

fn in_field(label: Option<&str>) -> String {
    label.map(|l| format!(" (field {l:?})")).unwrap_or_default()
}

/// Parses a snapshot of a file's bytes.
///
/// # Errors
/// See [`ReadError`]; I/O and size errors do not occur for a slice.
pub fn parse(bytes: &[u8]) -> Result<Vec<Field>, ReadError> {
    parse_mem(bytes)
}

/// Reads every field of the file at `path` (maps it, reads, unmaps).
///
/// # Errors
/// [`ReadError::Io`] when the file cannot be opened or mapped, else as [`parse`].
pub fn read_file(path: &Path) -> Result<Vec<Field>, ReadError> {
    StatsFile::open(path)?.read()
}

/// A stats file mapped read-only, to be read again and again (`poll`, the agent) without
/// reopening it. The mapping stays valid when the file is removed.
pub struct StatsFile {
    path: PathBuf,
    // Field order: `live` points into `_map`, which must outlive it.
    live: Option<Live>,
    _map: Option<memmap2::MmapRaw>,
}

impl std::fmt::Debug for StatsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsFile")
            .field("path", &self.path)
            .finish()
    }
}

impl StatsFile {
    /// Maps the file at `path` read-only.
    ///
    /// The file must not be truncated while mapped (mmstats writers never do; a
    /// truncation raises SIGBUS, as it would for the original's readers).
    ///
    /// # Errors
    /// [`ReadError::Io`], or [`ReadError::TooLarge`].
    pub fn open(path: &Path) -> Result<StatsFile, ReadError> {
        let io = |source| ReadError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(io(std::io::Error::other("not a regular file")));
        }
        if meta.len() > MAX_FILE_LEN {
            return Err(ReadError::TooLarge {
                len: meta.len(),
                limit: MAX_FILE_LEN,
            });
        }
        if meta.len() == 0 {
            return Ok(StatsFile {
                path: path.to_owned(),
                live: None,
                _map: None,
            });
        }
        let map = memmap2::MmapOptions::new()
            .map_raw_read_only(&file)
            .map_err(io)?;
        // SAFETY: the mapping is page-aligned, lives as long as `live` (same struct,
        // dropped after it), is only loaded atomically through `Live`, and is changed by
        // its writer only through atomics or from another process.
        let live = unsafe { Live::new(map.as_mut_ptr(), map.len()) };
        Ok(StatsFile {
            path: path.to_owned(),
            live: Some(live),
            _map: Some(map),
        })
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads every field as it is now.
    ///
    /// # Errors
    /// As [`parse`].
    pub fn read(&self) -> Result<Vec<Field>, ReadError> {
        match &self.live {
            Some(live) => parse_mem(live),
            None => Err(ReadError::Empty),
        }
    }
}

/// Reads a live region (the writer's own mapping).
pub(crate) fn parse_live(live: &Live) -> Result<Vec<Field>, ReadError> {
    parse_mem(live)
}

/// A cursor over the records, carrying what errors need to name.
struct Cursor<'a, M: Mem + ?Sized> {
    mem: &'a M,
    off: usize,
}

impl<M: Mem + ?Sized> Cursor<'_, M> {
    fn left(&self) -> usize {
        self.mem.len() - self.off
    }

    /// Checks that `need` bytes remain, else the truncation error.
    fn need(
        &self,
        need: usize,
        record: usize,
        label: Option<&str>,
        what: &'static str,
    ) -> Result<(), ReadError> {
        if need <= self.left() {
            Ok(())
        } else {
            Err(ReadError::Truncated {
                offset: record,
                label: label.map(str::to_owned),
                what,
                need,
                left: self.left(),
            })
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let mut out = vec![0u8; n];
        self.mem.copy(self.off, &mut out);
        self.off += n;
        out
    }

    fn u16(&mut self) -> usize {
        let v = u16::from_ne_bytes([self.mem.byte(self.off), self.mem.byte(self.off + 1)]);
        self.off += 2;
        usize::from(v)
    }
}

fn parse_mem<M: Mem + ?Sized>(mem: &M) -> Result<Vec<Field>, ReadError> {
    if mem.len() == 0 {
        return Err(ReadError::Empty);
    }
    let found = mem.byte(0);
    if found != VERSION_1 {
        return Err(ReadError::WrongVersion { found });
    }
    let mut c = Cursor { mem, off: 1 };
    let mut fields = Vec::new();
    loop {
        let record = c.off;
        match c.left() {
            0 => break,
            1 if mem.byte(record) == 0 => break,
            _ => {}
        }
        c.need(2, record, None, "label length")?;
        let label_len = c.u16();
        if label_len == 0 {
            break;
        }
        if fields.len() == MAX_FIELDS {
            return Err(ReadError::TooManyFields { limit: MAX_FIELDS });
        }
        c.need(label_len, record, None, "label")?;
        let label = String::from_utf8_lossy(&c.take(label_len)).into_owned();
        c.need(2, record, Some(&label), "type length")?;
        let type_len = c.u16();
        c.need(type_len, record, Some(&label), "type")?;
        let raw_type = c.take(type_len);
        let type_code = String::from_utf8_lossy(&raw_type).trim().to_owned();
        let Some(tc) = format::parse_type(&raw_type) else {
            return Err(ReadError::UnsupportedType {
                offset: record,
                label,
                type_code,
            });
        };
        c.need(1, record, Some(&label), "write_buffer")?;
        let wb_off = c.off;
        let wb = mem.byte(wb_off);
        c.off += 1;
        let size = tc.kind.size();
        let (value, buffered) = match wb {
            UNBUFFERED => {
                c.need(size, record, Some(&label), "value")?;
                let v = format::decode(tc, &c.take(size));
                (v, false)
            }
            0 | 1 => {
                c.need(2 * size, record, Some(&label), "two value buffers")?;
                let v = read_buffered(mem, wb_off, tc).ok_or_else(|| ReadError::Unstable {
                    offset: record,
                    label: label.clone(),
                })?;
                c.off += 2 * size;
                (v, true)
            }
            value => {
                return Err(ReadError::BadWriteBuffer {
                    offset: record,
                    label,
                    value,
                });
            }
        };
        fields.push(Field {
            label,
            type_code,
            value,
            buffered,
            offset: record,
        });
    }
    Ok(fields)
}

/// Reads the readable buffer `buffers[write_buffer ^ 1]` of the record whose
/// `write_buffer` byte is at `wb_off`; `None` when it kept changing (live memory only).
fn read_buffered<M: Mem + ?Sized>(mem: &M, wb_off: usize, tc: TypeCode) -> Option<Value> {
    let size = tc.kind.size();
    let mut buf = vec![0u8; size];
    for attempt in 0..MAX_ATTEMPTS {
        let before = mem.byte(wb_off);
        if before > 1 {
            // A writer never stores anything but 0 or 1 here once laid out; a byte that
            // changes to something else is a corrupt file: report the field as unstable.
            return None;
        }
        let readable = usize::from(before ^ 1);
        mem.copy(wb_off + 1 + readable * size, &mut buf);
        if !mem.live() {
            return Some(format::decode(tc, &buf));
        }
        mem.acquire_fence();
        if mem.byte(wb_off) == before {
            return Some(format::decode(tc, &buf));
        }
        if attempt > 64 {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
    None
}
