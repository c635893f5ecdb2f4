//! `treestat tail` through the pipes: gzip files and stdin read like the plain log,
//! and a stdin pipe that stays open is flushed.

use super::*;

/// `treestat tail ... --once`: its stdout (the tree), stderr and success.
fn tail_once(input: &Path, stdin: Option<&[u8]>) -> (serde_json::Value, String, bool) {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_treestat"))
        .args(["tail", "--format", "combined", "--once"])
        .arg(input)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        pipe.write_all(bytes).unwrap();
    }
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let tree = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not a tree ({e}); stderr: {stderr}"));
    (tree, stderr, out.status.success())
}

fn gzip(parts: &[&[u8]]) -> Vec<u8> {
    use std::io::Write as _;
    let mut all = Vec::new();
    for part in parts {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(part).unwrap();
        all.extend(gz.finish().unwrap());
    }
    all
}

/// Rotated logs are often gzip files, and logs are often piped: `tail` reads a `.gz`
/// (all its members, as zcat does) and `-` to the same tree as the plain file. A
/// truncated `.gz` keeps the lines before the break and fails the run by name; a
/// 5 MB line is cut, not buffered whole, and the lines after it still count.
#[test]
fn tail_reads_gzip_files_and_stdin_like_the_plain_log() {
    let log = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/testdata/logs/mtail-apache-combined.log");
    let text = std::fs::read(&log).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (plain, err, ok) = tail_once(&log, None);
    assert!(ok, "{err}");
    let lines = &plain["_treestat"]["pipes"]["tail"]["lines"];
    assert!(lines.as_f64().unwrap() >= 3.0, "{plain}");

    // Two gzip members, split mid-file at a line boundary.
    let cut = text.iter().position(|&b| b == b'\n').unwrap() + 1;
    let gz = dir.path().join("access.log.2.gz");
    std::fs::write(&gz, gzip(&[&text[..cut], &text[cut..]])).unwrap();
    let (tree, err, ok) = tail_once(&gz, None);
    assert!(ok, "{err}");
    assert_eq!(tree, plain, "the .gz reads as the plain file");

    let (tree, err, ok) = tail_once(Path::new("-"), Some(&text));
    assert!(ok, "{err}");
    assert_eq!(tree, plain, "standard input reads as the plain file");

    // Not gzip, whatever its name says: followed as a plain file.
    let fake = dir.path().join("plain.gz");
    std::fs::write(&fake, &text).unwrap();
    assert_eq!(tail_once(&fake, None).0, plain);

    // A truncated archive: the lines before the break count, and the run says which
    // file broke off and fails.
    let many: Vec<u8> = text
        .iter()
        .copied()
        .cycle()
        .take(text.len() * 400)
        .collect();
    let whole = gzip(&[&many]);
    let broken = dir.path().join("access.log.3.gz");
    std::fs::write(&broken, &whole[..whole.len() * 3 / 4]).unwrap();
    let (tree, err, ok) = tail_once(&broken, None);
    assert!(!ok, "a truncated .gz must fail the run");
    assert!(
        err.contains("access.log.3.gz") && err.contains("broke off"),
        "{err}"
    );
    let read = tree["_treestat"]["pipes"]["tail"]["lines"]
        .as_f64()
        .unwrap();
    let all = lines.as_f64().unwrap() * 400.0;
    assert!(read > 0.0 && read < all, "{read} of {all} lines kept");

    // One 5 MB line before the good ones: cut, counted as bad, and harmless.
    let mut hostile = vec![b'A'; 5 << 20];
    hostile.push(b'\n');
    hostile.extend_from_slice(&text);
    let (tree, err, ok) = tail_once(Path::new("-"), Some(&hostile));
    assert!(ok, "{err}");
    let tail = &tree["_treestat"]["pipes"]["tail"];
    assert_eq!(&tail["lines"], lines, "every good line after the long one");
    assert_eq!(
        tail["bad_lines"].as_f64().unwrap_or(0.0),
        plain["_treestat"]["pipes"]["tail"]["bad_lines"]
            .as_f64()
            .unwrap_or(0.0)
            + 1.0
    );
}

/// `tail -` without `--once` (a `tail -F access.log | treestat tail -` pipe) flushes on
/// its interval while standard input stays open and idle.
#[test]
fn tail_flushes_a_stdin_pipe_that_stays_open() {
    use std::io::{BufRead as _, Write as _};
    let log = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/testdata/logs/mtail-apache-combined.log");
    let text = std::fs::read(&log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_treestat"))
        .args(["tail", "--format", "combined", "--interval", "1s", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&text).unwrap();
    stdin.flush().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // A bound for a broken build only: a working one prints within about a second.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut seen = None;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        let Ok(line) = rx.recv_timeout(left) else {
            break;
        };
        let tree: serde_json::Value = serde_json::from_str(&line).unwrap();
        if tree["_treestat"]["pipes"]["tail"]["lines"].as_f64() == Some(5.0) {
            seen = Some(tree);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(stdin);
    let tree = seen.expect("no flushed tree with the 5 lines while stdin stayed open");
    assert_eq!(tree["status"]["2xx"]["200"], 4.0);
}
