//! What a target is to the worker: something that takes a batch of points and says
//! whether they went, should be sent again later, or were refused for good.

use crate::error::Error;
use crate::points::Point;

/// How one send ended.
#[derive(Debug)]
pub enum Outcome {
    /// The target took the batch.
    Sent,
    /// Could not connect, a write failed or timed out, or the target answered that
    /// it cannot take it now (HTTP 5xx, 429): the same batch goes again after a pause.
    Retry(Error),
    /// The target refused the batch as such (HTTP 4xx other than 429: out-of-order or
    /// malformed samples): sending it again would fail again, so it is dropped and
    /// counted.
    Rejected(Error),
}

/// A target.
pub trait Transport: Send {
    /// Sends `points` (oldest first) as one batch.
    fn send(&mut self, points: &[&Point]) -> Outcome;
}
