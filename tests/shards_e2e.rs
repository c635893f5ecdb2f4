//! Sharded ingest through a real RabbitMQ (issue 16): three `treestat serve --shard`
//! engines and one `treestat relay --upstream amqp://...?format=tree&sharded=1`, all
//! child processes on free ports with their own data folders.
//!
//! - A known workload with many top-level keys (every protocol: JSON trees over HTTP,
//!   TCP and UDP, SimpleStats tuples, Graphite, StatsD and access-log lines) pushed
//!   into the relay lands each top-level key in exactly one shard, and the union of the
//!   shards' `/get` equals what one unsharded `serve` given the same workload answers;
//!   so do `/get`, folded patterns and `/trend` through a `treestat front` over the
//!   shards (exact per bucket for the dated part of the workload; sums for StatsD and
//!   log lines, which are filed when they arrive).
//! - Faults, nothing acknowledged lost: a shard SIGKILLed while the relay keeps
//!   publishing, then restarted (its durable queue held the backlog); the broker
//!   stopped while pushes arrive at the relay, then restarted (the relay's buffer and
//!   publisher confirms carry them over).
//! - A three-node RabbitMQ cluster with quorum queues and one node stopped: nothing lost.
//! - An agent publishing sharded directly (`sharded=1` in its server URL).
//! - A broker without the consistent-hash plugin: the shard says which plugin and the
//!   command that enables it.
//!
//! The broker harness is amqp/tests/common/broker.rs (it enables
//! `rabbitmq_consistent_hash_exchange`). The tests share one broker and stop it, so they
//! run one at a time (`SERIAL`). Every wait is a poll for a state, with a limit far
//! beyond a normal run.

#[path = "../amqp/tests/common/broker.rs"]
mod broker;
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{free_port, get_json, get_text, get_values, wait_for};

static SERIAL: Mutex<()> = Mutex::new(());

/// The top-level keys of the workload, per protocol.
const KEYS: usize = 60;

/// A `treestat serve` child process.
struct Serve {
    port: u16,
    conf: PathBuf,
    log: PathBuf,
    child: Child,
}

impl Serve {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn start(conf: &Path, port: u16) -> Serve {
        let log = conf.with_extension("log");
        let child = Command::new(env!("CARGO_BIN_EXE_treestat"))
            .args(["serve", "--conf"])
            .arg(conf)
            .args(["--http", &format!("127.0.0.1:{port}"), "--no-agent"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("treestat serve starts");
        let s = Serve {
            port,
            conf: conf.to_path_buf(),
            log,
            child,
        };
        wait_for("the server's HTTP", || {
            ureq::get(&format!("{}/get/x", s.base())).call().ok()
        });
        s
    }

    /// Waits until the AMQP source consumes (its queue is declared and bound).
    fn wait_consuming(&self) {
        wait_for("the AMQP source to consume", || {
            get_text(&format!("{}/metrics", self.base()))
                .lines()
                .any(|l| l.starts_with("treestat_amqp_connected") && l.ends_with(" 1"))
                .then_some(())
        });
    }

    fn restart(&mut self) {
        *self = Serve::start(&self.conf.clone(), self.port);
    }

    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A configuration file in `dir`: HTTP (the flag gives the port), the push listeners
/// of `listen` (all `off` by default), 1 s intervals, the write-ahead log in `sync` (a
/// message is acked only once logged), plus `extra`.
fn conf(dir: &Path, name: &str, listen: &Listen, extra: &str) -> PathBuf {
    let data = dir.join(format!("data-{name}"));
    let path = dir.join(format!("{name}.toml"));
    let addr = |a: &Option<String>| a.clone().unwrap_or_else(|| "off".into());
    let (tcp, udp, statsd, graphite) = (
        addr(&listen.tcp),
        addr(&listen.udp),
        addr(&listen.statsd),
        addr(&listen.graphite),
    );
    std::fs::write(
        &path,
        format!(
            "[server]\ndata = {data:?}\n\
             [listen]\ntcp = {tcp:?}\nudp = {udp:?}\nstatsd = {statsd:?}\ngraphite = {graphite:?}\n\
             [engine]\ninterval = \"1s\"\nwal = \"sync\"\n\
             [trend]\nretention = \"1s:2h\"\nqueue = 4096\n{extra}"
        ),
    )
    .unwrap();
    path
}

/// The push listeners of a server (`None`: off), as `HOST:PORT`.
#[derive(Default)]
struct Listen {
    tcp: Option<String>,
    udp: Option<String>,
    statsd: Option<String>,
    graphite: Option<String>,
}

impl Listen {
    /// Every push listener, each on a free port of 127.0.0.1.
    fn all() -> Listen {
        let at = |p: u16| Some(format!("127.0.0.1:{p}"));
        Listen {
            tcp: at(free_port()),
            udp: at(free_port_udp()),
            statsd: at(free_port_udp()),
            graphite: at(free_port()),
        }
    }
}

/// A shard `name` consuming from `exchange` on `url`.
fn start_shard(dir: &Path, url: &str, exchange: &str, name: &str) -> Serve {
    start_shard_typed(dir, url, exchange, name, "classic")
}

/// A shard whose queue is of `queue_type` (`classic` or `quorum`).
fn start_shard_typed(dir: &Path, url: &str, exchange: &str, name: &str, queue_type: &str) -> Serve {
    let extra = format!(
        "[amqp]\nurl = {url:?}\nshard = {name:?}\nshard_exchange = {exchange:?}\n\
         queue_type = {queue_type:?}\nreconnect_min = \"100ms\"\nreconnect_max = \"1s\"\n"
    );
    Serve::start(&conf(dir, name, &Listen::default(), &extra), free_port())
}

/// `treestat relay` listening on every protocol (HTTP, TCP and UDP 8007-style, StatsD,
/// Graphite), forwarding every second to `upstream`.
struct Relay {
    http: u16,
    listen: Listen,
    child: Child,
}

impl Relay {
    fn start(upstream: &str) -> Relay {
        let http = free_port();
        let listen = Listen::all();
        let url = |scheme: &str, a: &Option<String>| format!("{scheme}://{}", a.as_ref().unwrap());
        let child = Command::new(env!("CARGO_BIN_EXE_treestat"))
            .args(["relay", "--interval", "1s"])
            .args(["--listen", &format!("http://127.0.0.1:{http}")])
            .args(["--listen", &url("tcp", &listen.tcp)])
            .args(["--listen", &url("udp", &listen.udp)])
            .args(["--listen", &url("statsd", &listen.statsd)])
            .args(["--listen", &url("graphite", &listen.graphite)])
            .args(["--upstream", upstream])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("treestat relay starts");
        wait_for("the relay's HTTP", || {
            std::net::TcpStream::connect(("127.0.0.1", http)).ok()
        });
        Relay {
            http,
            listen,
            child,
        }
    }

    /// JSON trees over HTTP and StatsD only, undated (what the fault tests push).
    fn basic_target(&self) -> Target {
        Target {
            tcp: None,
            udp: None,
            graphite: None,
            ..self.target(None)
        }
    }

    /// Where a workload goes into this relay (`dated`: see [`Target::dated`]).
    fn target(&self, dated: Option<i64>) -> Target {
        Target {
            push: format!("http://127.0.0.1:{}/push", self.http),
            statsd: self.listen.statsd.clone().unwrap(),
            tcp: self.listen.tcp.clone(),
            udp: self.listen.udp.clone(),
            graphite: self.listen.graphite.clone(),
            dated,
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where a workload goes: a `POST /push` URL and a StatsD address, and optionally the
/// 8007-style TCP and UDP listeners and Graphite's.
struct Target {
    push: String,
    statsd: String,
    tcp: Option<String>,
    udp: Option<String>,
    graphite: Option<String>,
    /// Date the workload: round `r`'s JSON trees, tuples and Graphite lines carry the
    /// time stamp `dated + 10 r` (undated: the receiver's clock).
    dated: Option<i64>,
}

/// Round `round` of the workload: per key, JSON trees with an `add` counter and a
/// `last` gauge (HTTP), and a StatsD counter and gauge; with the target's listeners,
/// JSON trees over TCP and UDP, SimpleStats tuples (TCP) and Graphite lines. Adds the
/// expected totals after it to `model`.
///
/// Tuples and Graphite lines take the engine's root action (average): their values
/// over rounds 1..=3 are `k - 2`, `k`, `k + 2`, whose mean `k` is exact in floating
/// point whatever the order of the sum.
fn push_round(to: &Target, round: u32, model: &mut BTreeMap<String, f64>) {
    let agent = ureq::Agent::new_with_defaults();
    let ts = to.dated.map(|t0| t0 + 10 * i64::from(round));
    let stamp = ts.map_or_else(String::new, |t| format!(",\"timestamp\":{t}"));
    for k in 0..KEYS {
        let hits = f64::from(u32::try_from(k).unwrap() + round);
        let mem = f64::from(round * 100) + f64::from(u32::try_from(k).unwrap());
        let doc = format!(
            "[{{\"default_action\":\"add\"{stamp},\"app{k:03}\":{{\"web\":{{\"hits\":{hits}}}}}}},\
             {{\"default_action\":\"last\"{stamp},\"app{k:03}\":{{\"mem\":{mem}}}}}]"
        );
        agent
            .post(&to.push)
            .header("Content-Type", "application/json")
            .send(doc.as_bytes())
            .expect("push accepted");
        *model.entry(format!("app{k:03},web,hits")).or_default() += hits;
        model.insert(format!("app{k:03},mem"), mem);
    }
    // StatsD: ten lines a datagram, paced, so loopback UDP does not overflow.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut lines = Vec::new();
    for k in 0..KEYS {
        let n = u32::try_from(k).unwrap() + 1;
        lines.push(format!("st{k:03}.req:{n}|c"));
        lines.push(format!("st{k:03}.temp:{}|g", round * 10 + n));
        *model.entry(format!("st{k:03},req")).or_default() += f64::from(n);
        model.insert(format!("st{k:03},temp"), f64::from(round * 10 + n));
    }
    for chunk in lines.chunks(10) {
        udp.send_to(chunk.join("\n").as_bytes(), &to.statsd)
            .unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let k_f = |k: usize| f64::from(u32::try_from(k).unwrap());
    // The averaged value of key k in this round (see above).
    let avg_value = |k: usize| k_f(k) + 2.0 * f64::from(round) - 4.0;
    if let Some(addr) = &to.tcp {
        let conn = std::net::TcpStream::connect(addr).unwrap();
        let mut r = std::io::BufReader::new(conn.try_clone().unwrap());
        let mut w = conn;
        let mut hint = String::new();
        std::io::BufRead::read_line(&mut r, &mut hint).unwrap();
        for k in 0..KEYS {
            let n = k_f(k) + f64::from(round);
            let tuple_ts = ts.unwrap_or_else(unix_now);
            for line in [
                format!("{{\"default_action\":\"add\"{stamp},\"jt{k:03}\":{{\"n\":{n}}}}}"),
                format!("[\"ss{k:03},v\", {tuple_ts}, {}]", avg_value(k)),
            ] {
                std::io::Write::write_all(&mut w, format!("{line}\n").as_bytes()).unwrap();
                let mut a = String::new();
                std::io::BufRead::read_line(&mut r, &mut a).unwrap();
                assert_eq!(a.trim_end(), "--OK", "{line}");
            }
            *model.entry(format!("jt{k:03},n")).or_default() += n;
            model.insert(format!("ss{k:03},v"), avg_so_far(k_f(k), round));
        }
    }
    if let Some(addr) = &to.udp {
        for k in 0..KEYS {
            let n = 2.0 * k_f(k) + f64::from(round);
            let doc = format!("{{\"default_action\":\"add\"{stamp},\"ju{k:03}\":{{\"n\":{n}}}}}");
            udp.send_to(doc.as_bytes(), addr).unwrap();
            *model.entry(format!("ju{k:03},n")).or_default() += n;
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    if let Some(addr) = &to.graphite {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        let mut text = String::new();
        for k in 0..KEYS {
            let when = ts.map_or_else(String::new, |t| format!(" {t}"));
            text.push_str(&format!("gr{k:03}.v {}{when}\n", avg_value(k)));
            model.insert(format!("gr{k:03},v"), avg_so_far(k_f(k), round));
        }
        std::io::Write::write_all(&mut conn, text.as_bytes()).unwrap();
    }
}

fn unix_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// The mean of key `k`'s averaged values over rounds `1..=round` (`k - 2`, `k`,
/// `k + 2`, ...): `k - 3 + round`.
fn avg_so_far(k: f64, round: u32) -> f64 {
    k - 3.0 + f64::from(round)
}

/// Access-log lines in the combined format for round `round`: per key a request to
/// `/p<k>` answered 200, and one in ten answered 404; every body 512 bytes, so the
/// pipes' `bytes,avg` (an average) is the same however the relay's intervals cut it.
fn log_lines(round: u32) -> String {
    let mut text = String::new();
    for k in 0..KEYS {
        let status = if (k + round as usize).is_multiple_of(10) {
            404
        } else {
            200
        };
        text.push_str(&format!(
            "10.0.{round}.{k} - - [06/Dec/2026:10:00:00 +0000] \"GET /p{k:03} HTTP/1.1\" \
             {status} 512 \"-\" \"curl/8.{round}.0\"\n"
        ));
    }
    text
}

/// Posts round `round`'s access-log lines as a `text/plain` body.
fn push_logs(to: &Target, round: u32) {
    ureq::Agent::new_with_defaults()
        .post(&to.push)
        .header("Content-Type", "text/plain")
        .send(log_lines(round).as_bytes())
        .expect("log lines accepted");
}

/// Every leaf a server holds (`/get/` hides the own `_treestat` metrics).
fn all(base: &str) -> BTreeMap<String, f64> {
    get_values(base, "")
}

fn top_keys(leaves: &BTreeMap<String, f64>) -> BTreeSet<String> {
    leaves
        .keys()
        .map(|p| p.split(',').next().unwrap().to_string())
        .collect()
}

/// The union of the shards' leaves; panics when a top-level key is in two shards.
fn union(shards: &[&Serve]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let mut owner: BTreeMap<String, usize> = BTreeMap::new();
    for (i, s) in shards.iter().enumerate() {
        let leaves = all(&s.base());
        for k in top_keys(&leaves) {
            if let Some(j) = owner.insert(k.clone(), i) {
                panic!("top-level key {k} is in shards {j} and {i}");
            }
        }
        out.extend(leaves);
    }
    out
}

/// Polls until the shards' union equals `want` (up to a limit that only a broken build
/// reaches); shows the difference otherwise.
fn wait_union(shards: &[&Serve], want: &BTreeMap<String, f64>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = union(shards);
        if &got == want {
            return;
        }
        if Instant::now() > deadline {
            let diff: Vec<_> = want
                .iter()
                .filter(|(k, v)| got.get(*k) != Some(v))
                .take(10)
                .collect();
            let extra: Vec<_> = got
                .keys()
                .filter(|k| !want.contains_key(*k))
                .take(10)
                .collect();
            panic!("shards disagree: want != got for {diff:?}; unexpected {extra:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn relay_url(broker: &broker::Broker, exchange: &str) -> String {
    format!("{}?format=tree&sharded=1&exchange={exchange}", broker.url())
}

/// Acceptance 1: every protocol the server takes, pushed into the relay (and the same
/// into one unsharded `serve`): JSON trees over HTTP, TCP and UDP, SimpleStats tuples,
/// Graphite plaintext, StatsD and access-log lines (combined format, through the
/// default pipes at both). Through a front over the three shards, `/get` and folded
/// patterns equal the reference's, and so does `/trend`:
///
/// - EXACT per bucket for the dated workload (JSON `timestamp`, tuples' and Graphite
///   lines' time stamps, half an hour back, within the 2 h retention): the relay
///   forwards each dated sample at its own time, the sharded split keeps each part's
///   header, so every shard files it in the bucket the reference does.
/// - Sums only for what is not dated: StatsD lines (the protocol has no time) and
///   access-log lines (the pipes, at the server as at the relay, file a line's samples
///   in the interval it arrives in, not at the log line's own time), which each path
///   files in the interval it arrives in; every such counter's history adds up to its
///   total.
#[test]
fn three_shards_hold_what_one_engine_holds_each_key_in_one_shard() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(broker) = broker::broker() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let exchange = "treestat.shards.equal";
    let shards: Vec<Serve> = ["a", "b", "c"]
        .iter()
        .map(|n| start_shard(dir.path(), &broker.url(), exchange, n))
        .collect();
    for s in &shards {
        s.wait_consuming();
    }
    let relay = Relay::start(&relay_url(broker, exchange));
    // The unsharded reference takes the same workload directly, on every listener.
    let listen = Listen::all();
    let reference = Serve::start(&conf(dir.path(), "reference", &listen, ""), free_port());
    // Half an hour back: within retention, long before any open interval.
    let t0 = unix_now() - 1800;
    let to_relay = relay.target(Some(t0));
    let to_reference = Target {
        push: format!("{}/push", reference.base()),
        statsd: listen.statsd.clone().unwrap(),
        tcp: listen.tcp.clone(),
        udp: listen.udp.clone(),
        graphite: listen.graphite.clone(),
        dated: Some(t0),
    };
    let mut model = BTreeMap::new();
    for round in 1..=3 {
        push_round(&to_relay, round, &mut model);
        push_round(&to_reference, round, &mut BTreeMap::new());
        push_logs(&to_relay, round);
        push_logs(&to_reference, round);
    }
    // UDP and Graphite land on their own time; log lines are answered once applied.
    let want = wait_for("the reference to hold the whole workload", || {
        let got = all(&reference.base());
        model
            .iter()
            .all(|(k, v)| got.get(k) == Some(v))
            .then_some(got)
    });
    // What the pipes made of the log lines is there too (beside the modelled leaves).
    assert_eq!(want.get("status,2xx,200"), Some(&162.0), "{want:?}");
    assert_eq!(want.get("bytes,avg"), Some(&512.0));
    let refs: Vec<&Serve> = shards.iter().collect();
    wait_union(&refs, &want);
    // The same JSON, leaf for leaf, as the unsharded engine answers.
    assert_eq!(union(&refs), all(&reference.base()));
    // Every shard got some of the top-level keys.
    for s in &shards {
        let keys = top_keys(&all(&s.base()));
        assert!(!keys.is_empty(), "shard on port {} got no key", s.port);
    }
    // Read through one front over the three shards (acceptance 1: relay, broker,
    // shards, front): the same leaves and folds as the unsharded engine.
    let front = Front::start(&refs);
    assert_eq!(all(&front.base), all(&reference.base()));
    for pattern in [
        "*,web,hits",
        "*|sum,web,hits",
        "*|avg,mem",
        "*|max,temp",
        "*|count,req",
        "st*|sum,req",
        "jt*|sum,n",
        "ju*|max,n",
        "ss*|avg,v",
        "gr*|min,v",
        "status,*|sum,*",
        "status,*,*",
    ] {
        let p = pattern.replace('|', "%7C");
        let got = get_values(&front.base, &p);
        assert!(!got.is_empty(), "{pattern}");
        assert_eq!(got, get_values(&reference.base(), &p), "{pattern}");
    }
    // The dated workload: the same points in the same buckets, exactly.
    for pattern in [
        "app*,web,hits",
        "app*,mem",
        "jt*,n",
        "ju*,n",
        "ss*,v",
        "gr*,v",
    ] {
        // The reference's history is written behind its tree: wait for all of it.
        let want = wait_for("the reference's history of the dated workload", || {
            let t = trend(&reference.base(), pattern, t0, t0 + 40);
            (t.len() == KEYS && t.values().all(|p| p.len() == 3)).then_some(t)
        });
        for (path, points) in &want {
            let buckets: Vec<i64> = points.iter().map(|p| p.0).collect();
            assert_eq!(buckets, [t0 + 10, t0 + 20, t0 + 30], "{path}");
        }
        wait_equal(pattern, || trend(&front.base, pattern, t0, t0 + 40), &want);
    }
    // The undated counters (StatsD, the pipes' counts): every one's history through
    // the front adds up to its total.
    let counters: BTreeMap<String, f64> = want
        .iter()
        .filter(|(k, _)| k.ends_with(",req") || k.starts_with("status,") || *k == "bytes,total")
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert!(counters.len() > KEYS, "{counters:?}");
    wait_equal(
        "every undated counter's history adds up to its total",
        || {
            let mut sums = BTreeMap::new();
            for pattern in ["*,req", "status,*,*", "bytes,total"] {
                let from = unix_now() - 3600;
                for (path, points) in trend(&front.base, pattern, from, unix_now() + 60) {
                    sums.insert(path, points.iter().map(|p| p.1).sum::<f64>());
                }
            }
            sums
        },
        &counters,
    );
}

/// `/trend/<pattern>.json` from `from` until `until`, every point: path -> points.
fn trend(base: &str, pattern: &str, from: i64, until: i64) -> BTreeMap<String, Vec<(i64, f64)>> {
    let series = get_json(&format!(
        "{base}/trend/{pattern}.json?from={from}&until={until}&points=0"
    ));
    series
        .as_array()
        .expect("a list of series")
        .iter()
        .map(|s| {
            let points = s["points"]
                .as_array()
                .expect("points")
                .iter()
                .filter_map(|p| Some((p[0].as_i64()?, p[1].as_f64()?)))
                .collect();
            (s["path"].as_str().expect("path").to_string(), points)
        })
        .collect()
}

/// Polls `probe` until it equals `want` (120 s at most, far beyond a normal run), then
/// asserts equality (showing the difference when it never came).
fn wait_equal<T: PartialEq + std::fmt::Debug>(what: &str, probe: impl Fn() -> T, want: &T) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = probe();
        if &got == want || Instant::now() > deadline {
            assert_eq!(&got, want, "{what}");
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A `treestat front` over `shards`, with a deadline no loaded machine misses.
struct Front {
    base: String,
    child: Child,
}

impl Front {
    fn start(shards: &[&Serve]) -> Front {
        let port = free_port();
        let list: Vec<String> = shards.iter().map(|s| s.base()).collect();
        let child = Command::new(env!("CARGO_BIN_EXE_treestat"))
            .arg("front")
            .args(["--shards", &list.join(",")])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--deadline", "10s"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("treestat front starts");
        let base = format!("http://127.0.0.1:{port}");
        wait_for("the front's HTTP", || {
            ureq::get(&format!("{base}/health")).call().ok()
        });
        Front { base, child }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UDP port nobody uses right now (for a process that binds it itself).
fn free_port_udp() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[path = "shards_e2e/faults.rs"]
mod faults;
