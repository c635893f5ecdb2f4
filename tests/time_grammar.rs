//! One time grammar (issue 17): every place that takes a time, `/trend`, `/graph`,
//! `/export`, `/markers` and the CLI (`query --from`, `graph --from`, `export --from`
//! through a server and `export --data` on its own), accepts the same forms with the same
//! meaning and refuses the same garbage with the same reason.
//!
//! Before issue 17, `/graph/...svg?from=-5m` answered 400 ("unit m is ambiguous") while
//! `/trend?from=-5m` meant five minutes ago, and `/graph` refused fractional epochs.

use crate::common;

use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{base, quiet_config, stop, wait_for};
use treestat::server::Server;

const PATTERN: &str = "tg,a";

fn get(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent.get(url).call().expect(url);
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    (resp.status().as_u16(), body)
}

/// Query-string encoding of a time (`+` and the rest of the forms' characters).
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn treestat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_treestat"))
        .args(args)
        .env_remove("TREESTAT_TOKEN")
        .output()
        .expect("treestat runs")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// The good forms, each of which reaches back over the samples pushed during the test.
fn good_forms(hour_ago: i64) -> Vec<String> {
    let mut forms: Vec<String> = [
        "-5m",
        "-1h",
        "now-1d",
        "-10min",
        "-300s",
        "-1w",
        "NOW-5M",
        "now - 1 h",
    ]
    .map(String::from)
    .to_vec();
    forms.push(hour_ago.to_string());
    forms.push(format!("{hour_ago}.5"));
    forms
}

/// Garbage, and the words every refusal of it must carry.
const BAD_FORMS: [(&str, &str); 6] = [
    ("yesterday", "not a time"),
    ("-5", "needs a unit"),
    ("-5parsecs", "unknown unit"),
    ("1700000000000", "out of range"),
    ("now-", "not a time"),
    ("", "empty time"),
];

#[test]
fn trend_graph_and_cli_share_one_time_grammar() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = rt
        .block_on(Server::start(quiet_config(dir.path())))
        .expect("server starts");
    let base = base(&server);
    let hour_ago = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
        - 3600;

    // A fresh sample every half second, so "five minutes ago" always reaches one
    // however slowly the checks below run.
    let pushing = Arc::new(AtomicBool::new(true));
    let pusher = {
        let (engine, pushing) = (server.engine.clone(), pushing.clone());
        std::thread::spawn(move || {
            while pushing.load(Ordering::Relaxed) {
                engine.push_json(br#"{"tg":{"a":5}}"#).unwrap();
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    wait_for("a trend point", || {
        let (status, body) = get(&format!("{base}/trend/{PATTERN}.json?from=-1h"));
        (status == 200 && body.contains("[[")).then_some(())
    });

    let out_dir = tempfile::tempdir().unwrap();
    let chart = out_dir.path().join("chart.svg");
    let chart = chart.to_str().unwrap();
    for form in good_forms(hour_ago) {
        let from = enc(&form);
        let (status, body) = get(&format!("{base}/trend/{PATTERN}.json?from={from}"));
        assert_eq!(status, 200, "/trend from={form:?}: {body}");
        assert!(
            body.contains("[["),
            "/trend from={form:?} has no point: {body}"
        );
        let (status, body) = get(&format!("{base}/graph/{PATTERN}.svg?from={from}"));
        assert_eq!(status, 200, "/graph from={form:?}: {body}");
        assert!(
            body.contains("<svg") && !body.contains("no data"),
            "/graph from={form:?} drew no data"
        );
        let (status, body) = get(&format!("{base}/export/{PATTERN}.ndjson?from={from}"));
        assert_eq!(status, 200, "/export from={form:?}: {body}");
        assert!(body.contains(PATTERN), "/export from={form:?}: {body}");
        let (status, body) = get(&format!("{base}/markers/{PATTERN}.json?from={from}"));
        assert_eq!(status, 200, "/markers from={form:?}: {body}");

        let out = treestat(&["query", "--server", &base, PATTERN, "--from", &form]);
        assert!(
            out.status.success(),
            "query --from {form:?}: {}",
            text(&out.stderr)
        );
        let table = text(&out.stdout);
        assert!(
            table.starts_with(&format!("time\t{PATTERN}\n")) && table.lines().count() > 1,
            "query --from {form:?}: {table}"
        );
        let out = treestat(&[
            "graph", PATTERN, "-o", chart, "--server", &base, "--from", &form,
        ]);
        assert!(
            out.status.success(),
            "graph --from {form:?}: {}",
            text(&out.stderr)
        );
        let svg = std::fs::read_to_string(chart).unwrap();
        assert!(
            !svg.contains("no data"),
            "graph --from {form:?} drew no data"
        );
        let out = treestat(&["export", PATTERN, "--server", &base, "--from", &form]);
        assert!(
            out.status.success(),
            "export --from {form:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stdout).contains(PATTERN),
            "export --from {form:?}"
        );
    }

    for (form, why) in BAD_FORMS {
        let from = enc(form);
        for route in ["trend", "export", "markers"] {
            let ext = if route == "export" { "ndjson" } else { "json" };
            let (status, body) = get(&format!("{base}/{route}/{PATTERN}.{ext}?from={from}"));
            assert_eq!(status, 400, "/{route} from={form:?}: {body}");
            assert!(body.contains(why), "/{route} from={form:?}: {body}");
        }
        let (status, body) = get(&format!("{base}/graph/{PATTERN}.svg?from={from}"));
        assert_eq!(status, 400, "/graph from={form:?}: {body}");
        assert!(body.contains(why), "/graph from={form:?}: {body}");
        for args in [
            vec!["query", "--server", &base, PATTERN, "--from", form],
            vec![
                "graph", PATTERN, "-o", chart, "--server", &base, "--from", form,
            ],
            vec!["export", PATTERN, "--server", &base, "--from", form],
        ] {
            let out = treestat(&args);
            assert!(!out.status.success(), "{args:?} succeeded");
            assert!(
                text(&out.stderr).contains(why),
                "{args:?}: {}",
                text(&out.stderr)
            );
        }
    }

    pushing.store(false, Ordering::Relaxed);
    pusher.join().unwrap();
    stop(&rt, server);

    // `export --data` reads the store itself: the CLI's own parse of the same forms.
    let data = dir.path().to_str().unwrap();
    for form in good_forms(hour_ago) {
        let out = treestat(&["export", PATTERN, "--data", data, "--from", &form]);
        assert!(
            out.status.success(),
            "export --data --from {form:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stdout).contains(PATTERN),
            "export --data --from {form:?}"
        );
    }
    for (form, why) in BAD_FORMS {
        let out = treestat(&["export", PATTERN, "--data", data, "--from", form]);
        assert!(
            !out.status.success(),
            "export --data --from {form:?} succeeded"
        );
        assert!(
            text(&out.stderr).contains(why),
            "export --data --from {form:?}: {}",
            text(&out.stderr)
        );
    }
}
