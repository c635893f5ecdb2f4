//! Hand-off of history (docs/SCALING.md, "Hand-off of history"): every closed interval
//! forwarded to an existing long-term store, Graphite plaintext (carbon-cache,
//! carbon-relay, go-carbon, VictoriaMetrics) or Prometheus remote-write (Prometheus,
//! VictoriaMetrics, Mimir).
//!
//! One [`Forwarder`] per `[[forward]]` section: an [`IntervalSink`] whose
//! `interval_closed` only queues the interval's `Arc` (the closing thread never waits
//! on the network, nor on turning 100k leaves into points), and a thread of its own
//! that resolves the paths ([`Engine::interval_paths`], shared with the other
//! readers), turns the interval into points ([`points`]), keeps them in a buffer
//! bounded in bytes ([`buffer`]: the oldest go first when it is full, counted) and
//! sends them in batches, oldest first. A failed connect or send keeps the batch and
//! retries it after a pause that doubles from `retry_min` to `retry_max`, so after an
//! outage the buffered points arrive in order. Delivery is at least once: a batch
//! whose answer was lost is sent again (both targets keep one value per series and
//! time stamp, so a repeat changes nothing).
//!
//! Counters (`/metrics`, `_treestat,forward,<target>,...`): sent, dropped, rejected
//! points, send errors, non-finite values left out, buffered bytes and points. A
//! target that is down does not make `/health` degraded: a load balancer polling it
//! would take this server out for another system's outage; the counters and the log
//! (a WARN when sends start failing, an INFO when they work again) say it.

pub mod buffer;
pub mod config;
pub mod error;
pub mod graphite;
pub mod points;
pub mod prometheus;
pub mod transport;

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use treestat_engine::telemetry::{Counter, Gauge, Telemetry};
use treestat_engine::{ClosedInterval, Engine, IntervalSink};

pub use config::{ForwardConfig, Kind};
pub use error::{Error, ErrorKind, Result};

use buffer::Buffer;
use config::Checked;
use transport::{Outcome, Transport};

/// Closed intervals waiting for the worker to turn them into points. The worker takes
/// them between two sends, so more pile up only while one send hangs (up to
/// `timeout`); past this the oldest interval is dropped and its points counted.
const MAX_PENDING_INTERVALS: usize = 8;

/// How long [`Forwarder::stop`] waits for the worker past its grace.
pub const STOP_SLACK: Duration = Duration::from_millis(50);

/// The counters of one target.
#[derive(Debug, Clone)]
struct Metrics {
    sent: Counter,
    dropped: Counter,
    rejected: Counter,
    errors: Counter,
    non_finite: Counter,
    buffered_bytes: Gauge,
    buffered_points: Gauge,
}

impl Metrics {
    fn register(t: &Telemetry, target: &str) -> Metrics {
        let l: &[(&str, &str)] = &[("target", target)];
        t.describe(
            "treestat_forward_sent_points_total",
            "Points a [[forward]] target took.",
        );
        t.describe(
            "treestat_forward_dropped_points_total",
            "Points dropped before they were sent: the buffer was full (the oldest go), or the server stopped with them unsent.",
        );
        t.describe(
            "treestat_forward_rejected_points_total",
            "Points a target refused for good (HTTP 4xx other than 429), not sent again.",
        );
        t.describe(
            "treestat_forward_send_errors_total",
            "Failed connects and sends (each retry counts).",
        );
        t.describe(
            "treestat_forward_non_finite_total",
            "Non-finite values left out (Graphite cannot store them).",
        );
        t.describe(
            "treestat_forward_buffered_bytes",
            "Bytes of points waiting for the target (bounded by buffer_bytes).",
        );
        t.describe(
            "treestat_forward_buffered_points",
            "Points waiting for the target.",
        );
        Metrics {
            sent: t.counter("treestat_forward_sent_points_total", l),
            dropped: t.counter("treestat_forward_dropped_points_total", l),
            rejected: t.counter("treestat_forward_rejected_points_total", l),
            errors: t.counter("treestat_forward_send_errors_total", l),
            non_finite: t.counter("treestat_forward_non_finite_total", l),
            buffered_bytes: t.gauge("treestat_forward_buffered_bytes", l),
            buffered_points: t.gauge("treestat_forward_buffered_points", l),
        }
    }
}

/// What the sink and the worker share.
struct Shared {
    inbox: Mutex<Inbox>,
    wake: Condvar,
    metrics: Metrics,
}

#[derive(Default)]
struct Inbox {
    intervals: VecDeque<Arc<ClosedInterval>>,
    /// Set by [`Forwarder::stop`]: send what is buffered until then, then end.
    stop: Option<Instant>,
}

/// The figures of one target (the same the counters show).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ForwardStats {
    /// Points the target took.
    pub sent: u64,
    /// Points dropped unsent (buffer full, or left at stop).
    pub dropped: u64,
    /// Points the target refused for good.
    pub rejected: u64,
    /// Failed connects and sends.
    pub errors: u64,
    /// Non-finite values left out.
    pub non_finite: u64,
    /// Points waiting.
    pub buffered_points: u64,
    /// Bytes waiting.
    pub buffered_bytes: u64,
}

/// One forward target: its sink registered with the engine and its worker thread.
/// Stop it with [`Forwarder::stop`] (after the engine's last close, so the last
/// interval goes too); dropping it stops it without a grace.
pub struct Forwarder {
    name: String,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

struct Sink(Arc<Shared>);

impl IntervalSink for Sink {
    fn interval_closed(&self, interval: &Arc<ClosedInterval>) {
        let mut inbox = self.0.inbox.lock();
        if inbox.stop.is_some() {
            return;
        }
        if inbox.intervals.len() >= MAX_PENDING_INTERVALS
            && let Some(old) = inbox.intervals.pop_front()
        {
            self.0.metrics.dropped.add(as_u64(old.points.len()));
        }
        inbox.intervals.push_back(interval.clone());
        drop(inbox);
        self.0.wake.notify_one();
    }
}

impl Forwarder {
    /// Checks `cfg`, registers the target's counters (named `cfg.name`, else the kind
    /// and `index`: `graphite0`), registers the sink with `engine` and starts the
    /// worker. Nothing is connected until the first interval closes.
    ///
    /// # Errors
    /// `Config` when the section is invalid; `Send` when the thread cannot start.
    pub fn start(
        engine: &Engine,
        cfg: &ForwardConfig,
        index: usize,
        telemetry: &Telemetry,
    ) -> Result<Forwarder> {
        let checked = cfg.validate()?;
        let name = cfg.target_name(index);
        let stat_names: Vec<String> = checked.stats.iter().map(|s| s.0.clone()).collect();
        let transport: Box<dyn Transport> = match cfg.kind {
            Kind::Graphite => Box::new(graphite::Graphite::new(
                &checked.address,
                &cfg.prefix,
                stat_names,
                cfg.timeout,
            )),
            Kind::Prometheus => Box::new(prometheus::Prometheus::new(
                &checked.address,
                &cfg.metric,
                cfg.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                stat_names,
                cfg.timeout,
            )),
        };
        let shared = Arc::new(Shared {
            inbox: Mutex::new(Inbox::default()),
            wake: Condvar::new(),
            metrics: Metrics::register(telemetry, &name),
        });
        let worker = Worker {
            name: name.clone(),
            engine: engine.clone(),
            checked,
            transport,
            buffer: Buffer::new(cfg.buffer_bytes),
            batch: cfg.batch,
            retry_min: cfg.retry_min,
            retry_max: cfg.retry_max,
            shared: shared.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("forward {name}"))
            .spawn(move || worker.run())
            .map_err(|e| Error::send(format!("forward {name}: starting its thread: {e}")))?;
        engine.add_sink(Arc::new(Sink(shared.clone())));
        Ok(Forwarder {
            name,
            shared,
            thread: Some(thread),
        })
    }

    /// The target's name (the `target` label).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The target's figures now.
    pub fn stats(&self) -> ForwardStats {
        let m = &self.shared.metrics;
        ForwardStats {
            sent: m.sent.get(),
            dropped: m.dropped.get(),
            rejected: m.rejected.get(),
            errors: m.errors.get(),
            non_finite: m.non_finite.get(),
            buffered_points: m.buffered_points.get().try_into().unwrap_or(0),
            buffered_bytes: m.buffered_bytes.get().try_into().unwrap_or(0),
        }
    }

    /// Stops taking intervals, sends what is queued and buffered for up to `grace`,
    /// then ends the worker; what is still unsent then is counted as dropped. Waits
    /// for the worker at most `grace` plus [`STOP_SLACK`] (a connect or write that
    /// hangs past it is left behind, logged).
    pub fn stop(&mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        self.shared.inbox.lock().stop = Some(deadline);
        self.shared.wake.notify_all();
        let Some(h) = self.thread.take() else { return };
        let wait_until = deadline + STOP_SLACK;
        while !h.is_finished() && Instant::now() < wait_until {
            std::thread::sleep(Duration::from_millis(5));
        }
        if h.is_finished() {
            let _ = h.join();
        } else {
            tracing::error!(
                "forward {}: still sending at stop; not waiting for it",
                self.name
            );
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop(Duration::ZERO);
        }
    }
}

/// The thread that turns intervals into points and sends them.
struct Worker {
    name: String,
    engine: Engine,
    checked: Checked,
    transport: Box<dyn Transport>,
    buffer: Buffer,
    batch: usize,
    retry_min: Duration,
    retry_max: Duration,
    shared: Arc<Shared>,
}

impl Worker {
    fn run(mut self) {
        // The pause after the latest failure, and when the next try may start.
        let mut pause: Option<Duration> = None;
        let mut retry_at: Option<Instant> = None;
        let mut failing_since: Option<Instant> = None;
        loop {
            let (intervals, stop) = {
                let mut inbox = self.shared.inbox.lock();
                loop {
                    let now = Instant::now();
                    let can_send = !self.buffer.is_empty() && retry_at.is_none_or(|t| t <= now);
                    if !inbox.intervals.is_empty() || can_send {
                        break;
                    }
                    if let Some(deadline) = inbox.stop
                        && (self.buffer.is_empty() || now >= deadline)
                    {
                        break;
                    }
                    let until = [retry_at.filter(|_| !self.buffer.is_empty()), inbox.stop]
                        .into_iter()
                        .flatten()
                        .min();
                    match until {
                        Some(t) => {
                            self.shared.wake.wait_until(&mut inbox, t);
                        }
                        None => self.shared.wake.wait(&mut inbox),
                    }
                }
                (inbox.intervals.drain(..).collect::<Vec<_>>(), inbox.stop)
            };
            for closed in intervals {
                self.take(&closed);
            }
            let now = Instant::now();
            if let Some(deadline) = stop
                && (self.buffer.is_empty() || now >= deadline)
            {
                break;
            }
            if self.buffer.is_empty() || retry_at.is_some_and(|t| t > now) {
                continue;
            }
            let n = self.batch.min(self.buffer.len());
            let points: Vec<&points::Point> = self.buffer.front(n).collect();
            let outcome = self.transport.send(&points);
            drop(points);
            let m = &self.shared.metrics;
            match outcome {
                Outcome::Sent | Outcome::Rejected(_) => {
                    if let Outcome::Rejected(e) = &outcome {
                        tracing::warn!("forward {}: {n} points refused: {e}", self.name);
                        m.rejected.add(as_u64(n));
                    } else {
                        m.sent.add(as_u64(n));
                    }
                    self.buffer.consume(n);
                    self.gauges();
                    pause = None;
                    retry_at = None;
                    if let Some(t) = failing_since.take() {
                        tracing::info!(
                            "forward {}: sending again after {:.1} s",
                            self.name,
                            t.elapsed().as_secs_f64()
                        );
                    }
                }
                Outcome::Retry(e) => {
                    m.errors.inc();
                    let p = pause.map_or(self.retry_min, |p| (p * 2).min(self.retry_max));
                    pause = Some(p);
                    retry_at = Some(Instant::now() + p);
                    if failing_since.is_none() {
                        failing_since = Some(Instant::now());
                        tracing::warn!(
                            "forward {}: {e}; keeping {} points and retrying",
                            self.name,
                            self.buffer.len()
                        );
                    }
                }
            }
        }
        let left = self.buffer.len();
        if left > 0 {
            tracing::warn!("forward {}: stopped with {left} points unsent", self.name);
            self.shared.metrics.dropped.add(as_u64(left));
            self.buffer.consume(left);
            self.gauges();
        }
    }

    /// Turns one interval into points in the buffer.
    fn take(&mut self, closed: &ClosedInterval) {
        let paths = self.engine.interval_paths(closed);
        let selected = self.engine.select(&paths, &self.checked.pattern);
        let mut out = Vec::with_capacity(selected.len());
        let non_finite =
            points::points_of(closed, &paths, &selected, &self.checked.stats, &mut out);
        let m = &self.shared.metrics;
        m.non_finite.add(non_finite);
        let mut dropped = 0;
        for p in out {
            dropped += self.buffer.push(p);
        }
        if dropped > 0 {
            m.dropped.add(dropped);
        }
        self.gauges();
    }

    fn gauges(&self) {
        let m = &self.shared.metrics;
        m.buffered_bytes
            .set(i64::try_from(self.buffer.bytes()).unwrap_or(i64::MAX));
        m.buffered_points
            .set(i64::try_from(self.buffer.len()).unwrap_or(i64::MAX));
    }
}

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
