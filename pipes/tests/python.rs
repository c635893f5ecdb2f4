//! Python pipes end to end: the example script, the `(name, tree)` form, exceptions
//! counted while the pipeline goes on, and load errors naming their cause.

use crate::common;

use serde_json::json;
use std::path::PathBuf;
use treestat_pipes::{ErrorKind, Pipeline, PipelineConfig};

fn peach_log() -> String {
    std::fs::read_to_string(common::local("golden/peach.log")).unwrap()
}

fn example() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/python/referers.py"
    ))
}

/// Writes a script into the test tmp dir.
fn script(name: &str, code: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("treestat-pipes-py");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{name}.py"));
    std::fs::write(&p, code).unwrap();
    p
}

#[test]
fn the_example_counts_referers() {
    let engine = common::run(
        json!({"name": "py", "format": "peach", "pipes": [
            {"pipe": "python", "path": example(), "config": {"prefix": "ref"}, "batch": 2}
        ]}),
        &peach_log(),
    );
    assert_eq!(common::value(&engine, "ref,www.renren.com"), 1.0);
    assert_eq!(common::value(&engine, "ref,10.2.76.28"), 1.0);
    assert_eq!(common::value(&engine, "ref,direct"), 5.0);
}

#[test]
fn name_tree_pairs_and_several_flushes() {
    let p = script(
        "pairs",
        r#"
n = 0
def process(fields):
    global n
    n += 1
def result():
    global n
    out = [("hits", {"default_action": "add", "lines": n}), ("gauge", {"last": 5, "skip": None, "many": [1, 2, 3]})]
    n = 0
    return out
"#,
    );
    let mut pl =
        common::pipeline(json!({"format": "peach", "pipes": [{"pipe": "python", "path": p}]}));
    let engine = common::engine();
    pl.feed_text(&peach_log());
    pl.flush(&engine).unwrap();
    pl.feed_text(&peach_log());
    pl.flush(&engine).unwrap();
    assert_eq!(common::value(&engine, "hits,lines"), 14.0);
    // No action given: the root default, average, of 5 and 5, and of 1, 2, 3 twice.
    assert_eq!(common::value(&engine, "gauge,last"), 5.0);
    assert_eq!(common::value(&engine, "gauge,many"), 2.0);
}

#[test]
fn an_exception_is_counted_and_the_pipeline_goes_on() {
    let p = script(
        "raises",
        r#"
seen = 0
def process(fields):
    global seen
    if fields.get("status") == "404":
        raise ValueError("no 404s here: " + fields["uri"])
    seen += 1
def result():
    return {"default_action": "add", "ok": seen}
"#,
    );
    let engine = common::run(
        json!({"name": "r", "format": "peach", "pipes": [{"pipe": "python", "path": p}, "status"]}),
        &peach_log(),
    );
    assert_eq!(
        common::value(&engine, "_treestat,pipes,r,raises,errors"),
        1.0
    );
    assert_eq!(common::value(&engine, "ok"), 6.0);
    assert_eq!(common::value(&engine, "status,4xx,404"), 1.0);
}

#[test]
fn a_failing_result_is_an_error_for_the_pipe() {
    let p = script(
        "badresult",
        "def process(fields):\n    pass\ndef result():\n    return {'a': 'x', 'b': {'c': object()}}\n",
    );
    let mut pl = common::pipeline(
        json!({"name": "b", "format": "peach", "pipes": [{"pipe": "python", "path": p}]}),
    );
    pl.feed_text(&peach_log());
    let engine = common::engine();
    pl.flush(&engine).unwrap();
    assert_eq!(
        common::value(&engine, "_treestat,pipes,b,badresult,errors"),
        1.0
    );
    let (_, _, msg) = pl.errors().remove(0);
    assert!(msg.unwrap().contains("b,c is not a number"));
}

fn build_err(path: PathBuf) -> treestat_pipes::Error {
    let cfg: PipelineConfig = serde_json::from_value(
        json!({"format": "peach", "pipes": [{"pipe": "python", "path": path}]}),
    )
    .unwrap();
    Pipeline::from_config(&cfg).expect_err("must be refused")
}

#[test]
fn a_syntax_error_is_reported_at_load_with_its_cause() {
    let e = build_err(script(
        "syntax",
        "def process(fields):\n    return (\n\ndef result(:\n",
    ));
    assert_eq!(e.kind(), ErrorKind::PipeInit);
    let msg = e.to_string();
    assert!(msg.contains("SyntaxError"), "{msg}");
    assert!(msg.contains("syntax.py"), "{msg}");
}

#[test]
fn missing_functions_and_failing_init_are_named() {
    let e = build_err(script("nofuncs", "x = 1\n"));
    assert!(
        e.to_string()
            .contains("missing function(s) process, result"),
        "{e}"
    );
    let e = build_err(script(
        "badinit",
        "def init(config):\n    raise RuntimeError('needs a token')\ndef process(f): pass\ndef result(): return {}\n",
    ));
    assert!(e.to_string().contains("RuntimeError: needs a token"), "{e}");
    let e = build_err(PathBuf::from("/nonexistent/x.py"));
    assert!(e.to_string().contains("no such file"), "{e}");
}

/// Issue 12: a script that never returns from `process` is taken out once its batch
/// is over the budget; the other pipes go on, later batches skip it, and dropping the
/// pipeline does not wait for its thread. (Before the budget, the first flush waited
/// for the script forever.)
#[test]
fn a_stuck_script_is_taken_out_after_its_budget() {
    let p = script(
        "forever",
        r#"
def process(fields):
    while True:
        pass
def result():
    return {}
"#,
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let mut pl = common::pipeline(json!({"name": "stuck", "format": "peach", "pipes": [
            "status",
            {"pipe": "python", "path": p, "batch": 1, "budget": "200ms"}
        ]}));
        let troubles = pl.troubles();
        let log = peach_log();
        pl.feed_text(&log);
        let first = pl.take_updates();
        let listed = troubles.list();
        // Later batches skip it: they neither wait nor count errors for it.
        pl.feed_text(&log);
        let second = pl.take_updates();
        drop(pl);
        tx.send((first, second, listed)).unwrap();
    });
    // Generous: the budget is 200 ms; without it the first flush never returns.
    let (first, second, listed) = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the pipeline is still waiting for the stuck script");
    worker.join().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].pipe, "forever");
    assert_eq!(listed[0].source, "stuck");
    assert!(listed[0].taken_out);
    assert!(listed[0].reason.contains("budget"), "{}", listed[0].reason);
    let first = first.to_push_json().to_string();
    assert!(first.contains("\"taken_out\""), "{first}");
    assert!(first.contains("\"200\""), "status still counts: {first}");
    let second = second.to_push_json().to_string();
    assert!(!second.contains("taken_out"), "counted once: {second}");
    assert!(!second.contains("errors"), "skipped, not failing: {second}");
    assert!(second.contains("\"200\""), "status still counts: {second}");
}

/// A script that is slow but keeps within the budget per batch is not taken out,
/// however long the whole run takes.
#[test]
fn a_slow_script_within_its_budget_stays() {
    let p = script(
        "slowish",
        r#"
import time
n = 0
def process(fields):
    global n
    time.sleep(0.02)
    n += 1
def result():
    global n
    out = {"default_action": "add", "slow": n}
    n = 0
    return out
"#,
    );
    let mut pl = common::pipeline(json!({"format": "peach", "pipes": [
        {"pipe": "python", "path": p, "batch": 1, "budget": "2s"}
    ]}));
    let log = peach_log();
    pl.feed_text(&log);
    let out = pl.take_updates().to_push_json().to_string();
    assert!(pl.troubles().list().is_empty());
    assert!(out.contains("\"slow\":"), "{out}");
}
