//! Field handles: the writer's hot path. Each handle owns its field (one writer per
//! field, enforced by `&mut self` and one handle per declaration), keeps the value's
//! state in process memory, and publishes each new value by the double-buffer protocol:
//!
//! 1. release fence (orders the previous flip before the next buffer store),
//! 2. store the value into `buffers[write_buffer]` (one aligned atomic store),
//! 3. flip `write_buffer` with a release store, which makes that buffer the readable one.
//!
//! No locks, no allocation, no syscalls: on x86-64 an increment is three plain stores.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

use crate::layout::{Placed, Spec};
use crate::mem::Region;

/// One double-buffered field in the mapped file.
pub struct Slot {
    region: Arc<Region>,
    /// Our copy of `write_buffer` (we are its only writer).
    wb: u8,
    wb_off: usize,
    value_off: usize,
    size: usize,
}

impl Slot {
    pub(crate) fn new(region: Arc<Region>, placed: &Placed) -> Slot {
        let wb = region.live.load_u8(placed.wb_off, Ordering::Relaxed) & 1;
        Slot {
            region,
            wb,
            wb_off: placed.wb_off,
            value_off: placed.value_off,
            size: placed.kind.size(),
        }
    }

    fn wb_cell(&self) -> &AtomicU8 {
        self.region.live.u8_cell(self.wb_off)
    }

    fn cell(&self) -> &AtomicU64 {
        self.region
            .live
            .u64_cell(self.value_off + usize::from(self.wb) * 8)
    }

    fn flip(&mut self) {
        self.wb ^= 1;
        self.wb_cell().store(self.wb, Ordering::Release);
    }

    /// Publishes an 8-byte value (the field is `Q` or `d`, 8-aligned by the layout).
    #[inline]
    fn publish_u64(&mut self, v: u64) {
        fence(Ordering::Release);
        self.cell().store(v, Ordering::Relaxed);
        self.flip();
    }

    fn publish_f64(&mut self, v: f64) {
        self.publish_u64(v.to_bits());
    }

    /// Publishes a string value: NUL-padded to the field's size.
    fn publish_bytes(&mut self, bytes: &[u8]) {
        fence(Ordering::Release);
        let off = self.value_off + usize::from(self.wb) * self.size;
        for i in 0..self.size {
            let b = bytes.get(i).copied().unwrap_or(0);
            self.region.live.store_u8(off + i, b, Ordering::Relaxed);
        }
        self.flip();
    }
}

/// A field's handle, made from its slot by [`crate::MmStats::handle`]. Sealed.
pub trait FieldHandle: Sized {
    #[doc(hidden)]
    fn from_slot(slot: Slot, spec: &Spec) -> Self;
}

/// A `u64` counter (`Q`).
pub struct Counter {
    slot: Slot,
    value: u64,
}

impl Counter {
    /// Adds one.
    #[inline]
    pub fn inc(&mut self) {
        self.add(1);
    }

    /// Adds `n` (wrapping at 2^64, as a `Q` counter in C would).
    #[inline]
    pub fn add(&mut self, n: u64) {
        self.value = self.value.wrapping_add(n);
        self.slot.publish_u64(self.value);
    }

    /// Sets the value.
    pub fn set(&mut self, v: u64) {
        self.value = v;
        self.slot.publish_u64(v);
    }

    /// The current value.
    pub fn value(&self) -> u64 {
        self.value
    }
}

impl FieldHandle for Counter {
    fn from_slot(slot: Slot, _: &Spec) -> Self {
        Counter { slot, value: 0 }
    }
}

/// An `f64` gauge (`d`).
pub struct Gauge {
    slot: Slot,
    value: f64,
}

impl Gauge {
    /// Sets the value.
    pub fn set(&mut self, v: f64) {
        self.value = v;
        self.slot.publish_f64(v);
    }

    /// The current value.
    pub fn value(&self) -> f64 {
        self.value
    }
}

impl FieldHandle for Gauge {
    fn from_slot(slot: Slot, _: &Spec) -> Self {
        Gauge { slot, value: 0.0 }
    }
}

/// The running mean of every sample (`d`).
pub struct Average {
    slot: Slot,
    count: u64,
    total: f64,
}

impl Average {
    /// Adds a sample and publishes the new mean.
    pub fn add(&mut self, v: f64) {
        self.count += 1;
        self.total += v;
        #[allow(
            clippy::cast_precision_loss,
            reason = "a sample count beyond 2^53 is not reached"
        )]
        let mean = self.total / self.count as f64;
        self.slot.publish_f64(mean);
    }

    /// The current mean (0 before the first sample).
    pub fn value(&self) -> f64 {
        #[allow(
            clippy::cast_precision_loss,
            reason = "a sample count beyond 2^53 is not reached"
        )]
        if self.count == 0 {
            0.0
        } else {
            self.total / self.count as f64
        }
    }
}

impl FieldHandle for Average {
    fn from_slot(slot: Slot, _: &Spec) -> Self {
        Average {
            slot,
            count: 0,
            total: 0.0,
        }
    }
}

/// The mean of the last `window` samples (`d`). The sum is kept incrementally and
/// recomputed exactly each time the window wraps, so rounding never accumulates.
pub struct MovingAverage {
    slot: Slot,
    window: Box<[f64]>,
    next: usize,
    full: bool,
    sum: f64,
}

impl MovingAverage {
    /// Adds a sample and publishes the mean of the window.
    pub fn add(&mut self, v: f64) {
        self.sum += v - self.window[self.next];
        self.window[self.next] = v;
        self.next += 1;
        if self.next == self.window.len() {
            self.next = 0;
            self.full = true;
            self.sum = self.window.iter().sum();
        }
        let mean = self.value();
        self.slot.publish_f64(mean);
    }

    /// The current mean (0 before the first sample).
    pub fn value(&self) -> f64 {
        let n = if self.full {
            self.window.len()
        } else {
            self.next
        };
        #[allow(clippy::cast_precision_loss, reason = "window sizes are small")]
        if n == 0 { 0.0 } else { self.sum / n as f64 }
    }
}

impl FieldHandle for MovingAverage {
    fn from_slot(slot: Slot, spec: &Spec) -> Self {
        let n = match spec {
            Spec::MovingAverage(n) | Spec::Timer(n) => (*n).max(1),
            _ => 1,
        };
        MovingAverage {
            slot,
            window: vec![0.0; n].into_boxed_slice(),
            next: 0,
            full: false,
            sum: 0.0,
        }
    }
}

/// Durations in seconds; publishes the mean of the last `window` (`d`).
pub struct Timer {
    avg: MovingAverage,
}

impl Timer {
    /// Records one duration.
    pub fn record(&mut self, d: Duration) {
        self.avg.add(d.as_secs_f64());
    }

    /// Starts timing; the duration is recorded when the guard is dropped.
    /// (`Instant::now` reads the vDSO clock on Linux, not a syscall.)
    pub fn start(&mut self) -> TimerGuard<'_> {
        TimerGuard {
            timer: self,
            start: Instant::now(),
        }
    }

    /// The current mean duration in seconds.
    pub fn value(&self) -> f64 {
        self.avg.value()
    }
}

impl FieldHandle for Timer {
    fn from_slot(slot: Slot, spec: &Spec) -> Self {
        Timer {
            avg: MovingAverage::from_slot(slot, spec),
        }
    }
}

/// Records the time since [`Timer::start`] when dropped.
pub struct TimerGuard<'a> {
    timer: &'a mut Timer,
    start: Instant,
}

impl Drop for TimerGuard<'_> {
    fn drop(&mut self) {
        self.timer.record(self.start.elapsed());
    }
}

/// A string of at most the declared size (`<n>s`), NUL-padded.
pub struct Text {
    slot: Slot,
}

impl Text {
    /// Sets the text, cut at the last whole character that fits.
    pub fn set(&mut self, s: &str) {
        let end = s.floor_char_boundary(self.slot.size);
        self.slot.publish_bytes(&s.as_bytes()[..end]);
    }

    /// The field's size in bytes.
    pub fn size(&self) -> usize {
        self.slot.size
    }
}

impl FieldHandle for Text {
    fn from_slot(slot: Slot, _: &Spec) -> Self {
        Text { slot }
    }
}
