//! The original's readers must read files made by the Rust writer: its slurpstats and
//! pollstats decode records with Python's `struct` (`calcsize(type)`, `unpack`), which is
//! what this test runs on a file the writer made, including the space-padded type codes
//! the writer uses to align values.

use std::process::Command;

use treestat_mmstats::MmStats;

/// The original's record loop (pollstats `iter_stats`), made to print `label=value`.
const ORIGINAL_READER: &str = r#"
import struct, sys
m = open(sys.argv[1], 'rb').read()
assert m[0] == 1, 'version'
o = 1
while o + 1 < len(m) and (m[o] or m[o + 1]):
    (label_sz,) = struct.unpack_from('H', m, o); o += 2
    label = m[o:o + label_sz].decode(); o += label_sz
    (type_sz,) = struct.unpack_from('H', m, o); o += 2
    type_ = m[o:o + type_sz].decode(); o += type_sz
    sz = struct.calcsize(type_)
    idx = m[o]; o += 1
    if idx == 255:
        value = struct.unpack_from(type_, m, o)[0]; o += sz
    else:
        value = struct.unpack_from(type_, m, o + sz * (idx ^ 1))[0]; o += 2 * sz
    if isinstance(value, bytes):
        value = value.split(b'\x00', 1)[0].decode('utf8', 'ignore')
    print('%s=%s' % (label, value))
"#;

#[test]
fn python_struct_reads_files_from_the_rust_writer() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = MmStats::builder("py.");
    let hits = b.counter("hits");
    let load = b.gauge("load");
    let state = b.text("state", 10);
    b.static_i64("neg", -5);
    let stats = b.create(Some(dir.path())).unwrap();
    stats.handle(hits).unwrap().add(12_345);
    stats.handle(load).unwrap().set(2.25);
    stats.handle(state).unwrap().set("running");

    let out = Command::new("python3")
        .args(["-c", ORIGINAL_READER])
        .arg(stats.path())
        .output()
        .expect("python3 must be on PATH (the project's machine has Python 3.11)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python failed: {stderr}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.contains(&"py.hits=12345"), "{text}");
    assert!(lines.contains(&"py.load=2.25"));
    assert!(lines.contains(&"py.state=running"));
    assert!(lines.contains(&"py.neg=-5"));
    assert!(lines.contains(&format!("py.sys.pid={}", std::process::id()).as_str()));
    assert_eq!(
        lines.len(),
        9,
        "five default fields and four declared: {text}"
    );
}
