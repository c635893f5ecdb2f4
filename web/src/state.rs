//! [`AppState`]: what every handler shares, and the hooks the server is wired with.
//!
//! A cheap-clone handle (`Arc` inside) in the mini-redis way, and the only state of the
//! router ([`crate::app`] builds every route over it). It holds the engine, the config,
//! the telemetry and the web counters, the bounds on long-polls, event streams and log
//! requests (semaphores taken without waiting), the graph render permits, the trend
//! store when the server keeps trends, and two hooks defined here as small traits so
//! this crate does not depend on who implements them: [`LogSink`] (access-log lines ->
//! pipes) and [`ViewStore`] (the trend store's key-value space, implemented here for
//! `TrendStore`).

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tokio_util::sync::CancellationToken;
use treestat_engine::Engine;
use treestat_engine::telemetry::{Counter, Telemetry};
use treestat_engine::trend::TrendStore;

use crate::config::WebConfig;
use crate::error::AppError;

/// What the pipes made of a batch of access-log lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LogSummary {
    /// Lines handed over.
    pub lines: u64,
    /// Lines that did not parse (counted and skipped).
    pub bad_lines: u64,
    /// Samples the pipes emitted into the engine.
    pub samples: u64,
}

impl LogSummary {
    /// Adds another batch's figures to these.
    pub fn add(&mut self, other: &LogSummary) {
        self.lines += other.lines;
        self.bad_lines += other.bad_lines;
        self.samples += other.samples;
    }
}

/// Where access-log lines go: the pipes, wired by the server.
///
/// Called from a blocking thread (pipes may run Python or native code), one batch of
/// lines at a time, in order.
pub trait LogSink: Send + Sync {
    /// Hands over a batch of lines from `source` (`"push"`, `"raw"` or `"tornado"`).
    ///
    /// # Errors
    /// A message for the client when the lines could not be handled at all (not for
    /// single bad lines: those are counted in [`LogSummary::bad_lines`]).
    fn lines(&self, source: &str, lines: &[&str]) -> Result<LogSummary, String>;
}

/// Saved views persist in a key-value space; this is its shape (the trend store's
/// `meta_*` methods). Calls block (disk), so handlers make them on a blocking thread.
pub trait ViewStore: Send + Sync {
    /// The value under `key`, if any.
    ///
    /// # Errors
    /// A storage failure, for the log.
    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, String>;
    /// Stores `value` under `key`, replacing what was there.
    ///
    /// # Errors
    /// A storage failure, for the log.
    fn meta_put(&self, key: &str, value: &[u8]) -> Result<(), String>;
    /// Removes `key`; whether it existed.
    ///
    /// # Errors
    /// A storage failure, for the log.
    fn meta_delete(&self, key: &str) -> Result<bool, String>;
    /// Every key starting with `prefix` with its value, in key order.
    ///
    /// # Errors
    /// A storage failure, for the log.
    fn meta_list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, String>;
}

/// The HTTP layer's counters, registered once in the telemetry registry:
/// the hot path only increments. They render at `/metrics` and land in the tree under
/// `_treestat,http,...`.
#[derive(Debug, Clone)]
pub struct WebCounters {
    telemetry: Telemetry,
    /// Requests answered.
    pub requests: Counter,
    /// Body bytes received on push endpoints.
    pub bytes: Counter,
    /// Access-log lines received.
    pub lines: Counter,
    /// Connections closed because their request head did not arrive within
    /// `web.header_timeout` (slow or idle clients, slowloris).
    pub header_timeouts: Counter,
}

impl WebCounters {
    fn register(telemetry: &Telemetry) -> WebCounters {
        telemetry.describe("treestat_http_requests_total", "HTTP requests answered.");
        telemetry.describe(
            "treestat_http_bytes_total",
            "Body bytes received on HTTP push endpoints.",
        );
        telemetry.describe(
            "treestat_http_lines_total",
            "Access-log lines received over HTTP.",
        );
        telemetry.describe(
            "treestat_http_rejects_total",
            "HTTP requests refused, by reason.",
        );
        telemetry.describe(
            "treestat_http_header_timeouts_total",
            "HTTP connections closed because the request head did not arrive within \
             web.header_timeout.",
        );
        WebCounters {
            telemetry: telemetry.clone(),
            requests: telemetry.counter("treestat_http_requests_total", &[]),
            bytes: telemetry.counter("treestat_http_bytes_total", &[]),
            lines: telemetry.counter("treestat_http_lines_total", &[]),
            header_timeouts: telemetry.counter("treestat_http_header_timeouts_total", &[]),
        }
    }

    /// Counts one refused request (rare: the lookup takes the registry lock).
    pub fn reject(&self, reason: &'static str) {
        self.telemetry
            .counter("treestat_http_rejects_total", &[("reason", reason)])
            .inc();
    }

    /// Refusals so far for one reason.
    pub fn rejects(&self, reason: &str) -> u64 {
        self.telemetry
            .value("treestat_http_rejects_total", &[("reason", reason)])
            .map_or(0, |v| {
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "a counter's value is a whole number well below 2^53"
                )]
                let n = v as u64;
                n
            })
    }
}

/// A bound on things open at once (long-polls, event streams, log requests): a
/// semaphore whose permits are taken without waiting ([`AppState::take_slot`]), so a
/// request past the bound is refused at once rather than queued.
#[derive(Debug)]
pub(crate) struct Slots {
    sem: Arc<Semaphore>,
    max: usize,
}

/// One taken slot; dropping it gives the slot back.
pub(crate) type Slot = OwnedSemaphorePermit;

#[derive(Debug, Clone, Copy)]
pub(crate) enum SlotKind {
    Waiter,
    Stream,
    /// A request carrying access-log lines (`/push` text or `accesslog`, `/raw`).
    LogRequest,
}

impl Slots {
    fn new(max: usize) -> Slots {
        let max = max.min(Semaphore::MAX_PERMITS);
        Slots {
            sem: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// A gauge reading of the slots taken now, for the telemetry (holds only the
    /// semaphore, not the state).
    fn in_use_fn(&self) -> impl Fn() -> f64 + Send + Sync + 'static {
        let (sem, max) = (self.sem.clone(), self.max);
        #[allow(clippy::cast_precision_loss)] // slot counts stay far below 2^53
        move || max.saturating_sub(sem.available_permits()) as f64
    }
}

pub(crate) struct Inner {
    pub(crate) engine: Engine,
    pub(crate) config: WebConfig,
    pub(crate) counters: WebCounters,
    pub(crate) log_sink: Option<Arc<dyn LogSink>>,
    pub(crate) views: Option<Arc<dyn ViewStore>>,
    /// The trend store behind `/trend`, `/export`, `/markers`, `/import`, `/graph` and
    /// the chart forms of `/diff`; without one those routes are not mounted.
    pub(crate) trends: Option<TrendStore>,
    /// Graph renders at once: one per core; a render waits for one (at most
    /// `graphs::RENDER_WAIT`, then 503).
    pub(crate) renders: Arc<Semaphore>,
    pub(crate) telemetry: Telemetry,
    pub(crate) waiters: Slots,
    pub(crate) streams: Slots,
    /// Log requests at work: each may hold a blocking thread while the pipes run, so
    /// they are bounded (`web.max_log_requests`) and refused with 429 past it, instead
    /// of piling up in the blocking pool that intervals, big pushes and `/trend` need.
    pub(crate) log_requests: Slots,
    /// Cancelled when the server shuts down: long-polls answer and streams end.
    pub(crate) shutdown: CancellationToken,
    /// The address the HTTP server is bound to, when known: on a loopback address the
    /// `Host` header is checked (DNS rebinding).
    pub(crate) bind: Option<std::net::SocketAddr>,
    /// `/events` message bodies of the newest interval, shared by the streams.
    pub(crate) bodies: crate::interval_json::BodyCache,
    /// Wakes `/pull` waiters whose pattern a push concerns.
    pub(crate) dispatcher: crate::dispatch::Dispatcher,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .field("log_sink", &self.log_sink.is_some())
            .field("views", &self.views.is_some())
            .field("trends", &self.trends.is_some())
            .finish_non_exhaustive()
    }
}

/// The state every handler shares: a cheap-clone handle.
#[derive(Debug, Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

impl AppState {
    /// State over an engine, a config and the process's telemetry registry (where the
    /// engine's and the web's counters are registered, and which `/metrics` renders).
    /// Add the hooks with the `with_*` methods before building the router.
    pub fn new(engine: Engine, config: WebConfig, telemetry: Telemetry) -> AppState {
        let waiters = Slots::new(config.max_waiters);
        let streams = Slots::new(config.max_streams);
        let log_requests = Slots::new(config.max_log_requests);
        engine.register_telemetry(&telemetry);
        telemetry.describe("treestat_http_pull_waiters", "Long-polls waiting now.");
        telemetry.gauge_fn("treestat_http_pull_waiters", &[], waiters.in_use_fn());
        telemetry.describe("treestat_http_event_streams", "Event streams open now.");
        telemetry.gauge_fn("treestat_http_event_streams", &[], streams.in_use_fn());
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        AppState {
            inner: Arc::new(Inner {
                engine,
                config,
                counters: WebCounters::register(&telemetry),
                log_sink: None,
                views: None,
                trends: None,
                renders: Arc::new(Semaphore::new(cores)),
                telemetry,
                waiters,
                streams,
                log_requests,
                shutdown: CancellationToken::new(),
                bind: None,
                bodies: crate::interval_json::BodyCache::default(),
                dispatcher: crate::dispatch::Dispatcher::default(),
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> AppState {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => f(inner),
            None => tracing::error!("AppState hooks must be set before the state is shared"),
        }
        self
    }

    /// Where access-log input (`accesslog` form field, text pushes, `/raw`) goes.
    /// Without one those requests answer 501.
    #[must_use]
    pub fn with_log_sink(self, sink: Arc<dyn LogSink>) -> AppState {
        self.edit(|i| i.log_sink = Some(sink))
    }

    /// The address the HTTP server is bound to. On a loopback address every request's
    /// `Host` must be a loopback name, an IP literal or one of `web.allowed_hosts`, so
    /// that a DNS name rebound to 127.0.0.1 cannot reach the server from a web page.
    #[must_use]
    pub fn with_bind(self, addr: std::net::SocketAddr) -> AppState {
        self.edit(|i| i.bind = Some(addr))
    }

    /// Where saved views are kept. Without one `/api/views` answers 501.
    #[must_use]
    pub fn with_view_store(self, store: Arc<dyn ViewStore>) -> AppState {
        self.edit(|i| i.views = Some(store))
    }

    /// The trend store: [`crate::app`] then mounts the trend and graph routes
    /// (`/trend`, `/export`, `/markers`, `/import`, `/graph`, the chart forms of
    /// `/diff`).
    #[must_use]
    pub fn with_trend_store(self, store: TrendStore) -> AppState {
        self.edit(|i| i.trends = Some(store))
    }

    /// The trend store, when the server keeps trends.
    pub fn trend_store(&self) -> Option<&TrendStore> {
        self.inner.trends.as_ref()
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The config.
    pub fn config(&self) -> &WebConfig {
        &self.inner.config
    }

    /// The telemetry registry.
    pub fn telemetry(&self) -> &Telemetry {
        &self.inner.telemetry
    }

    /// The web counters.
    pub fn counters(&self) -> &WebCounters {
        &self.inner.counters
    }

    /// The token that ends long-polls and event streams; [`crate::serve`] cancels it
    /// when the server shuts down.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// Takes a long-poll, stream or log-request slot, or refuses with 429.
    pub(crate) fn take_slot(&self, kind: SlotKind) -> Result<Slot, AppError> {
        let (slots, what, reason) = match kind {
            SlotKind::Waiter => (&self.inner.waiters, "long-poll waiters", "too_many_waiters"),
            SlotKind::Stream => (&self.inner.streams, "event streams", "too_many_streams"),
            SlotKind::LogRequest => (
                &self.inner.log_requests,
                "access-log requests at once",
                "too_many_log_requests",
            ),
        };
        match slots.sem.clone().try_acquire_owned() {
            Ok(slot) => Ok(slot),
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => Err(AppError::too_many(
                reason,
                format!("too many {what} (limit {}); retry later", slots.max),
            )),
        }
    }
}
