//! The module API every kind of module implements (built-in, Python, native), and the
//! scheduler state that says when each one is due.

use std::time::{Duration, Instant};

use crate::metric::Sample;

/// What one collection gave: the samples, and problems to report (a failing callback,
/// a value that is not a number) with their cause. A problem never stops the module.
#[derive(Debug, Default)]
pub struct Collection {
    /// Measured values.
    pub samples: Vec<Sample>,
    /// One message per failed metric, naming it and the cause.
    pub errors: Vec<String>,
}

/// A loaded module.
///
/// `collect` is called at the module's interval on the agent's collector thread (never
/// an async worker); a module that must run elsewhere (Python) forwards the call.
pub trait Module: Send {
    /// The module's name (its file stem in the module folder).
    fn name(&self) -> &str;
    /// Measures every metric once.
    fn collect(&mut self) -> Collection;
    /// Called once at shutdown.
    fn cleanup(&mut self) {}
}

/// A module with its schedule.
pub struct Scheduled {
    /// The module.
    pub module: Box<dyn Module>,
    /// How often it is collected.
    pub interval: Duration,
    /// When it is next due.
    pub next: Instant,
}

impl Scheduled {
    /// Schedules `module` every `interval`, first due at `start`.
    pub fn new(module: Box<dyn Module>, interval: Duration, start: Instant) -> Scheduled {
        Scheduled {
            module,
            interval,
            next: start,
        }
    }

    /// Moves `next` past `now` by whole intervals (a slow collection skips ticks rather
    /// than bunching them).
    pub fn advance(&mut self, now: Instant) {
        while self.next <= now {
            self.next += self.interval;
        }
    }
}
