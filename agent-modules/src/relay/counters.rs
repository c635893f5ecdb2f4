//! What the relay's listeners count, and the intervals they closed; and the same
//! counters as `GET /metrics` on the relay's HTTP listener ([`RelayCounters::register`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use serde_json::{Map, Value as Json};
use treestat_engine::listen::{LineError, Reject, simplestats};
use treestat_engine::telemetry::Telemetry;
use treestat_engine::{ClosedInterval, Engine};

use crate::transport::ServerStats;

/// Counters shared by the listeners.
///
/// The relay's own listeners (JSON trees, SimpleStats tuples, log lines) count here
/// directly; the StatsD and Graphite listeners are the engine's own, which count in
/// [`RelayCounters::telemetry`] (`treestat_listen_*{listener="statsd"|"graphite"}`), read
/// back by [`RelayCounters::snapshot`].
#[derive(Debug, Default)]
pub struct RelayCounters {
    /// JSON documents merged (TCP lines, UDP datagram lines, HTTP bodies and form
    /// `json` fields).
    pub json: AtomicU64,
    /// JSON documents and SimpleStats tuples refused (not JSON, bad key, over a limit),
    /// and HTTP bodies refused whole (too large, unsupported type, no pipeline).
    pub rejected: AtomicU64,
    /// SimpleStats tuples (`["name", ts, value]`) merged, over TCP and UDP.
    pub tuples: AtomicU64,
    /// Access-log lines handed to the pipes (`text/plain` bodies, form `accesslog`
    /// fields, `PUT /raw` and `/tornado`), parsed or not: lines that do not parse are
    /// counted by the pipes (`_treestat,pipes,<name>,bad_lines`).
    pub log_lines: AtomicU64,
    /// The counters of the engine's StatsD and Graphite listeners the relay runs.
    pub telemetry: Telemetry,
    /// Intervals a listener closed (its time was up when a push arrived), waiting for
    /// the relay loop to forward them.
    pub(super) closed: parking_lot::Mutex<Vec<Arc<ClosedInterval>>>,
    /// Each upstream's counters as of the relay loop's last turn (once an interval).
    pub(super) upstream: parking_lot::Mutex<Vec<ServerStats>>,
}

/// The relay's counters at one moment, as they go upstream under
/// `_treestat,relay,<host>`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelaySnapshot {
    /// Everything merged: JSON documents, tuples, StatsD and Graphite lines, log lines.
    pub received: u64,
    /// Everything refused: JSON documents and tuples, StatsD and Graphite lines.
    pub rejected: u64,
    /// JSON documents merged.
    pub json: u64,
    /// SimpleStats tuples merged.
    pub simplestats: u64,
    /// StatsD lines merged.
    pub statsd: u64,
    /// Graphite plaintext lines merged.
    pub graphite: u64,
    /// Access-log lines handed to the pipes.
    pub log_lines: u64,
}

/// One figure of a [`RelaySnapshot`].
type Field = fn(RelaySnapshot) -> u64;

/// One figure of an upstream's [`ServerStats`].
type Stat = fn(&ServerStats) -> f64;

/// What `GET /metrics` gives of each upstream's [`ServerStats`]: name, help, whether
/// it is a counter (else a gauge), and the figure.
#[allow(clippy::cast_precision_loss)] // counts stay far below 2^53
const UPSTREAM_FIGURES: [(&str, &str, bool, Stat); 5] = [
    (
        "treestat_relay_upstream_sent_total",
        "Documents the upstream took.",
        true,
        |s| s.sent as f64,
    ),
    (
        "treestat_relay_upstream_rejected_total",
        "Documents the upstream refused.",
        true,
        |s| s.rejected as f64,
    ),
    (
        "treestat_relay_upstream_dropped_total",
        "Documents dropped: the buffer was full, or one was too large.",
        true,
        |s| s.dropped as f64,
    ),
    (
        "treestat_relay_upstream_pending",
        "Documents waiting to be sent.",
        false,
        |s| s.pending as f64,
    ),
    (
        "treestat_relay_upstream_down",
        "1 while the last attempt failed.",
        false,
        |s| f64::from(u8::from(s.down)),
    ),
];

/// Refusals of a whole connection, not of a line: not subtracted from the lines.
const CONNECTION_REJECTS: [Reject; 3] = [
    Reject::TooManyConnections,
    Reject::IdleTimeout,
    Reject::IdleReclaimed,
];

impl RelayCounters {
    /// Closes the open interval if its time is up, before a push is merged: a push that
    /// arrives just after the boundary, before the relay loop woke, must not be folded
    /// into the interval that ended.
    pub(crate) fn close_due(&self, engine: &Engine) {
        if let Some(c) = engine.close_due() {
            self.closed.lock().push(c);
        }
    }

    /// (lines merged, lines refused) of the engine listener `name`.
    fn listener(&self, name: &str) -> (u64, u64) {
        let t = &self.telemetry;
        let lines = t
            .value("treestat_listen_lines_total", &[("listener", name)])
            .unwrap_or(0.0);
        let refused: f64 = treestat_engine::listen::Reject::ALL
            .iter()
            .filter(|r| !CONNECTION_REJECTS.contains(r))
            .filter_map(|r| {
                t.value(
                    "treestat_listen_rejects_total",
                    &[("listener", name), ("reason", r.as_str())],
                )
            })
            .sum();
        // Counts stay far below 2^53.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let (lines, refused) = (lines as u64, refused as u64);
        (lines.saturating_sub(refused), refused)
    }

    /// Registers the relay's counters in [`RelayCounters::telemetry`], which then
    /// renders them (`GET /metrics`) beside the StatsD and Graphite listeners' own:
    /// `treestat_relay_received_total{kind}` and `treestat_relay_rejected_total`, and
    /// per upstream (`upstreams`, their URLs in the outbox's order) what
    /// [`ServerStats`] holds, as of the relay loop's last turn. The registry holds
    /// them weakly: no cycle through the registry they live in.
    pub(super) fn register(counters: &Arc<RelayCounters>, upstreams: &[String]) {
        let t = &counters.telemetry;
        t.describe(
            "treestat_relay_received_total",
            "What the relay merged, by kind: JSON documents, SimpleStats tuples, StatsD \
             and Graphite lines, access-log lines.",
        );
        t.describe(
            "treestat_relay_rejected_total",
            "JSON documents, tuples, StatsD and Graphite lines and HTTP bodies refused.",
        );
        let read = |f: Field| {
            let w: Weak<RelayCounters> = Arc::downgrade(counters);
            // Counts stay far below 2^53.
            #[allow(clippy::cast_precision_loss)]
            move || w.upgrade().map_or(0.0, |c| f(c.snapshot()) as f64)
        };
        let kinds: [(&str, Field); 5] = [
            ("json", |s| s.json),
            ("simplestats", |s| s.simplestats),
            ("statsd", |s| s.statsd),
            ("graphite", |s| s.graphite),
            ("log_lines", |s| s.log_lines),
        ];
        for (kind, f) in kinds {
            t.counter_fn("treestat_relay_received_total", &[("kind", kind)], read(f));
        }
        t.counter_fn("treestat_relay_rejected_total", &[], read(|s| s.rejected));
        for &(name, help, _, _) in &UPSTREAM_FIGURES {
            t.describe(name, help);
        }
        for (i, url) in upstreams.iter().enumerate() {
            let labels = [("upstream", url.as_str())];
            for &(name, _, counter, f) in &UPSTREAM_FIGURES {
                let w: Weak<RelayCounters> = Arc::downgrade(counters);
                let read = move || {
                    w.upgrade()
                        .and_then(|c| c.upstream.lock().get(i).map(f))
                        .unwrap_or(0.0)
                };
                if counter {
                    t.counter_fn(name, &labels, read);
                } else {
                    t.gauge_fn(name, &labels, read);
                }
            }
        }
    }

    /// Every counter now, the engine listeners' included.
    pub fn snapshot(&self) -> RelaySnapshot {
        let (statsd, statsd_refused) = self.listener("statsd");
        let (graphite, graphite_refused) = self.listener("graphite");
        let json = self.json.load(Ordering::Relaxed);
        let simplestats = self.tuples.load(Ordering::Relaxed);
        let log_lines = self.log_lines.load(Ordering::Relaxed);
        RelaySnapshot {
            received: json + simplestats + statsd + graphite + log_lines,
            rejected: self.rejected.load(Ordering::Relaxed) + statsd_refused + graphite_refused,
            json,
            simplestats,
            statsd,
            graphite,
            log_lines,
        }
    }

    /// Merges one JSON document (an HTTP body or form field).
    pub(super) fn merge(&self, engine: &Engine, doc: &[u8]) -> std::result::Result<(), String> {
        self.close_due(engine);
        match engine.push_json(doc) {
            Ok(_) => {
                // The relay's own engine answers its agents only once logged, in `sync`.
                engine.wal_synced_blocking();
                self.json.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                Err(e.to_string().replace(['\n', '\r'], " "))
            }
        }
    }

    /// Merges one line of the server's 8007 protocol (TCP line or UDP datagram line): a JSON
    /// tree, an array of trees, or a SimpleStats tuple `["name", ts, value]`, with the
    /// server's parser and semantics ([`simplestats::apply_parsed`]): a tuple is one sample
    /// filed at its own time stamp.
    pub(super) fn merge_line(
        &self,
        engine: &Engine,
        line: &[u8],
    ) -> std::result::Result<(), String> {
        self.close_due(engine);
        let parsed = std::str::from_utf8(line)
            .map_err(|e| {
                LineError::new(
                    Reject::BadUtf8,
                    format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                )
            })
            .and_then(|l| simplestats::parse_line(l, engine.config().limits.max_depth));
        let applied = parsed.and_then(|line| {
            let tuple = matches!(line, simplestats::Line::Tuple { .. });
            simplestats::apply_parsed(engine, line).map(|_| tuple)
        });
        match applied {
            Ok(tuple) => {
                engine.wal_synced_blocking();
                let n = if tuple { &self.tuples } else { &self.json };
                n.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                Err(e.message.replace(['\n', '\r'], " "))
            }
        }
    }
}

impl RelaySnapshot {
    /// The leaves under `_treestat,relay,<host>` (with the upstream figures added by the
    /// caller).
    pub(super) fn to_json(self) -> Map<String, Json> {
        let mut m = Map::new();
        for (k, v) in [
            ("received", self.received),
            ("rejected", self.rejected),
            ("received_json", self.json),
            ("received_simplestats", self.simplestats),
            ("received_statsd", self.statsd),
            ("received_graphite", self.graphite),
            ("received_log_lines", self.log_lines),
        ] {
            m.insert(k.into(), Json::from(v));
        }
        m
    }
}
