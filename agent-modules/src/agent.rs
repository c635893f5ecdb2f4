//! The agent: loads the module folder, collects each module at its interval on this
//! (blocking) thread, turns samples into the push tree and hands it to the [`Outbox`].
//!
//! Its own state goes in the same push under `_treestat,agent,<host>`: `dropped`,
//! `pending`, `rejected` (documents, summed over servers), `modules` (loaded) and
//! `module_errors` (cumulative), all with action `last`; and `errors,<module>` as a
//! marker holding the latest failure text (a traceback for Python) whenever it changes.
//!
//! Every tree of a push is dated (`"timestamp"`) with the time the collection was due
//! (the schedule, which the collection follows within milliseconds): buffered pushes
//! that reach the server late still land in the interval they were measured in, and two
//! collections one interval apart never share a server interval because of jitter.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use crate::builtin;
use crate::config::AgentConfig;
use crate::error::{Error, Result};
use crate::folder::{self, ModuleEntry, ModuleKind};
use crate::ganglia::GangliaModule;
use crate::metric::Sample;
use crate::module::{Module, Scheduled};
use crate::native::NativeModule;
use crate::python::PythonHost;
use crate::transport::{Outbox, OutboxConfig, ServerStats};
use crate::tree::{Rates, build_push, stamp, unix_secs_at};
use treestat_engine::stop::{CancellationToken, Wait};

/// How often the agent rereads the module folder, so `.on`/`.off` switch modules while
/// it runs.
pub const RESCAN: Duration = Duration::from_secs(10);

/// How long after a failed load a module is first tried again; each further failure
/// doubles the wait, up to [`RETRY_MAX`].
pub const RETRY_FIRST: Duration = Duration::from_secs(60);

/// The longest wait between two tries of a module that fails to load.
pub const RETRY_MAX: Duration = Duration::from_secs(3600);

/// When a module that failed to load is tried again.
#[derive(Debug, Clone, Copy)]
struct Retry {
    at: Instant,
    wait: Duration,
}

/// The modules of a folder, loaded, and what failed to load.
pub struct LoadedModules {
    /// Modules that loaded, scheduled.
    pub modules: Vec<Scheduled>,
    /// `(module, error)` for each enabled module that failed to load (with the Python
    /// traceback where there is one). Disabled modules are not loaded and not listed.
    pub errors: Vec<(String, Error)>,
    // When each module of `errors` is tried again.
    retry: HashMap<String, Retry>,
    // Started on the first Python module; lives as long as the modules.
    python: Option<PythonHost>,
}

impl std::fmt::Debug for LoadedModules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.modules.iter().map(|m| m.module.name()).collect();
        f.debug_struct("LoadedModules")
            .field("modules", &names)
            .field("errors", &self.errors)
            .finish()
    }
}

/// Loads every enabled module in `dir`. A module that fails is reported in `errors` and
/// skipped; the others load.
///
/// # Errors
/// Only when the folder itself cannot be read.
pub fn load_modules(dir: &Path, default_interval: Duration) -> Result<LoadedModules> {
    let mut loaded = LoadedModules {
        modules: Vec::new(),
        errors: Vec::new(),
        retry: HashMap::new(),
        python: None,
    };
    loaded.rescan(dir, default_interval, Instant::now())?;
    Ok(loaded)
}

impl LoadedModules {
    fn load_entry(&mut self, dir: &Path, entry: &ModuleEntry) -> Result<Box<dyn Module>> {
        match &entry.kind {
            Err(e) => Err(e.clone()),
            Ok(ModuleKind::Builtin) => builtin::build(&entry.name, &entry.params),
            Ok(ModuleKind::Native(path)) => NativeModule::load(&entry.name, path, &entry.params)
                .map(|m| Box::new(m) as Box<dyn Module>),
            Ok(ModuleKind::Ganglia { path, symbol }) => GangliaModule::load(
                &entry.name,
                path,
                symbol,
                entry.params.get("params").map(String::as_str),
            )
            .map(|m| Box::new(m) as Box<dyn Module>),
            Ok(ModuleKind::Python(path)) => {
                let host = match &self.python {
                    Some(h) => h.clone(),
                    None => {
                        let h = PythonHost::start()?;
                        self.python = Some(h.clone());
                        h
                    }
                };
                host.load_cached(&entry.name, path, entry.params.clone(), Some(dir))
                    .map(|m| Box::new(m) as Box<dyn Module>)
            }
        }
    }

    /// Rereads `dir`: cleans up and drops modules switched off, loads modules switched
    /// on (first due at `now`), and tries again the modules that failed to load whose
    /// wait is over ([`RETRY_FIRST`], doubling to [`RETRY_MAX`]: a module polling an
    /// absent service is not retried every interval). Returns the errors to report: a
    /// module's first failure and a failure whose cause changed, each logged here once;
    /// the same failure again is not reported again.
    ///
    /// # Errors
    /// The folder cannot be read (nothing changes then).
    pub fn rescan(
        &mut self,
        dir: &Path,
        default_interval: Duration,
        now: Instant,
    ) -> Result<Vec<(String, Error)>> {
        let entries = folder::list_modules(dir)?;
        let enabled: Vec<&ModuleEntry> = entries.iter().filter(|e| e.enabled).collect();
        let on = |name: &str| enabled.iter().any(|e| e.name == name);
        let mut kept = Vec::with_capacity(self.modules.len());
        for mut m in std::mem::take(&mut self.modules) {
            if on(m.module.name()) {
                kept.push(m);
            } else {
                tracing::info!(module = m.module.name(), "module switched off");
                m.module.cleanup();
            }
        }
        self.modules = kept;
        self.errors.retain(|(name, _)| on(name));
        self.retry.retain(|name, _| on(name));
        let mut new_errors = Vec::new();
        for entry in enabled {
            if self.modules.iter().any(|m| m.module.name() == entry.name) {
                continue;
            }
            let previous = self.errors.iter().position(|(n, _)| *n == entry.name);
            let retry = self.retry.get(&entry.name).copied();
            if previous.is_some() && retry.is_some_and(|r| r.at > now) {
                continue;
            }
            let interval = entry.interval.unwrap_or(default_interval);
            match self.load_entry(dir, entry) {
                Ok(m) => {
                    if let Some(i) = previous {
                        self.errors.remove(i);
                        self.retry.remove(&entry.name);
                        tracing::info!(module = %entry.name, "module loaded on a retry");
                    }
                    self.modules.push(Scheduled::new(m, interval, now));
                }
                Err(e) => {
                    let wait = retry.map_or(RETRY_FIRST, |r| (r.wait * 2).min(RETRY_MAX));
                    self.retry.insert(
                        entry.name.clone(),
                        Retry {
                            at: now + wait,
                            wait,
                        },
                    );
                    let same = previous.is_some_and(|i| self.errors[i].1 == e);
                    if same {
                        tracing::debug!(module = %entry.name, "module still not loaded; next try in {} s", wait.as_secs());
                    } else {
                        tracing::error!(module = %entry.name, "module not loaded (next try in {} s): {e}", wait.as_secs());
                        new_errors.push((entry.name.clone(), e.clone()));
                    }
                    match previous {
                        Some(i) => self.errors[i].1 = e,
                        None => self.errors.push((entry.name.clone(), e)),
                    }
                }
            }
        }
        Ok(new_errors)
    }

    /// When the module `name`, which failed to load, is tried next (`None` when it did
    /// not fail).
    pub fn next_retry(&self, name: &str) -> Option<Instant> {
        self.retry.get(name).map(|r| r.at)
    }
}

/// A running agent's state between ticks.
pub struct Agent {
    host: String,
    modules_dir: std::path::PathBuf,
    default_interval: Duration,
    next_scan: Instant,
    loaded: LoadedModules,
    outbox: Outbox,
    rates: Rates,
    last_error: HashMap<String, String>,
    error_count: u64,
    pending_markers: Vec<(String, String)>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent").field("host", &self.host).finish()
    }
}

impl Agent {
    /// Loads the module folder and starts the senders.
    ///
    /// # Errors
    /// The config is invalid, the module folder cannot be read, or a spool file cannot
    /// be opened. A single module that fails does not stop the agent.
    pub fn new(config: &AgentConfig) -> Result<Agent> {
        config.validate()?;
        let loaded = load_modules(&config.modules, config.interval)?;
        let outbox = Outbox::start(&OutboxConfig::from_agent(config, &config.servers)?)?;
        let mut agent = Agent {
            host: config.host_name(),
            modules_dir: config.modules.clone(),
            default_interval: config.interval,
            next_scan: Instant::now() + RESCAN,
            loaded,
            outbox,
            rates: Rates::new(),
            last_error: HashMap::new(),
            error_count: 0,
            pending_markers: Vec::new(),
        };
        let load_errors: Vec<(String, String)> = agent
            .loaded
            .errors
            .iter()
            .map(|(m, e)| (m.clone(), e.to_string()))
            .collect();
        for (m, e) in load_errors {
            agent.note_error(&m, e, false);
        }
        Ok(agent)
    }

    /// The names of the modules that loaded.
    pub fn module_names(&self) -> Vec<String> {
        self.loaded
            .modules
            .iter()
            .map(|m| m.module.name().to_string())
            .collect()
    }

    /// Modules that failed to load, with the cause.
    pub fn load_errors(&self) -> &[(String, Error)] {
        &self.loaded.errors
    }

    /// When the next module is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.loaded.modules.iter().map(|m| m.next).min()
    }

    /// Counts a failure and, when its text changed, queues it as the module's error
    /// marker; `log` says whether it still needs logging (load errors are logged by
    /// [`LoadedModules::rescan`]).
    fn note_error(&mut self, module: &str, text: String, log: bool) {
        self.error_count += 1;
        if self.last_error.get(module) != Some(&text) {
            if log {
                tracing::warn!(module, "{text}");
            }
            self.pending_markers
                .push((module.to_string(), text.clone()));
            self.last_error.insert(module.to_string(), text);
        }
    }

    /// Collects every module due at `now`, queues the push, and returns it (`None` when
    /// no module was due).
    pub fn tick(&mut self, now: Instant) -> Option<Json> {
        let mut samples: Vec<Sample> = Vec::new();
        let mut failures: Vec<(String, String)> = Vec::new();
        let mut due: Option<Instant> = None;
        for m in &mut self.loaded.modules {
            if m.next > now {
                continue;
            }
            due = Some(due.map_or(m.next, |d| d.min(m.next)));
            let c = m.module.collect();
            samples.extend(c.samples);
            if !c.errors.is_empty() {
                failures.push((m.module.name().to_string(), c.errors.join("\n")));
            }
            m.advance(now);
        }
        let due = due?;
        for (module, text) in failures {
            self.note_error(&module, text, true);
        }
        let markers = std::mem::take(&mut self.pending_markers);
        let samples = self.rates.apply(samples, now);
        let mut doc = self.document(&samples, &markers);
        // The schedule, not `now`: a collection that ran a little late is still dated
        // in its own interval. A module that skipped ticks is dated by its last due time.
        let due = due.max(now.checked_sub(self.default_interval).unwrap_or(due));
        stamp(&mut doc, unix_secs_at(due));
        self.outbox.send(&doc);
        Some(doc)
    }

    fn document(&self, samples: &[Sample], markers: &[(String, String)]) -> Json {
        let stats = self.outbox.stats();
        let sum = |f: fn(&ServerStats) -> u64| stats.iter().map(f).sum::<u64>();
        let mut own = json!({
            "dropped": sum(|s| s.dropped),
            "rejected": sum(|s| s.rejected),
            "pending": stats.iter().map(|s| s.pending).sum::<usize>(),
            "modules": self.loaded.modules.len(),
            "module_errors": self.error_count,
        });
        if !markers.is_empty() {
            let errs: serde_json::Map<String, Json> = markers
                .iter()
                .map(|(m, t)| (crate::tree::sanitize_key(m), Json::String(t.clone())))
                .collect();
            own["errors"] = Json::Object(errs);
        }
        let own_tree = json!({
            "default_action": "last",
            "_treestat": {"agent": {crate::tree::sanitize_key(&self.host): own}}
        });
        match build_push(&self.host, samples) {
            Some(Json::Array(mut trees)) => {
                trees.push(own_tree);
                Json::Array(trees)
            }
            _ => Json::Array(vec![own_tree]),
        }
    }

    /// Runs until `shutdown`, then calls every module's cleanup and gives the senders
    /// up to `grace` to deliver what is pending (the rest goes to the spool).
    pub fn run(self, shutdown: &CancellationToken, grace: Duration) -> Vec<ServerStats> {
        self.run_with(shutdown, grace, |_| {})
    }

    /// As [`Agent::run`], also handing each push document to `on_push` (after it was
    /// queued for the servers).
    pub fn run_with(
        mut self,
        shutdown: &CancellationToken,
        grace: Duration,
        mut on_push: impl FnMut(&Json),
    ) -> Vec<ServerStats> {
        loop {
            let next = self
                .next_due()
                .map_or(self.next_scan, |n| n.min(self.next_scan));
            if shutdown.wait_until(next) {
                break;
            }
            let now = Instant::now();
            if now >= self.next_scan {
                self.rescan(now);
            }
            if let Some(doc) = self.tick(now) {
                on_push(&doc);
            }
        }
        for m in &mut self.loaded.modules {
            m.module.cleanup();
        }
        self.outbox.close(grace)
    }

    /// Rereads the module folder (see [`LoadedModules::rescan`]); failures are reported
    /// like load errors at start.
    pub fn rescan(&mut self, now: Instant) {
        self.next_scan = now + RESCAN;
        match self
            .loaded
            .rescan(&self.modules_dir, self.default_interval, now)
        {
            Ok(errors) => {
                for (m, e) in errors {
                    self.note_error(&m, e.to_string(), false);
                }
            }
            Err(e) => tracing::warn!("module folder: {e}"),
        }
    }

    /// Every server's counters.
    pub fn server_stats(&self) -> Vec<ServerStats> {
        self.outbox.stats()
    }
}

/// `treestat agent`: runs the agent described by `config` until `shutdown` is
/// triggered. Blocking: call it from a plain thread (or `spawn_blocking`).
///
/// # Errors
/// The config is invalid, the module folder cannot be read, or a spool cannot be
/// opened. Module failures are reported and skipped, never returned.
pub fn run(config: &AgentConfig, shutdown: &CancellationToken) -> Result<Vec<ServerStats>> {
    let agent = Agent::new(config)?;
    tracing::info!(
        host = %config.host_name(),
        modules = ?agent.module_names(),
        servers = ?config.servers,
        "agent started"
    );
    Ok(agent.run(shutdown, config.timeout))
}

/// The built-in host modules of `treestat serve` (no `--no-agent`): runs the agent
/// described by `config` and merges every push straight into `engine` (no socket), as
/// well as sending it to `config.servers` (usually none here). A push the engine refuses
/// is logged. Blocking, like [`run`].
///
/// # Errors
/// As [`run`].
pub fn run_local(
    config: &AgentConfig,
    engine: &treestat_engine::Engine,
    shutdown: &CancellationToken,
) -> Result<Vec<ServerStats>> {
    let agent = Agent::new(config)?;
    Ok(agent.run_with(shutdown, config.timeout, |doc| {
        let bytes = serde_json::to_vec(doc).unwrap_or_default();
        if let Err(e) = engine.push_json(&bytes) {
            tracing::warn!("local agent push refused: {e}");
        }
    }))
}

/// Collects every enabled module once (counters need two readings, so they are read
/// twice, `gap` apart) and returns the push document without sending it.
/// Useful for `treestat agent --once` and for checking a module folder.
///
/// # Errors
/// As [`run`].
pub fn collect_once(config: &AgentConfig, gap: Duration) -> Result<Json> {
    let mut config = config.clone();
    config.servers.clear();
    let mut agent = Agent::new(&config)?;
    let t0 = Instant::now();
    agent.tick(t0);
    std::thread::sleep(gap);
    for m in &mut agent.loaded.modules {
        m.next = t0;
    }
    agent
        .tick(Instant::now())
        .ok_or_else(|| Error::module("no module is enabled"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tree_of_a_push_is_dated_with_its_collection_time() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("load.conf"), "").unwrap();
        let config = AgentConfig {
            servers: Vec::new(),
            host: Some("h".into()),
            interval: Duration::from_secs(1),
            modules: dir.path().to_path_buf(),
            ..AgentConfig::default()
        };
        let mut agent = Agent::new(&config).unwrap();
        let now = Instant::now();
        let due = agent.next_due().unwrap();
        // The wall clock moves while tick runs: its stamp is between these two readings.
        let before = unix_secs_at(due);
        let doc = agent.tick(now).unwrap();
        let after = unix_secs_at(due);
        let trees = doc.as_array().unwrap();
        assert!(trees.len() >= 2, "{doc}");
        let ts = trees[0]["timestamp"].as_i64().unwrap();
        assert!((before..=after).contains(&ts), "{doc}");
        assert!(trees.iter().all(|t| t["timestamp"] == ts), "{doc}");
        // A collection run two intervals late is dated one interval before it ran.
        let late = agent.next_due().unwrap() + Duration::from_secs(2);
        let ran = late.checked_sub(Duration::from_secs(1)).unwrap();
        let before = unix_secs_at(ran);
        let doc = agent.tick(late).unwrap();
        let after = unix_secs_at(ran);
        let ts = doc[0]["timestamp"].as_i64().unwrap();
        assert!((before..=after).contains(&ts), "{doc}");
    }
}
