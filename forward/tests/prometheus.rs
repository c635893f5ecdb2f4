//! Against a real Prometheus (Debian's, 2.42) with `--web.enable-remote-write-receiver`:
//! its query API returns the forwarded points under the documented labels (`path`,
//! `l1`, `l2`, ..., `stat`, the configured ones); a Prometheus started after the
//! forwarder gets every buffered point; a batch it refuses (out of order) is counted
//! and not sent again, and later points still go.

use serde_json::json;
use treestat_forward::Kind;

use crate::common::receivers::Prometheus;
use crate::common::{close, config, engine, forwarder, free_port, now, wait_for};

#[test]
fn the_query_api_returns_the_points_and_labels() {
    if !Prometheus::available() {
        return;
    }
    let prom = Prometheus::start(free_port());
    let (e, clock, t0) = engine();
    let mut c = config(Kind::Prometheus, &prom.write_url());
    c.labels.insert("instance".into(), "edge1".into());
    c.histogram_stats = vec!["count".into(), "p99".into()];
    let (f, _t) = forwarder(&e, &c);
    for i in 0..3 {
        e.push_json(
            format!(
                r#"{{"cpu":{{"10.3.1.12":{{"idle":{}}},"b":{{"idle":1.5}}}},
                    "api":{{"default_action":"histogram","latency":[10,20,{}]}}}}"#,
                90 + i,
                30 + i
            )
            .as_bytes(),
        )
        .unwrap();
        close(&e, &clock);
    }
    wait_for("every point sent", || {
        (f.stats().sent == 3 * (2 + 3)).then_some(())
    });
    let got = prom.samples(r#"treestat{l1="cpu",l3="idle"}"#, now());
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        got[0].0,
        json!({"__name__": "treestat", "instance": "edge1", "path": "cpu,10.3.1.12,idle",
               "l1": "cpu", "l2": "10.3.1.12", "l3": "idle"})
    );
    assert_eq!(got[0].1, [(t0, 90.0), (t0 + 10, 91.0), (t0 + 20, 92.0)]);
    assert_eq!(got[1].0["path"], "cpu,b,idle");
    assert_eq!(got[1].1, [(t0, 1.5), (t0 + 10, 1.5), (t0 + 20, 1.5)]);
    // The histogram: its mean without `stat`, its stats with one.
    let mean = prom.samples(r#"treestat{path="api,latency",stat=""}"#, now());
    assert_eq!(
        mean[0].1,
        [
            (t0, 20.0),
            (t0 + 10, 20.0 + 1.0 / 3.0),
            (t0 + 20, 20.0 + 2.0 / 3.0)
        ]
    );
    let count = prom.samples(r#"treestat{path="api,latency",stat="count"}"#, now());
    assert_eq!(count[0].1, [(t0, 3.0), (t0 + 10, 3.0), (t0 + 20, 3.0)]);
    assert_eq!(count[0].0["stat"], "count");
    let p99 = prom.samples(r#"treestat{path="api,latency",stat="p99"}"#, now());
    let p99: Vec<i64> = p99[0].1.iter().map(|p| p.0).collect();
    assert_eq!(p99, [t0, t0 + 10, t0 + 20]);
    // A PromQL fold over a level.
    let sum = prom.query(
        &format!("sum by (l3) (treestat{{l1=\"cpu\"}} @ {})", t0 + 10),
        now(),
    );
    assert_eq!(sum[0]["value"][1], "92.5");
}

#[test]
fn prometheus_started_late_gets_every_buffered_point() {
    if !Prometheus::available() {
        return;
    }
    let port = free_port();
    let (e, clock, t0) = engine();
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let (f, _t) = forwarder(&e, &config(Kind::Prometheus, &url));
    for i in 0..6 {
        e.push_json(format!(r#"{{"default_action":"add","svc":{{"req":{i}}}}}"#).as_bytes())
            .unwrap();
        close(&e, &clock);
    }
    wait_for("failed sends", || {
        (f.stats().errors >= 1 && f.stats().buffered_points == 6).then_some(())
    });
    let prom = Prometheus::start(port);
    wait_for("every point sent", || (f.stats().sent == 6).then_some(()));
    let got = prom.samples(r#"treestat{path="svc,req"}"#, now());
    #[allow(clippy::cast_precision_loss)]
    let want: Vec<(i64, f64)> = (0..6).map(|i| (t0 + 10 * i, i as f64)).collect();
    assert_eq!(got[0].1, want);
}

#[test]
fn a_refused_batch_is_counted_and_not_sent_again() {
    if !Prometheus::available() {
        return;
    }
    let prom = Prometheus::start(free_port());
    // Two engines write the same series; the second's clock is behind the first's,
    // so its point is out of order for Prometheus (400).
    let (ahead, ahead_clock, t0) = engine();
    let (behind, behind_clock, _) = engine();
    ahead_clock.advance(300);
    ahead.close_now();
    let (f1, _t1) = forwarder(&ahead, &config(Kind::Prometheus, &prom.write_url()));
    ahead.push_json(br#"{"x":1}"#).unwrap();
    close(&ahead, &ahead_clock);
    wait_for("the first point", || (f1.stats().sent == 1).then_some(()));
    let mut c = config(Kind::Prometheus, &prom.write_url());
    c.batch = 1;
    let (f2, _t2) = forwarder(&behind, &c);
    behind.push_json(br#"{"x":2,"y":3}"#).unwrap();
    close(&behind, &behind_clock);
    wait_for("one refused, one sent", || {
        let s = f2.stats();
        (s.rejected == 1 && s.sent == 1).then_some(())
    });
    assert_eq!(f2.stats().errors, 0);
    assert_eq!(
        prom.samples(r#"treestat{path="x"}"#, now())[0].1,
        [(t0 + 300, 1.0)]
    );
    assert_eq!(
        prom.samples(r#"treestat{path="y"}"#, now())[0].1,
        [(t0, 3.0)]
    );
}
