//! The README as a newcomer meets it (issue 18, acceptance 2): every command of
//! README.md's ```sh blocks runs, in the README's order, with `bash -c`, against a real
//! server (the built binary, started as `cargo run --release` starts it) in a temp
//! folder laid out like the clone's root (a copy of `conf/`, the fixture logs the
//! commands name). The defaults' ports (HTTP 8080, TCP/UDP 8007, StatsD 8125, Graphite
//! 2003) are rewritten to free ones, `cargo run --release --` to the built binary,
//! and the client commands find the server through `TREESTAT_SERVER`, as the README
//! says they do.
//!
//! A comment that is the command's output is checked against what it prints (standard
//! output, then standard error; runs of white space compare equal, and `...` stands
//! for any text):
//! - a trailing comment that is JSON (`# [["br,ie,7,venders,sogou",2.0]]`);
//! - the full-line comments under a command that has no trailing comment, or one that
//!   ends with `:` (`treestat report`'s summary, the SimpleStats answer).
//!
//! Every other comment is prose, and its command must exit 0. The commands the test
//! cannot run as printed are in [`special`], each with the reason; an entry the README
//! no longer has fails the test, so the list stays as short as the README needs.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;

mod blocks;
use blocks::{matches, steps};

const BIN: &str = env!("CARGO_BIN_EXE_treestat");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// What the test does instead of running a command as printed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Special {
    /// Not run, for the reason given.
    Skip(&'static str),
    /// The server itself: started by the test before the first command.
    Server,
    /// A command that runs until stopped: started, checked to reach the server, stopped.
    Agent,
    Relay,
    Follow,
    /// Run only when `man` is installed.
    Man,
}

/// The README commands the test cannot run as printed, and why (`cargo run --release
/// -- ARGS` is run as `treestat ARGS`, the built binary, everywhere).
fn special(command: &str) -> Option<Special> {
    let s = match command {
        // What the test does first, with the built binary and free ports; the README's
        // way to start it is checked in `cargo_run_is_the_server`.
        "cargo run --release" => Special::Server,
        // This test is one of them.
        "cargo test --workspace" => Special::Skip("the test suite this test is part of"),
        // A release build into ~/.cargo/bin: minutes of CPU, and the test already has
        // the binary (on PATH as `treestat` for the commands that follow).
        c if c.starts_with("cargo install ") => {
            Special::Skip("builds and installs; the test puts the built binary on PATH")
        }
        // Pipes the manual to man(1), which a minimal system may lack.
        "treestat man | man -l -" => Special::Man,
        // Agent, relay and follower run until stopped: each is started, seen to push
        // to the server, and stopped with SIGTERM.
        c if c.starts_with("cargo run --release -- agent --server ") => Special::Agent,
        c if c.starts_with("cargo run --release -- relay ") => Special::Relay,
        // Follows /var/log/nginx/access.log, which the test cannot write: it follows a
        // log in the temp folder instead and appends lines to it.
        c if c.starts_with("cargo run --release -- tail ") && c.contains(" --server ") => {
            Special::Follow
        }
        _ => return None,
    };
    Some(s)
}

/// The free ports standing in for the defaults.
struct Ports {
    http: u16,
    /// TCP and UDP, as 8007 is both.
    tcp: u16,
    statsd: u16,
    graphite: u16,
    relay: u16,
}

impl Ports {
    fn pick() -> Ports {
        // The TCP port must be free for UDP too, and StatsD's is a UDP port.
        let tcp = loop {
            let p = common::free_port();
            if std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok() {
                break p;
            }
        };
        let statsd = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (http, graphite, relay) = loop {
            let p = [
                common::free_port(),
                common::free_port(),
                common::free_port(),
            ];
            if !p.contains(&tcp) && p[0] != p[1] && p[1] != p[2] && p[0] != p[2] {
                break (p[0], p[1], p[2]);
            }
        };
        Ports {
            http,
            tcp,
            statsd,
            graphite,
            relay,
        }
    }
}

/// Replaces the port `from` by `to` where it follows `:` or a space and ends a number.
fn replace_port(text: &str, from: u16, to: u16) -> String {
    let from = from.to_string();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(&from) {
        let before = rest[..i].chars().last().or(out.chars().last());
        let after = rest[i + from.len()..].chars().next();
        out.push_str(&rest[..i]);
        if matches!(before, Some(':' | ' ')) && !after.is_some_and(|c| c.is_ascii_digit()) {
            out.push_str(&to.to_string());
        } else {
            out.push_str(&from);
        }
        rest = &rest[i + from.len()..];
    }
    out.push_str(rest);
    out
}

/// The command as the test runs it.
fn rewrite(command: &str, ports: &Ports) -> String {
    let mut c = command.replace("cargo run --release -- ", "treestat ");
    // The relay runs beside the server here, not on another host: its own port.
    c = c.replace(
        "--listen tcp://0.0.0.0:8007",
        &format!("--listen tcp://0.0.0.0:{}", ports.relay),
    );
    c = c.replace("/var/log/nginx/access.log", "follow.log");
    for (from, to) in [
        (8080, ports.http),
        (8007, ports.tcp),
        (8125, ports.statsd),
        (2003, ports.graphite),
    ] {
        c = replace_port(&c, from, to);
    }
    c
}

/// The temp folder the commands run in, and their environment.
struct Walk {
    dir: tempfile::TempDir,
    bin_dir: PathBuf,
    base: String,
}

impl Walk {
    fn bash(&self, command: &str) -> Command {
        let path = format!(
            "{}:{}",
            self.bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut c = Command::new("bash");
        c.args(["-o", "pipefail", "-c", command])
            .current_dir(self.dir.path())
            .env("PATH", path)
            .env("HOME", self.dir.path().join("home"))
            .env("TREESTAT_SERVER", &self.base)
            .env("MANPAGER", "cat")
            .env("NO_COLOR", "1")
            .env_remove("TREESTAT_TOKEN")
            .env_remove("RUST_LOG");
        c
    }

    /// Runs `command` to its end (at most 5 minutes): exit status, then standard output
    /// followed by standard error.
    fn run(&self, command: &str) -> (std::process::ExitStatus, String) {
        let mut child = self
            .bash(command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("bash runs");
        let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let e = std::thread::spawn(move || {
            let mut s = Vec::new();
            std::io::Read::read_to_end(&mut err, &mut s).ok();
            s
        });
        let mut o = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut o).ok();
        let status = wait_or_kill(&mut child, Duration::from_secs(300), command);
        let mut text = String::from_utf8_lossy(&o).into_owned();
        text.push_str(&String::from_utf8_lossy(&e.join().unwrap()));
        (status, text)
    }

    /// Starts a command that runs until stopped, its output in a file of the temp folder
    /// (killed if the test fails before it is stopped).
    fn start(&self, command: &str, log: &str) -> Guard {
        let f = std::fs::File::create(self.dir.path().join(log)).unwrap();
        let child = self
            .bash(&format!("exec {command}"))
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .expect("bash runs");
        Guard(Some(child))
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

fn wait_or_kill(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("`{what}` still runs after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops a long-running command with SIGTERM, as Ctrl-C would, and waits for it.
fn stop(mut guard: Guard, what: &str) {
    let mut child = guard.0.take().unwrap();
    // SAFETY: kill(2) on the pid of our own child, which has not been waited for.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = wait_or_kill(&mut child, Duration::from_secs(120), what);
    assert!(status.success(), "`{what}` stopped with {status}");
}

/// A counter or gauge from the server's `/metrics`.
fn metric(base: &str, name: &str) -> f64 {
    common::get_text(&format!("{base}/metrics"))
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

fn fixture(name: &str) -> PathBuf {
    let p = Path::new(ROOT).join("../shared/testdata/logs").join(name);
    assert!(p.exists(), "test data missing: {}", p.display());
    p
}

fn gzip_to(src: &Path, dst: &Path) {
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(dst).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(&std::fs::read(src).unwrap()).unwrap();
    gz.finish().unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn cargo_run_is_the_server() {
    // `cargo run --release` runs the package's default binary with no arguments, which
    // is `treestat serve` with the defaults (tests/cli.rs parses the empty command).
    let manifest = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap();
    assert!(manifest.contains("\ndefault-run = \"treestat\"\n"));
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let first = &steps(&readme)[0];
    assert_eq!(first.command, "cargo run --release");
    assert!(first.comment.as_deref().unwrap().starts_with("the server"));
}

/// "Run the agent on another host": an installed `treestat agent` runs where no
/// `conf/` is, and finds the modules as the server's host modules do (the checkout it
/// was built from). It stopped at once with `conf/modules: No such file or directory`.
#[test]
fn the_agent_runs_from_any_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["agent", "modules"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().take(2).eq(["cpu", "on"])),
        "{table}"
    );
}

#[test]
fn ports_are_rewritten_only_where_they_are_ports() {
    assert_eq!(
        replace_port("localhost:8080/x 8007 18007 2003x :2003", 8080, 1),
        "localhost:1/x 8007 18007 2003x :2003"
    );
    assert_eq!(
        replace_port("nc -q1 localhost 2003", 2003, 9),
        "nc -q1 localhost 9"
    );
}

#[test]
fn every_readme_command_runs_as_printed() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    for tool in ["curl", "nc"] {
        if !have(tool) {
            assert!(!ci, "{tool} is missing under CI=true (.ci/run installs it)");
            eprintln!("skipped: the README's commands need {tool} (Debian: curl, netcat-openbsd)");
            return;
        }
    }
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let steps = steps(&readme);
    assert!(
        steps.len() >= 30,
        "only {} README commands found",
        steps.len()
    );

    // The temp folder stands for the clone's root: conf/ (the agent reads
    // conf/agent.toml and conf/modules there), the logs the commands name.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy_dir(&Path::new(ROOT).join("conf"), &d.join("conf"));
    let log = fixture("mtail-apache-combined.log");
    for name in ["access.log", "access.log.1"] {
        std::os::unix::fs::symlink(&log, d.join(name)).unwrap();
    }
    gzip_to(&log, &d.join("access.log.2.gz"));
    std::fs::create_dir(d.join("old")).unwrap();
    gzip_to(&log, &d.join("old/access.log.3.gz"));
    std::fs::write(d.join("follow.log"), "").unwrap();
    std::fs::create_dir(d.join("home")).unwrap();
    let bin_dir = d.join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    std::os::unix::fs::symlink(BIN, bin_dir.join("treestat")).unwrap();

    let ports = Ports::pick();
    let walk = Walk {
        dir,
        bin_dir,
        base: format!("http://127.0.0.1:{}", ports.http),
    };
    // `cargo run --release`: the server with its defaults, on the free ports.
    let server = walk.start(
        &format!(
            "treestat serve --http 127.0.0.1:{} --tcp 127.0.0.1:{t} --udp 127.0.0.1:{t} \
             --statsd 127.0.0.1:{} --graphite 127.0.0.1:{}",
            ports.http,
            ports.statsd,
            ports.graphite,
            t = ports.tcp
        ),
        "server.log",
    );
    let base = walk.base.clone();
    common::wait_for("the server's /health", || {
        ureq::get(&format!("{base}/health")).call().ok()
    });

    let mut used: Vec<Special> = Vec::new();
    for step in &steps {
        let at = format!("README.md:{} `{}`", step.line, step.command);
        let command = rewrite(&step.command, &ports);
        let special = special(&step.command);
        if let Some(s) = special {
            used.push(s);
        }
        match special {
            Some(Special::Skip(why)) => eprintln!("{at}: not run: {why}"),
            Some(Special::Server) => {}
            Some(Special::Man) if !have("man") => eprintln!("{at}: not run: no man(1) here"),
            Some(Special::Agent) => {
                let before = metric(&base, "treestat_http_bytes_total");
                let child = walk.start(&command, "agent.log");
                common::wait_for("the agent's first push", || {
                    (metric(&base, "treestat_http_bytes_total") > before).then_some(())
                });
                stop(child, &at);
                eprintln!("{at}: ok, pushed to the server, stopped");
            }
            Some(Special::Relay) => {
                let child = walk.start(&command, "relay.log");
                let relay = ("127.0.0.1", ports.relay);
                let mut conn = common::wait_for("the relay's listener", || {
                    std::net::TcpStream::connect(relay).ok()
                });
                conn.write_all(b"{\"readme\":{\"relayed\":1}}\n").unwrap();
                common::wait_for("the relayed push on the server", || {
                    common::get_values(&base, "readme,relayed")
                        .get("readme,relayed")
                        .copied()
                        .filter(|v| *v == 1.0)
                });
                drop(conn);
                stop(child, &at);
                eprintln!("{at}: ok, forwarded a push to the server, stopped");
            }
            Some(Special::Follow) => {
                let child = walk.start(&command, "follow-tail.log");
                // The follower reads from the end of the log: a line is appended each
                // second until one reaches the server.
                let line = "127.0.0.1 - - [01/Nov/2023:00:00:00 +0000] \"GET /readme HTTP/1.1\" 418 5 \"-\" \"curl/8.4.0\"\n";
                common::wait_for("the followed line on the server", || {
                    let mut f = std::fs::OpenOptions::new()
                        .append(true)
                        .open(walk.dir.path().join("follow.log"))
                        .unwrap();
                    f.write_all(line.as_bytes()).unwrap();
                    let got = common::get_values(&base, "status,4xx,418");
                    if got.is_empty() {
                        std::thread::sleep(Duration::from_millis(900));
                        return None;
                    }
                    Some(())
                });
                stop(child, &at);
                eprintln!("{at}: ok, pushed an appended line to the server, stopped");
            }
            None | Some(Special::Man) => {
                assert!(
                    !command.contains("cargo "),
                    "{at}: a cargo command the test does not know how to run: add it to `special`"
                );
                run_checked(&walk, &at, &command, step.expected().as_deref());
            }
        }
    }
    for s in [
        Special::Server,
        Special::Agent,
        Special::Relay,
        Special::Follow,
        Special::Man,
    ] {
        assert!(
            used.contains(&s),
            "the README no longer has the {s:?} command: remove it from `special`"
        );
    }

    stop(server, "the server");

    // `curl -so FILE` exits 0 whatever the server answers: the files the commands
    // wrote must be what their names say.
    let read = |name: &str| std::fs::read(walk.dir.path().join(name)).unwrap();
    for (name, magic) in [
        ("cpu.png", &b"\x89PNG"[..]),
        ("net.png", b"\x89PNG"),
        ("load.svg", b"<svg"),
        ("net.pdf", b"%PDF-"),
        ("report.html", b"<!doctype html>"),
    ] {
        assert!(
            read(name).starts_with(magic),
            "{name} is not what its name says"
        );
    }
    let report: serde_json::Value = serde_json::from_slice(&read("report.json")).unwrap();
    assert!(report["panels"].is_array(), "report.json: {report}");
    let export = String::from_utf8(read("cpu.ndjson")).unwrap();
    assert!(export.lines().count() >= 2, "cpu.ndjson: {export}");
    for line in export.lines() {
        let row: serde_json::Value = serde_json::from_str(line).expect(line);
        assert!(row[0].as_str().unwrap().starts_with("cpu,"), "{line}");
    }
    let completions = String::from_utf8(read(
        "home/.local/share/bash-completion/completions/treestat",
    ))
    .unwrap();
    assert!(completions.contains("complete "), "{completions}");
}

/// Runs one command; it must exit 0 and, when the README shows its output, print
/// that. A command whose output differs is run again for up to a minute: what it
/// reads may still be on its way (StatsD datagrams the server has not yet taken). The
/// README's checked commands are reads, reports of a file, and a SimpleStats push of
/// a key nothing reads, so running one again changes no later answer.
fn run_checked(walk: &Walk, at: &str, command: &str, expected: Option<&str>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, output) = walk.run(command);
        assert!(
            status.success(),
            "{at} (run as `{command}`) failed with {status}:\n{output}\nserver log:\n{}",
            walk.log("server.log")
        );
        let Some(expected) = expected else {
            eprintln!("{at}: ok");
            return;
        };
        if matches(expected, &output) {
            eprintln!("{at}: ok, printed what the README shows");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{at} (run as `{command}`) printed\n{output}\nbut the README shows\n{expected}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A long-running child, killed if the test fails before stopping it.
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }
}
