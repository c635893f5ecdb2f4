//! The shutdown signal passed into every long-running loop (STYLE.md 8): a cheap-clone
//! flag with a condition variable, so a sleeping loop wakes at once when it is set.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// A shutdown flag shared by the caller and every loop it starts.
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Arc<(Mutex<bool>, Condvar)>,
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Shutdown({})", self.is_set())
    }
}

impl Shutdown {
    /// A flag not yet set.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Sets the flag and wakes every waiter.
    pub fn trigger(&self) {
        let (lock, cv) = &*self.inner;
        *lock.lock() = true;
        cv.notify_all();
    }

    /// True once [`Shutdown::trigger`] was called.
    pub fn is_set(&self) -> bool {
        *self.inner.0.lock()
    }

    /// Sleeps until `deadline` or until shutdown; returns true on shutdown.
    pub fn wait_until(&self, deadline: Instant) -> bool {
        let (lock, cv) = &*self.inner;
        let mut set = lock.lock();
        while !*set {
            if cv.wait_until(&mut set, deadline).timed_out() {
                return *set;
            }
        }
        true
    }

    /// Sleeps for `d` or until shutdown; returns true on shutdown.
    pub fn wait(&self, d: Duration) -> bool {
        self.wait_until(Instant::now() + d)
    }
}
