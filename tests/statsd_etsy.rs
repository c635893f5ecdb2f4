//! StatsD number for number (issue 15, acceptance 1): the same traffic sent to Etsy's
//! statsd (the npm package `statsd`, run by node) and to treestat, and every statistic
//! of the interval compared.
//!
//! Etsy's graphite backend flushes to a TCP listener of this test, so its values are
//! read exactly, as the Graphite lines it writes. treestat is read over `/trend` with
//! `points=0`, one point per interval.
//!
//! The traffic is one datagram: each server handles a datagram in one go, so all of it
//! falls in one flush of Etsy's and in one interval of treestat's, whatever the timing
//! (no clock alignment to hope for). The next flush / interval, with no traffic, shows
//! what is kept across intervals (gauges).
//!
//! Etsy's statsd is looked for in `$TREESTAT_ETSY_DIR` (default
//! `/tmp/treestat-etsy-statsd`, where `bench/run-listeners.sh` and `.ci/run` install
//! it) and installed there with npm when missing; when node or npm cannot provide it,
//! the test says so and passes without comparing.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use treestat::server::Server;

use crate::common;

/// Etsy's `flushInterval` and treestat's `interval`, in seconds: the same, so that
/// per-second rates divide by the same length.
const FLUSH_SECS: u64 = 2;

/// The version compared with (`.ci/run` installs the same).
const ETSY_PACKAGE: &str = "statsd@0.9.0";

/// The Graphite lines of one flush: name -> value.
type Flush = BTreeMap<String, f64>;

fn etsy_dir() -> PathBuf {
    std::env::var_os("TREESTAT_ETSY_DIR")
        .map_or_else(|| PathBuf::from("/tmp/treestat-etsy-statsd"), PathBuf::from)
}

/// Etsy's `stats.js`, installed with npm if it is not there yet; `Err` says why not.
fn find_or_install_etsy() -> Result<PathBuf, String> {
    let dir = etsy_dir();
    let js = dir.join("node_modules/statsd/stats.js");
    if js.is_file() {
        return Ok(js);
    }
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => return Err("node is not on this machine".into()),
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // npm retries an unreachable registry for minutes: bounded here.
    let mut npm = Command::new("npm")
        .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .arg(ETSY_PACKAGE)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run npm: {e}"))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = npm.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = npm.kill();
            let _ = npm.wait();
            return Err(format!("npm install {ETSY_PACKAGE} took over 300 s"));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if !status.success() || !js.is_file() {
        return Err(format!("npm install {ETSY_PACKAGE} failed ({status})"));
    }
    Ok(js)
}

/// Etsy's statsd as a child process, killed when dropped.
struct Etsy(Child);

impl Drop for Etsy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Graphite receiver: every connection (Etsy opens one per flush) read to its end,
/// its lines parsed and sent as one [`Flush`].
fn graphite_receiver() -> (u16, mpsc::Receiver<Flush>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut text = String::new();
            if conn.read_to_string(&mut text).is_err() {
                continue;
            }
            let flush: Flush = text
                .lines()
                .filter_map(|l| {
                    let mut f = l.split(' ');
                    let (name, value) = (f.next()?, f.next()?);
                    Some((name.to_string(), value.parse().ok()?))
                })
                .collect();
            if tx.send(flush).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

fn start_etsy(js: &Path, dir: &Path, udp: u16, graphite: u16) -> Etsy {
    let conf = dir.join("etsy.js");
    std::fs::write(
        &conf,
        format!(
            "{{ address: \"127.0.0.1\", port: {udp}, mgmt_address: \"127.0.0.1\", \
             mgmt_port: {mgmt}, flushInterval: {ms}, percentThreshold: [90, -10], \
             backends: [\"./backends/graphite\"], graphiteHost: \"127.0.0.1\", \
             graphitePort: {graphite}, deleteIdleStats: false, \
             histogram: [{{ metric: \"etsy.rt\", bins: [100, 500.5, \"inf\"] }}, \
             {{ metric: \"odd\", bins: [0.5, 250] }}] }}\n",
            mgmt = common::free_port(),
            ms = FLUSH_SECS * 1000,
        ),
    )
    .unwrap();
    let child = Command::new("node")
        .arg(js)
        .arg(&conf)
        .current_dir(js.parent().unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs");
    Etsy(child)
}

/// A small deterministic generator (the traffic is the same on every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// The traffic, as one datagram: a timer (some of it sampled), counters with sample
/// rates (Etsy multiplies by `1 / rate`, which can differ from dividing in the last
/// bit), gauges set and moved by deltas (one that starts with a delta), and a set with
/// repeated members.
fn traffic() -> String {
    let mut r = Lcg(15);
    let mut lines = Vec::new();
    for i in 0..300 {
        // Quarters: sums of them are exact in any order, so Etsy's sorted sums and
        // treestat's arrival-order sums are the same numbers.
        #[allow(clippy::cast_precision_loss)]
        let v = r.next(4000) as f64 / 4.0;
        let rate = if i % 3 == 0 { "|@0.5" } else { "" };
        lines.push(format!("etsy.lat:{v}|ms{rate}"));
        // The same without sample rates: Etsy's `count` is then the number of samples.
        lines.push(format!("etsy.rt:{v}|ms"));
    }
    for _ in 0..200 {
        // Sevenths: their sums depend on the order (Etsy sums them sorted), and every
        // line is sampled at 0.3, so `count` is a sum of 3.3333333333333335s.
        #[allow(clippy::cast_precision_loss)]
        let v = r.next(7000) as f64 / 7.0;
        lines.push(format!("etsy.odd:{v}|ms|@0.3"));
    }
    for _ in 0..100 {
        let v = 1 + r.next(5);
        let rate = ["", "|@0.5", "|@0.25", "|@0.1"][usize::try_from(r.next(4)).unwrap()];
        lines.push(format!("etsy.hits:{v}|c{rate}"));
    }
    lines.push("etsy.multi:2|c:5|c|@0.25".into());
    // 3 / 0.9 is 3.333333333333333, 3 * (1 / 0.9) is 3.3333333333333335.
    lines.push("etsy.ninth:3|c|@0.9".into());
    lines.extend(["20", "+5", "-3", "+0.5", "-0.25"].map(|v| format!("etsy.temp:{v}|g")));
    lines.extend(["-4", "+1"].map(|v| format!("etsy.level:{v}|g")));
    for _ in 0..200 {
        lines.push(format!("etsy.users:u{}|s", r.next(50)));
    }
    lines.join("\n")
}

/// The first flush that holds `name`, within two minutes.
fn flush_with(rx: &mpsc::Receiver<Flush>, name: &str) -> Flush {
    loop {
        let f = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("Etsy's statsd flushes");
        if f.contains_key(name) {
            return f;
        }
    }
}

/// `/trend/<pattern>.json?points=0` as leaf -> (interval start -> value).
fn trend(base: &str, pattern: &str) -> BTreeMap<String, BTreeMap<i64, f64>> {
    let series = common::get_json(&format!("{base}/trend/{pattern}.json?from=-10m&points=0"));
    let mut out = BTreeMap::new();
    for s in series.as_array().unwrap() {
        let path = s["path"].as_str().unwrap().to_string();
        let points = s["points"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| Some((p[0].as_i64()?, p[1].as_f64()?)))
            .collect();
        out.insert(path, points);
    }
    out
}

/// `/trend/<path>.json?points=0&stat=<stats>` of one leaf: interval start -> values.
fn trend_stats(base: &str, path: &str, stats: &[&str]) -> BTreeMap<i64, Vec<Option<f64>>> {
    let series = common::get_json(&format!(
        "{base}/trend/{path}.json?from=-10m&points=0&stat={}",
        stats.join(",")
    ));
    let s = &series[0];
    assert_eq!(s["path"], path, "{series}");
    s["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let p = p.as_array().unwrap_or_else(|| panic!("{series}"));
            let vals = p[1..].iter().map(serde_json::Value::as_f64).collect();
            #[allow(clippy::cast_possible_truncation)] // whole seconds
            let t = p[0].as_f64().unwrap_or_else(|| panic!("{series}")) as i64;
            (t, vals)
        })
        .collect()
}

fn stat_at(got: &BTreeMap<i64, Vec<Option<f64>>>, t: i64, i: usize) -> f64 {
    got.get(&t)
        .and_then(|v| v[i])
        .unwrap_or_else(|| panic!("no value {i} at {t}: {got:?}"))
}

#[test]
fn statsd_matches_etsy_statsd_number_for_number() {
    let js = match find_or_install_etsy() {
        Ok(js) => js,
        Err(why) => {
            eprintln!("SKIPPED: Etsy's statsd is not available ({why}); nothing compared");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let datagram = traffic();
    assert!(datagram.len() < 60_000, "one datagram: {}", datagram.len());
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();

    // Etsy: wait for a flush (it is up), send, take the flush that holds the traffic
    // and the one after it.
    let (graphite, flushes) = graphite_receiver();
    let etsy_udp = free_udp_port();
    let _etsy = start_etsy(&js, dir.path(), etsy_udp, graphite);
    flush_with(&flushes, "statsd.numStats");
    sender
        .send_to(datagram.as_bytes(), ("127.0.0.1", etsy_udp))
        .unwrap();
    let etsy = flush_with(&flushes, "stats_counts.etsy.hits");
    let etsy_next = flush_with(&flushes, "stats_counts.etsy.hits");
    drop(_etsy);

    // treestat: the same datagram, then two closed intervals.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut c = common::quiet_config(&dir.path().join("data"));
    c.listen.statsd = "127.0.0.1:0".into();
    c.listen.statsd_percent_threshold = vec![90.0, -10.0];
    c.listen.statsd_histogram = toml::from_str::<treestat_engine::listen::ListenConfig>(
        "[[statsd_histogram]]\nmetric = \"etsy.rt\"\nbins = [100, 500.5, \"inf\"]\n\
         [[statsd_histogram]]\nmetric = \"odd\"\nbins = [0.5, 250]\n",
    )
    .unwrap()
    .statsd_histogram;
    c.engine.interval = Duration::from_secs(FLUSH_SECS);
    c.trend = toml::from_str(&format!("retention = \"{FLUSH_SECS}s:2h\"\nqueue = 4096")).unwrap();
    let server = rt.block_on(Server::start(c)).unwrap();
    let base = common::base(&server);
    sender
        .send_to(datagram.as_bytes(), server.bound.statsd.unwrap())
        .unwrap();
    let len = i64::try_from(FLUSH_SECS).unwrap();
    // The server's own counters get a point in every interval: once one is there for
    // the interval after the traffic's, both intervals are in the store.
    let (t, ours) = common::wait_for("the traffic's interval and the next", || {
        let got = trend(&base, "etsy,*");
        let &t = got.get("etsy,hits")?.keys().next()?;
        let own = trend(&base, "_treestat,listen,statsd,lines");
        own.get("_treestat,listen,statsd,lines")?.get(&(t + len))?;
        Some((t, trend(&base, "etsy,*")))
    });
    let at = |leaf: &str, ts: i64| -> f64 {
        *ours
            .get(leaf)
            .and_then(|p| p.get(&ts))
            .unwrap_or_else(|| panic!("{leaf} has no point at {ts}: {ours:?}"))
    };
    let etsy_at = |f: &Flush, name: &str| -> f64 {
        *f.get(name)
            .unwrap_or_else(|| panic!("Etsy flushed no {name}: {f:?}"))
    };

    let mut compared = Vec::new();
    let mut check = |what: &str, etsy: f64, ours: f64| {
        compared.push(format!("{what}: etsy {etsy} treestat {ours}"));
        assert_eq!(
            ours.to_bits(),
            etsy.to_bits(),
            "{what}: etsy {etsy}, treestat {ours}"
        );
    };
    // Counters: `stats_counts.<name>` is the interval's value.
    for name in ["hits", "multi", "ninth"] {
        check(
            &format!("stats_counts.etsy.{name}"),
            etsy_at(&etsy, &format!("stats_counts.etsy.{name}")),
            at(&format!("etsy,{name}"), t),
        );
    }
    // Gauges: the interval's value, and the next interval's without traffic.
    for name in ["temp", "level"] {
        let g = format!("stats.gauges.etsy.{name}");
        check(&g, etsy_at(&etsy, &g), at(&format!("etsy,{name}"), t));
        check(
            &format!("{g} (next flush)"),
            etsy_at(&etsy_next, &g),
            at(&format!("etsy,{name}"), t + len),
        );
    }
    // Sets: distinct members of the interval.
    check(
        "stats.sets.etsy.users.count",
        etsy_at(&etsy, "stats.sets.etsy.users.count"),
        at("etsy,users", t),
    );
    // Timers: the mean is a timer's plain value in the interval (of sums exact in any
    // order; `odd`'s plain mean sums in arrival order, its `stat=mean` below as Etsy).
    for name in ["lat", "rt"] {
        check(
            &format!("stats.timers.etsy.{name}.mean"),
            etsy_at(&etsy, &format!("stats.timers.etsy.{name}.mean")),
            at(&format!("etsy,{name}"), t),
        );
    }
    // Counters' per-second rates (Etsy's `stats.<name>`) and Etsy's timer statistics,
    // read per interval: `/trend?points=0&stat=...`, the interval of the traffic. Every
    // one bit for bit: the stored interval keeps a sampled timer's weighed `count`
    // (Etsy's sum of 1 / rate) and, computed from the interval's raw samples at close,
    // every Etsy statistic its sketch would answer otherwise (`median`, the threshold
    // statistics, sums in Etsy's sorted order for `odd`).
    for name in ["hits", "multi", "ninth"] {
        let got = trend_stats(&base, &format!("etsy,{name}"), &["rate"]);
        check(
            &format!("stats.etsy.{name}"),
            etsy_at(&etsy, &format!("stats.etsy.{name}")),
            stat_at(&got, t, 0),
        );
    }
    let stats = [
        "count",
        "count_ps",
        "sum",
        "mean",
        "lower",
        "upper",
        "sum_squares",
        "median",
        "std",
        "upper_90",
        "mean_90",
        "sum_90",
        "count_90",
        "sum_squares_90",
        "lower_top10",
        "mean_top10",
        "sum_top10",
        "count_top10",
        "sum_squares_top10",
    ];
    for timer in ["rt", "lat", "odd"] {
        let got = trend_stats(&base, &format!("etsy,{timer}"), &stats);
        for (i, stat) in stats.iter().enumerate() {
            let name = format!("stats.timers.etsy.{timer}.{stat}");
            check(&name, etsy_at(&etsy, &name), stat_at(&got, t, i));
        }
    }
    // Etsy's histogram bins (`histogram: [{ metric, bins }]`), per interval.
    for (timer, bins) in [
        ("rt", &["bin_100", "bin_500_5", "bin_inf"][..]),
        ("odd", &["bin_0_5", "bin_250"][..]),
    ] {
        let got = trend_stats(&base, &format!("etsy,{timer}"), bins);
        for (i, bin) in bins.iter().enumerate() {
            let name = format!("stats.timers.etsy.{timer}.histogram.{bin}");
            check(&name, etsy_at(&etsy, &name), stat_at(&got, t, i));
        }
    }
    // The same from the engine's ring: `/api/q?window=` over a window that holds the
    // timer's one interval, whose raw samples it still has.
    for timer in ["rt", "lat", "odd"] {
        let q = common::get_json(&format!(
            "{base}/api/q/etsy,{timer}.json?window=600s&stat={}",
            stats.join(",")
        ));
        for stat in stats {
            let name = format!("stats.timers.etsy.{timer}.{stat}");
            let ours = q["etsy"][timer][stat]
                .as_f64()
                .unwrap_or_else(|| panic!("no {stat} in {q}"));
            if stat == "count_ps" {
                // Over the window's intervals, not one flush.
                continue;
            }
            check(&format!("{name} (window)"), etsy_at(&etsy, &name), ours);
        }
    }
    // And the bins from the ring's window (`null` there before).
    for (timer, bins) in [
        ("rt", &["bin_100", "bin_500_5", "bin_inf"][..]),
        ("odd", &["bin_0_5", "bin_250"][..]),
    ] {
        let q = common::get_json(&format!(
            "{base}/api/q/etsy,{timer}.json?window=600s&stat={}",
            bins.join(",")
        ));
        for bin in bins {
            let name = format!("stats.timers.etsy.{timer}.histogram.{bin}");
            let ours = q["etsy"][timer][bin]
                .as_f64()
                .unwrap_or_else(|| panic!("no {bin} in {q}"));
            check(&format!("{name} (window)"), etsy_at(&etsy, &name), ours);
        }
    }
    eprintln!("compared:\n  {}", compared.join("\n  "));
    common::stop(&rt, server);
}
