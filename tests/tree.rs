//! Issue 18, "The tree", with the real `treestat` binary: a delete survives SIGKILL
//! (the write-ahead log replays it after the pushes that made the subtree) and a clean
//! restart (the trend store keeps its tombstones); `treestat delete` and `treestat ls`
//! against a running server.

use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use crate::common;

use common::{free_port, get_json, get_values, wait_for};

fn write_conf(dir: &Path) -> std::path::PathBuf {
    let conf = dir.join("treestat.toml");
    std::fs::write(
        &conf,
        format!(
            "[server]\ndata = {:?}\nagent = false\n\
             [listen]\ntcp = \"off\"\nudp = \"off\"\nstatsd = \"off\"\ngraphite = \"off\"\n\
             [engine]\ninterval = \"1s\"\nwal = \"sync\"\n\
             [trend]\nretention = \"1s:2h\"\ncompact_after = \"1h\"\nqueue = 4096\n",
            dir.join("data"),
        ),
    )
    .unwrap();
    conf
}

fn start(conf: &Path, port: u16) -> Child {
    let log = conf.with_extension("log");
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_treestat"))
        .args(["serve", "--conf"])
        .arg(conf)
        .args(["--http", &format!("127.0.0.1:{port}"), "--no-agent"])
        .env("RUST_LOG", "warn")
        .stdout(err.try_clone().unwrap())
        .stderr(err)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while ureq::get(&format!("http://127.0.0.1:{port}/get/x"))
        .call()
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the server did not come up: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// SIGTERM, and the clean exit it leads to.
fn stop(mut child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_treestat"))
        .args(args)
        .env_remove("TREESTAT_TOKEN")
        .output()
        .unwrap()
}

fn push(base: &str, doc: &str) {
    let out = cli(&["push", "--server", base, doc]);
    assert!(out.status.success(), "{out:?}");
}

fn trend_points(base: &str, path: &str) -> usize {
    get_json(&format!(
        "{base}/trend/{path}.json?from=-1h&until=now&points=0"
    ))
    .as_array()
    .map_or(0, |series| {
        series
            .iter()
            .map(|s| s["points"].as_array().map_or(0, Vec::len))
            .sum()
    })
}

#[test]
fn a_delete_survives_sigkill_and_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(dir.path());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = start(&conf, port);
    push(&base, r#"{"host": {"old": {"rx": 1}, "new": {"rx": 1}}}"#);
    // In the trend store (an interval closed and was persisted, the log's mark moved
    // past the push)...
    wait_for("host,old in the trend store", || {
        (trend_points(&base, "host,old,rx") > 0).then_some(())
    });
    // ... and again in the log only, above the mark.
    push(&base, r#"{"host": {"old": {"rx": 2}, "new": {"rx": 2}}}"#);
    let out = cli(&["delete", "--server", &base, "host,old"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("deleted 1 subtree: 2 nodes, 1 leaf"),
        "{text}"
    );
    assert!(text.ends_with("\nhost,old\n"), "{text}");
    // Pushes after the delete, in the log after its record.
    push(&base, r#"{"host": {"new": {"rx": 3}}}"#);
    assert_eq!(trend_points(&base, "host,old,rx"), 0);
    let mut server = server;
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();

    // The replay merges the pushes before the delete again, then the delete: gone.
    let server = start(&conf, port);
    only_the_new_host(&base);
    // Still gone once the replayed interval has closed into the store.
    wait_for("host,new's replayed points in the trend store", || {
        (trend_points(&base, "host,new,rx") >= 2).then_some(())
    });
    assert_eq!(trend_points(&base, "host,old,rx"), 0);
    stop(server);

    // A clean restart: totals come back from the trend store, without host,old.
    let server = start(&conf, port);
    only_the_new_host(&base);
    stop(server);
}

#[test]
fn ls_and_delete_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(dir.path());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = start(&conf, port);
    push(
        &base,
        r#"{"cpu": {"vm": {"user": 1, "core0": {"user": 2}, "core1": {"user": 3, "sys": 1}}}}"#,
    );
    let text = |o: Output| {
        assert!(o.status.success(), "{o:?}");
        String::from_utf8(o.stdout).unwrap()
    };
    // The root without the server's own subtree (its counters are there by now).
    wait_for("_treestat in the tree", || {
        text(cli(&["ls", "--server", &base, "--internal"]))
            .contains("_treestat/")
            .then_some(())
    });
    assert_eq!(text(cli(&["ls", "--server", &base])), "cpu/\t1\n");
    assert_eq!(
        text(cli(&["ls", "--server", &base, "cpu,vm"])),
        "core0/\t1\ncore1/\t2\nuser\n"
    );
    assert_eq!(
        text(cli(&["query", "--server", &base, "cpu,vm,*|leaf"])),
        "cpu,vm,user\t1\n"
    );
    let dry = text(cli(&[
        "delete",
        "--server",
        &base,
        "--dry-run",
        "cpu,vm,*|branch",
    ]));
    // (How many ring entries and trend series depends on how many intervals closed.)
    assert!(
        dry.starts_with("would delete 2 subtrees: 5 nodes, 3 leaves, "),
        "{dry}"
    );
    assert!(
        dry.ends_with(" trend series\ncpu,vm,core0\ncpu,vm,core1\n"),
        "{dry}"
    );
    assert_eq!(
        text(cli(&["ls", "--server", &base, "cpu,vm"]))
            .lines()
            .count(),
        3
    );
    let done = text(cli(&[
        "delete",
        "--server",
        &base,
        "cpu,vm,*|branch",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&done).unwrap();
    assert_eq!(
        v["paths"],
        serde_json::json!(["cpu,vm,core0", "cpu,vm,core1"])
    );
    assert_eq!(text(cli(&["ls", "--server", &base, "cpu,vm"])), "user\n");
    // Refusals: one line naming why, a failing status.
    for bad in [vec![""], vec!["_treestat"], vec!["*|sum"]] {
        let mut args = vec!["delete", "--server", &base];
        args.extend(bad.iter().copied());
        let o = cli(&args);
        assert!(!o.status.success(), "{bad:?}");
        let err = String::from_utf8(o.stderr).unwrap();
        assert!(err.contains("refused the delete (400"), "{bad:?}: {err}");
    }
    let o = cli(&["ls", "--server", &base, "cpu,nothing"]);
    assert!(!o.status.success());
    assert!(String::from_utf8(o.stderr).unwrap().contains("404"));
    stop(server);
}

/// `host` holds only `host,new,rx`, and `host,old,rx` has no trend points.
fn only_the_new_host(base: &str) {
    let values = get_values(base, "host");
    assert_eq!(
        values.keys().collect::<Vec<_>>(),
        ["host,new,rx"],
        "{values:?}"
    );
    assert_eq!(trend_points(base, "host,old,rx"), 0);
}
