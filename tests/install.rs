//! A server that installs like one (issue 18): the systemd unit in `packaging/` passes
//! `systemd-analyze verify`; a configuration's relative paths are taken from its own
//! folder whatever the working folder; without `--conf` the server reads
//! `./treestat.toml`; logs go to stderr, plain off a terminal, or as JSON lines with
//! `--log-format json`. Each runs the real binary as a child process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use clap::Parser;
use serde_json::Value as Json;
use treestat::cli::Cli;

use crate::common;

use common::{free_port, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_treestat");

/// The repository's unit file.
fn unit_text() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/treestat.service"),
    )
    .expect("packaging/treestat.service")
}

/// A program on `PATH`, or `None`.
fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Says why a test does not run; under `CI=true` (where `.ci/run` installs what it
/// needs) that is a failure.
fn skip(why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but {why}"
    );
    eprintln!("SKIPPED: {why}");
}

/// The unit asks for what the issue names, its ExecStart is a command line the binary
/// takes, and `systemd-analyze verify` passes it without one complaint (a misspelt key
/// or value is only a warning there, so its stderr must be empty too). verify needs
/// ExecStart's binary and the `man:` page of `Documentation=` to exist: a copy of the
/// unit runs the built binary, and `treestat man` writes the page into a MANPATH.
#[test]
fn the_systemd_unit_verifies() {
    let unit = unit_text();
    for line in [
        "DynamicUser=yes",
        "StateDirectory=treestat",
        "ProtectSystem=strict",
        "Documentation=man:treestat(1)",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit lacks {line}");
    }
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart= line");
    let argv: Vec<&str> = exec.split_whitespace().collect();
    assert_eq!(argv[0], "/usr/local/bin/treestat", "{exec}");
    assert!(
        exec.contains(" serve --conf /etc/treestat/treestat.toml"),
        "{exec}"
    );
    if let Err(e) = Cli::try_parse_from(&argv) {
        panic!("ExecStart does not parse: {e}");
    }

    let Some(analyze) = which("systemd-analyze") else {
        skip("no systemd-analyze (Debian package systemd) to verify packaging/treestat.service");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("treestat.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/treestat", BIN)).unwrap();
    let mut cmd = Command::new(analyze);
    if which("man").is_some() {
        let man1 = dir.path().join("man/man1");
        std::fs::create_dir_all(&man1).unwrap();
        let page = run(&["man"], None);
        assert!(page.status.success(), "{}", text(&page.stderr));
        std::fs::write(man1.join("treestat.1"), &page.stdout).unwrap();
        cmd.env("MANPATH", dir.path().join("man"));
    } else {
        eprintln!("no `man` here: the Documentation= page is not checked");
        cmd.arg("--man=no");
    }
    let out = cmd.arg("verify").arg(&copy).output().unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify failed: {err}");
    // verify loads the units ours pulls in (multi-user.target and what it wants), so
    // it also warns about other packages' units installed here (Debian's
    // carbon-cache.service, from graphite-carbon that the forward tests need, uses the
    // obsolete StandardOutput=syslog): those lines name their own file, not ours.
    let ours: Vec<&str> = err
        .lines()
        .filter(|l| !l.starts_with('/') || l.starts_with(&*copy.to_string_lossy()))
        .collect();
    assert!(
        ours.iter().all(|l| l.trim().is_empty()),
        "systemd-analyze verify complains: {err}"
    );

    // The check has teeth: a misspelt setting is reported.
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/treestat", BIN)
            .replace("ProtectSystem=strict", "ProtectSystem=strictly"),
    )
    .unwrap();
    let out = Command::new(which("systemd-analyze").unwrap())
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(text(&out.stderr).contains("strictly"), "{out:?}");
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the binary to its end, in `dir` when given, without the environment variables
/// that change its defaults.
fn run(args: &[&str], dir: Option<&Path>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("TREESTAT_SERVER")
        .env_remove("TREESTAT_LOG_FORMAT");
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    cmd.output().unwrap()
}

/// A running `treestat serve`, killed when dropped.
struct Serve {
    child: Child,
    http: u16,
}

impl Serve {
    /// Starts `treestat ARGS` in `dir` with stderr (the log) into `dir/stderr.log`, and
    /// waits until its HTTP port answers.
    fn start(dir: &Path, args: &[&str], http: u16) -> Serve {
        let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
        let child = Command::new(BIN)
            .current_dir(dir)
            .args(args)
            .env_remove("TREESTAT_LOG_FORMAT")
            .env("RUST_LOG", "info")
            .stdout(std::fs::File::create(dir.join("stdout.log")).unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut s = Serve { child, http };
        wait_for("the server's HTTP port", || {
            if let Ok(Some(status)) = s.child.try_wait() {
                panic!(
                    "treestat exited ({status}): {}",
                    std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
                );
            }
            std::net::TcpStream::connect(("127.0.0.1", s.http)).ok()
        });
        s
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    /// SIGTERM, and waits for the exit (the shutdown is logged).
    fn stop(mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status:?}");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every listener but HTTP off, no host modules, 1 s intervals.
fn quiet_server_section(http: u16) -> String {
    format!(
        "[server]\nhttp = \"127.0.0.1:{http}\"\nagent = false\n\
         [listen]\ntcp = \"off\"\nudp = \"off\"\nstatsd = \"off\"\ngraphite = \"off\"\n\
         [engine]\ninterval = \"1s\"\n"
    )
}

/// Issue 18: `--conf etc/treestat.toml` started from an unrelated working folder takes
/// the file's relative paths from `etc/`: the data folder (`state`), a `[[tail]]` log
/// (`logs/access.log`) and a pipe's file (the geo pipe's `geo/City.mmdb`). Before, they
/// were taken from the working folder: the geo database was not found and the server
/// did not start.
#[test]
fn relative_paths_in_the_conf_are_taken_from_its_folder() {
    let top = tempfile::tempdir().unwrap();
    let etc = top.path().join("etc");
    let elsewhere = top.path().join("elsewhere");
    for d in [etc.join("logs"), etc.join("geo"), elsewhere.clone()] {
        std::fs::create_dir_all(d).unwrap();
    }
    let db = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/testdata/geoip/GeoLite2-City-Test.mmdb");
    assert!(db.is_file(), "missing test data: {}", db.display());
    std::os::unix::fs::symlink(&db, etc.join("geo/City.mmdb")).unwrap();
    std::fs::write(
        etc.join("logs/access.log"),
        "81.2.69.142 - - [10/Oct/2023:13:55:36 +0000] \"GET / HTTP/1.1\" 200 12 \"-\" \"curl/8\"\n",
    )
    .unwrap();
    let http = free_port();
    let section = quiet_server_section(http).replace("[server]\n", "[server]\ndata = \"state\"\n");
    std::fs::write(
        etc.join("treestat.toml"),
        format!(
            "{section}\
             [[tail]]\npaths = [\"logs/access.log\"]\nfrom_start = true\n\
             [tail.pipeline]\nname = \"www\"\nformat = \"combined\"\n\
             pipes = [\"status\", {{ pipe = \"geo\", path = \"geo/City.mmdb\" }}]\n"
        ),
    )
    .unwrap();
    let conf = etc.join("treestat.toml");
    let server = Serve::start(
        &elsewhere,
        &["serve", "--conf", conf.to_str().unwrap()],
        http,
    );
    let base = server.base();
    let london = wait_for("the tailed line's geo counts", || {
        let v = common::get_values(&base, "geo,EU,GB,London");
        v.get("geo,EU,GB,London").copied()
    });
    assert_eq!(london, 1.0);
    server.stop();
    assert!(etc.join("state").is_dir(), "the data folder is etc/state");
    assert!(
        !elsewhere.join("state").exists(),
        "nothing in the working folder"
    );
    let log = std::fs::read_to_string(elsewhere.join("stderr.log")).unwrap();
    assert!(
        log.contains(&format!("configuration: {} (--conf)", conf.display())),
        "{log}"
    );
}

/// Issue 18: without `--conf`, `./treestat.toml` is read (before, the embedded defaults
/// always ran, on port 8080), and the log says which file; a broken one is an error of
/// one line naming the file, the line and the key, status 1, never a backtrace (with
/// `RUST_BACKTRACE=1` the old `main` printed "Caused by" and a stack backtrace).
#[test]
fn without_conf_the_working_folders_treestat_toml_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_port();
    std::fs::write(
        dir.path().join("treestat.toml"),
        quiet_server_section(http).replace("[server]\n", "[server]\ndata = \"here\"\n"),
    )
    .unwrap();
    let server = Serve::start(dir.path(), &["serve"], http);
    assert_eq!(
        common::get_text(&format!("{}/get/nothing", server.base())),
        "[]"
    );
    server.stop();
    assert!(dir.path().join("here").is_dir());
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(log.contains("treestat.toml (found; no --conf)"), "{log}");

    std::fs::write(
        dir.path().join("treestat.toml"),
        "[server]\nagent = false\nhtpp = \"off\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .arg("serve")
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    let line = lines[0];
    assert!(
        line.starts_with("error: in ./treestat.toml: line 3, column 1: unknown field `htpp`"),
        "{line}"
    );
    assert!(
        !err.contains("acktrace") && !err.contains("Caused by"),
        "{err}"
    );
}

/// Issue 18: `--log-format json` writes one JSON object per line on stderr: time
/// (RFC 3339, UTC), level, target, message and the event's fields with their types;
/// stdout stays empty. Before, the flag did not exist, and logs went to stdout.
#[test]
fn log_format_json_writes_one_object_per_line_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_port();
    let log = serve_and_stop(dir.path(), http, &["--log-format", "json"]);
    let lines: Vec<Json> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(lines.len() >= 3, "{log}");
    for l in &lines {
        let keys: Vec<&str> = l.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            {
                let mut k = keys.clone();
                k.sort_unstable();
                k
            },
            ["fields", "level", "message", "target", "time"],
            "{l}"
        );
        let time = l["time"].as_str().unwrap();
        assert!(
            time.starts_with("20") && time.ends_with('Z') && time.contains('T'),
            "{l}"
        );
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&l["level"].as_str().unwrap()),
            "{l}"
        );
        assert!(l["target"].as_str().unwrap().starts_with("treestat"), "{l}");
        assert!(l["fields"].is_object(), "{l}");
    }
    let store = lines
        .iter()
        .find(|l| l["message"] == "trend store open")
        .expect("the store's line");
    assert_eq!(
        store["fields"]["data"],
        dir.path().join("data").display().to_string()
    );
    assert_eq!(store["fields"]["leaves"], 0, "a number stays a number");
    assert!(lines.iter().any(|l| l["message"] == "shutting down"));
}

/// Text logs go to stderr too, and carry no colour codes off a terminal (before, they
/// went to stdout with ANSI colours into any file or pipe).
#[test]
fn text_logs_go_to_stderr_without_colour_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_port();
    let log = serve_and_stop(dir.path(), http, &[]);
    assert!(
        log.contains(" INFO ") && log.contains("trend store open"),
        "{log}"
    );
    assert!(!log.contains('\u{1b}'), "colour codes in a file: {log:?}");
}

/// Starts `serve` in `dir` with HTTP on `http`, every other listener and the agent off,
/// and `extra` flags; stops it and answers its stderr (its stdout must stay empty).
fn serve_and_stop(dir: &Path, http: u16, extra: &[&str]) -> String {
    let data = dir.join("data");
    let listen = format!("127.0.0.1:{http}");
    let mut args = vec!["serve", "--data", data.to_str().unwrap(), "--http", &listen];
    args.extend([
        "--tcp",
        "off",
        "--udp",
        "off",
        "--statsd",
        "off",
        "--graphite",
        "off",
        "--no-agent",
    ]);
    args.extend(extra);
    Serve::start(dir, &args, http).stop();
    assert_eq!(std::fs::read(dir.join("stdout.log")).unwrap(), b"");
    std::fs::read_to_string(dir.join("stderr.log")).unwrap()
}
