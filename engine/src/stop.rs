//! The one stop signal of the process (docs/ARCHITECTURE.md, "Stopping"): a
//! [`CancellationToken`], handed to every long-running task and thread. Async code awaits
//! [`CancellationToken::cancelled`]; threads check [`CancellationToken::is_cancelled`]
//! between steps and sleep with [`Wait::wait`], which wakes at once when the token is
//! cancelled. So one `cancel()` (the signal handler's, a test's, the server's own when
//! its HTTP task fails) reaches the listeners, the HTTP server, the AMQP consumer, the
//! `[[tail]]` threads and the host modules alike; a child token
//! ([`CancellationToken::child_token`]) stops one part without the rest.
//!
//! Why not a condition variable of our own: the token already wakes async waiters, and
//! a thread can wait on it too by polling its `cancelled()` future with a waker that
//! unparks the thread; two mechanisms meant two signals to keep in step.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

pub use tokio_util::sync::CancellationToken;

/// Blocking waits on a [`CancellationToken`], for threads (no runtime needed).
pub trait Wait {
    /// Sleeps until the token is cancelled or `deadline` passes; true when cancelled.
    fn wait_until(&self, deadline: Instant) -> bool;

    /// Sleeps for `d` or until the token is cancelled; true when cancelled.
    fn wait(&self, d: Duration) -> bool {
        self.wait_until(Instant::now() + d)
    }
}

/// Wakes the waiting thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

impl Wait for CancellationToken {
    fn wait_until(&self, deadline: Instant) -> bool {
        if self.is_cancelled() {
            return true;
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut cancelled = pin!(self.cancelled());
        loop {
            if let Poll::Ready(()) = cancelled.as_mut().poll(&mut cx) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            // A spurious unpark only means one more poll.
            std::thread::park_timeout(deadline - now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleeping_thread_wakes_when_the_token_is_cancelled() {
        let token = CancellationToken::new();
        assert!(
            !token.wait(Duration::from_millis(10)),
            "times out uncancelled"
        );
        let waiter = {
            let token = token.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                (token.wait(Duration::from_secs(600)), started.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        token.cancel();
        let (woke, after) = waiter.join().unwrap();
        assert!(woke);
        assert!(after < Duration::from_secs(60), "{after:?}");
        assert!(token.wait(Duration::ZERO), "stays cancelled");
    }

    #[test]
    fn a_parent_token_reaches_a_child_waiting_in_a_thread() {
        let parent = CancellationToken::new();
        let child = parent.child_token();
        let waiter = std::thread::spawn(move || child.wait(Duration::from_secs(600)));
        parent.cancel();
        assert!(waiter.join().unwrap());
    }
}
