//! The layout of a stats file: what each declared field is ([`Spec`]), where its record
//! and value go ([`Placed`], [`Layout`]), and writing the records into a fresh mapping.
//!
//! Decision: every value is placed at an offset aligned to its size, so that each
//! buffer is one naturally aligned atomic cell and no reader can ever see it torn. The
//! format has no padding, so the alignment is bought with leading spaces in the type
//! string (`"   Q"`), which Python's `struct` ignores like every reader of this crate.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use crate::error::WriteError;
use crate::format::{Kind, UNBUFFERED, VERSION_1};
use crate::mem::Live;

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

pub(crate) fn layout(declared: &[(String, Spec)]) -> Result<Layout, WriteError> {
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

pub(crate) fn write_records(live: &Live, layout: &Layout) {
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
