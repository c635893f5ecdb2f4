//! The `mmstats` agent module against files written by the project's own writer
//! (treestat-mmstats): fields pushed under `mmstats,<host>,...`, combined over writers,
//! files of dead writers removed, unreadable files reported (issue 18).

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use treestat_agent::AgentConfig;
use treestat_agent::agent::{Agent, load_modules};
use treestat_agent::metric::Value;
use treestat_mmstats::{MmStats, read_file};

/// Points the file's `sys.pid` at a process that has exited (a real one: `true`, run
/// and waited for), as a writer that died leaves its file.
fn make_dead(path: &Path) {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    assert!(!Path::new("/proc").join(pid.to_string()).exists());
    let fields = read_file(path).unwrap();
    let f = fields
        .iter()
        .find(|f| f.label.ends_with("sys.pid"))
        .unwrap();
    assert_eq!(f.type_code.trim(), "I");
    let bytes = std::fs::read(path).unwrap();
    // u16 label length, label, u16 type length, type, write_buffer, value(s).
    let mut at = f.offset + 2 + f.label.len();
    let type_len = usize::from(u16::from_ne_bytes([bytes[at], bytes[at + 1]]));
    at += 2 + type_len;
    let wb = bytes[at];
    at += 1;
    if wb != 0xff {
        at += 4 * usize::from(wb ^ 1);
    }
    let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.seek(SeekFrom::Start(at as u64)).unwrap();
    file.write_all(&pid.to_ne_bytes()).unwrap();
    drop(file);
    let fields = read_file(path).unwrap();
    let now = fields
        .iter()
        .find(|f| f.label.ends_with("sys.pid"))
        .unwrap();
    assert_eq!(now.value.to_string(), pid.to_string());
}

#[test]
fn mmstats_files_are_pushed_combined_and_dead_writers_cleaned() {
    let tmp = tempfile::tempdir().unwrap();
    let stats_dir = tmp.path().join("stats");
    let modules = tmp.path().join("modules");
    std::fs::create_dir_all(&stats_dir).unwrap();
    std::fs::create_dir_all(&modules).unwrap();

    // Two live workers publishing the same labels.
    let mut writers = Vec::new();
    for (hits, load) in [(3u64, 1.0f64), (4, 3.0)] {
        let mut b = MmStats::builder("app.");
        let h = b.counter("hits");
        let l = b.gauge("db.load");
        let s = b.text("state", 16);
        let stats = b.create(Some(&stats_dir)).unwrap();
        stats.handle(h).unwrap().set(hits);
        stats.handle(l).unwrap().set(load);
        stats.handle(s).unwrap().set("running");
        writers.push(stats);
    }
    // A writer that is gone: its file stays behind until cleaned.
    let gone_path = {
        let mut b = MmStats::builder("gone.");
        let x = b.counter("x");
        let stats = b.create(Some(&stats_dir)).unwrap();
        stats.handle(x).unwrap().set(5);
        stats.path().to_path_buf()
    };
    make_dead(&gone_path);
    // Not version 1: skipped and reported; a name the glob does not match: ignored.
    let garbage = stats_dir.join("mmstats-garbage");
    std::fs::write(&garbage, b"\x07not a stats file").unwrap();
    std::fs::write(stats_dir.join("other"), b"\x07").unwrap();

    std::fs::write(
        modules.join("mmstats.conf"),
        format!("files = {}/mmstats-*\n", stats_dir.display()),
    )
    .unwrap();
    let mut loaded = load_modules(&modules, Duration::from_secs(1)).unwrap();
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let c = loaded.modules[0].module.collect();

    assert!(!gone_path.exists(), "the dead writer's file is removed");
    assert!(
        writers.iter().all(|w| w.path().exists()),
        "live writers' files stay"
    );
    assert!(garbage.exists(), "an unreadable file is never removed");
    assert_eq!(c.errors.len(), 1, "{:?}", c.errors);
    assert!(c.errors[0].contains("mmstats-garbage"), "{:?}", c.errors);

    let value = |path: &[&str]| {
        c.samples
            .iter()
            .find(|s| s.path == path)
            .unwrap_or_else(|| panic!("no {path:?} in {:?}", c.samples))
            .value
            .clone()
    };
    assert_eq!(
        value(&["app", "hits"]),
        Value::Number(7.0),
        "counters summed"
    );
    assert_eq!(
        value(&["app", "db", "load"]),
        Value::Number(2.0),
        "gauges averaged"
    );
    assert_eq!(value(&["app", "state"]), Value::Text("running".into()));
    assert!(c.samples.iter().all(|s| s.group == "mmstats"));
    assert!(
        !c.samples
            .iter()
            .any(|s| s.path[0] == "gone" || s.path.contains(&"sys".to_string())),
        "{:?}",
        c.samples
    );

    // Through the agent: `mmstats,<host>,app,hits` with action last.
    let config = AgentConfig {
        servers: Vec::new(),
        host: Some("web1".into()),
        modules: modules.clone(),
        ..AgentConfig::default()
    };
    let mut agent = Agent::new(&config).unwrap();
    let doc = agent.tick(Instant::now()).unwrap();
    let trees = doc.as_array().unwrap();
    let last = trees
        .iter()
        .find(|t| t.pointer("/mmstats/web1/app/hits").is_some())
        .unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(last["default_action"], Json::from("last"));
    assert_eq!(last["mmstats"]["web1"]["app"]["hits"], Json::from(7.0));
}
