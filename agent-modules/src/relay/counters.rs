//! What the relay's listeners count, and the intervals they closed.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use treestat_engine::{ClosedInterval, Engine};

/// Counters shared by the listeners.
#[derive(Debug, Default)]
pub struct RelayCounters {
    /// Documents merged.
    pub received: AtomicU64,
    /// Documents refused (not JSON, bad key, over a limit).
    pub rejected: AtomicU64,
    /// Intervals a listener closed (its time was up when a push arrived), waiting for
    /// the relay loop to forward them.
    pub(super) closed: parking_lot::Mutex<Vec<Arc<ClosedInterval>>>,
}

impl RelayCounters {
    /// Closes the open interval if its time is up, before a push is merged: a push that
    /// arrives just after the boundary, before the relay loop woke, must not be folded
    /// into the interval that ended.
    pub(crate) fn close_due(&self, engine: &Engine) {
        if let Some(c) = engine.close_due() {
            self.closed.lock().push(c);
        }
    }
}
