//! `/events/<pattern>` at the front: the shards' Server-Sent Events fanned in, one
//! `interval` message per closed interval with every shard's values in it.
//!
//! Every shard (a key not created yet, or moved while the stream lasts, must still be
//! seen) is read by a task on the runtime (an async HTTP/1 GET, `stream.rs`: a stream
//! holds no thread; an `https://` shard is read by a blocking-pool thread). Intervals start on
//! multiples of their length on every server, so the shards' messages of one interval
//! share `start` (the SSE `id`): the front sends the merged message once every stream
//! has sent that interval, or `--deadline` after the first one did, then with
//! `"partial": [shards]` in the data naming those that had not. `values` are the union
//! of the shards' (a path two shards send: the first shard's), `markers` all of them
//! in time order. A folding pattern is asked of the shards unfolded (`partial=1`: each
//! interval's leaves, with `?stat=` their stat values, and under a quantile fold their
//! sketches) and folded here by the engine's fold, as `/get` and `/api/q` are. A
//! shard's `lagged` event is passed on. A
//! stream whose shard ends or fails is left out of later messages; the front's stream
//! ends when every shard's has.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::time::Duration;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use treestat_engine::Stat;
use treestat_engine::pattern::Pattern;
use treestat_engine::query::{
    PartialRow, PartialStatRow, aggregate_partial, aggregate_partial_stats,
};
use treestat_web::AppError;

use super::fan::{encode, internal_flag, num, query};
use super::state::Front;

/// Keep-alive comments on the front's stream.
const KEEPALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize)]
pub(crate) struct EventParams {
    stat: Option<String>,
    internal: Option<String>,
}

/// What a shard's reader thread hands the merger.
enum Msg {
    Interval(usize, Value),
    Lagged(String),
    Ended(usize),
}

pub(crate) async fn events_all(
    front: State<Front>,
    params: Result<Query<EventParams>, QueryRejection>,
) -> Result<Response, AppError> {
    events(front, Ok(Path(String::new())), params).await
}

pub(crate) async fn events(
    State(front): State<Front>,
    pattern: Result<Path<String>, PathRejection>,
    params: Result<Query<EventParams>, QueryRejection>,
) -> Result<Response, AppError> {
    let text = pattern?.0;
    let params = params?.0;
    let internal = internal_flag(params.internal.as_deref())?;
    let p = Pattern::parse(&text)?.with_internal(internal);
    let stat = params.stat.filter(|s| !s.is_empty());
    let stats = stat
        .as_deref()
        .map(treestat_engine::parse_stats)
        .transpose()
        .map_err(|e| AppError::bad_request(e.to_string()))?;
    // A folding pattern is asked unfolded (`partial=1`): each interval's leaves, with
    // their sketches under a quantile fold, folded here as one server folds them.
    let mut q = Vec::new();
    if let Some(s) = &stat {
        q.push(("stat", s.clone()));
    }
    if internal {
        q.push(("internal", "1".to_string()));
    }
    if p.aggregates() {
        q.push(("partial", "1".to_string()));
    }
    let path = format!("/events/{}?{}", encode(p.as_str()), query(&q));
    // Every shard: a key not created yet, or moved while the stream or poll lasts,
    // must still be seen (owner routing is for reads of what exists).
    let targets = front.shards.all();
    let (tx, rx) = mpsc::channel::<Msg>(64);
    for &i in &targets {
        let url = format!("{}{path}", front.shards.name(i));
        let tx = tx.clone();
        let token = front.token.clone();
        let connect = front.shards.deadline();
        front.shards.count_request(i);
        if super::stream::is_plain(&url) {
            // A task, not a thread, for the stream's life.
            tokio::spawn(
                async move { read_shard_async(i, &url, token.as_deref(), connect, &tx).await },
            );
        } else {
            tokio::task::spawn_blocking(move || {
                read_shard(i, &url, token.as_deref(), connect, &tx);
            });
        }
    }
    drop(tx);
    let (out_tx, out_rx) = mpsc::channel::<Event>(16);
    tokio::spawn(merge(front.clone(), (p, stats), targets, rx, out_tx));
    let stream = futures_util::stream::unfold(out_rx, |mut rx| async move {
        let e = rx.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(e), rx))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEPALIVE))
        .into_response())
}

/// Reads one shard's stream on the runtime until it ends, fails, or the front's stream
/// is gone (`http://` shards).
async fn read_shard_async(
    i: usize,
    url: &str,
    token: Option<&str>,
    connect: Duration,
    tx: &mpsc::Sender<Msg>,
) {
    use http_body_util::BodyExt;
    let resp = match super::stream::open(url, token, connect).await {
        Ok(r) if r.status().is_success() => r,
        _ => {
            let _ = tx.send(Msg::Ended(i)).await;
            return;
        }
    };
    let mut body = resp.into_body();
    let mut parser = SseParser::default();
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let frame = tokio::select! {
            f = body.frame() => f,
            () = tx.closed() => return,
        };
        let Some(Ok(frame)) = frame else { break };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(n) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=n).collect();
            let line = String::from_utf8_lossy(&line[..n]);
            let line = line.strip_suffix('\r').unwrap_or(&line);
            if let Some(m) = parser.line(i, line)
                && tx.send(m).await.is_err()
            {
                return;
            }
        }
    }
    let _ = tx.send(Msg::Ended(i)).await;
}

/// The SSE lines of one shard's stream into messages.
#[derive(Default)]
struct SseParser {
    event: String,
    data: String,
}

impl SseParser {
    /// One line (without its end); a message when a blank line ends one.
    fn line(&mut self, i: usize, line: &str) -> Option<Msg> {
        if line.is_empty() {
            let msg = match self.event.as_str() {
                "interval" => serde_json::from_str(&self.data)
                    .ok()
                    .map(|v| Msg::Interval(i, v)),
                "lagged" => Some(Msg::Lagged(std::mem::take(&mut self.data))),
                _ => None,
            };
            self.event.clear();
            self.data.clear();
            return msg;
        }
        if let Some(v) = line.strip_prefix("event:") {
            self.event = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("data:") {
            if !self.data.is_empty() {
                self.data.push('\n');
            }
            self.data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
        None
    }
}

/// Reads one shard's stream until it ends, fails, or the front's stream is gone
/// (`https://` shards, on a blocking-pool thread).
fn read_shard(i: usize, url: &str, token: Option<&str>, connect: Duration, tx: &mpsc::Sender<Msg>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(connect))
        .timeout_recv_response(Some(connect))
        .build()
        .into();
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let ok = req.call().ok().filter(|r| r.status().is_success());
    let Some(mut resp) = ok else {
        let _ = tx.blocking_send(Msg::Ended(i));
        return;
    };
    let reader = std::io::BufReader::new(resp.body_mut().as_reader());
    let mut parser = SseParser::default();
    for line in reader.lines() {
        let Ok(line) = line else { break };
        if line.starts_with(':') && tx.is_closed() {
            // A keep-alive from the shard, and the reader of the front is gone.
            return;
        }
        if let Some(m) = parser.line(i, &line)
            && tx.blocking_send(m).is_err()
        {
            return;
        }
    }
    let _ = tx.blocking_send(Msg::Ended(i));
}

/// One interval being gathered from the shards.
struct Pending {
    len: Value,
    values: BTreeMap<usize, Map<String, Value>>,
    /// A folding pattern's leaves (`partial=1` rows), every shard's.
    rows: Vec<Value>,
    markers: Vec<Value>,
    first: tokio::time::Instant,
}

/// The pattern and the stats asked.
type Asked = (Pattern, Option<Vec<Stat>>);

async fn merge(
    front: Front,
    p: Asked,
    targets: Vec<usize>,
    mut rx: mpsc::Receiver<Msg>,
    out: mpsc::Sender<Event>,
) {
    let deadline = front.shards.deadline();
    let mut live: BTreeSet<usize> = targets.iter().copied().collect();
    let mut pending: BTreeMap<i64, Pending> = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::Interval(i, v)) => {
                    let Some(start) = v.get("start").and_then(Value::as_i64) else { continue };
                    let e = pending.entry(start).or_insert_with(|| Pending {
                        len: v.get("len").cloned().unwrap_or(Value::Null),
                        values: BTreeMap::new(),
                        rows: Vec::new(),
                        markers: Vec::new(),
                        first: tokio::time::Instant::now(),
                    });
                    if let Some(Value::Array(rows)) = v.get("rows") {
                        e.rows.extend(rows.iter().cloned());
                    }
                    if let Some(Value::Object(vals)) = v.get("values") {
                        e.values.insert(i, vals.clone());
                    } else {
                        e.values.insert(i, Map::new());
                    }
                    if let Some(Value::Array(ms)) = v.get("markers") {
                        e.markers.extend(ms.iter().cloned());
                    }
                }
                Some(Msg::Lagged(data)) => {
                    if out.send(Event::default().event("lagged").data(data)).await.is_err() {
                        return;
                    }
                }
                Some(Msg::Ended(i)) => { live.remove(&i); }
                None => {
                    // Every reader is done: send what is gathered, then end.
                    for (start, e) in std::mem::take(&mut pending) {
                        let _ = out.send(message(&front, &p, &targets, start, e)).await;
                    }
                    return;
                }
            },
            _ = tick.tick() => {
                if out.is_closed() {
                    return;
                }
            }
        }
        // Send, oldest first, every interval all live shards sent or past the deadline.
        while let Some((&start, e)) = pending.iter().next() {
            let complete = live.iter().all(|i| e.values.contains_key(i));
            if !complete && e.first.elapsed() < deadline {
                break;
            }
            let e = pending.remove(&start).expect("the first entry");
            if out
                .send(message(&front, &p, &targets, start, e))
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

/// The merged `interval` event.
fn message(front: &Front, asked: &Asked, targets: &[usize], start: i64, e: Pending) -> Event {
    let (p, stats) = asked;
    let missing: Vec<Value> = targets
        .iter()
        .filter(|i| !e.values.contains_key(i))
        .map(|&i| Value::from(front.shards.name(i)))
        .collect();
    let mut values = Map::new();
    for vals in e.values.into_values() {
        for (k, v) in vals {
            values.entry(k).or_insert(v);
        }
    }
    if p.aggregates() {
        values = fold_rows(p, stats.as_deref(), e.rows);
    }
    let mut markers = e.markers;
    markers.sort_by_key(|m| m.get("ts").and_then(Value::as_i64).unwrap_or(0));
    let mut data = serde_json::json!({
        "start": start,
        "len": e.len,
        "values": values,
        "markers": markers,
    });
    if !missing.is_empty()
        && let Value::Object(m) = &mut data
    {
        front.partial_answers.inc();
        m.insert("partial".into(), Value::Array(missing));
    }
    Event::default()
        .event("interval")
        .id(start.to_string())
        .data(data.to_string())
}

/// A folding pattern's interval values from every shard's leaves (a leaf two shards
/// send: its newest copy), folded as one server folds its own: `{path: value}`, or
/// with `stats` `{path: {"<stat>": value}}`.
fn fold_rows(p: &Pattern, stats: Option<&[Stat]>, rows: Vec<Value>) -> Map<String, Value> {
    let rows = super::live::rows_of(rows);
    match stats {
        None => {
            let rows = super::live::newest(
                rows.into_iter()
                    .map(|(path, v, ts, sketch)| PartialRow {
                        path,
                        value: v.as_f64().unwrap_or(f64::NAN),
                        ts,
                        sketch,
                    })
                    .collect(),
                |r| (&r.path, r.ts),
            );
            aggregate_partial(p, &rows)
                .into_iter()
                .map(|(k, v)| (k, num(v)))
                .collect()
        }
        Some(stats) => {
            let rows = super::live::newest(
                rows.into_iter()
                    .map(|(path, v, ts, sketch)| PartialStatRow {
                        path,
                        values: v
                            .as_array()
                            .map(|a| a.iter().map(Value::as_f64).collect())
                            .unwrap_or_default(),
                        ts,
                        sketch,
                    })
                    .collect(),
                |r| (&r.path, r.ts),
            );
            aggregate_partial_stats(p, &rows, stats.len())
                .into_iter()
                .map(|(k, vs)| {
                    let cols: Map<String, Value> = stats
                        .iter()
                        .zip(vs)
                        .map(|(s, v)| (s.to_string(), v.map_or(Value::Null, num)))
                        .collect();
                    (k, Value::Object(cols))
                })
                .collect()
        }
    }
}
