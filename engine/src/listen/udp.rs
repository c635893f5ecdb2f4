//! The UDP listeners: port 8007 (JSON trees or SimpleStats tuples, one per datagram or
//! one per line of a datagram) and StatsD (port 8125).
//!
//! For speed, each wake-up drains up to `max_batch` waiting datagrams without blocking
//! and merges everything valid in them with one engine call (one write lock). Lines
//! are validated before they join the batch, so a bad line never fails the good ones
//! (a value that only overflows once folded into a total is skipped alone by the
//! engine and counted as `bad_value`; a sample dated too far ahead as `future_time`);
//! if the merged batch is still refused (a node limit), it is split and retried so
//! that only the part that does not fit is lost, and that part is counted.

use std::io;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::config::ListenConfig;
use super::fold::fold;
use super::metrics::{LineError, ListenerMetrics, Reject, tags_dropped};
use super::simplestats::{self, Line};
use super::statsd::Statsd;
use crate::Action;
use crate::batch::{Batch, Update};
use crate::engine::Engine;
use crate::error::{Error, ErrorKind};
use crate::interval::ClosedInterval;
use crate::push::{PushDoc, PushTree};
use crate::telemetry::Telemetry;

/// The largest payload a UDP datagram can carry.
const UDP_MAX: usize = 65_535;

/// Serves UDP port 8007. Returns when `shutdown` is cancelled.
///
/// # Errors
/// When waiting for the socket fails.
pub async fn serve(
    socket: UdpSocket,
    engine: Engine,
    cfg: &ListenConfig,
    telemetry: &Telemetry,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let metrics = ListenerMetrics::new(telemetry, "udp");
    let depth = engine.config().limits.max_depth;
    let mut trees: Vec<PushTree> = Vec::new();
    let mut tuples = Batch::new();
    drain_loop(
        &socket,
        cfg,
        &metrics,
        &shutdown,
        None,
        |event| match event {
            Event::Datagram(text) => {
                for line in text.split(|&b| b == b'\n') {
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    metrics.lines.inc();
                    let parsed = std::str::from_utf8(line)
                        .map_err(|e| {
                            LineError::new(
                                Reject::BadUtf8,
                                format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                            )
                        })
                        .and_then(|l| simplestats::parse_line(l, depth));
                    match parsed {
                        // Checked per line: the trees of many datagrams merge as one
                        // push, which a future `timestamp` would refuse whole.
                        Ok(Line::Tree(doc)) => match engine.check_time(&doc) {
                            Ok(()) => trees.extend(doc.trees),
                            Err(e) => metrics.reject(e.kind().into()),
                        },
                        Ok(Line::Tuple { path, ts, value }) => {
                            tuples.sample_at(&path, ts, value, None);
                        }
                        Err(e) => metrics.reject(e.reason),
                    }
                }
            }
            Event::Closed => {}
            Event::Drained => {
                if !trees.is_empty() {
                    let doc = PushDoc {
                        trees: std::mem::take(&mut trees),
                    };
                    push_trees(&engine, doc, &metrics);
                }
                if !tuples.is_empty() {
                    apply_split(&engine, std::mem::take(&mut tuples), &metrics);
                }
            }
        },
    )
    .await
}

/// Serves StatsD over UDP. Returns when `shutdown` is cancelled.
///
/// # Errors
/// When waiting for the socket fails.
pub async fn serve_statsd(
    socket: UdpSocket,
    engine: Engine,
    cfg: &ListenConfig,
    telemetry: &Telemetry,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let metrics = ListenerMetrics::new(telemetry, "statsd");
    let l = [("listener", "statsd")];
    telemetry.describe(
        "treestat_listen_gauges_kept",
        "StatsD gauges whose value is carried into every interval (statsd_gauges).",
    );
    telemetry.describe(
        "treestat_listen_gauges_not_kept_total",
        "StatsD gauge lines whose gauge is not carried: statsd_gauges was reached.",
    );
    let kept = telemetry.gauge("treestat_listen_gauges_kept", &l);
    let not_kept = telemetry.counter("treestat_listen_gauges_not_kept_total", &l);
    let mut state = Statsd::new(
        engine.config().limits.max_depth,
        cfg.statsd_set_members,
        cfg.statsd_sets,
    )
    .keeping_gauges(cfg.statsd_gauges)
    .with_tags(cfg.tags.clone());
    let dropped_tags = tags_dropped(telemetry, "statsd");
    let mut batch = Batch::new();
    let mut started = false;
    let current = |path: &str| engine.leaf_at(path).map(|(_, _, stats)| stats.last);
    // A kept gauge is carried while its leaf is still a `last` leaf.
    let gauge = |path: &str| {
        engine
            .leaf_at(path)
            .and_then(|(_, action, stats)| (action == Action::Last).then_some(stats.last))
    };
    let closed = (cfg.statsd_gauges > 0).then(|| engine.subscribe_intervals());
    drain_loop(
        &socket,
        cfg,
        &metrics,
        &shutdown,
        closed,
        |event| match event {
            Event::Closed => {
                // The interval just opened gets every gauge's value, as Etsy's flush.
                let mut carry = Batch::new();
                if state.carry_gauges(&mut carry, gauge) > 0 {
                    carry_apply(&engine, &carry, &metrics);
                }
                kept.set(i64::try_from(state.kept_gauges()).unwrap_or(i64::MAX));
            }
            Event::Datagram(text) => {
                if !started {
                    let len = engine.interval_secs();
                    state.begin(engine.now().div_euclid(len) * len);
                    started = true;
                }
                let mut lines = 0;
                for line in text.split(|&b| b == b'\n') {
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if line.is_empty() {
                        continue;
                    }
                    lines += 1;
                    let added = match std::str::from_utf8(line) {
                        Ok(l) => state.add_line(l, &mut batch, current),
                        Err(e) => Err(LineError::new(
                            Reject::BadUtf8,
                            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                        )),
                    };
                    if let Err(e) = added {
                        tracing::debug!(reason = e.reason.as_str(), "statsd line refused: {e}");
                        metrics.reject(e.reason);
                    }
                }
                metrics.lines.add(lines);
            }
            Event::Drained => {
                started = false;
                if !batch.is_empty() {
                    apply_split(&engine, fold(std::mem::take(&mut batch)), &metrics);
                }
                not_kept.add(state.take_not_kept());
                dropped_tags.add(state.take_tags_dropped());
            }
        },
    )
    .await
}

/// What [`drain_loop`] hands its caller.
enum Event<'a> {
    /// One datagram.
    Datagram(&'a [u8]),
    /// The datagrams of one wake-up are all handed over: merge them.
    Drained,
    /// The engine closed an interval (only with a receiver of closed intervals).
    Closed,
}

/// Waits for datagrams and hands each to `on(Event::Datagram)`, up to `max_batch` per
/// wake-up, then calls `on(Event::Drained)` to merge what they brought. With `closed`,
/// also calls `on(Event::Closed)` after each interval the engine closes.
async fn drain_loop(
    socket: &UdpSocket,
    cfg: &ListenConfig,
    metrics: &ListenerMetrics,
    shutdown: &CancellationToken,
    mut closed: Option<broadcast::Receiver<Arc<ClosedInterval>>>,
    mut on: impl FnMut(Event<'_>),
) -> io::Result<()> {
    let max = cfg.max_datagram.min(UDP_MAX);
    // One byte more than allowed, so an oversized datagram shows as `n > max`.
    let mut buf = vec![0u8; max + 1];
    loop {
        let close = async {
            match closed.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(()),
            r = close => {
                match r {
                    // Lagging behind still means an interval closed.
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => on(Event::Closed),
                    Err(broadcast::error::RecvError::Closed) => closed = None,
                }
                continue;
            }
            r = socket.readable() => r?,
        }
        for _ in 0..cfg.max_batch.max(1) {
            match socket.try_recv_from(&mut buf) {
                Ok((n, _)) => {
                    metrics.datagrams.inc();
                    metrics.bytes.add(n as u64);
                    if n > max {
                        metrics.reject(Reject::DatagramTooLarge);
                    } else {
                        on(Event::Datagram(&buf[..n]));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    // ICMP errors reported on the socket and the like: not ours to fix.
                    tracing::debug!(error = %e, "udp receive failed");
                    break;
                }
            }
        }
        on(Event::Drained);
    }
}

/// Merges trees; if the whole is refused for its size, halves are tried so that only
/// what cannot fit is lost.
fn push_trees(engine: &Engine, mut doc: PushDoc, metrics: &ListenerMetrics) {
    match engine.push_doc(&doc) {
        Ok(s) => {
            metrics.pushes.inc();
            metrics.samples.add(s.samples as u64);
            metrics.refused(&s);
        }
        Err(e) if e.kind() == ErrorKind::PushTooLarge && doc.trees.len() > 1 => {
            let tail = doc.trees.split_off(doc.trees.len() / 2);
            push_trees(engine, doc, metrics);
            push_trees(engine, PushDoc { trees: tail }, metrics);
        }
        Err(e) => count_refused(&e, doc.trees.len(), metrics),
    }
}

/// As [`push_trees`], for flat updates.
pub(crate) fn apply_split(engine: &Engine, batch: Batch, metrics: &ListenerMetrics) {
    match engine.apply(&batch) {
        Ok(s) => {
            metrics.pushes.inc();
            metrics.samples.add(s.samples as u64);
            metrics.refused(&s);
        }
        Err(e) if e.kind() == ErrorKind::PushTooLarge && batch.len() > 1 => {
            let mut head = batch.updates;
            let tail = head.split_off(head.len() / 2);
            apply_split(engine, Batch { updates: head }, metrics);
            apply_split(engine, Batch { updates: tail }, metrics);
        }
        Err(e) => {
            let lines = batch.updates.iter().map(lines_in).sum();
            count_refused(&e, lines, metrics);
        }
    }
}

/// Applies the gauges carried into a new interval. They are not lines: only a refusal
/// (a full tree) is counted, under its reason, one per gauge.
fn carry_apply(engine: &Engine, carry: &Batch, metrics: &ListenerMetrics) {
    if let Err(e) = engine.apply(carry) {
        count_refused(&e, carry.len(), metrics);
    }
}

/// Lines an update stands for (a folded one stands for all its samples).
fn lines_in(u: &Update) -> usize {
    match u {
        Update::Stats { stats, .. } => usize::try_from(stats.count).unwrap_or(usize::MAX),
        Update::Samples { values, .. } => values.len(),
        _ => 1,
    }
}

fn count_refused(e: &Error, n: usize, metrics: &ListenerMetrics) {
    tracing::debug!("push refused: {e}");
    metrics.reject_n(Reject::from(e.kind()), n as u64);
}
