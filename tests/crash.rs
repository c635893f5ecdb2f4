//! Crash safety of the real `treestat serve` process (issue 5, acceptance 2): killed
//! with SIGKILL under a push load, restarted on the same data directory, it has every
//! point of every interval it had persisted, and its `/get` totals equal the sum of what
//! was acknowledged in those intervals. At most the open interval (and one closed but
//! not yet flushed) may be lost. The write-ahead log is off here: this is the trend
//! store's own guarantee (tests/wal.rs checks what the log adds).

use std::collections::BTreeMap;
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common;

use common::free_port;

fn now_f() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn start(conf: &std::path::Path, port: u16) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_treestat"))
        .args(["serve", "--conf"])
        .arg(conf)
        .args(["--http", &format!("127.0.0.1:{port}"), "--no-agent"])
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while ureq::get(&format!("http://127.0.0.1:{port}/get/x"))
        .call()
        .is_err()
    {
        assert!(Instant::now() < deadline, "the server did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

#[test]
fn sigkill_under_load_loses_at_most_the_open_interval() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("treestat.toml");
    std::fs::write(
        &conf,
        format!(
            "[server]\ndata = {:?}\n[listen]\ntcp = \"off\"\nudp = \"off\"\nstatsd = \"off\"\ngraphite = \"off\"\n\
             [engine]\ninterval = \"1s\"\nwal = \"off\"\n[trend]\nretention = \"1s:1h,1m:1d\"\ncompact_after = \"1h\"\n",
            dir.path().join("data")
        ),
    )
    .unwrap();
    let port = free_port();
    let mut server = start(&conf, port);
    let url = format!("http://127.0.0.1:{port}/push");
    let agent = ureq::Agent::new_with_defaults();
    // Push only in the middle of each second, so the second an acknowledgement arrives
    // in is the interval the push was merged into.
    let mut acked: BTreeMap<i64, u64> = BTreeMap::new();
    let begin = now_f();
    let kill_at = begin.floor() + 4.5;
    while now_f() < kill_at {
        let t = now_f();
        let frac = t - t.floor();
        if !(0.2..0.8).contains(&frac) {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let ok = agent
            .post(&url)
            .header("content-type", "application/json")
            .send(r#"{"default_action":"add","load":{"n":1}}"#)
            .is_ok();
        let t_ack = now_f();
        if ok && t_ack - t_ack.floor() < 0.9 {
            #[allow(clippy::cast_possible_truncation)] // seconds since 1970 fit i64
            let second = t_ack.floor() as i64;
            *acked.entry(second).or_default() += 1;
        }
    }
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    assert!(
        acked.len() >= 4,
        "pushes in at least four intervals: {acked:?}"
    );

    let mut again = start(&conf, port);
    let base = format!("http://127.0.0.1:{port}");
    let first = *acked.keys().next().unwrap();
    let trend: serde_json::Value = serde_json::from_str(
        &ureq::get(&format!(
            "{base}/trend/load,n.json?from={}&until=now&points=0",
            first - 10
        ))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap(),
    )
    .unwrap();
    let points: BTreeMap<i64, u64> = trend[0]["points"]
        .as_array()
        .expect("a series after the restart")
        .iter()
        .map(|p| {
            let v = p[1].as_f64().unwrap();
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // small counts
            let n = v as u64;
            (p[0].as_i64().unwrap(), n)
        })
        .collect();
    // Every persisted interval holds exactly what was acknowledged in it ...
    for (ts, n) in &points {
        assert_eq!(
            acked.get(ts),
            Some(n),
            "interval {ts}: {points:?} vs {acked:?}"
        );
    }
    // ... the persisted ones are the first ones, all but at most the last two ...
    let persisted: Vec<i64> = points.keys().copied().collect();
    let expected: Vec<i64> = acked.keys().copied().take(persisted.len()).collect();
    assert_eq!(persisted, expected, "persisted intervals are a prefix");
    assert!(
        persisted.len() + 2 >= acked.len(),
        "lost more than the open interval: {points:?} vs {acked:?}"
    );
    // ... and the restored totals are their sum.
    let total: u64 = points.values().sum();
    let get: serde_json::Value = serde_json::from_str(
        &ureq::get(&format!("{base}/get/load,n"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap(),
    )
    .unwrap();
    #[allow(clippy::cast_precision_loss)]
    let want = serde_json::json!([["load,n", total as f64]]);
    assert_eq!(get, want);
    again.kill().unwrap();
    again.wait().unwrap();
}
