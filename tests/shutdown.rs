//! Graceful shutdown of the real process (issue 3, acceptance 5): SIGTERM during a load
//! run stops accepting, answers what is in flight, and the process exits 0 within 5 s.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::common;

use common::free_port;

#[test]
fn sigterm_under_load_exits_zero_within_five_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let (http, tcp) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_treestat"))
        .arg("serve")
        .arg("--data")
        .arg(dir.path())
        .args(["--http", &format!("127.0.0.1:{http}")])
        .args(["--tcp", &format!("127.0.0.1:{tcp}")])
        .args([
            "--udp",
            "off",
            "--statsd",
            "off",
            "--graphite",
            "off",
            "--no-agent",
        ])
        .args(["--interval", "1s"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(tcp);

    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for _ in 0..2 {
        let (stop, answered) = (stop.clone(), answered.clone());
        load.push(std::thread::spawn(move || {
            let agent = ureq::Agent::new_with_defaults();
            let url = format!("http://127.0.0.1:{http}/push");
            while !stop.load(Ordering::Relaxed) {
                match agent
                    .post(&url)
                    .header("content-type", "application/json")
                    .send(r#"{"default_action":"add","load":{"http":1}}"#)
                {
                    Ok(_) => {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    {
        let stop = stop.clone();
        load.push(std::thread::spawn(move || {
            let Ok(s) = TcpStream::connect(("127.0.0.1", tcp)) else {
                return;
            };
            let mut w = s.try_clone().unwrap();
            let mut r = BufReader::new(s);
            let mut line = String::new();
            let _ = r.read_line(&mut line); // the hint
            while !stop.load(Ordering::Relaxed) {
                if w.write_all(b"{\"load\":{\"tcp\":1}}\n").is_err() {
                    return;
                }
                line.clear();
                // Every line written before the close gets its answer.
                match r.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => assert_eq!(line.trim_end(), "--OK"),
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert!(answered.load(Ordering::Relaxed) > 0, "the load ran");

    let t0 = Instant::now();
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "still running 5 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status:?}");
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    // Nothing accepts any more.
    assert!(TcpStream::connect(("127.0.0.1", http)).is_err());
}

/// Regression (issue 12): SIGTERM closes the open interval, which names every new leaf
/// for the trend store. Naming scanned the parent's children, so a server holding a 1M
/// leaf branch hung for minutes (46 s measured in release, hours in a debug build).
/// Paths are O(depth) now: the exit comes far within a minute.
#[test]
fn sigterm_with_a_million_leaf_branch_exits_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_port();
    // The shutdown's own bound (server.stop_timeout, 4 s) would cut a debug build's
    // write of a 1M-leaf interval short and exit 1; this test is about the close.
    let conf = dir.path().join("treestat.toml");
    std::fs::write(&conf, "[server]\nstop_timeout = \"60s\"\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_treestat"))
        .arg("serve")
        .arg("--conf")
        .arg(&conf)
        .arg("--data")
        .arg(dir.path().join("data"))
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
            "--no-agent",
        ])
        // No close during the fill: the one at shutdown names all 1M leaves.
        .args(["--interval", "3600s"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(http);
    let agent = ureq::Agent::new_with_defaults();
    let url = format!("http://127.0.0.1:{http}/push");
    let per_push = 50_000; // under limits.max_push_nodes
    for p in 0..20 {
        let mut doc = String::from(r#"{"w":{"#);
        for i in p * per_push..(p + 1) * per_push {
            if i > p * per_push {
                doc.push(',');
            }
            doc.push_str(&format!(r#""k{i:07}":1"#));
        }
        doc.push_str("}}");
        let reply = agent
            .post(&url)
            .header("content-type", "application/json")
            .send(doc.as_str())
            .unwrap();
        assert_eq!(reply.status(), 200);
    }

    let t0 = Instant::now();
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("still running 60 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");
    eprintln!("exited {:?} after SIGTERM", t0.elapsed());
}

/// Waits until the server started on `port` accepts connections (20 s at most).
fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
}
