//! Helpers shared by the integration tests: test data paths, running a pipeline over a
//! log into a real engine, golden-file comparison.

#![allow(dead_code)]

pub mod plugins;

use std::path::PathBuf;
use treestat_engine::{Engine, EngineConfig, Pattern};
use treestat_pipes::{Pipeline, PipelineConfig};

/// A file under `../shared/testdata/`, or a panic naming the missing path.
pub fn testdata(rel: &str) -> PathBuf {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/"
    ))
    .join(rel);
    assert!(p.exists(), "missing test data: {}", p.display());
    p
}

/// A file under `pipes/tests/`.
pub fn local(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/")).join(rel)
}

/// A fresh engine with the default config.
pub fn engine() -> Engine {
    Engine::new(EngineConfig::default()).expect("engine starts")
}

/// Builds a pipeline from a JSON config.
pub fn pipeline(cfg: serde_json::Value) -> Pipeline {
    let cfg: PipelineConfig = serde_json::from_value(cfg).expect("pipeline config parses");
    Pipeline::from_config(&cfg).unwrap_or_else(|e| panic!("pipeline builds: {e}"))
}

/// Feeds `text` through a pipeline into a fresh engine; returns the engine.
pub fn run(cfg: serde_json::Value, text: &str) -> Engine {
    let mut p = pipeline(cfg);
    p.feed_text(text);
    let engine = engine();
    p.flush(&engine).expect("engine takes the batch");
    engine
}

/// Every leaf, the pipeline's own `_treestat` counters included (a root wildcard
/// leaves them out unless asked: issue 18).
pub fn everything(engine: &Engine) -> Vec<(String, f64)> {
    engine.query_pattern(&Pattern::parse("").unwrap().with_internal(true))
}

/// Compares the whole tree with `tests/golden/<name>.json`; with `TREESTAT_BLESS=1` in
/// the environment, writes it instead.
pub fn check_golden(name: &str, engine: &Engine) {
    let got = treestat_engine::nest(&everything(engine));
    let path = local(&format!("golden/{name}.json"));
    if std::env::var_os("TREESTAT_BLESS").is_some() {
        let text = serde_json::to_string_pretty(&got).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("missing golden file {}: {e}", path.display()));
    let want: serde_json::Value = serde_json::from_str(&want).expect("golden file is JSON");
    assert_eq!(
        got,
        want,
        "tree differs from {}:\n{}",
        path.display(),
        serde_json::to_string_pretty(&got).unwrap()
    );
}

/// The value at a path, panicking with the tree when absent.
pub fn value(engine: &Engine, path: &str) -> f64 {
    let rows = engine.query(path).expect("pattern");
    rows.iter()
        .find(|(p, _)| p == path)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no leaf {path}; tree: {:?}", everything(engine)))
}
