//! Builds a running server from a [`Config`]: the engine, the trend store, the interval
//! ticker, the push listeners, the HTTP API, the `[[tail]]` sources, the AMQP source and
//! the host modules, one named step each, every task and thread handed the one shutdown
//! token (`treestat_engine::stop`; docs/ARCHITECTURE.md, "Stopping"). Every socket is
//! bound before `start` returns, so callers (and tests on port 0) learn the real
//! addresses.
//!
//! Shutdown: cancel the token; listeners stop accepting and answer what is in flight,
//! tails flush and checkpoint, then the open interval is closed (its points reach the
//! trend store) and the store is flushed once; all of it within `server.stop_timeout`,
//! past which [`Server::wait`] returns an error naming the step that did not finish (a
//! store stuck in sled must not keep the process alive). Should the HTTP API fail, the
//! server cancels its own token, stops the same way, and `wait` returns the error.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use treestat_engine::Engine;
use treestat_engine::WalMode;
use treestat_engine::listen;
use treestat_engine::telemetry::Telemetry;
use treestat_engine::trend::TrendStore;
use treestat_engine::wal::{Wal, WalMetrics};
use treestat_forward::Forwarder;
use treestat_web::{AppState, AuthConfig};

use crate::config::Config;
use crate::pipes::{BrokenLogs, HttpLogs, TailTask};
use treestat_pipes::{PipeTrouble, Troubles};

/// The addresses a started server listens on (`None`: that listener is off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bound {
    /// HTTP API and pages.
    pub http: Option<SocketAddr>,
    /// TCP JSON / SimpleStats.
    pub tcp: Option<SocketAddr>,
    /// UDP JSON.
    pub udp: Option<SocketAddr>,
    /// StatsD (UDP).
    pub statsd: Option<SocketAddr>,
    /// Graphite plaintext (TCP).
    pub graphite: Option<SocketAddr>,
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    /// The engine every source pushes into.
    pub engine: Engine,
    /// The trend store the closed intervals go to.
    pub store: TrendStore,
    /// The server's own counters (`/metrics`, `_treestat,...`).
    pub telemetry: Telemetry,
    /// The write-ahead log (`None`: `engine.wal = "off"`).
    pub wal: Option<Wal>,
    /// Where it listens.
    pub bound: Bound,
    /// The `[[forward]]` targets, in the file's order (their figures:
    /// [`Forwarder::stats`]).
    pub forwarders: Vec<Forwarder>,
    /// The one stop signal: every task, the `[[tail]]` threads and the host modules
    /// watch it.
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    tails: Vec<TailTask>,
    agent: Option<LocalAgent>,
    /// Where every pipeline (the HTTP ones and each `[[tail]]`) lists its pipes that
    /// are not working.
    pipe_troubles: Troubles,
    /// Why a part the server cannot run without (the HTTP API) stopped, if one did:
    /// the server then stops and [`Server::wait`] returns the error.
    failed: Arc<parking_lot::Mutex<Option<String>>>,
    stop_timeout: Duration,
}

impl Server {
    /// Builds every component and starts its task, in this order: the engine, the
    /// trend store (totals restored from it), the telemetry, the write-ahead log
    /// (replayed, then started), the push listeners, the
    /// HTTP API, the `[[tail]]` sources, the AMQP source, the host modules, the health
    /// probe of the pipes, and the interval ticker.
    ///
    /// # Errors
    /// A component's configuration is invalid, the data directory cannot be opened, or
    /// an address cannot be bound (the message names it).
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        let mut engine_cfg = config.engine.clone();
        engine_cfg.histogram_bins = config.listen.histogram_bins();
        let engine = Engine::new(engine_cfg).context("[engine] configuration")?;
        let store = open_store(&config, &engine).await?;
        let telemetry = Telemetry::default();
        let wal = open_wal(&config, &engine, &store, &telemetry).await?;
        engine.register_telemetry(&telemetry);
        store.register_telemetry(&telemetry);
        treestat_engine::process_metrics::register(&telemetry);
        let forwarders = start_forwarders(&config, &engine, &telemetry)?;
        let mut server = Server {
            engine,
            store,
            telemetry,
            wal,
            bound: Bound::default(),
            forwarders,
            shutdown: CancellationToken::new(),
            tasks: JoinSet::new(),
            tails: Vec::new(),
            agent: None,
            pipe_troubles: Troubles::default(),
            failed: Arc::default(),
            stop_timeout: config.server.stop_timeout,
        };
        server.start_listeners(&config).await?;
        if let Some(addr) = config.server.http {
            server.start_http(addr, &config).await?;
        }
        server.start_tails(&config);
        server.start_amqp(&config)?;
        if config.server.agent {
            server.agent =
                LocalAgent::start(&config.server.agent_conf, &server.engine, &server.shutdown);
        }
        server.probe_pipes();
        server.tasks.spawn(run_intervals(
            server.engine.clone(),
            server.telemetry.clone(),
            server.shutdown.clone(),
        ));
        Ok(server)
    }

    /// Binds the push listeners (TCP, UDP, StatsD, Graphite) and serves them.
    async fn start_listeners(&mut self, config: &Config) -> anyhow::Result<()> {
        let listeners = listen::bind(&config.listen).await?;
        for (name, addr) in listeners.addrs() {
            info!("{name} listener on {addr}");
            match name {
                "tcp" => self.bound.tcp = Some(addr),
                "udp" => self.bound.udp = Some(addr),
                "statsd" => self.bound.statsd = Some(addr),
                "graphite" => self.bound.graphite = Some(addr),
                _ => {}
            }
        }
        let (e, c, t, s) = (
            self.engine.clone(),
            config.listen.clone(),
            self.telemetry.clone(),
            self.shutdown.clone(),
        );
        self.tasks.spawn(async move {
            if let Err(err) = listeners.serve(e, &c, &t, s).await {
                warn!("a push listener failed: {err}");
            }
        });
        Ok(())
    }

    /// Binds the HTTP API on `addr` and serves the whole router, built by the web
    /// crate from one state (engine, access-log pipes, trend store, saved views).
    /// The server cannot do without its API: should the HTTP task end before the
    /// server is told to stop (an error, a panic), the whole server stops and
    /// [`Server::wait`] returns that error.
    async fn start_http(&mut self, addr: SocketAddr, config: &Config) -> anyhow::Result<()> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot bind the HTTP server on {addr}"))?;
        let local = listener.local_addr()?;
        self.bound.http = Some(local);
        info!("HTTP on http://{local}/");
        let mut web = config.web.clone();
        if config.auth != AuthConfig::default() {
            web.auth = config.auth.clone();
        }
        let state = AppState::new(self.engine.clone(), web, self.telemetry.clone())
            .with_bind(local)
            .with_view_store(Arc::new(self.store.clone()))
            .with_trend_store(self.store.clone())
            .with_log_sink(self.access_log_pipes(config));
        let serving = tokio::spawn(treestat_web::serve(listener, state, self.shutdown.clone()));
        let (token, failed) = (self.shutdown.clone(), self.failed.clone());
        self.tasks.spawn(async move {
            let why = match serving.await {
                Ok(Ok(())) if token.is_cancelled() => return,
                Ok(Ok(())) => "it stopped by itself".to_string(),
                Ok(Err(e)) => e.to_string(),
                Err(e) => format!("its task failed: {e}"),
            };
            let why = format!("the HTTP server on {local} failed ({why}); stopping the server");
            error!("{why}");
            *failed.lock() = Some(why);
            token.cancel();
        });
        Ok(())
    }

    /// The pipes behind the HTTP log endpoints. A pipeline that does not build (a
    /// plugin with the wrong ABI, a Python syntax error) must not take the server
    /// down: it is logged, and the log endpoints answer with the cause while
    /// everything else serves.
    fn access_log_pipes(&mut self, config: &Config) -> Arc<dyn treestat_web::LogSink> {
        match HttpLogs::new(self.engine.clone(), &config.accesslog, &self.telemetry) {
            Ok(l) => {
                self.pipe_troubles = l.troubles_handle();
                Arc::new(l)
            }
            Err(e) => {
                let cause = format!("{e:#}");
                error!("access-log pipes disabled: {cause}");
                Arc::new(BrokenLogs(cause))
            }
        }
    }

    /// Starts each `[[tail]]` source on its thread; one that does not build is logged
    /// and left out.
    fn start_tails(&mut self, config: &Config) {
        for t in &config.tail {
            match TailTask::start(
                t,
                self.engine.clone(),
                self.store.clone(),
                config.engine.interval,
                self.pipe_troubles.clone(),
                &self.telemetry,
                self.shutdown.clone(),
            ) {
                Ok(task) => {
                    self.tails.push(task);
                    info!(name = %t.pipeline.name, files = t.paths.len(), "following access logs");
                }
                Err(e) => error!("[[tail]] {} not started: {e:#}", t.pipeline.name),
            }
        }
    }

    /// Starts consuming from the `[amqp]` broker, when configured.
    fn start_amqp(&mut self, config: &Config) -> anyhow::Result<()> {
        if let Some(amqp) = &config.amqp {
            let source =
                treestat_amqp::AmqpSource::new(amqp.clone(), self.engine.clone(), &self.telemetry)
                    .context("[amqp] configuration")?;
            if amqp.shard.is_empty() {
                info!(url = %treestat_amqp::redact(&amqp.url), exchange = %amqp.exchange, "consuming from AMQP");
            } else {
                info!(
                    url = %treestat_amqp::redact(&amqp.url), shard = %amqp.shard,
                    weight = amqp.shard_weight, exchange = %amqp.shard_exchange,
                    "consuming shard from AMQP"
                );
            }
            self.tasks.spawn(source.run(self.shutdown.clone()));
        }
        Ok(())
    }

    /// `/health` says degraded while a pipe is taken out or restarting.
    fn probe_pipes(&self) {
        let troubles = self.pipe_troubles.clone();
        self.telemetry.health().probe("pipes", move || {
            troubles
                .list()
                .into_iter()
                .map(|t| {
                    let state = if t.taken_out {
                        "taken out"
                    } else {
                        "down, restarting"
                    };
                    format!("pipe {} of {}: {state}: {}", t.pipe, t.source, t.reason)
                })
                .collect()
        });
    }

    /// The pipes that are not working now, of every pipeline (`[accesslog]` and each
    /// `[[tail]]`): taken out for good, or down and restarting. Cheap; for `/health`.
    pub fn pipe_troubles(&self) -> Vec<PipeTrouble> {
        self.pipe_troubles.list()
    }

    /// The token that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the server has been told to stop (or stopped itself because its
    /// HTTP API failed) and every task has ended, then closes the open interval so
    /// nothing pushed is left out of the trends, and flushes the store; all within
    /// `server.stop_timeout` of the token firing.
    ///
    /// # Errors
    /// The last interval could not be written, or the deadline passed first (the
    /// message names the step still running: the caller should exit the process
    /// without waiting for it, as `serve` does), or the HTTP API failed (after the
    /// same orderly stop; the message says how).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        self.shutdown.cancelled().await;
        let deadline = Instant::now() + self.stop_timeout;
        let tasks = async {
            while let Some(done) = self.tasks.join_next().await {
                if let Err(e) = done {
                    warn!("a server task failed: {e}");
                }
            }
        };
        if tokio::time::timeout_at(deadline.into(), tasks)
            .await
            .is_err()
        {
            error!(
                "shutdown: {} server task(s) (listeners, HTTP) still running after {} s; \
                 not waiting for them",
                self.tasks.len(),
                self.stop_timeout.as_secs_f64()
            );
            self.tasks.detach_all();
        }
        let (engine, store, wal) = (self.engine.clone(), self.store.clone(), self.wal.clone());
        let tails = std::mem::take(&mut self.tails);
        let mut forwarders = std::mem::take(&mut self.forwarders);
        let agent = self.agent.take();
        let step = Arc::new(parking_lot::Mutex::new("stopping the host modules"));
        let at = step.clone();
        let last = tokio::task::spawn_blocking(move || {
            // Both saw the token too; they end their step and stop.
            if let Some(a) = agent {
                a.join();
            }
            // Each tail flushes what it read and saves its checkpoints first.
            *at.lock() = "stopping the [[tail]] sources";
            for t in tails {
                t.join();
            }
            *at.lock() = "closing the last interval";
            engine.close_now();
            *at.lock() = "syncing the trend store";
            let synced = store.sync_within(deadline.saturating_duration_since(Instant::now()));
            // The store holds every logged push now: the log deletes its segments.
            *at.lock() = "stopping the write-ahead log";
            if let Some(w) = wal {
                w.stop();
            }
            // The last interval reached the forwarders' queues with the close: they
            // send what they hold until the deadline; what is left is counted dropped.
            *at.lock() = "sending the last points to the [[forward]] targets";
            for f in &mut forwarders {
                let left = deadline.saturating_duration_since(Instant::now());
                f.stop(left.saturating_sub(treestat_forward::STOP_SLACK * 4));
            }
            synced
        });
        match tokio::time::timeout_at(deadline.into(), last).await {
            Err(_) => {
                let step = *step.lock();
                error!(
                    "shutdown did not finish within {} s: still {step} (the trend store's \
                     health: {:?}); exiting without it",
                    self.stop_timeout.as_secs_f64(),
                    self.store.health_reasons()
                );
                anyhow::bail!(
                    "shutdown did not finish within {} s: still {step}",
                    self.stop_timeout.as_secs_f64()
                );
            }
            Ok(joined) => joined
                .context("closing the last interval")?
                .context("writing the last interval")?,
        }
        if let Some(why) = self.failed.lock().take() {
            anyhow::bail!("{why}");
        }
        info!("stopped");
        Ok(())
    }
}

/// Starts one [`Forwarder`] per `[[forward]]` section, registered as sinks of the
/// engine before any interval closes.
fn start_forwarders(
    config: &Config,
    engine: &Engine,
    telemetry: &Telemetry,
) -> anyhow::Result<Vec<Forwarder>> {
    let mut names = std::collections::HashSet::new();
    for (i, f) in config.forward.iter().enumerate() {
        let name = f.target_name(i);
        if !names.insert(name.clone()) {
            anyhow::bail!(
                "[[forward]] number {} ({}): another section is named {name:?} too; \
                 each target needs its own name (its counters are labelled with it)",
                i + 1,
                f.url
            );
        }
    }
    let mut out = Vec::with_capacity(config.forward.len());
    for (i, f) in config.forward.iter().enumerate() {
        let fw = Forwarder::start(engine, f, i, telemetry)
            .with_context(|| format!("[[forward]] number {} ({})", i + 1, f.url))?;
        info!("forwarding closed intervals to {} as {}", f.url, fw.name());
        out.push(fw);
    }
    Ok(out)
}

/// Opens the trend store in `server.data`, restores the engine's totals and markers
/// from it, and attaches it as the engine's interval sink.
async fn open_store(config: &Config, engine: &Engine) -> anyhow::Result<TrendStore> {
    let data = config.server.data.clone();
    let mut trend_cfg = config.trend.clone();
    trend_cfg.percent_thresholds = config.listen.percent_thresholds();
    trend_cfg.histogram_bins = config.listen.histogram_bins();
    let store = tokio::task::spawn_blocking(move || TrendStore::open(&data, &trend_cfg))
        .await?
        .with_context(|| {
            format!(
                "opening the trend store in {}",
                config.server.data.display()
            )
        })?;
    let restored = {
        let (s, e) = (store.clone(), engine.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
            let leaves = s.restore_into(&e)?;
            // Markers come back with their own times, beside the restored totals.
            e.restore_markers(s.markers("", i64::MIN, i64::MAX)?);
            Ok(leaves)
        })
        .await??
    };
    store.attach(engine);
    info!(
        data = %config.server.data.display(),
        leaves = restored,
        "trend store open"
    );
    Ok(store)
}

/// Replays the write-ahead log in `<server.data>/wal` into the engine (whatever
/// `engine.wal` says now: a log left by an earlier run is never ignored), then starts
/// it unless `engine.wal = "off"`. Runs before any source opens, so replayed pushes
/// come first; each interval replay closes is persisted before the next is replayed.
async fn open_wal(
    config: &Config,
    engine: &Engine,
    store: &TrendStore,
    telemetry: &Telemetry,
) -> anyhow::Result<Option<Wal>> {
    let dir = config.server.data.join("wal");
    let metrics = WalMetrics::default();
    metrics.register(telemetry);
    let started = Instant::now();
    let report = {
        let (e, s, d, m) = (engine.clone(), store.clone(), dir.clone(), metrics.clone());
        tokio::task::spawn_blocking(move || {
            let mark = s.wal_mark();
            treestat_engine::wal::replay(&e, &d, mark, &m, &|closed| {
                if let Err(err) = s.sync() {
                    warn!(
                        start = closed.start,
                        "write-ahead log replay: the trend store did not persist a replayed \
                         interval: {err}"
                    );
                }
            })
        })
        .await?
        .with_context(|| format!("replaying the write-ahead log in {}", dir.display()))?
    };
    if report.segments > 0 {
        info!(
            segments = report.segments,
            replayed = report.replayed,
            skipped = report.skipped,
            torn = report.torn,
            refused = report.refused,
            seconds = started.elapsed().as_secs_f64(),
            "write-ahead log replayed"
        );
    }
    if config.engine.wal == WalMode::Off {
        return Ok(None);
    }
    let wal = Wal::open(
        &dir,
        &config.engine,
        store.wal_mark_probe(),
        report.leftovers,
        metrics,
        Some(telemetry.health().flag("wal")),
    )
    .with_context(|| format!("starting the write-ahead log in {}", dir.display()))?;
    wal.register(telemetry);
    engine.attach_wal(wal.clone(), report.last_seq);
    Ok(Some(wal))
}

/// The built-in host modules running inside the server, on their own thread.
#[derive(Debug)]
struct LocalAgent {
    thread: std::thread::JoinHandle<()>,
}

impl LocalAgent {
    /// Starts the modules of `conf` (or the defaults with the `modules` folder beside
    /// `conf` when the file is absent). `conf` is resolved by `Config::load`, never
    /// against the working folder. A module folder that cannot be read is logged and
    /// the server runs without them. They stop when `stop` is cancelled.
    fn start(
        conf: &std::path::Path,
        engine: &Engine,
        stop: &CancellationToken,
    ) -> Option<LocalAgent> {
        // A config built in code (not by `Config::load`) may still hold a relative
        // path: it is the embedded defaults', never the working folder's.
        let conf = &std::path::Path::new(crate::config::BUILT_IN_DIR).join(conf);
        let mut cfg = if conf.exists() {
            match treestat_agent::AgentConfig::load(conf) {
                Ok(c) => c,
                Err(e) => {
                    error!("host modules off: {e}");
                    return None;
                }
            }
        } else {
            let beside = conf.parent().unwrap_or(std::path::Path::new("/"));
            info!(
                "no agent configuration at {}: host modules use the defaults",
                conf.display()
            );
            treestat_agent::AgentConfig {
                modules: beside.join("modules"),
                ..treestat_agent::AgentConfig::default()
            }
        };
        if !cfg.modules.is_dir() {
            warn!(
                "host modules off: no module folder at {} (set server.agent_conf; see \
                 docs/AGENT.md)",
                cfg.modules.display()
            );
            return None;
        }
        cfg.servers.clear();
        let (engine, stop) = (engine.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("host-modules".into())
            .spawn(move || {
                if let Err(e) = treestat_agent::agent::run_local(&cfg, &engine, &stop) {
                    error!("host modules stopped: {e}");
                }
            })
            .ok()?;
        info!(folder = %conf.display(), "host modules reporting this machine");
        Some(LocalAgent { thread })
    }

    /// Waits for the modules' thread (it ends once the server's token is cancelled).
    fn join(self) {
        if self.thread.join().is_err() {
            warn!("the host-modules thread panicked");
        }
    }
}

/// Closes each interval when it is due, off the async worker threads (sinks do I/O).
/// Before each close the server's own counters go into the tree under `_treestat`.
async fn run_intervals(engine: Engine, telemetry: Telemetry, shutdown: CancellationToken) {
    loop {
        let due_ms = millis_until_close(&engine);
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(due_ms)) => {}
            () = shutdown.cancelled() => return,
        }
        let (e, t) = (engine.clone(), telemetry.clone());
        let closed = tokio::task::spawn_blocking(move || {
            if let Err(err) = e.apply(&t.to_batch()) {
                warn!("the server's own counters were refused: {err}");
            }
            e.close_due()
        });
        if let Err(err) = closed.await {
            warn!("closing an interval failed: {err}");
        }
    }
}

fn millis_until_close(engine: &Engine) -> u64 {
    let end_ms = (engine.stats().open_start + engine.interval_secs()).saturating_mul(1000);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    // A few milliseconds late so the clock has surely passed the boundary.
    u64::try_from(end_ms - now_ms).unwrap_or(0) + 5
}
