//! Access to a stats file's bytes, for the reader, over either a byte slice (a snapshot,
//! golden files) or a live shared mapping that a writer in another thread or process
//! changes while we read.
//!
//! Live memory is only ever touched through atomic loads and stores on raw pointers
//! (never through `&[u8]`), so a concurrent writer is not a data race in Rust's model.
//! A value whose offset is aligned to its size is loaded with one atomic load of that
//! size, so it can never be torn; an unaligned value (files from other writers) is
//! loaded byte by byte and relies on the double-buffer check in `reader.rs`.

use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering, fence};

/// What the reader needs from the bytes of a file.
pub(crate) trait Mem {
    fn len(&self) -> usize;
    /// One byte; an acquire load on live memory. `off < len()`.
    fn byte(&self, off: usize) -> u8;
    /// `out.len()` bytes from `off`; in range.
    fn copy(&self, off: usize, out: &mut [u8]);
    /// Acquire fence between reading a value and re-reading its `write_buffer`.
    fn acquire_fence(&self);
    /// Whether a value may change between two reads (decides whether to retry).
    fn live(&self) -> bool;
}

impl Mem for [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }
    fn byte(&self, off: usize) -> u8 {
        self[off]
    }
    fn copy(&self, off: usize, out: &mut [u8]) {
        out.copy_from_slice(&self[off..off + out.len()]);
    }
    fn acquire_fence(&self) {}
    fn live(&self) -> bool {
        false
    }
}

/// A live region: `len` bytes at `base`, valid for as long as the value lives.
pub(crate) struct Live {
    base: *mut u8,
    len: usize,
}

// SAFETY: `Live` only performs atomic accesses on memory that stays mapped while it
// lives; the pointer is as shareable as the atomics it stands for.
unsafe impl Send for Live {}
// SAFETY: as above; every access is atomic.
unsafe impl Sync for Live {}

impl Live {
    /// # Safety
    /// `base..base+len` must stay mapped (readable, and writable if stores are used) for
    /// the life of the value, and be accessed by others only atomically or from another
    /// process. `base` must be page-aligned so file offsets and addresses align alike.
    pub(crate) unsafe fn new(base: *mut u8, len: usize) -> Live {
        Live { base, len }
    }

    fn at<T>(&self, off: usize) -> *mut T {
        debug_assert!(off + size_of::<T>() <= self.len);
        self.base.wrapping_add(off).cast::<T>()
    }

    pub(crate) fn load_u8(&self, off: usize, order: Ordering) -> u8 {
        // SAFETY: in range (callers check against len), mapped for our lifetime, u8 has
        // no alignment; all accesses to this memory are atomic.
        unsafe { AtomicU8::from_ptr(self.at(off)) }.load(order)
    }

    pub(crate) fn store_u8(&self, off: usize, v: u8, order: Ordering) {
        // SAFETY: as in load_u8; the writer maps the region writable.
        unsafe { AtomicU8::from_ptr(self.at(off)) }.store(v, order);
    }

    /// Loads `out.len()` bytes: one atomic load when the size is 2, 4 or 8 and the offset
    /// is aligned to it, else byte by byte.
    pub(crate) fn load_bytes(&self, off: usize, out: &mut [u8]) {
        assert!(off.checked_add(out.len()).is_some_and(|e| e <= self.len));
        let aligned = |n: usize| out.len() == n && off.is_multiple_of(n);
        if aligned(8) {
            // SAFETY: in range, 8-aligned (base is page-aligned), accessed atomically only.
            let v = unsafe { AtomicU64::from_ptr(self.at(off)) }.load(Ordering::Relaxed);
            out.copy_from_slice(&v.to_ne_bytes());
        } else if aligned(4) {
            // SAFETY: as above, 4-aligned.
            let v = unsafe { AtomicU32::from_ptr(self.at(off)) }.load(Ordering::Relaxed);
            out.copy_from_slice(&v.to_ne_bytes());
        } else if aligned(2) {
            // SAFETY: as above, 2-aligned.
            let v = unsafe { AtomicU16::from_ptr(self.at(off)) }.load(Ordering::Relaxed);
            out.copy_from_slice(&v.to_ne_bytes());
        } else {
            for (i, b) in out.iter_mut().enumerate() {
                *b = self.load_u8(off + i, Ordering::Relaxed);
            }
        }
    }

    /// Stores `bytes` at `off`, the mirror of [`Live::load_bytes`].
    pub(crate) fn store_bytes(&self, off: usize, bytes: &[u8]) {
        assert!(off.checked_add(bytes.len()).is_some_and(|e| e <= self.len));
        let aligned = |n: usize| bytes.len() == n && off.is_multiple_of(n);
        if aligned(8) {
            let v = u64::from_ne_bytes(bytes.try_into().unwrap_or([0; 8]));
            // SAFETY: in range, 8-aligned, writable, accessed atomically only.
            unsafe { AtomicU64::from_ptr(self.at(off)) }.store(v, Ordering::Relaxed);
        } else if aligned(4) {
            let v = u32::from_ne_bytes(bytes.try_into().unwrap_or([0; 4]));
            // SAFETY: as above, 4-aligned.
            unsafe { AtomicU32::from_ptr(self.at(off)) }.store(v, Ordering::Relaxed);
        } else if aligned(2) {
            let v = u16::from_ne_bytes(bytes.try_into().unwrap_or([0; 2]));
            // SAFETY: as above, 2-aligned.
            unsafe { AtomicU16::from_ptr(self.at(off)) }.store(v, Ordering::Relaxed);
        } else {
            for (i, &b) in bytes.iter().enumerate() {
                self.store_u8(off + i, b, Ordering::Relaxed);
            }
        }
    }

    /// The 8-byte cell at an 8-aligned offset, for the writer's hot path.
    pub(crate) fn u64_cell(&self, off: usize) -> &AtomicU64 {
        assert!(off.is_multiple_of(8) && off.checked_add(8).is_some_and(|e| e <= self.len));
        // SAFETY: in range, aligned, mapped for the life of `self`, accessed atomically.
        unsafe { AtomicU64::from_ptr(self.at(off)) }
    }

    /// The byte cell at `off`.
    pub(crate) fn u8_cell(&self, off: usize) -> &AtomicU8 {
        assert!(off < self.len);
        // SAFETY: in range, mapped for the life of `self`, accessed atomically.
        unsafe { AtomicU8::from_ptr(self.at(off)) }
    }
}

impl Mem for Live {
    fn len(&self) -> usize {
        self.len
    }
    fn byte(&self, off: usize) -> u8 {
        self.load_u8(off, Ordering::Acquire)
    }
    fn copy(&self, off: usize, out: &mut [u8]) {
        self.load_bytes(off, out);
    }
    fn acquire_fence(&self) {
        fence(Ordering::Acquire);
    }
    fn live(&self) -> bool {
        true
    }
}

/// The mapped file, kept alive by the [`crate::MmStats`] and every handle.
pub(crate) struct Region {
    // Field order: `live` points into `_map`, which must outlive it.
    pub live: Live,
    _map: memmap2::MmapRaw,
}

impl Region {
    /// The live view of a shared mapping of a whole file, owning the mapping.
    pub(crate) fn new(map: memmap2::MmapRaw) -> Region {
        // SAFETY: the shared mapping is page-aligned and lives in `Region` beside `live`;
        // this process touches it only through `Live`'s atomics.
        let live = unsafe { Live::new(map.as_mut_ptr(), map.len()) };
        Region { live, _map: map }
    }
}
