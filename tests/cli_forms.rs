//! The command line's forms of issue 18, against the real binary and a real server:
//! `query --json`, `TREESTAT_SERVER`, the values of every fixed-list flag in `--help`,
//! errors on one line, `completions SHELL` and `man`.

use std::path::Path;
use std::process::{Command, Output};

use clap::Parser;
use serde_json::{Value as Json, json};
use treestat::cli::Cli;
use treestat::server::Server;

use crate::common;

const BIN: &str = env!("CARGO_BIN_EXE_treestat");

/// `treestat ARGS` with `TREESTAT_SERVER` set to `server` (or removed).
fn treestat(server: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("TREESTAT_SERVER")
        .env_remove("TREESTAT_LOG_FORMAT");
    if let Some(s) = server {
        cmd.env("TREESTAT_SERVER", s);
    }
    cmd.output().unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A URL where nothing listens.
fn nowhere() -> String {
    format!("http://127.0.0.1:{}", common::free_port())
}

/// `query --json` prints the server's answer as JSON (current values, and with
/// `--from` the series list); `TREESTAT_SERVER` sets `--server` of push, query, graph
/// and export, and `--server` wins over it. Before, `--json` was refused and every
/// command without `--server` went to 127.0.0.1:8080.
#[test]
fn query_json_and_the_server_from_the_environment() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = rt
        .block_on(Server::start(common::quiet_config(dir.path())))
        .unwrap();
    let base = common::base(&server);
    let env = Some(base.as_str());

    stdout(&treestat(env, &["push", r#"{"br":{"ie":3,"ff":2.5}}"#]));
    assert_eq!(
        stdout(&treestat(env, &["query", "br,*"])),
        "br,ff\t2.5\nbr,ie\t3\n"
    );
    let answer: Json = serde_json::from_str(&stdout(&treestat(env, &["query", "br,*", "--json"])))
        .expect("one JSON document");
    assert_eq!(answer, json!([["br,ff", 2.5], ["br,ie", 3.0]]));
    assert_eq!(
        answer,
        common::get_json(&format!("{base}/get/br,*")),
        "the same answer as /get"
    );
    // The flag wins over the environment.
    let out = treestat(
        Some(&nowhere()),
        &["query", "br,ie", "--server", &base, "--json"],
    );
    assert_eq!(stdout(&out).trim(), r#"[["br,ie",3.0]]"#);

    // With --from: the series list of /trend, once an interval has closed.
    let series = common::wait_for("a closed interval in the store", || {
        let out = treestat(env, &["query", "br,ie", "--from", "-1h", "--json"]);
        let v: Json = serde_json::from_str(&stdout(&out)).expect("JSON");
        (v[0]["points"].as_array().is_some_and(|p| !p.is_empty())).then_some(v)
    });
    assert_eq!(series[0]["path"], "br,ie");
    assert_eq!(series[0]["points"][0][1], 3.0);

    let png = dir.path().join("c.png");
    stdout(&treestat(
        env,
        &[
            "graph",
            "br,*",
            "-o",
            png.to_str().unwrap(),
            "--type",
            "STACK",
            "--legend",
            "no",
        ],
    ));
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    let csv = stdout(&treestat(
        env,
        &["export", "br,ie", "--format", "csv", "--from", "-1h"],
    ));
    assert!(
        csv.starts_with("path,ts,value\n") && csv.contains("\"br,ie\",") && csv.ends_with(",3\n"),
        "{csv}"
    );
    // --data (a store, no server) is not in conflict with a server from the environment.
    let other = tempfile::tempdir().unwrap();
    let out = treestat(
        Some(&nowhere()),
        &["export", "br", "--data", other.path().to_str().unwrap()],
    );
    assert_eq!(stdout(&out), "");
    common::stop(&rt, server);
}

/// Every flag with a fixed list of values lists them in `--help`; the other spellings
/// the server takes still parse (any case, `stack`, `false`, `avg`, `jsonl`), and
/// others are refused before any request.
#[test]
fn fixed_list_flags_list_their_values_and_keep_their_spellings() {
    let help = |cmd: &str| stdout(&treestat(None, &[cmd, "--help"]));
    let graph = help("graph");
    for values in [
        "[possible values: default, cpu, net, url]",
        "[possible values: line, area, stacked, bar]",
        "[possible values: light, dark]",
        "[possible values: on, off]",
    ] {
        assert!(
            graph.contains(values),
            "graph --help lacks {values}: {graph}"
        );
    }
    assert!(help("export").contains("[possible values: ndjson, csv]"));
    let import = help("import");
    assert!(
        import.contains("[possible values: ndjson, csv]"),
        "{import}"
    );
    assert!(
        import.contains("[possible values: add, average, max, min, last, histogram]"),
        "{import}"
    );
    let serve = help("serve");
    assert!(
        serve.contains("text:") && serve.contains("json:"),
        "{serve}"
    );
    assert!(serve.contains("[env: TREESTAT_LOG_FORMAT="), "{serve}");
    assert!(help("query").contains("[env: TREESTAT_SERVER="));

    let parses = |args: &str| Cli::try_parse_from(args.split_whitespace()).is_ok();
    for ok in [
        "treestat graph x -o a.png --style CPU --type stack --theme Dark --legend false",
        "treestat graph x -o a.png --type bars --legend 1",
        "treestat export x --format jsonl",
        "treestat import x.csv --format csv --action avg",
        "treestat import x --action TIMER",
        "treestat --log-format json serve",
        "treestat serve --log-format text",
        "treestat agent modules --log-format json",
        "treestat query x --json --from -1h",
        "treestat completions zsh",
        "treestat man",
        "treestat man serve",
    ] {
        assert!(parses(ok), "refused: {ok}");
    }
    for bad in [
        "treestat graph x -o a.png --type pie",
        "treestat graph x -o a.png --legend maybe",
        "treestat export x --format xml",
        "treestat import x --action median",
        "treestat serve --log-format yaml",
        "treestat completions tcsh",
        "treestat export x --server http://127.0.0.1:8080 --data /tmp/d",
    ] {
        assert!(!parses(bad), "parses: {bad}");
    }
}

/// A user error is one line on stderr, `error: ` and its causes, status 1, whatever
/// `RUST_BACKTRACE` says (the old `main` returned the error: "Error: ..., Caused by:"
/// over several lines and, with RUST_BACKTRACE=1, a stack backtrace). Usage errors are
/// clap's, status 2.
#[test]
fn a_user_error_is_one_line_without_a_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    for args in [
        vec!["query", "x", "--server", &nowhere()],
        vec!["serve", "--conf", missing.to_str().unwrap()],
        vec!["push", "{not json"],
        vec!["man", "nosuchcommand"],
    ] {
        let out = Command::new(BIN)
            .args(&args)
            .env("RUST_BACKTRACE", "full")
            .env("RUST_LIB_BACKTRACE", "1")
            .env_remove("TREESTAT_SERVER")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
    }
    let out = treestat(None, &["serve", "--conf", missing.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("missing.toml") && err.contains("No such file"),
        "{err}"
    );
    let out = treestat(None, &["graph", "x", "-o", "a.png", "--type", "pie"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: invalid value 'pie'"), "{err}");
}

/// `completions SHELL` prints a script the shell takes; `man` a roff page (`man -l`
/// renders it where man-db is installed), `man serve` that command's page.
#[test]
fn completions_and_man_pages_print_to_stdout() {
    let bash = stdout(&treestat(None, &["completions", "bash"]));
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("treestat.bash");
    std::fs::write(&script, &bash).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p treestat",
            script.display()
        ))
        .output()
        .unwrap();
    let registered = stdout(&out);
    assert!(registered.contains("_treestat") && registered.trim_end().ends_with("treestat"));
    assert!(bash.contains("serve") && bash.contains("--log-format"));
    assert!(stdout(&treestat(None, &["completions", "zsh"])).starts_with("#compdef treestat"));
    assert!(stdout(&treestat(None, &["completions", "fish"])).contains("complete -c treestat"));

    // A reader that went away (`treestat man | head -1`) is no error to report.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(BIN)
        .arg("man")
        .stdout(writer)
        .output()
        .unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");

    let page = stdout(&treestat(None, &["man"]));
    assert!(page.contains(".TH treestat 1"), "{page}");
    for part in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH SUBCOMMANDS",
        "treestat\\-serve(1)",
    ] {
        assert!(page.contains(part), "the page lacks {part}: {page}");
    }
    let serve = stdout(&treestat(None, &["man", "serve"]));
    assert!(serve.contains(".TH treestat-serve 1"), "{serve}");
    assert!(serve.contains("\\-\\-conf") && serve.contains("\\-\\-log\\-format"));
    if Path::new("/usr/bin/man").is_file() {
        let file = dir.path().join("treestat.1");
        std::fs::write(&file, &page).unwrap();
        let out = Command::new("man")
            .arg("-l")
            .arg(&file)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "80")
            .output()
            .unwrap();
        let text = stdout(&out);
        assert!(
            text.contains("SYNOPSIS") && text.contains("serve"),
            "{text}"
        );
    }
}
