//! The front's own HTTP robustness: a request head that trickles in is cut off after
//! `--header-timeout` (slowloris), as on a server; readers waiting on `/pull` and
//! `/events` hold no OS thread per shard.

use std::io::{Read, Write};

use super::*;

/// The front's counter `name` (summed over its labels).
fn counter(base: &str, name: &str) -> f64 {
    let text = ureq::get(&format!("{base}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The number of threads of a process (`/proc/<pid>/status`).
fn threads(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_trickled_request_head_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let shard = serve(&dir.path().join("s0"));
    let front = front_args(&[&shard], "10s", None, &["--header-timeout", "1s"]);
    let addr = front.base.strip_prefix("http://").unwrap();
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    // Half a request head, then nothing: the front must close the connection. (Before,
    // the front's server had no header timer and held it open for ever; the read below
    // then ended on its own 60 s timeout with an error, not with the close.)
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut buf = Vec::new();
    let read = conn.read_to_end(&mut buf);
    assert!(read.is_ok(), "the connection was not closed: {read:?}");
    // The count lands just after the close.
    wait_for("the header timeout counted", || {
        (counter(&front.base, "treestat_front_header_timeouts_total") == 1.0).then_some(())
    });
    // A whole request still answers.
    let (v, _) = get(&format!("{}/health", front.base));
    assert_eq!(v["status"], "ok");
}

#[test]
fn waiting_readers_hold_no_thread_per_shard() {
    let c = cluster("10s");
    let pid = c.front.child.id();
    let readers = 40;
    let (_, cursor, _) = live::pull(&format!("{}/pull/*,zz?timeout=0s", c.front.base));
    let before = counter(&c.front.base, "treestat_front_shard_requests_total");
    let waiting: Vec<_> = (0..readers)
        .map(|_| {
            let url = format!("{}/pull/*,zz?timeout=120s&cursor={cursor}", c.front.base);
            std::thread::spawn(move || live::pull(&url))
        })
        .collect();
    // Every poll is out to every shard.
    let shards = c.shards.len();
    wait_for("every poll to reach every shard", || {
        let sent = counter(&c.front.base, "treestat_front_shard_requests_total") - before;
        (sent >= (readers * shards) as f64).then_some(())
    });
    // 120 polls waiting; with a blocking call each, the front held 120 threads and more.
    let n = threads(pid);
    assert!(
        n < readers,
        "{n} threads for {readers} readers over {shards} shards"
    );
    push(&c.shards[c.owner[7]].base, r#"{"k07":{"zz":1}}"#);
    for w in waiting {
        let (status, _, v) = w.join().unwrap();
        assert_eq!((status, v), (200, serde_json::json!({"k07,zz": 1.0})));
    }

    // Event streams: each reads every shard's stream for its life.
    let before = counter(&c.front.base, "treestat_front_shard_requests_total");
    let streams: Vec<_> = (0..readers)
        .map(|_| live::sse(&format!("{}/events/*,zz", c.front.base)))
        .collect();
    wait_for("every stream to reach every shard", || {
        let sent = counter(&c.front.base, "treestat_front_shard_requests_total") - before;
        (sent >= (readers * shards) as f64).then_some(())
    });
    for rx in &streams {
        rx.recv_timeout(Duration::from_secs(60))
            .expect("an interval");
    }
    let n = threads(pid);
    assert!(
        n < readers,
        "{n} threads for {readers} streams over {shards} shards"
    );
}

/// The status line's code of a GET of `path` sent with `Host: host`.
fn status_with_host(base: &str, path: &str, host: &str) -> u16 {
    let addr = base.strip_prefix("http://").unwrap();
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    answer.split(' ').nth(1).unwrap().parse().unwrap()
}

/// DNS rebinding: a page whose name was rebound to 127.0.0.1 is same-origin with
/// itself, so only the `Host` it sends gives it away. A front on a loopback address
/// answers 421 to names other than `localhost`, IP literals and `--allowed-host`, as a
/// server does (before, it answered every host, so such a page could read every
/// shard's data through it).
#[test]
fn a_loopback_front_answers_only_its_own_host_names() {
    let dir = tempfile::tempdir().unwrap();
    let shard = serve(&dir.path().join("s0"));
    push(&shard.base, r#"{"app":{"hits":1}}"#);
    let front = front_args(&[&shard], "10s", None, &["--allowed-host", "dash.example"]);
    let port = front.base.rsplit(':').next().unwrap();
    for path in ["/get/app,hits", "/realtime/", "/metrics"] {
        assert_eq!(
            status_with_host(&front.base, path, "evil.example"),
            421,
            "{path}"
        );
        assert_eq!(
            status_with_host(&front.base, path, &format!("evil.example:{port}")),
            421,
            "{path}"
        );
        for ok in ["localhost", "127.0.0.1", "dash.example", "a.localhost"] {
            assert_eq!(
                status_with_host(&front.base, path, &format!("{ok}:{port}")),
                200,
                "{path} {ok}"
            );
        }
    }
}
