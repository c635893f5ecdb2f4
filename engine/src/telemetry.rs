//! The server's own counters and gauges: a registry of named handles created once when a
//! component is built, so the hot path only does an atomic increment.
//!
//! One [`Telemetry`] (a cheap-clone handle) is shared by every component. It renders as
//! Prometheus text for `GET /metrics` ([`Telemetry::render_prometheus`]) and as a
//! [`Batch`] ([`Telemetry::to_batch`]) so the counters also live in the tree under
//! `_treestat`.
//!
//! It also holds the [`Health`] registry behind `GET /health`: components report into
//! it by name ([`Health::flag`], [`Health::probe`]).
//!
//! Tree paths follow one rule, so nobody has to pick them by hand: a metric named
//! `treestat_<subsystem>_<what>[_total]` with labels `l1, l2, ...` lives at
//! `_treestat,<subsystem>,<l1 value>,<what>,<l2 value>,...`. For example
//! `treestat_listen_lines_total{listener="tcp"}` is `_treestat,listen,tcp,lines` and
//! `treestat_listen_rejects_total{listener="tcp",reason="bad_key"}` is
//! `_treestat,listen,tcp,rejects,bad_key`. Label values that break the key rules have
//! the offending characters replaced by `_` in the path (never in Prometheus output).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::Action;
use crate::batch::Batch;

/// A monotonically increasing count; clones share the same value.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (open connections, tree size); clones share it.
#[derive(Debug, Clone, Default)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }

    /// Adds `n` (may be negative).
    #[inline]
    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        self.add(-1);
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value read from elsewhere when rendered (e.g. the engine's tree size).
type GaugeFn = Arc<dyn Fn() -> f64 + Send + Sync>;

#[derive(Clone)]
enum Handle {
    Counter(Counter),
    Gauge(Gauge),
    GaugeFn(GaugeFn),
}

impl Handle {
    #[allow(clippy::cast_precision_loss)] // counts beyond 2^53 are shown rounded, as Prometheus does
    fn value(&self) -> f64 {
        match self {
            Handle::Counter(c) => c.get() as f64,
            Handle::Gauge(g) => g.get() as f64,
            Handle::GaugeFn(f) => f(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

struct Series {
    labels: Vec<(String, String)>,
    path: String,
    handle: Handle,
}

struct Family {
    help: String,
    kind: Kind,
    series: Vec<Series>,
}

/// The registry: every counter and gauge of the process, by name and labels.
///
/// Registering is rare (when components are built) and takes a lock; the handles it
/// returns are lock-free. Registering the same name and labels twice returns the same
/// handle, so a component rebuilt after a config reload keeps counting where it was.
#[derive(Clone, Default)]
pub struct Telemetry {
    families: Arc<Mutex<BTreeMap<String, Family>>>,
    health: Health,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("families", &self.families.lock().len())
            .finish()
    }
}

impl Telemetry {
    /// Sets the `# HELP` text of a metric family (registered now or later).
    pub fn describe(&self, name: &str, help: &str) {
        let mut fams = self.families.lock();
        if let Some(f) = fams.get_mut(name) {
            f.help = help.to_string();
        } else {
            fams.insert(
                name.to_string(),
                Family {
                    help: help.to_string(),
                    kind: kind_from_name(name),
                    series: Vec::new(),
                },
            );
        }
    }

    /// The counter `name{labels}`, created on first use.
    ///
    /// Names follow Prometheus (`treestat_<subsystem>_<what>_total`); if a gauge of
    /// that name exists, the counter is still returned but rendered under the gauge's
    /// type (names should not be shared between kinds).
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> Counter {
        match self.register(name, labels, Kind::Counter, || {
            Handle::Counter(Counter::default())
        }) {
            Handle::Counter(c) => c,
            // The name was registered as another kind: hand out a detached counter
            // rather than panic; it still counts, it is just not rendered.
            _ => Counter::default(),
        }
    }

    /// Registers a counter the caller already holds (one a component created before
    /// it was given the registry, e.g. the trend store's), under `name{labels}`.
    /// Registering the same name and labels again replaces the handle rendered.
    pub fn register_counter(&self, name: &str, labels: &[(&str, &str)], counter: &Counter) {
        let mut fams = self.families.lock();
        let fam = family(&mut fams, name, Kind::Counter);
        let handle = Handle::Counter(counter.clone());
        if let Some(s) = fam
            .series
            .iter_mut()
            .find(|s| same_labels(&s.labels, labels))
        {
            s.handle = handle;
        } else {
            fam.series.push(Series {
                labels: own_labels(labels),
                path: tree_path(name, labels),
                handle,
            });
        }
    }

    /// The health registry every component reports into (`GET /health`).
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The gauge `name{labels}`, created on first use.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Gauge {
        match self.register(
            name,
            labels,
            Kind::Gauge,
            || Handle::Gauge(Gauge::default()),
        ) {
            Handle::Gauge(g) => g,
            _ => Gauge::default(),
        }
    }

    /// A gauge whose value is read by calling `read` at render time (e.g. tree size
    /// from the engine). Registering the same name and labels again replaces it.
    /// `read` runs outside the registry's lock, so it may take other locks.
    pub fn gauge_fn(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        read: impl Fn() -> f64 + Send + Sync + 'static,
    ) {
        self.register_fn(name, labels, Kind::Gauge, Arc::new(read));
    }

    /// A counter whose value is read by calling `read` at render time (e.g. the CPU
    /// time the kernel counts for the process). Registering again replaces it.
    pub fn counter_fn(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        read: impl Fn() -> f64 + Send + Sync + 'static,
    ) {
        self.register_fn(name, labels, Kind::Counter, Arc::new(read));
    }

    fn register_fn(&self, name: &str, labels: &[(&str, &str)], kind: Kind, read: GaugeFn) {
        let mut fams = self.families.lock();
        let fam = family(&mut fams, name, kind);
        if let Some(s) = fam
            .series
            .iter_mut()
            .find(|s| same_labels(&s.labels, labels))
        {
            s.handle = Handle::GaugeFn(read);
        } else {
            fam.series.push(Series {
                labels: own_labels(labels),
                path: tree_path(name, labels),
                handle: Handle::GaugeFn(read),
            });
        }
    }

    fn register(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        kind: Kind,
        make: impl FnOnce() -> Handle,
    ) -> Handle {
        let mut fams = self.families.lock();
        let fam = family(&mut fams, name, kind);
        if let Some(s) = fam.series.iter().find(|s| same_labels(&s.labels, labels)) {
            return s.handle.clone();
        }
        let handle = make();
        fam.series.push(Series {
            labels: own_labels(labels),
            path: tree_path(name, labels),
            handle: handle.clone(),
        });
        handle
    }

    /// A copy of the registry's shape (cheap: the handles are `Arc`s), so values are
    /// read outside the lock: a [`Telemetry::gauge_fn`] may take other locks (the
    /// engine's), and a component may register while another renders.
    fn snapshot(&self) -> Vec<(String, Family)> {
        self.families
            .lock()
            .iter()
            .map(|(name, fam)| {
                let series = fam
                    .series
                    .iter()
                    .map(|s| Series {
                        labels: s.labels.clone(),
                        path: s.path.clone(),
                        handle: s.handle.clone(),
                    })
                    .collect();
                (
                    name.clone(),
                    Family {
                        help: fam.help.clone(),
                        kind: fam.kind,
                        series,
                    },
                )
            })
            .collect()
    }

    /// Appends every metric in Prometheus text exposition format (version 0.0.4):
    /// `# HELP` and `# TYPE` per family, then one line per series, families sorted by
    /// name and series in registration order. This is the only Prometheus writer.
    pub fn render_prometheus(&self, out: &mut String) {
        for (name, fam) in self.snapshot() {
            if fam.series.is_empty() {
                continue;
            }
            let kind = match fam.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(out, "# HELP {name} {}", escape_help(&fam.help));
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for s in &fam.series {
                out.push_str(&name);
                if !s.labels.is_empty() {
                    out.push('{');
                    for (i, (k, v)) in s.labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {}", prom_number(s.handle.value()));
            }
        }
    }

    /// Every metric as one sample with action `last` at its `_treestat,...` path (see
    /// the module doc), for pushing into the engine once per interval.
    pub fn to_batch(&self) -> Batch {
        let mut batch = Batch::new();
        for (_, fam) in self.snapshot() {
            for s in &fam.series {
                let v = s.handle.value();
                if v.is_finite() {
                    batch.sample(&s.path, v, Some(Action::Last));
                }
            }
        }
        batch
    }

    /// The current value of `name{labels}`, if registered (tests, the bench server).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let handle = {
            let fams = self.families.lock();
            let fam = fams.get(name)?;
            let s = fam.series.iter().find(|s| same_labels(&s.labels, labels))?;
            s.handle.clone()
        };
        Some(handle.value())
    }

    /// The sum over every series of `name` (e.g. all reject reasons of a listener).
    pub fn sum(&self, name: &str, filter: &[(&str, &str)]) -> f64 {
        let handles: Vec<Handle> = {
            let fams = self.families.lock();
            let Some(fam) = fams.get(name) else {
                return 0.0;
            };
            fam.series
                .iter()
                .filter(|s| {
                    filter
                        .iter()
                        .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
                })
                .map(|s| s.handle.clone())
                .collect()
        };
        handles.iter().map(Handle::value).sum()
    }
}

/// The server's health (`GET /health`, docs/OPERATIONS.md): every component that can
/// fail quietly reports into it by name, in one of two ways.
///
/// - A [`HealthFlag`] ([`Health::flag`]): the component sets a reason when it turns
///   degraded and clears it when it recovers (cheap; for code that notices the change).
/// - A probe ([`Health::probe`]): a function asked at every report that returns the
///   current reasons, empty when all is well (for state read from elsewhere, e.g. a
///   writer's heartbeat; it must not block: it runs on the `/health` request).
///
/// The server is `degraded` while any component has a reason, `ok` otherwise. A
/// cheap-clone handle (`Arc` inside); registering a name again replaces the check.
#[derive(Clone, Default)]
pub struct Health {
    checks: Arc<Mutex<BTreeMap<String, Check>>>,
}

type Probe = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

#[derive(Clone)]
enum Check {
    Flag(Arc<Mutex<Option<String>>>),
    Probe(Probe),
}

/// A component's switch in the [`Health`] registry: `None` healthy, `Some(reason)`
/// degraded. Clones share the state.
#[derive(Debug, Clone, Default)]
pub struct HealthFlag(Arc<Mutex<Option<String>>>);

impl HealthFlag {
    /// Marks the component degraded, saying why (replaces an earlier reason).
    pub fn degraded(&self, reason: impl Into<String>) {
        *self.0.lock() = Some(reason.into());
    }

    /// Marks the component healthy again.
    pub fn ok(&self) {
        *self.0.lock() = None;
    }

    /// The current reason, if degraded.
    pub fn reason(&self) -> Option<String> {
        self.0.lock().clone()
    }
}

/// One reason the server is degraded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HealthReason {
    /// The component's registered name (`trend_store`, `pipe:www`, ...).
    pub component: String,
    /// What is wrong, for people.
    pub reason: String,
}

/// What [`Health::report`] found: `ok` with no reasons, or `degraded` with them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HealthReport {
    /// `"ok"` or `"degraded"`.
    pub status: &'static str,
    /// Why it is degraded, components in name order (left out when ok).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<HealthReason>,
}

impl HealthReport {
    /// Whether nothing is degraded.
    pub fn is_ok(&self) -> bool {
        self.reasons.is_empty()
    }
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("checks", &self.checks.lock().keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Health {
    /// The flag of component `name`, created healthy on first use (the same flag
    /// comes back for the same name, unless a probe replaced it).
    pub fn flag(&self, name: &str) -> HealthFlag {
        let mut checks = self.checks.lock();
        if let Some(Check::Flag(f)) = checks.get(name) {
            return HealthFlag(f.clone());
        }
        let flag = HealthFlag::default();
        checks.insert(name.to_string(), Check::Flag(flag.0.clone()));
        flag
    }

    /// Registers (or replaces) the probe of component `name`: called at every report,
    /// it returns the component's reasons, none when healthy.
    pub fn probe(&self, name: &str, probe: impl Fn() -> Vec<String> + Send + Sync + 'static) {
        self.checks
            .lock()
            .insert(name.to_string(), Check::Probe(Arc::new(probe)));
    }

    /// Removes component `name` (a component that was shut down).
    pub fn remove(&self, name: &str) {
        self.checks.lock().remove(name);
    }

    /// Asks every component: `degraded` with the reasons if any has one, else `ok`.
    pub fn report(&self) -> HealthReport {
        // Probes run outside the registry lock, so a probe may itself register.
        let checks: Vec<(String, Check)> = self
            .checks
            .lock()
            .iter()
            .map(|(k, c)| (k.clone(), c.clone()))
            .collect();
        let mut reasons = Vec::new();
        for (component, check) in checks {
            let found = match check {
                Check::Flag(f) => f.lock().clone().into_iter().collect(),
                Check::Probe(p) => p(),
            };
            reasons.extend(found.into_iter().map(|reason| HealthReason {
                component: component.clone(),
                reason,
            }));
        }
        HealthReport {
            status: if reasons.is_empty() { "ok" } else { "degraded" },
            reasons,
        }
    }
}

fn family<'a>(fams: &'a mut BTreeMap<String, Family>, name: &str, kind: Kind) -> &'a mut Family {
    fams.entry(name.to_string()).or_insert_with(|| Family {
        help: default_help(name),
        kind,
        series: Vec::new(),
    })
}

fn kind_from_name(name: &str) -> Kind {
    if name.ends_with("_total") {
        Kind::Counter
    } else {
        Kind::Gauge
    }
}

fn default_help(name: &str) -> String {
    let short = name.strip_prefix("treestat_").unwrap_or(name);
    let short = short.strip_suffix("_total").unwrap_or(short);
    format!("treestat {}", short.replace('_', " "))
}

fn same_labels(have: &[(String, String)], want: &[(&str, &str)]) -> bool {
    have.len() == want.len()
        && have
            .iter()
            .zip(want)
            .all(|((hk, hv), (wk, wv))| hk == wk && hv == wv)
}

fn own_labels(labels: &[(&str, &str)]) -> Vec<(String, String)> {
    labels
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// `_treestat,<subsystem>,<first label value>,<what>,<other label values>`.
fn tree_path(name: &str, labels: &[(&str, &str)]) -> String {
    let short = name.strip_prefix("treestat_").unwrap_or(name);
    let short = short.strip_suffix("_total").unwrap_or(short);
    let (subsystem, what) = match short.split_once('_') {
        Some((s, w)) => (s, Some(w)),
        None => (short, None),
    };
    let mut path = String::from("_treestat,");
    path.push_str(&path_key(subsystem));
    let mut values = labels.iter().map(|(_, v)| path_key(v));
    if let Some(first) = values.next() {
        path.push(',');
        path.push_str(&first);
    }
    if let Some(w) = what {
        path.push(',');
        path.push_str(&path_key(w));
    }
    for v in values {
        path.push(',');
        path.push_str(&v);
    }
    path
}

/// A label value as a tree key: `,` and control characters become `_`, empty becomes
/// `_`, and it is cut to 255 bytes (the key rules of treestat-model).
fn path_key(v: &str) -> String {
    treestat_model::sanitize_key_or(v, treestat_model::EMPTY_NAME_KEY).into_owned()
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn prom_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
#[path = "telemetry_tests.rs"]
mod tests;
