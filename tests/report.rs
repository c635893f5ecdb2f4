//! `treestat report` (issue 19, acceptance 2): the report of the shared test logs and of
//! a generated log has every panel, counts what `treestat tail --once` counts (status,
//! browsers, URLs, failed lines), estimates unique visitors within its stated error of
//! the exact count, reports the size it wrote, and `tail --once --report` writes the
//! same report.
//!
//! The generated log has 200,000 lines (1M in the release bench,
//! bench/report-vs-goaccess.sh): a debug build reads it in seconds, and it holds
//! ~150,000 distinct visitors, past the exact bound (65,536), so the HyperLogLog
//! estimate is what is checked.

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use treestat_pipes::api::sanitize_key;

fn testdata(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/testdata/logs")
        .join(name);
    assert!(p.exists(), "test data missing: {}", p.display());
    p
}

fn treestat(args: &[&str], files: &[&Path]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_treestat"))
        .args(args)
        .args(files)
        .output()
        .expect("treestat runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "treestat {args:?} failed: {stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

/// `treestat report FILES --format F -o OUT.json`: the report and the summary line.
fn report(files: &[&Path], format: &str, out: &Path) -> (Value, String) {
    let o = out.to_str().unwrap();
    let (_, stderr) = treestat(&["report", "--format", format, "-o", o], files);
    let json = std::fs::read_to_string(out).expect("the report was written");
    (
        serde_json::from_str(&json).expect("the report is JSON"),
        stderr,
    )
}

fn tail_tree(files: &[&Path], format: &str) -> Value {
    let (stdout, _) = treestat(&["tail", "--once", "--format", format], files);
    serde_json::from_str(&stdout).expect("tail prints a tree")
}

const PANELS: [&str; 14] = [
    "visitors",
    "timeline",
    "urls",
    "not_found",
    "ips",
    "os",
    "browsers",
    "hour_of_day",
    "hosts",
    "referrers",
    "referring_sites",
    "status",
    "geo",
    "response_time",
];

fn panel<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("panel {id} missing"))
}

/// A counter of the tree (a float such as `5.0`) as the integer it holds.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn int(f: f64) -> u64 {
    f.round().max(0.0) as u64
}

/// Leaves of a tree as `a,b,c -> value`.
fn flatten(v: &Value, prefix: &str, out: &mut BTreeMap<String, u64>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix},{k}")
                };
                flatten(c, &p, out);
            }
        }
        Value::Number(n) => {
            out.insert(prefix.to_string(), int(n.as_f64().unwrap()));
        }
        _ => {}
    }
}

fn tree_counts(tree: &Value, top: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    flatten(&tree[top], "", &mut out);
    out
}

/// A two-level panel (`status`, `browsers`) as `parent,child -> hits`.
fn panel_counts(r: &Value, id: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for row in panel(r, id)["rows"].as_array().unwrap() {
        let children = row["children"].as_array().unwrap();
        let sum: u64 = children.iter().map(|c| c["hits"].as_u64().unwrap()).sum();
        assert_eq!(
            row["hits"].as_u64(),
            Some(sum),
            "{id} {}: parent is the sum",
            row["key"]
        );
        for c in children {
            let k = format!(
                "{},{}",
                row["key"].as_str().unwrap(),
                c["key"].as_str().unwrap()
            );
            out.insert(k, c["hits"].as_u64().unwrap());
        }
    }
    out
}

fn url_counts(r: &Value) -> BTreeMap<String, u64> {
    panel(r, "urls")["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let k = sanitize_key(row["key"].as_str().unwrap()).into_owned();
            (k, row["hits"].as_u64().unwrap())
        })
        .collect()
}

/// The report counts what `tail --once` counts over the same files.
fn check_against_tail(r: &Value, tree: &Value, what: &str) {
    for id in PANELS {
        let p = panel(r, id);
        assert!(p["available"].is_boolean(), "{what}: panel {id}");
        if p["available"] == false {
            assert!(
                p["reason"].is_string(),
                "{what}: panel {id} says why it is empty"
            );
        }
    }
    assert_eq!(
        panel_counts(r, "status"),
        tree_counts(tree, "status"),
        "{what}: status"
    );
    assert_eq!(
        panel_counts(r, "browsers"),
        tree_counts(tree, "br"),
        "{what}: browsers"
    );
    assert_eq!(panel_counts(r, "os"), tree_counts(tree, "os"), "{what}: os");
    let urls = tree_counts(tree, "url");
    assert!(
        !urls.contains_key("other"),
        "{what}: the url pipe's cap was not reached"
    );
    assert_eq!(url_counts(r), urls, "{what}: URLs");
    let g = &r["general"];
    let pipes = &tree["_treestat"]["pipes"]["tail"];
    // The tree's numbers are floats (`5.0`); absent counters are 0.
    let n = |v: &Value| v.as_f64().map_or(0, int);
    assert_eq!(
        n(&g["valid"]),
        n(&pipes["lines"]),
        "{what}: valid = parsed lines"
    );
    assert_eq!(
        n(&g["failed"]),
        n(&pipes["bad_lines"]),
        "{what}: failed = bad lines"
    );
    assert_eq!(n(&g["requests"]), n(&g["valid"]) + n(&g["failed"]));
}

/// The size the summary line names is the file's.
fn check_size_reported(stderr: &str, out: &Path) {
    let size = std::fs::metadata(out).unwrap().len();
    assert!(
        stderr.contains(&format!("{size} bytes written")),
        "summary {stderr:?} does not name the size {size}"
    );
}

#[test]
fn shared_test_logs_match_tail_and_have_every_panel() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("mtail-apache-combined.log", "combined"),
        ("mtail-apache-common.log", "common"),
        ("beats-nginx-access.log", "combined"),
        ("beats-apache-access.log", "combined"),
    ];
    for (name, format) in cases {
        let log = testdata(name);
        let out = dir.path().join(format!("{name}.json"));
        let (r, stderr) = report(&[&log], format, &out);
        check_against_tail(&r, &tail_tree(&[&log], format), name);
        check_size_reported(&stderr, &out);
        assert_eq!(r["schema"], 1);
        assert_eq!(
            r["general"]["log_size"],
            std::fs::metadata(&log).unwrap().len()
        );
        assert!(
            r["general"]["valid"].as_u64().unwrap() > 0,
            "{name}: lines parsed"
        );
        // The HTML form of the same run: one file holding the same data.
        let html = dir.path().join(format!("{name}.html"));
        let (_, stderr) = treestat(
            &["report", "--format", format, "-o", html.to_str().unwrap()],
            &[&log],
        );
        check_size_reported(&stderr, &html);
        let page = std::fs::read_to_string(&html).unwrap();
        assert!(page.contains(r#"<script id="report-data" type="application/json">{"#));
        assert!(page.contains(&format!(r#""valid":{}"#, r["general"]["valid"])));
    }
    // The combined logs have a time on every line and a status, URL and browser.
    let (r, _) = report(
        &[&testdata("mtail-apache-combined.log")],
        "combined",
        &dir.path().join("c.json"),
    );
    for id in [
        "visitors",
        "timeline",
        "urls",
        "ips",
        "os",
        "browsers",
        "hour_of_day",
        "status",
        "referrers",
    ] {
        assert_eq!(panel(&r, id)["available"], true, "{id}");
    }
    assert_eq!(
        panel(&r, "hosts")["available"],
        false,
        "combined has no $host"
    );
    assert_eq!(panel(&r, "response_time")["available"], false);
    // A rotated .gz copy reads as the plain file.
    let gz = dir.path().join("access.log.1.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&std::fs::read(testdata("mtail-apache-combined.log")).unwrap())
        .unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let (z, _) = report(&[&gz], "combined", &dir.path().join("z.json"));
    assert_eq!(z["general"]["valid"], r["general"]["valid"]);
    assert_eq!(panel(&z, "urls")["rows"], panel(&r, "urls")["rows"]);
}

/// A deterministic combined log: `lines` requests over three days from ~40,000 IPs
/// and 12 user agents, 300 URLs, 404s among them, response sizes, referrers or none.
/// Returns the exact number of GoAccess visitors (IP, date, user agent).
fn generate(path: &Path, lines: u64) -> usize {
    const UAS: [&str; 12] = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Mobile Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.61",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "curl/8.4.0",
        "python-requests/2.31.0",
        "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
        "-",
    ];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut visitors = HashSet::new();
    for i in 0..lines {
        let ip = format!("10.{}.{}.{}", rnd(4), rnd(100), rnd(100));
        let ua = UAS[usize::try_from(rnd(UAS.len() as u64)).unwrap()];
        let sec = i * 3 * 86_400 / lines;
        let day = format!("{:02}/Nov/2023", 1 + sec / 86_400);
        let time = format!(
            "{day}:{:02}:{:02}:{:02} +0100",
            sec / 3600 % 24,
            sec / 60 % 60,
            sec % 60
        );
        let k = rnd(300);
        let url = if k < 5 {
            format!("/missing/{k}")
        } else {
            format!("/page/{k}?q={}", rnd(9))
        };
        let status = if k < 5 {
            404
        } else {
            [200, 200, 200, 304, 500, 301][usize::try_from(rnd(6)).unwrap()]
        };
        let referer = if rnd(3) == 0 {
            "-".to_string()
        } else {
            format!("https://site{}.example/x", rnd(20))
        };
        writeln!(
            w,
            r#"{ip} - - [{time}] "GET {url} HTTP/1.1" {status} {} "{referer}" "{ua}""#,
            rnd(5000)
        )
        .unwrap();
        visitors.insert((ip, day, ua));
    }
    w.flush().unwrap();
    visitors.len()
}

/// Lines of the generated log: 200,000 by default (a debug build reads 1M slowly);
/// `TREESTAT_REPORT_LINES=1000000` runs the issue's 1M-line case.
fn generated_lines() -> u64 {
    std::env::var("TREESTAT_REPORT_LINES")
        .ok()
        .map_or(200_000, |v| {
            v.parse().expect("TREESTAT_REPORT_LINES is a number")
        })
}

#[test]
fn generated_log_matches_tail_and_estimates_visitors_within_the_stated_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let lines = generated_lines();
    let exact = generate(&log, lines);
    let out = dir.path().join("report.json");
    let (r, stderr) = report(&[&log], "combined", &out);
    check_against_tail(&r, &tail_tree(&[&log], "combined"), "generated");
    check_size_reported(&stderr, &out);

    let acc = &r["accuracy"];
    assert_eq!(
        acc["visitors_exact"], false,
        "{exact} visitors are past the exact bound"
    );
    let stated = acc["visitors_std_error"].as_f64().unwrap();
    assert!((stated - 0.0081).abs() < 0.0001, "stated error {stated}");
    let est = r["general"]["unique_visitors"].as_f64().unwrap();
    let err = (est - exact as f64).abs() / exact as f64;
    assert!(
        err <= 3.0 * stated,
        "estimate {est} vs exact {exact}: {err} > 3 x {stated}"
    );

    let g = &r["general"];
    assert_eq!(g["valid"], lines);
    assert_eq!(g["first"], "2023-10-31T23:00:00Z", "01/Nov 00:00 +0100");
    assert_eq!(
        panel(&r, "visitors")["rows"].as_array().unwrap().len(),
        3,
        "three days"
    );
    assert_eq!(
        panel(&r, "hour_of_day")["rows"].as_array().unwrap().len(),
        24
    );
    let nf = panel(&r, "not_found")["rows"].as_array().unwrap();
    assert_eq!(nf.len(), 5);
    assert_eq!(
        nf.iter().map(|x| x["hits"].as_u64().unwrap()).sum::<u64>(),
        g["not_found"].as_u64().unwrap()
    );
    assert_eq!(
        panel(&r, "referring_sites")["rows"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
    // 300 URLs, 4 x 100 x 100 IPs: URLs exact, IPs past the 2 x 1000 rows held.
    assert_eq!(panel(&r, "urls")["exact"], true);
    let ips = panel(&r, "ips");
    assert_eq!(ips["exact"], false);
    assert_eq!(ips["rows"].as_array().unwrap().len(), 1000);
    let held: u64 = ips["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["hits"].as_u64().unwrap())
        .sum();
    assert!(held + ips["evicted"]["hits"].as_u64().unwrap() <= lines);

    // Two halves read in parallel (a pipeline per file) merge into the report of the
    // whole: counts add, visitor sets and sketches merge exactly.
    let text = std::fs::read_to_string(&log).unwrap();
    let half = usize::try_from(lines / 2).unwrap();
    let cut = text.match_indices('\n').nth(half - 1).unwrap().0 + 1;
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    std::fs::write(&a, &text[..cut]).unwrap();
    std::fs::write(&b, &text[cut..]).unwrap();
    drop(text);
    let (m, _) = report(&[&a, &b], "combined", &dir.path().join("merged.json"));
    for id in [
        "status",
        "urls",
        "browsers",
        "os",
        "visitors",
        "timeline",
        "hour_of_day",
        "not_found",
        "referring_sites",
    ] {
        assert_eq!(
            panel(&m, id)["rows"],
            panel(&r, id)["rows"],
            "{id} of two halves"
        );
    }
    for k in [
        "requests",
        "valid",
        "unique_visitors",
        "unique_urls",
        "unique_referrers",
        "bandwidth",
        "log_size",
        "first",
        "last",
    ] {
        assert_eq!(m["general"][k], r["general"][k], "{k} of two halves");
    }

    // `tail --once --report` writes the same report.
    let via_tail = dir.path().join("tail.json");
    let (_, stderr) = treestat(
        &[
            "tail",
            "--once",
            "--format",
            "combined",
            "--report",
            via_tail.to_str().unwrap(),
        ],
        &[&log],
    );
    check_size_reported(&stderr, &via_tail);
    let t: Value = serde_json::from_str(&std::fs::read_to_string(&via_tail).unwrap()).unwrap();
    for id in ["status", "urls", "browsers", "visitors", "not_found"] {
        assert_eq!(panel(&t, id)["rows"], panel(&r, id)["rows"], "{id}");
    }
    for k in [
        "valid",
        "failed",
        "unique_visitors",
        "unique_urls",
        "bandwidth",
        "first",
        "last",
    ] {
        assert_eq!(t["general"][k], r["general"][k], "{k}");
    }
}

/// With `--pipes ua,geo=DB` the geo panel groups the geo pipe's tree by continent,
/// countries and cities as children; an address without a record is `unknown`.
#[test]
fn geo_panel_from_the_geo_pipe() {
    let db = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/testdata/geoip/GeoLite2-City-Test.mmdb");
    assert!(db.exists(), "test data missing: {}", db.display());
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("geo.log");
    let line = |ip: &str| {
        format!(r#"{ip} - - [01/Nov/2023:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.4.0""#)
    };
    let text: Vec<String> = ["81.2.69.142", "81.2.69.142", "89.160.20.112", "8.8.8.8"]
        .iter()
        .map(|ip| line(ip))
        .collect();
    std::fs::write(&log, text.join("\n") + "\n").unwrap();
    let out = dir.path().join("geo.json");
    let pipes = format!("ua,geo={}", db.display());
    let o = out.to_str().unwrap();
    treestat(&["report", "--pipes", &pipes, "-o", o], &[&log]);
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let geo = panel(&r, "geo");
    assert_eq!(geo["available"], true);
    let rows = geo["rows"].as_array().unwrap();
    assert_eq!(
        (rows[0]["key"].as_str(), rows[0]["hits"].as_u64()),
        (Some("EU"), Some(3))
    );
    let kids: Vec<(String, u64)> = rows[0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap().to_string(),
                c["hits"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kids,
        [
            ("GB / London".to_string(), 2),
            ("SE / Linköping".to_string(), 1)
        ]
    );
    assert_eq!(
        (rows[1]["key"].as_str(), rows[1]["hits"].as_u64()),
        (Some("unknown"), Some(1))
    );
    assert_eq!(rows[1]["children"], serde_json::json!([]));
    assert_eq!(
        panel(&r, "browsers")["available"],
        true,
        "ua named beside geo"
    );
}
