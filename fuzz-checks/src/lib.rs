//! The fuzz checks of every parser that sees outside bytes: one module per target,
//! each with `run(data)`, which panics on a finding (a crash, or a disagreement with the
//! module's model). Two drivers call them: the libFuzzer targets in `fuzz/` (nightly,
//! coverage-guided, `fuzz/run.sh SECONDS`) and the stable smoke test
//! `tests/fuzz_smoke.rs` (every seed of `fuzz/corpus/<target>/` and a fixed number of
//! mutations of them, in `cargo test`).

pub mod amqp_message;
pub mod graph_options;
pub mod graphite;
pub mod log_format_compile;
pub mod log_formats;
pub mod mmstats;
pub mod pattern;
pub mod psistats;
pub mod push_json;
pub mod simplestats;
pub mod statsd;
pub mod tcp_lines;
pub mod time;
pub mod trend_chunk;
pub mod wal_records;

/// A target's check: panics on a finding.
pub type Check = fn(&[u8]);

/// The targets, by name, as `fuzz/corpus/<name>/` names their seeds.
pub const TARGETS: &[(&str, Check)] = &[
    ("amqp_message", amqp_message::run),
    ("graph_options", graph_options::run),
    ("graphite", graphite::run),
    ("log_format_compile", log_format_compile::run),
    ("log_formats", log_formats::run),
    ("mmstats", mmstats::run),
    ("pattern", pattern::run),
    ("psistats", psistats::run),
    ("push_json", push_json::run),
    ("simplestats", simplestats::run),
    ("statsd", statsd::run),
    ("tcp_lines", tcp_lines::run),
    ("time", time::run),
    ("trend_chunk", trend_chunk::run),
    ("wal_records", wal_records::run),
];
