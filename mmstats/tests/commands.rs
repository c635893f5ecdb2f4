//! slurp, poll, clean and the agent's tree updates on real files made by the writer
//! (acceptance 3). For clean, the dead process is a real one: the crate's
//! `mmstats-demo` writer, run to completion, leaves its file behind.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use treestat_mmstats::{
    Counter, MmStats, clean, expand_files, poll, read_file, slurp, tree_updates,
};

/// A stats file with a counter `hits` set to `n`, plus a gauge and a text.
fn stats_with_hits(dir: &Path, prefix: &str, n: u64) -> (MmStats, Counter) {
    let mut b = MmStats::builder(prefix);
    let hits = b.counter("hits");
    let load = b.gauge("load");
    let state = b.text("state", 8);
    b.filename(&format!("mmstats-test-{prefix}"));
    let stats = b.create(Some(dir)).unwrap();
    let mut hits = stats.handle(hits).unwrap();
    hits.add(n);
    stats.handle(load).unwrap().set(0.5);
    stats.handle(state).unwrap().set("ok");
    (stats, hits)
}

fn garbage(dir: &Path) -> PathBuf {
    let p = dir.join("mmstats-garbage");
    std::fs::write(&p, b"\x07not a stats file").unwrap();
    p
}

#[test]
fn slurp_prints_every_field_of_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = stats_with_hits(dir.path(), "a.", 3);
    let (b, _) = stats_with_hits(dir.path(), "b.", 4);
    let bad = garbage(dir.path());
    let files = expand_files(&[dir.path().to_owned()]);
    assert_eq!(
        files.len(),
        3,
        "the directory expands to its mmstats-* files: {files:?}"
    );

    let (mut out, mut err) = (Vec::new(), Vec::new());
    let report = slurp(&files, &mut out, &mut err).unwrap();
    let (out, err) = (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    );
    assert_eq!(report.read, 2);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, bad);
    assert!(
        err.contains("mmstats-garbage") && err.contains("version byte 0x07"),
        "{err}"
    );
    assert!(
        out.contains(&format!("==> {}\n", a.path().display())),
        "{out}"
    );
    assert!(out.contains(&format!("==> {}\n", b.path().display())));
    // Labels are padded to the longest in the file (`a.sys.created`, 13 characters).
    assert!(out.contains("\n  a.hits        3\n"), "{out}");
    assert!(out.contains("\n  b.hits        4\n"));
    assert!(out.contains("\n  a.load        0.5\n"));
    assert!(out.contains("\n  a.state       ok\n"));
    assert!(out.contains(&format!("\n  a.sys.pid     {}\n", std::process::id())));
    assert_eq!(out.matches("sys.created").count(), 2);
}

/// Output that lets the test act between poll's ticks: each flush (one per line)
/// increments the counter by 10.
struct StepOut {
    text: Vec<u8>,
    hits: Counter,
}

impl Write for StepOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.text.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.hits.add(10);
        Ok(())
    }
}

#[test]
fn poll_prints_the_change_since_the_last_tick_summed_over_files() {
    let dir = tempfile::tempdir().unwrap();
    let (a, hits_a) = stats_with_hits(dir.path(), "app.", 5);
    let mut b2 = MmStats::builder("app.");
    b2.filename("mmstats-test-second");
    let second_hits = b2.counter("hits");
    let second = b2.create(Some(dir.path())).unwrap();
    second.handle(second_hits).unwrap().add(7);
    let bad = garbage(dir.path());
    let files = vec![
        a.path().to_owned(),
        second.path().to_owned(),
        bad,
        dir.path().join("missing"),
    ];

    let mut out = StepOut {
        text: Vec::new(),
        hits: hits_a,
    };
    let mut err = Vec::new();
    let fields = vec!["hits,load".to_owned()];
    poll(
        "app.",
        &fields,
        &files,
        Some(3),
        Duration::from_millis(1),
        &mut out,
        &mut err,
    )
    .unwrap();
    let text = String::from_utf8(out.text).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0], format!("{:^20}|{:^20}", "hits", "load"));
    let cols = |l: &str| {
        l.split('|')
            .map(|c| c.trim().to_owned())
            .collect::<Vec<_>>()
    };
    // First line: totals (5 + 7 hits; load 0.5 from the first file, the second has none).
    assert_eq!(cols(lines[1]), ["12", "0.500"]);
    // Then the change since the previous tick: 10 hits added after each line.
    assert_eq!(cols(lines[2]), ["10", "0.000"]);
    assert_eq!(cols(lines[3]), ["10", "0.000"]);
    assert!(lines[1].starts_with(&format!("{:>19} |", 12)));
    let err = String::from_utf8(err).unwrap();
    assert!(
        err.contains("mmstats-garbage") && err.contains("missing"),
        "{err}"
    );

    let (mut out, mut err) = (Vec::new(), Vec::new());
    let none = vec![",".to_owned()];
    poll(
        "app.",
        &none,
        &files,
        Some(2),
        Duration::ZERO,
        &mut out,
        &mut err,
    )
    .unwrap();
    assert!(out.is_empty());
    assert!(
        String::from_utf8(err)
            .unwrap()
            .contains("No fields to poll")
    );
}

#[test]
fn clean_removes_files_of_dead_processes_and_keeps_live_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (live, _) = stats_with_hits(dir.path(), "live.", 1);
    let child = Command::new(env!("CARGO_BIN_EXE_mmstats-demo"))
        .args(["--dir", &dir.path().to_string_lossy(), "--count", "3"])
        .output()
        .unwrap();
    assert!(child.status.success(), "{child:?}");
    let dead = PathBuf::from(String::from_utf8(child.stdout).unwrap().trim());
    assert!(dead.exists());
    let dead_fields = read_file(&dead).unwrap();
    let pid = dead_fields
        .iter()
        .find(|f| f.label == "demo.sys.pid")
        .unwrap()
        .value
        .to_string();
    assert_ne!(pid, std::process::id().to_string());
    assert!(
        !Path::new("/proc").join(&pid).exists(),
        "the writer process has exited"
    );
    let bad = garbage(dir.path());

    let files = expand_files(&[dir.path().to_owned()]);
    let mut out = Vec::new();
    let report = clean(&files, &mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(report.removed, vec![dead.clone()]);
    assert_eq!(report.kept, vec![live.path().to_owned()]);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].0, bad);
    assert!(!dead.exists());
    assert!(live.path().exists() && bad.exists());
    assert!(
        out.contains(&format!("PID {pid} not found. Deleted {}", dead.display())),
        "{out}"
    );
    assert!(out.ends_with("Removed 1  -  1 alive\n"), "{out}");
}

#[test]
fn tree_updates_combine_files_and_skip_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (_a, _) = stats_with_hits(dir.path(), "web.", 5);
    let mut b = MmStats::builder("web.");
    let hits = b.counter("hits");
    let load = b.gauge("load");
    let state = b.text("state", 8);
    let flag = b.text("db.role", 8);
    b.filename("mmstats-test-other");
    let other = b.create(Some(dir.path())).unwrap();
    other.handle(hits).unwrap().add(2);
    other.handle(load).unwrap().set(1.5);
    other.handle(state).unwrap().set("ok");
    other.handle(flag).unwrap().set("primary");
    let mut old = std::fs::read(other.path()).unwrap();
    old[0] = 0x02;
    std::fs::write(dir.path().join("mmstats-v2"), old).unwrap();

    let files = expand_files(&[dir.path().to_owned()]);
    let t = tree_updates("host1", &files);
    assert_eq!(t.files_read, 2);
    assert_eq!(t.skipped.len(), 1);
    assert!(t.skipped[0].1.contains("version"));
    assert_eq!(
        t.numbers,
        vec![
            ("mmstats,host1,web,hits".to_owned(), 7.0),
            ("mmstats,host1,web,load".to_owned(), 1.0)
        ]
    );
    assert_eq!(
        t.markers,
        vec![
            ("mmstats,host1,web,db,role".to_owned(), "primary".to_owned()),
            ("mmstats,host1,web,state".to_owned(), "ok".to_owned()),
        ]
    );
}
