//! Hand-off of history through the real `treestat serve` (issue 16, acceptance 3):
//! `--forward tcp://...` to a real carbon-cache; the whisper file holds exactly the
//! points `/trend` answers for the leaf, the counters show at `/metrics` and under
//! `_treestat,forward,...`; and SIGTERM sends the interval it closes on the way out.
//! `--forward http://.../api/v1/write` to a real Prometheus: its query API returns
//! exactly the points `/trend` answers.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, free_port, get_json, get_text, wait_for};

/// The forward crate's carbon-cache harness, shared (its `super::free_port` and
/// `super::wait_for` are this file's imports of the common ones).
#[allow(dead_code, reason = "some helpers are the forward crate's only")]
#[path = "../forward/tests/common/receivers.rs"]
mod receivers;
use receivers::{Carbon, Prometheus};

/// A `treestat serve` child, killed if the test ends without stopping it.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `treestat serve` with HTTP on `http`, the push listeners and host modules off,
/// `interval`, the trend store's finest archive one `interval` long (so `/trend` with
/// `points=0` answers one point per interval, as forwarded), and `--forward`.
fn serve(data: &std::path::Path, http: u16, interval: &str, forward: &str) -> Serve {
    let conf = data.join("treestat.toml");
    std::fs::write(&conf, format!("[trend]\nretention = \"{interval}:1d\"\n")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_treestat"))
        .arg("serve")
        .arg("--conf")
        .arg(&conf)
        .arg("--data")
        .arg(data.join("data"))
        .args(["--http", &format!("127.0.0.1:{http}")])
        .args([
            "--tcp",
            "off",
            "--udp",
            "off",
            "--statsd",
            "off",
            "--graphite",
            "off",
        ])
        .args(["--no-agent", "--interval", interval, "--forward", forward])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Serve(child)
}

fn push(http: u16, body: &str) {
    let mut r = ureq::post(&format!("http://127.0.0.1:{http}/push"))
        .header("content-type", "application/json")
        .send(body)
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "{}",
        r.body_mut().read_to_string().unwrap()
    );
}

fn sigterm(serve: &mut Serve) -> std::process::ExitStatus {
    let child = &mut serve.0;
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("still running 60 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn whisper_holds_what_trend_shows_and_the_counters_are_published() {
    if !Carbon::available() {
        return;
    }
    let carbon = Carbon::start_step(free_port(), 1);
    let dir = tempfile::tempdir().unwrap();
    let http = free_port();
    let mut child = serve(
        dir.path(),
        http,
        "1s",
        &format!("tcp://127.0.0.1:{}", carbon.port),
    );
    let base = format!("http://127.0.0.1:{http}");
    wait_for("the server", || {
        ureq::get(&format!("{base}/health")).call().ok().map(|_| ())
    });
    for v in [5, 7, 11] {
        push(
            http,
            &format!(r#"{{"default_action":"add","svc":{{"req":{v}}}}}"#),
        );
        std::thread::sleep(Duration::from_millis(1100));
    }
    // Every point /trend holds for the leaf is in the whisper file, and nothing else.
    let trend = wait_for("three pushes in /trend", || {
        let t = get_json(&format!("{base}/trend/svc,req.json?points=0&from=-1h"));
        let pts: Vec<(i64, f64)> = t[0]["points"]
            .as_array()?
            .iter()
            .map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap()))
            .collect();
        (pts.iter().map(|p| p.1).sum::<f64>() == 23.0).then_some(pts)
    });
    let (from, until) = (trend[0].0, trend.last().unwrap().0);
    carbon.wait_points("svc.req", from, until, &trend);
    // The counters, at /metrics and in the tree.
    let metrics = get_text(&format!("{base}/metrics"));
    let sent = metrics
        .lines()
        .find_map(|l| l.strip_prefix("treestat_forward_sent_points_total{target=\"graphite0\"} "))
        .unwrap_or_else(|| panic!("no sent counter in\n{metrics}"));
    assert!(sent.parse::<f64>().unwrap() >= 3.0, "{sent}");
    for name in [
        "treestat_forward_dropped_points_total",
        "treestat_forward_send_errors_total",
        "treestat_forward_buffered_bytes",
    ] {
        assert!(
            metrics.contains(&format!("{name}{{target=\"graphite0\"}}")),
            "{name}"
        );
    }
    wait_for("the counters in the tree", || {
        let v = common::get_values(&base, "_treestat,forward,graphite0,**");
        v.contains_key("_treestat,forward,graphite0,sent_points")
            .then_some(())
    });
    assert!(sigterm(&mut child).success());
}

#[test]
fn prometheus_returns_what_trend_shows() {
    if !Prometheus::available() {
        return;
    }
    let prom = Prometheus::start(free_port());
    let dir = tempfile::tempdir().unwrap();
    let http = free_port();
    let mut child = serve(dir.path(), http, "1s", &prom.write_url());
    let base = format!("http://127.0.0.1:{http}");
    wait_for("the server", || {
        ureq::get(&format!("{base}/health")).call().ok().map(|_| ())
    });
    for v in [5, 7, 11] {
        push(
            http,
            &format!(r#"{{"default_action":"add","svc":{{"web":{{"req":{v}}}}}}}"#),
        );
        std::thread::sleep(Duration::from_millis(1100));
    }
    let trend = wait_for("three pushes in /trend", || {
        let t = get_json(&format!("{base}/trend/svc,web,req.json?points=0&from=-1h"));
        let pts: Vec<(i64, f64)> = t[0]["points"]
            .as_array()?
            .iter()
            .map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap()))
            .collect();
        (pts.iter().map(|p| p.1).sum::<f64>() == 23.0).then_some(pts)
    });
    // The same points, under the documented labels.
    let got = wait_for("Prometheus to hold the points", || {
        let s = prom.samples(r#"treestat{path="svc,web,req"}"#, common_now() + 5);
        (s.len() == 1 && s[0].1 == trend).then_some(s)
    });
    assert_eq!(got[0].0["l1"], "svc");
    assert_eq!(got[0].0["l2"], "web");
    assert_eq!(got[0].0["l3"], "req");
    assert!(sigterm(&mut child).success());
}

#[test]
fn sigterm_sends_the_interval_it_closes() {
    if !Carbon::available() {
        return;
    }
    let carbon = Carbon::start_step(free_port(), 3600);
    let dir = tempfile::tempdir().unwrap();
    let http = free_port();
    // An hour-long interval: only the close at shutdown can send this point.
    let mut child = serve(
        dir.path(),
        http,
        "1h",
        &format!("tcp://127.0.0.1:{}", carbon.port),
    );
    wait_for("the server", || {
        ureq::get(&format!("http://127.0.0.1:{http}/health"))
            .call()
            .ok()
            .map(|_| ())
    });
    let before = common_now() / 3600 * 3600;
    push(http, r#"{"default_action":"add","last":{"words":42}}"#);
    let after = common_now() / 3600 * 3600;
    assert!(sigterm(&mut child).success());
    // The hour the push fell in (`before` unless an hour began during the push).
    wait_for("the point in whisper", || {
        let got = carbon.fetch("last.words", before, after);
        (got.len() == 1 && got[0].1 == 42.0 && [before, after].contains(&got[0].0)).then_some(())
    });
}

fn common_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

#[test]
fn a_bad_or_twice_named_target_stops_the_start_naming_it() {
    use treestat::server::Server;
    use treestat_forward::{ForwardConfig, Kind};

    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let start = |forward: Vec<ForwardConfig>| {
        let mut c = common::quiet_config(dir.path());
        c.forward = forward;
        format!("{:#}", rt.block_on(Server::start(c)).unwrap_err())
    };
    let mut f = ForwardConfig::new(Kind::Graphite, "tcp://127.0.0.1:1");
    f.name = Some("lts".into());
    let e = start(vec![f.clone(), f.clone()]);
    assert!(
        e.contains("[[forward]] number 2") && e.contains("named \"lts\""),
        "{e}"
    );
    f.pattern = "cpu,*|sum".into();
    let e = start(vec![f]);
    assert!(
        e.contains("[[forward]] number 1") && e.contains("folds"),
        "{e}"
    );
}
