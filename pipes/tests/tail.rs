//! The tailer against real files: append, rename rotation, copytruncate, truncation,
//! delete and recreate, a restart in the middle. Every line counted exactly once.

use crate::common;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use treestat_pipes::tail::{self, FileCheckpoints, RunOptions, TailOptions, Tailer};

fn append(path: &Path, lines: std::ops::RangeInclusive<u32>) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for i in lines {
        writeln!(f, "line {i}").unwrap();
    }
}

fn tailer(log: &Path, from_start: bool, cp: &Path) -> Tailer {
    let store = FileCheckpoints::open(cp).unwrap();
    Tailer::new(
        &[log.to_path_buf()],
        TailOptions {
            from_start,
            ..TailOptions::default()
        },
        Box::new(store),
    )
}

/// Counts every line seen; `poll` returns the lines of this poll.
#[derive(Default)]
struct Seen(BTreeMap<String, u32>);

impl Seen {
    fn poll(&mut self, t: &mut Tailer) -> Vec<String> {
        let mut got = Vec::new();
        t.poll(&mut |l| got.push(String::from_utf8(l.to_vec()).unwrap()))
            .unwrap();
        for l in &got {
            *self.0.entry(l.clone()).or_default() += 1;
        }
        got
    }

    fn assert_exactly_once(&self, n: u32) {
        let want: BTreeMap<String, u32> = (1..=n).map(|i| (format!("line {i}"), 1)).collect();
        assert_eq!(self.0, want);
    }
}

fn lines(r: std::ops::RangeInclusive<u32>) -> Vec<String> {
    r.map(|i| format!("line {i}")).collect()
}

#[test]
fn appends_and_partial_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    append(&log, 1..=3);
    let mut t = tailer(&log, false, &dir.path().join("cp.json"));
    let mut seen = Seen::default();
    assert!(seen.poll(&mut t).is_empty(), "starts at the end");
    append(&log, 4..=8);
    assert_eq!(seen.poll(&mut t), lines(4..=8));
    let mut f = OpenOptions::new().append(true).open(&log).unwrap();
    write!(f, "line ").unwrap();
    assert!(seen.poll(&mut t).is_empty(), "a partial line waits");
    writeln!(f, "9").unwrap();
    assert_eq!(seen.poll(&mut t), lines(9..=9));
}

#[test]
fn starting_at_the_end_mid_line_skips_the_broken_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    std::fs::write(&log, "old\nhalf").unwrap();
    let mut t = tailer(&log, false, &dir.path().join("cp.json"));
    let mut seen = Seen::default();
    assert!(seen.poll(&mut t).is_empty());
    let mut f = OpenOptions::new().append(true).open(&log).unwrap();
    write!(f, " written\nline 1\n").unwrap();
    assert_eq!(seen.poll(&mut t), lines(1..=1));
}

#[test]
fn rename_rotation_drains_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    append(&log, 1..=10);
    let mut t = tailer(&log, true, &dir.path().join("cp.json"));
    let mut seen = Seen::default();
    assert_eq!(seen.poll(&mut t).len(), 10);
    append(&log, 11..=15);
    let rotated = dir.path().join("a.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    // The writer still holds the old file until it reopens.
    append(&rotated, 16..=18);
    assert_eq!(seen.poll(&mut t), lines(11..=18));
    append(&rotated, 19..=20);
    append(&log, 21..=25);
    assert_eq!(seen.poll(&mut t), lines(19..=25));
    append(&log, 26..=26);
    assert_eq!(seen.poll(&mut t), lines(26..=26));
    seen.assert_exactly_once(26);
}

#[test]
fn copytruncate_and_truncation_start_over() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    append(&log, 1..=10);
    let mut t = tailer(&log, true, &dir.path().join("cp.json"));
    let mut seen = Seen::default();
    seen.poll(&mut t);
    // copytruncate: copy away, truncate in place; the writer goes on at offset 0.
    std::fs::copy(&log, dir.path().join("a.log.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, 11..=13);
    assert_eq!(seen.poll(&mut t), lines(11..=13));
    // Truncated and rewritten past the old size before the next poll: the head
    // fingerprint tells.
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, 14..=60);
    assert_eq!(seen.poll(&mut t), lines(14..=60));
    seen.assert_exactly_once(60);
}

#[test]
fn delete_and_recreate() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    append(&log, 1..=5);
    let mut t = tailer(&log, true, &dir.path().join("cp.json"));
    let mut seen = Seen::default();
    seen.poll(&mut t);
    append(&log, 6..=7);
    std::fs::remove_file(&log).unwrap();
    assert_eq!(seen.poll(&mut t), lines(6..=7));
    assert!(seen.poll(&mut t).is_empty());
    append(&log, 8..=10);
    assert_eq!(seen.poll(&mut t), lines(8..=10));
    seen.assert_exactly_once(10);
}

#[test]
fn a_file_that_appears_later_is_read_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("later.log");
    let mut t = tailer(&log, false, &dir.path().join("cp.json"));
    let mut seen = Seen::default();
    assert!(seen.poll(&mut t).is_empty());
    append(&log, 1..=4);
    assert_eq!(seen.poll(&mut t), lines(1..=4));
}

#[test]
fn a_restart_resumes_after_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    let cp = dir.path().join("cp.json");
    // What reached the engine: lines polled before a checkpoint.
    let mut flushed = Seen::default();
    append(&log, 1..=10);
    {
        let mut a = tailer(&log, true, &cp);
        flushed.poll(&mut a);
        a.checkpoint().unwrap();
        append(&log, 11..=20);
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        write!(f, "line 2").unwrap();
        // Read but never flushed: lost with the process.
        assert_eq!(Seen::default().poll(&mut a), lines(11..=20));
    }
    let mut f = OpenOptions::new().append(true).open(&log).unwrap();
    writeln!(f, "1").unwrap();
    let mut b = tailer(&log, false, &cp);
    assert_eq!(flushed.poll(&mut b), lines(11..=21));
    b.checkpoint().unwrap();
    flushed.assert_exactly_once(21);
    // A third start finds nothing new.
    let mut c = tailer(&log, false, &cp);
    assert!(Seen::default().poll(&mut c).is_empty());
}

#[test]
fn a_restart_after_a_rotation_finishes_the_rotated_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    let cp = dir.path().join("cp.json");
    let mut flushed = Seen::default();
    append(&log, 1..=10);
    {
        let mut a = tailer(&log, true, &cp);
        flushed.poll(&mut a);
        a.checkpoint().unwrap();
    }
    // While the tailer is down: more lines, a rotation, a new file.
    append(&log, 11..=15);
    std::fs::rename(&log, dir.path().join("a.log.1")).unwrap();
    append(&log, 16..=20);
    let mut b = tailer(&log, false, &cp);
    assert_eq!(flushed.poll(&mut b), lines(11..=20));
    flushed.assert_exactly_once(20);
}

#[test]
fn run_once_through_a_pipeline_into_the_engine_and_again_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let cp = dir.path().join("cp.json");
    {
        let mut f = File::create(&log).unwrap();
        for i in 0..1000 {
            writeln!(
                f,
                r#"10.0.0.{} - - [07/Dec/2016:11:05:07 +0100] "GET /p{} HTTP/1.1" {} 100 "-" "curl/7.68.0""#,
                i % 7,
                i % 3,
                if i % 10 == 0 { 404 } else { 200 }
            )
            .unwrap();
        }
        writeln!(f, "garbage").unwrap();
    }
    let engine = common::engine();
    let once = RunOptions {
        once: true,
        ..RunOptions::default()
    };
    for round in 0..2 {
        let mut p = common::pipeline(
            serde_json::json!({"name": "t", "format": "combined", "pipes": ["status", "url"]}),
        );
        let mut t = tailer(&log, true, &cp);
        let mut last = (0, 0);
        let stats = tail::run(
            &mut t,
            &mut p,
            &once,
            &treestat_engine::stop::CancellationToken::new(),
            &mut tail::engine_sink(&engine),
            &mut |done, total| last = (done, total),
        )
        .unwrap();
        if round == 0 {
            assert_eq!(stats.lines, 1001);
            assert_eq!(last.0, last.1);
        } else {
            assert_eq!(stats.lines, 0, "the restart resumes at the end");
        }
    }
    assert_eq!(common::value(&engine, "status,2xx,200"), 900.0);
    assert_eq!(common::value(&engine, "status,4xx,404"), 100.0);
    assert_eq!(common::value(&engine, "_treestat,pipes,t,bad_lines"), 1.0);
    assert_eq!(common::value(&engine, "url,/p0"), 334.0);
}
