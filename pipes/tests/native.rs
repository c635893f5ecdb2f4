//! Native pipes end to end: the C and Rust examples built by the harness, loaded from
//! config, run over a log into an engine; broken plugins refused or reported with a
//! message naming the cause, and the pipeline going on.

use crate::common;

use common::plugins;
use serde_json::json;
use treestat_pipes::{ErrorKind, Pipeline, PipelineConfig};

fn build_err(pipe: serde_json::Value) -> treestat_pipes::Error {
    let cfg: PipelineConfig =
        serde_json::from_value(json!({"format": "peach", "pipes": [pipe]})).unwrap();
    Pipeline::from_config(&cfg).expect_err("the pipeline must refuse this plugin")
}

fn peach_log() -> String {
    std::fs::read_to_string(common::local("golden/peach.log")).unwrap()
}

#[test]
fn c_and_rust_examples_produce_their_trees() {
    let c = plugins::c_example();
    let rust = plugins::rust_example();
    let engine = common::run(
        json!({"name": "native", "format": "peach", "pipes": [
            "status",
            {"pipe": "native", "path": c, "config": {"prefix": "m"}},
            {"pipe": "native", "path": rust, "name": "slo", "config": {"threshold": 0.1}},
        ]}),
        &peach_log(),
    );
    let v = |p: &str| common::value(&engine, p);
    // peach.log: 6 GETs, 1 POST, one line with a "-" request; the biggest body 20480.
    assert_eq!(v("m,GET"), 5.0);
    assert_eq!(v("m,POST"), 1.0);
    assert_eq!(v("m,max_bytes"), 20480.0);
    // request_time: 0.001 0.000 0.001 0.020 <= 0.1; 1.502 0.260 12.000 > 0.1.
    assert_eq!(v("slo,ok"), 4.0);
    assert_eq!(v("slo,slow"), 3.0);
    assert_eq!(v("status,2xx,200"), 3.0);
}

#[test]
fn a_panic_in_a_rust_plugin_is_an_error_not_a_crash() {
    let rust = plugins::rust_example();
    let engine = common::run(
        json!({"name": "p", "format": "peach", "pipes": [
            {"pipe": "native", "path": rust, "name": "slo", "config": {"panic_uri": "/missing"}},
        ]}),
        &peach_log(),
    );
    assert_eq!(common::value(&engine, "_treestat,pipes,p,slo,errors"), 1.0);
    // The other six records went through.
    assert_eq!(
        common::value(&engine, "slo,ok") + common::value(&engine, "slo,slow"),
        6.0
    );
}

#[test]
fn an_error_return_is_counted_with_its_message() {
    let so = plugins::error_return();
    let mut p = common::pipeline(json!({"name": "e", "format": "peach", "pipes": [
        {"pipe": "native", "path": so, "name": "errpipe"}, "status"]}));
    p.feed_text(&peach_log());
    let errs = p.errors();
    assert_eq!(errs[0].1, 7);
    let msg = errs[0].2.clone().unwrap();
    assert!(
        msg.contains("returned 7: this record is not to my taste"),
        "{msg}"
    );
    let engine = common::engine();
    p.flush(&engine).unwrap();
    assert_eq!(
        common::value(&engine, "_treestat,pipes,e,errpipe,errors"),
        7.0
    );
    assert_eq!(common::value(&engine, "errpipe,seen"), 7.0);
    assert_eq!(common::value(&engine, "status,2xx,200"), 3.0);
}

#[test]
fn a_wrong_abi_version_is_refused() {
    let e = build_err(json!({"pipe": "native", "path": plugins::wrong_abi()}));
    assert_eq!(e.kind(), ErrorKind::Native);
    assert!(e.to_string().contains("ABI version 99"), "{e}");
    assert!(e.to_string().contains("libwrong_abi.so"), "{e}");
}

#[test]
fn missing_symbols_are_all_named() {
    let e = build_err(json!({"pipe": "native", "path": plugins::missing_symbols()}));
    assert!(
        e.to_string()
            .contains("missing symbols: treestat_pipe_flush, treestat_pipe_cleanup"),
        "{e}"
    );
    let e = build_err(json!({"pipe": "native", "path": plugins::not_a_pipe()}));
    assert!(e.to_string().contains("treestat_pipe_abi_version"), "{e}");
    let e = build_err(json!({"pipe": "native", "path": "/nonexistent/libx.so"}));
    assert!(e.to_string().contains("cannot load"), "{e}");
}

#[test]
fn an_init_failure_carries_the_plugins_message() {
    let e = build_err(json!({"pipe": "native", "path": plugins::init_fails()}));
    assert_eq!(e.kind(), ErrorKind::PipeInit);
    assert!(e.to_string().contains("no database configured"), "{e}");
}
