//! Why a line, datagram or connection was refused ([`Reject`]), and the per-listener
//! counters ([`ListenerMetrics`]) registered once when a listener starts, so that the
//! hot path only increments.

use crate::ErrorKind;
use crate::telemetry::{Counter, Gauge, Telemetry};

/// Why input was refused; the `reason` label of `treestat_listen_rejects_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// A line longer than `max_line`.
    LineTooLong,
    /// A datagram longer than `max_datagram`.
    DatagramTooLarge,
    /// Bytes that are not UTF-8.
    BadUtf8,
    /// A line that does not follow the protocol's syntax.
    BadLine,
    /// JSON that is not a tree, an array of trees or a SimpleStats tuple.
    BadDocument,
    /// A key that breaks the key rules (`,`, control characters, empty, too long).
    BadKey,
    /// A value that is not a finite number, or a bad time stamp or sample rate.
    BadValue,
    /// A path deeper than the engine allows.
    TooDeep,
    /// A push adding more nodes than `limits.max_push_nodes`.
    PushTooLarge,
    /// The tree is full (`limits.max_nodes`).
    TreeFull,
    /// A connection past `max_connections`, closed at once.
    TooManyConnections,
    /// A connection that completed no line within `idle_timeout`.
    IdleTimeout,
    /// An idle connection closed to make room for a new one at `max_connections`
    /// (the longest idle goes first).
    IdleReclaimed,
    /// A StatsD set member past `statsd_set_members`, or a set past `statsd_sets`.
    SetFull,
    /// A time stamp later than the server's clock plus `engine.max_future`.
    FutureTime,
    /// The write-ahead log is full and `engine.wal_full = "refuse"`.
    WalFull,
}

impl Reject {
    /// Every reason, in declaration order.
    pub const ALL: [Reject; 16] = [
        Reject::LineTooLong,
        Reject::DatagramTooLarge,
        Reject::BadUtf8,
        Reject::BadLine,
        Reject::BadDocument,
        Reject::BadKey,
        Reject::BadValue,
        Reject::TooDeep,
        Reject::PushTooLarge,
        Reject::TreeFull,
        Reject::TooManyConnections,
        Reject::IdleTimeout,
        Reject::IdleReclaimed,
        Reject::SetFull,
        Reject::FutureTime,
        Reject::WalFull,
    ];

    /// The stable label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::LineTooLong => "line_too_long",
            Reject::DatagramTooLarge => "datagram_too_large",
            Reject::BadUtf8 => "bad_utf8",
            Reject::BadLine => "bad_line",
            Reject::BadDocument => "bad_document",
            Reject::BadKey => "bad_key",
            Reject::BadValue => "bad_value",
            Reject::TooDeep => "too_deep",
            Reject::PushTooLarge => "push_too_large",
            Reject::TreeFull => "tree_full",
            Reject::TooManyConnections => "too_many_connections",
            Reject::IdleTimeout => "idle_timeout",
            Reject::IdleReclaimed => "idle_reclaimed",
            Reject::SetFull => "set_full",
            Reject::FutureTime => "future_time",
            Reject::WalFull => "wal_full",
        }
    }
}

impl From<ErrorKind> for Reject {
    fn from(k: ErrorKind) -> Reject {
        match k {
            ErrorKind::BadDocument | ErrorKind::BadPattern => Reject::BadDocument,
            ErrorKind::BadKey => Reject::BadKey,
            ErrorKind::BadValue => Reject::BadValue,
            ErrorKind::TooDeep => Reject::TooDeep,
            ErrorKind::PushTooLarge => Reject::PushTooLarge,
            ErrorKind::TreeFull => Reject::TreeFull,
            ErrorKind::FutureTime => Reject::FutureTime,
            ErrorKind::WalFull => Reject::WalFull,
        }
    }
}

/// A refused line: the reason for the counters and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The counter label.
    pub reason: Reject,
    /// For `--ERR <message>`.
    pub message: String,
}

impl LineError {
    /// A refusal with a message.
    pub fn new(reason: Reject, message: impl Into<String>) -> LineError {
        LineError {
            reason,
            message: message.into(),
        }
    }
}

impl From<crate::Error> for LineError {
    fn from(e: crate::Error) -> LineError {
        LineError::new(e.kind().into(), e.message())
    }
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// One listener's counters, labelled `listener="<name>"`.
#[derive(Debug, Clone)]
pub struct ListenerMetrics {
    /// Lines received (TCP lines, StatsD and Graphite lines, JSON documents).
    pub lines: Counter,
    /// Bytes received.
    pub bytes: Counter,
    /// Datagrams received (UDP listeners).
    pub datagrams: Counter,
    /// Connections accepted (TCP listeners).
    pub connections: Counter,
    /// Connections open now.
    pub open: Gauge,
    /// Engine calls that merged something.
    pub pushes: Counter,
    /// Samples merged.
    pub samples: Counter,
    rejects: Vec<Counter>,
}

impl ListenerMetrics {
    /// Registers the counters of listener `name` (`tcp`, `udp`, `statsd`, `graphite`).
    pub fn new(telemetry: &Telemetry, name: &str) -> ListenerMetrics {
        describe(telemetry);
        let l = [("listener", name)];
        ListenerMetrics {
            lines: telemetry.counter("treestat_listen_lines_total", &l),
            bytes: telemetry.counter("treestat_listen_bytes_total", &l),
            datagrams: telemetry.counter("treestat_listen_datagrams_total", &l),
            connections: telemetry.counter("treestat_listen_connections_total", &l),
            open: telemetry.gauge("treestat_listen_open_connections", &l),
            pushes: telemetry.counter("treestat_listen_pushes_total", &l),
            samples: telemetry.counter("treestat_listen_samples_total", &l),
            rejects: Reject::ALL
                .iter()
                .map(|r| {
                    telemetry.counter(
                        "treestat_listen_rejects_total",
                        &[("listener", name), ("reason", r.as_str())],
                    )
                })
                .collect(),
        }
    }

    /// Counts one refusal.
    #[inline]
    pub fn reject(&self, reason: Reject) {
        self.rejects[reason as usize].inc();
    }

    /// Counts `n` refusals at once (a refused batch).
    pub fn reject_n(&self, reason: Reject, n: u64) {
        self.rejects[reason as usize].add(n);
    }

    /// Counts what the engine skipped alone in a merge that otherwise landed.
    pub fn refused(&self, s: &crate::PushSummary) {
        if s.refused_nonfinite > 0 {
            self.reject_n(Reject::BadValue, s.refused_nonfinite as u64);
        }
        if s.refused_future > 0 {
            self.reject_n(Reject::FutureTime, s.refused_future as u64);
        }
    }

    /// Refusals for one reason so far.
    pub fn rejects(&self, reason: Reject) -> u64 {
        self.rejects[reason as usize].get()
    }
}

/// The counter of tags a listener dropped (not in the `[listen.tags]` template, with
/// `other = "drop"`), `treestat_listen_tags_dropped_total{listener}`.
pub fn tags_dropped(t: &Telemetry, listener: &str) -> Counter {
    t.describe(
        "treestat_listen_tags_dropped_total",
        "Tags a StatsD or Graphite listener dropped: not in the [listen.tags] template.",
    );
    t.counter(
        "treestat_listen_tags_dropped_total",
        &[("listener", listener)],
    )
}

fn describe(t: &Telemetry) {
    for (name, help) in [
        (
            "treestat_listen_lines_total",
            "Lines (or JSON documents) received by a push listener.",
        ),
        (
            "treestat_listen_bytes_total",
            "Bytes received by a push listener.",
        ),
        (
            "treestat_listen_datagrams_total",
            "Datagrams received by a UDP listener.",
        ),
        (
            "treestat_listen_connections_total",
            "Connections accepted by a TCP listener.",
        ),
        (
            "treestat_listen_open_connections",
            "Connections open now on a TCP listener.",
        ),
        (
            "treestat_listen_pushes_total",
            "Engine merges made by a listener.",
        ),
        (
            "treestat_listen_samples_total",
            "Samples a listener merged into the tree.",
        ),
        (
            "treestat_listen_rejects_total",
            "Lines, datagrams and connections a listener refused, by reason.",
        ),
    ] {
        t.describe(name, help);
    }
}
