//! The front's side of talking to shards: one blocking HTTP client shared by every
//! request (kept-alive connections per shard), requests run on the blocking pool, and
//! every fan-out bounded by the deadline.
//!
//! Why blocking `ureq` on the blocking pool rather than an async client: it is the
//! client the rest of the binary already uses (no second HTTP stack), a request is a
//! few tens of microseconds of work, and the deadline is enforced twice: `ureq`'s own
//! global timeout ends the thread's call, and `tokio::time::timeout` answers the reader
//! at the deadline whatever the thread is doing. A shard that hangs (SIGSTOP) therefore
//! costs a thread for at most the deadline, never the reader's answer.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use serde::Deserialize;
use treestat_engine::telemetry::{Counter, Telemetry};

use super::stream::LongFailure;

/// A shard as the operator named it in `--shards`: the name in `X-Treestat-Partial`
/// and `partial` is that text.
#[derive(Debug)]
pub(crate) struct Shard {
    /// The URL as given (`http://a:8080`), its trailing `/` removed.
    pub name: String,
    requests: Counter,
    timeouts: Counter,
    errors: Counter,
}

/// What one shard answered.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A 2xx answer's body.
    Ok(Vec<u8>),
    /// A 2xx answer with the `/pull` headers: status, `X-Treestat-Cursor`,
    /// `X-Treestat-Missed`, body (only [`Shards::pull_first`] answers these).
    Pulled(u16, Option<u64>, bool, Vec<u8>),
    /// A 4xx answer: the reader's request was wrong (status, body), passed on.
    Refused(u16, Vec<u8>),
}

/// The answers of a fan-out: per shard index, and the shards left out (no answer
/// within the deadline, or an error: unreachable, 5xx).
#[derive(Debug, Default)]
pub(crate) struct Fanned {
    pub replies: Vec<(usize, Reply)>,
    pub missing: Vec<usize>,
}

/// Which shards hold which top-level keys, learnt from each shard's `/api/keys/`.
#[derive(Debug, Default)]
struct Owners {
    map: HashMap<String, Vec<usize>>,
    at: Option<Instant>,
}

/// The shards, their client and the owner map; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Shards {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shards: Vec<Shard>,
    agent: ureq::Agent,
    token: Option<String>,
    deadline: Duration,
    refresh: Duration,
    owners: RwLock<Owners>,
    refreshing: std::sync::atomic::AtomicBool,
    refreshes: Counter,
}

/// Most top-level keys asked of one shard's `/api/keys/` (past it the shard's listing
/// is truncated and the front fans out for keys it did not see).
const KEY_LIMIT: usize = 1_000_000;

/// Owner refreshes started by a miss come at most this often.
const MISS_REFRESH_GAP: Duration = Duration::from_secs(1);

#[derive(Debug, Deserialize)]
struct Listing {
    keys: Vec<KeyName>,
}

#[derive(Debug, Deserialize)]
struct KeyName {
    key: String,
}

impl Shards {
    /// The shards named by `urls`; requests carry `token` as a bearer token.
    pub(crate) fn new(
        urls: &[String],
        token: Option<String>,
        deadline: Duration,
        refresh: Duration,
        telemetry: &Telemetry,
    ) -> Shards {
        telemetry.describe(
            "treestat_front_shard_requests_total",
            "Requests the front sent to each shard.",
        );
        telemetry.describe(
            "treestat_front_shard_timeouts_total",
            "Shard requests left out of an answer for passing the deadline.",
        );
        telemetry.describe(
            "treestat_front_shard_errors_total",
            "Shard requests left out of an answer for failing (unreachable, 5xx, bad body).",
        );
        telemetry.describe(
            "treestat_front_owner_refreshes_total",
            "Times the front re-read which shard holds which top-level keys.",
        );
        let shards = urls
            .iter()
            .map(|u| {
                let name = u.trim_end_matches('/').to_string();
                let l = [("shard", name.as_str())];
                Shard {
                    requests: telemetry.counter("treestat_front_shard_requests_total", &l),
                    timeouts: telemetry.counter("treestat_front_shard_timeouts_total", &l),
                    errors: telemetry.counter("treestat_front_shard_errors_total", &l),
                    name,
                }
            })
            .collect();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(deadline))
            .max_idle_connections(1024)
            .max_idle_connections_per_host(256)
            .build()
            .into();
        Shards {
            inner: Arc::new(Inner {
                shards,
                agent,
                token,
                deadline,
                refresh,
                owners: RwLock::new(Owners::default()),
                refreshing: std::sync::atomic::AtomicBool::new(false),
                refreshes: telemetry.counter("treestat_front_owner_refreshes_total", &[]),
            }),
        }
    }

    /// The shards' names, by index.
    pub(crate) fn name(&self, i: usize) -> &str {
        &self.inner.shards[i].name
    }

    /// Counts a request sent to shard `i` outside [`Shards::get_all`] (a stream).
    pub(crate) fn count_request(&self, i: usize) {
        self.inner.shards[i].requests.inc();
    }

    /// The longest wait for one shard (`--deadline`).
    pub(crate) fn deadline(&self) -> Duration {
        self.inner.deadline
    }

    /// Every shard's index.
    pub(crate) fn all(&self) -> Vec<usize> {
        (0..self.inner.shards.len()).collect()
    }

    /// The shards a pattern whose first segment is the literal `key` must ask: those
    /// that hold `key`. A key no listing has (new since the last refresh, or on a shard
    /// whose listing was cut or missing) asks every shard, never answered empty from
    /// the map, and starts a refresh in the background (at most one a second).
    pub(crate) fn owners_of(&self, key: &str) -> Vec<usize> {
        let stale = {
            let o = self.inner.owners.read();
            if let Some(v) = o.map.get(key) {
                return v.clone();
            }
            o.at.is_none_or(|t| t.elapsed() >= MISS_REFRESH_GAP)
        };
        if stale {
            self.refresh_in_background();
        }
        self.all()
    }

    /// Starts a refresh of the owner map unless one is running.
    pub(crate) fn refresh_in_background(&self) {
        use std::sync::atomic::Ordering;
        if self.inner.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            me.refresh_owners().await;
            me.inner.refreshing.store(false, Ordering::Release);
        });
    }

    /// Re-reads every shard's top-level keys. A shard that does not answer keeps the
    /// keys it had in the old map and marks the map incomplete.
    pub(crate) async fn refresh_owners(&self) {
        self.inner.refreshes.inc();
        let fanned = self
            .get_all(&self.all(), &format!("/api/keys/?limit={KEY_LIMIT}"))
            .await;
        let old = std::mem::take(&mut self.inner.owners.write().map);
        let mut map: HashMap<String, Vec<usize>> = HashMap::new();
        let answered: HashSet<usize> = fanned.replies.iter().map(|(i, _)| *i).collect();
        for (i, reply) in fanned.replies {
            let Reply::Ok(body) = reply else { continue };
            // A cut listing (past KEY_LIMIT) leaves its other keys to the miss path.
            if let Ok(l) = serde_json::from_slice::<Listing>(&body) {
                for k in l.keys {
                    map.entry(k.key).or_default().push(i);
                }
            }
        }
        for (k, holders) in old {
            for i in holders {
                if !answered.contains(&i) {
                    map.entry(k.clone()).or_default().push(i);
                }
            }
        }
        for v in map.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        *self.inner.owners.write() = Owners {
            map,
            at: Some(Instant::now()),
        };
    }

    /// Refreshes the owner map every `refresh` until `stop`.
    pub(crate) async fn keep_owners_fresh(self, stop: tokio_util::sync::CancellationToken) {
        loop {
            self.refresh_owners().await;
            tokio::select! {
                () = tokio::time::sleep(self.inner.refresh) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    /// GETs `path_and_query` from each shard of `targets` at once; answers within the
    /// deadline, the others listed as missing.
    pub(crate) async fn get_all(&self, targets: &[usize], path_and_query: &str) -> Fanned {
        let mut tasks = Vec::with_capacity(targets.len());
        for &i in targets {
            let me = self.clone();
            let url = format!("{}{path_and_query}", self.inner.shards[i].name);
            self.inner.shards[i].requests.inc();
            tasks.push((
                i,
                tokio::task::spawn_blocking(move || me.get_blocking(&url)),
            ));
        }
        let until = tokio::time::Instant::now() + self.inner.deadline;
        let mut out = Fanned::default();
        for (i, task) in tasks {
            let shard = &self.inner.shards[i];
            match tokio::time::timeout_at(until, task).await {
                Ok(Ok(Ok(reply))) => out.replies.push((i, reply)),
                Ok(Ok(Err(Failure::Timeout))) | Err(_) => {
                    shard.timeouts.inc();
                    out.missing.push(i);
                }
                Ok(Ok(Err(Failure::Error(e)))) => {
                    tracing::debug!(shard = %shard.name, "left out: {e}");
                    shard.errors.inc();
                    out.missing.push(i);
                }
                Ok(Err(e)) => {
                    tracing::warn!(shard = %shard.name, "shard request task failed: {e}");
                    shard.errors.inc();
                    out.missing.push(i);
                }
            }
        }
        out
    }

    fn get_blocking(&self, url: &str) -> Result<Reply, Failure> {
        self.call(&self.inner.agent, url, false)
    }

    fn call(&self, agent: &ureq::Agent, url: &str, pulled: bool) -> Result<Reply, Failure> {
        let mut req = agent.get(url);
        if let Some(t) = &self.inner.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let mut resp = req.call().map_err(|e| match e {
            ureq::Error::Timeout(_) => Failure::Timeout,
            e => Failure::Error(e.to_string()),
        })?;
        let status = resp.status().as_u16();
        let (cursor, missed) = pull_headers(resp.headers());
        let body = resp
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT as u64)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::Timeout(_) => Failure::Timeout,
                e => Failure::Error(e.to_string()),
            })?;
        classify(status, pulled.then_some((cursor, missed)), body)
    }

    /// A `/pull` GET on the runtime (`stream.rs`): no thread held while the shard
    /// waits; `http://` shards only.
    async fn pull_async(&self, url: &str, limit: Duration) -> Result<Reply, Failure> {
        let token = self.inner.token.as_deref();
        let call = async {
            let resp = super::stream::open(url, token, limit).await?;
            let (cursor, missed) = pull_headers(resp.headers());
            let status = resp.status().as_u16();
            let body = super::stream::body(resp, BODY_LIMIT).await?;
            Ok((status, cursor, missed, body))
        };
        match tokio::time::timeout(limit, call).await {
            Ok(Ok((status, cursor, missed, body))) => {
                classify(status, Some((cursor, missed)), body)
            }
            Ok(Err(LongFailure::Error(e))) => Err(Failure::Error(e)),
            Ok(Err(LongFailure::Timeout)) | Err(_) => Err(Failure::Timeout),
        }
    }

    /// Sends one request of any method to shard `i` (a saved view's read or write,
    /// `views.rs`), bounded by the deadline: its status, content type and body, or why
    /// it failed.
    pub(crate) async fn forward(
        &self,
        i: usize,
        method: axum::http::Method,
        path: &str,
        ctype: Option<String>,
        body: Vec<u8>,
    ) -> Result<(u16, Option<String>, Vec<u8>), String> {
        let me = self.clone();
        let url = format!("{}{path}", self.inner.shards[i].name);
        self.inner.shards[i].requests.inc();
        let call = tokio::task::spawn_blocking(move || -> Result<_, String> {
            let ctype = ctype.unwrap_or_else(|| "application/json".to_string());
            let mut req = ureq::http::Request::builder()
                .method(method)
                .uri(&url)
                .header("content-type", ctype);
            if let Some(t) = &me.inner.token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            let req = req.body(body).map_err(|e| e.to_string())?;
            let mut resp = me.inner.agent.run(req).map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let ctype = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = resp
                .body_mut()
                .with_config()
                .limit(BODY_LIMIT as u64)
                .read_to_vec()
                .map_err(|e| e.to_string())?;
            Ok((status, ctype, body))
        });
        let shard = &self.inner.shards[i];
        match tokio::time::timeout(self.inner.deadline, call).await {
            Ok(Ok(Ok(r))) if r.0 < 500 => Ok(r),
            Ok(Ok(Ok(r))) => {
                shard.errors.inc();
                Err(format!("status {}", r.0))
            }
            Ok(Ok(Err(e))) => {
                shard.errors.inc();
                Err(e)
            }
            Ok(Err(e)) => {
                shard.errors.inc();
                Err(e.to_string())
            }
            Err(_) => {
                shard.timeouts.inc();
                Err("no answer within the deadline".to_string())
            }
        }
    }

    /// `/pull` over shards: sends `paths[k]` to `targets[k]` at once, each bounded by
    /// `wait` plus the deadline, and answers as soon as one shard answers with values
    /// (200), with every answer in by then; or once all answered (204s); or at
    /// `wait` plus the deadline, the shards still out listed as missing.
    pub(crate) async fn pull_first(
        &self,
        targets: &[usize],
        paths: &[String],
        wait: Duration,
    ) -> Fanned {
        let limit = wait + self.inner.deadline;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(limit))
            .build()
            .into();
        let mut set = tokio::task::JoinSet::new();
        for (&i, path) in targets.iter().zip(paths) {
            let me = self.clone();
            let url = format!("{}{path}", self.inner.shards[i].name);
            self.inner.shards[i].requests.inc();
            if super::stream::is_plain(&url) {
                // A task, not a thread: a hundred waiting readers over three shards
                // hold three hundred sockets and no OS thread.
                set.spawn(async move { (i, me.pull_async(&url, limit).await) });
            } else {
                let agent = agent.clone();
                set.spawn_blocking(move || (i, me.call(&agent, &url, true)));
            }
        }
        let until = tokio::time::Instant::now() + limit;
        let mut out = Fanned::default();
        let mut pending: HashSet<usize> = targets.iter().copied().collect();
        let mut done = false;
        while !pending.is_empty() {
            let next = if done {
                // Values are in: take what else has finished, wait for nothing more.
                match set.try_join_next() {
                    Some(r) => r,
                    None => break,
                }
            } else {
                match tokio::time::timeout_at(until, set.join_next()).await {
                    Ok(Some(r)) => r,
                    Ok(None) | Err(_) => break,
                }
            };
            let Ok((i, result)) = next else { continue };
            pending.remove(&i);
            match result {
                Ok(reply) => {
                    done |= matches!(reply, Reply::Pulled(200, ..));
                    out.replies.push((i, reply));
                }
                Err(f) => {
                    let shard = &self.inner.shards[i];
                    match f {
                        Failure::Timeout => shard.timeouts.inc(),
                        Failure::Error(_) => shard.errors.inc(),
                    }
                    out.missing.push(i);
                }
            }
        }
        if !done {
            // Still out past the limit: a hung shard.
            for i in pending {
                self.inner.shards[i].timeouts.inc();
                out.missing.push(i);
            }
        }
        // When values came, the shards still waiting simply answered nothing yet: their
        // cursors stay as they were (the caller keeps them), nothing is lost. Their
        // polls are dropped (the connection closes); a blocking one runs out alone.
        set.abort_all();
        out
    }
}

enum Failure {
    Timeout,
    Error(String),
}

/// A `/pull` answer's `X-Treestat-Cursor` and `X-Treestat-Missed`.
fn pull_headers(h: &axum::http::HeaderMap) -> (Option<u64>, bool) {
    let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
    let cursor = header("x-treestat-cursor").and_then(|c| c.parse().ok());
    let missed = header("x-treestat-missed").is_some_and(|m| m == "true");
    (cursor, missed)
}

/// Largest shard answer read.
const BODY_LIMIT: usize = 1 << 30;

/// A shard's answer by its status: `pulled` carries `/pull`'s cursor and missed flag.
fn classify(
    status: u16,
    pulled: Option<(Option<u64>, bool)>,
    body: Vec<u8>,
) -> Result<Reply, Failure> {
    match (status, pulled) {
        (200..=299, Some((cursor, missed))) => Ok(Reply::Pulled(status, cursor, missed, body)),
        (200..=299, None) => Ok(Reply::Ok(body)),
        // 401 is the front's token being wrong for the shard: the front's fault,
        // not the reader's; left out like any failing shard.
        (400..=499, _) if status != 401 => Ok(Reply::Refused(status, body)),
        (s, _) => Err(Failure::Error(format!("status {s}"))),
    }
}
