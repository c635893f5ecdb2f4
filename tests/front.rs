//! Issue 16, the read front: `treestat front` over three `treestat serve` shards, each
//! given a different set of top-level keys, answers `/get`, `/api/q` (folded patterns
//! included) and `/trend` exactly as one unsharded `serve` given the whole workload; a
//! literal top-level pattern reaches its owner only; a SIGSTOPped shard makes the front
//! answer partial within its deadline; a series whose history is split over two shards
//! (a rebalance) is merged.
//!
//! Real child processes on free ports, real HTTP.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{free_port, wait_for};

/// One `treestat serve` (or `treestat front`) child, killed on drop.
struct Proc {
    child: Child,
    base: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        // A stopped child must run again to die cleanly from SIGKILL's point of view.
        cont(&self.child);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid with a standard signal.
    unsafe {
        libc::kill(pid, sig);
    }
}

fn cont(child: &Child) {
    signal(child, libc::SIGCONT);
}

fn wait_up(base: &str) {
    wait_for(&format!("{base} to listen"), || {
        ureq::get(&format!("{base}/health")).call().ok().map(drop)
    });
}

/// `treestat serve` with 1 s intervals kept at 1 s for two hours, HTTP only.
fn serve(dir: &Path) -> Proc {
    serve_with(dir, "")
}

/// As [`serve`], `extra` added to its configuration file.
fn serve_with(dir: &Path, extra: &str) -> Proc {
    std::fs::create_dir_all(dir).unwrap();
    let conf = dir.join("treestat.toml");
    std::fs::write(&conf, format!("[trend]\nretention = \"1s:2h\"\n{extra}")).unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_treestat"))
        .arg("serve")
        .arg("--conf")
        .arg(&conf)
        .arg("--data")
        .arg(dir.join("data"))
        .args(["--http", &format!("127.0.0.1:{port}")])
        .args(["--tcp", "off", "--udp", "off", "--statsd", "off"])
        .args(["--graphite", "off", "--no-agent", "--interval", "1s"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_up(&base);
    Proc { child, base }
}

fn front(shards: &[&Proc], deadline: &str) -> Proc {
    front_with(shards, deadline, None)
}

/// As [`front`]; with `token`, `TREESTAT_TOKEN` is set and readers must send it.
fn front_with(shards: &[&Proc], deadline: &str, token: Option<&str>) -> Proc {
    front_args(shards, deadline, token, &[])
}

/// As [`front_with`], `extra` flags added.
fn front_args(shards: &[&Proc], deadline: &str, token: Option<&str>, extra: &[&str]) -> Proc {
    let port = free_port();
    let list: Vec<&str> = shards.iter().map(|s| s.base.as_str()).collect();
    let child = Command::new(env!("CARGO_BIN_EXE_treestat"))
        .arg("front")
        .args(["--shards", &list.join(",")])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--deadline", deadline, "--refresh", "1h"])
        .args(token.map(|_| "--auth-reads"))
        .args(extra)
        .env("RUST_LOG", "warn")
        .env("TREESTAT_TOKEN", token.unwrap_or(""))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_up(&base);
    Proc { child, base }
}

fn push(base: &str, doc: &str) {
    let mut r = ureq::post(&format!("{base}/push"))
        .header("content-type", "application/json")
        .send(doc)
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "{}",
        r.body_mut().read_to_string().unwrap()
    );
}

/// GET answering 200: (body as JSON, `X-Treestat-Partial` if any).
fn get(url: &str) -> (Value, Option<String>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent.get(url).call().expect(url);
    let partial = r
        .headers()
        .get("x-treestat-partial")
        .map(|v| v.to_str().unwrap().to_string());
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().unwrap();
    assert_eq!(status, 200, "{url}: {body}");
    (serde_json::from_str(&body).expect(url), partial)
}

fn enc(pattern: &str) -> String {
    pattern.replace('|', "%7C")
}

/// The workload of one top-level key (counters, gauges, a histogram leaf, nested
/// levels), as one push; `round` varies the values.
fn doc(key: usize, round: usize, ts: i64) -> String {
    let lat: Vec<String> = (0..40)
        .map(|i| ((i * 7 + key * 13 + round * 5) % 97 + 1).to_string())
        .collect();
    format!(
        r#"{{"timestamp":{ts},"k{key:02}":{{{note}"cpu":{{"user":{u},"sys":{s}}},"net":{{"default_action":"add","rx":{rx},"tx":[1,2,{key}]}},"api":{{"default_action":"histogram","lat":[{lat}]}},"disk":{{"sda":{{"io":{io}}}}}}}}}"#,
        u = key * 3 + round,
        s = 40 + round - key,
        rx = key * 100 + round,
        io = key % 7 + round,
        lat = lat.join(","),
        note = if round == 0 {
            format!(r#""note":"deploy {key}","#)
        } else {
            String::new()
        },
    )
}

const KEYS: usize = 24;

const PATTERNS: &[&str] = &[
    "",
    "k04",
    "k07,cpu",
    "*,cpu",
    "k05,*|sum",
    "*|sum,cpu,user",
    "*,*,rx|avg",
    "*,*|avg",
    "*|avg,cpu,*",
    "*|count",
    "*,net,*|count",
    "*|p95,api,lat",
    "*|p50,api",
    "*|min,disk,*,io",
    "*|max,cpu|sum",
    "**,tx|sum",
    "**,io|avg",
    "*|sum",
    "nokey",
];

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// Three shards, the reference, the front; the workload dated a minute ago (so every
/// sample is in a closed interval on every server, whenever it arrived).
struct Cluster {
    shards: Vec<Proc>,
    reference: Proc,
    front: Proc,
    /// Shard index of each key.
    owner: Vec<usize>,
    t0: i64,
    /// Last: removed once the processes are gone (fields drop in order).
    _dir: tempfile::TempDir,
}

fn cluster(deadline: &str) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let shards: Vec<Proc> = (0..3)
        .map(|i| serve(&dir.path().join(format!("s{i}"))))
        .collect();
    let reference = serve(&dir.path().join("ref"));
    let t0 = now() - 60;
    // Keys spread unevenly (not round robin) over the shards.
    let owner: Vec<usize> = (0..KEYS).map(|k| (k * 7 / 3) % 3).collect();
    for round in 0..3 {
        for k in 0..KEYS {
            let ts = t0 + i64::try_from(round * 2).unwrap();
            let d = doc(k, round, ts);
            push(&shards[owner[k]].base, &d);
            push(&reference.base, &d);
        }
    }
    let refs: Vec<&Proc> = shards.iter().collect();
    let front = front(&refs, deadline);
    // The front has read the owner map once the literal pattern reaches one shard.
    Cluster {
        _dir: dir,
        shards,
        reference,
        front,
        owner,
        t0,
    }
}

#[test]
fn reads_through_the_front_equal_one_unsharded_engine() {
    let c = cluster("10s");
    for p in PATTERNS {
        let (want, _) = get(&format!("{}/get/{}", c.reference.base, enc(p)));
        let (got, partial) = get(&format!("{}/get/{}", c.front.base, enc(p)));
        assert_eq!(partial, None, "{p}");
        assert_eq!(got, want, "/get/{p}");
        if *p != "nokey" {
            assert!(!want.as_array().unwrap().is_empty(), "{p}");
        }
        let (want, _) = get(&format!("{}/api/q/{}.json", c.reference.base, enc(p)));
        let (got, _) = get(&format!("{}/api/q/{}.json", c.front.base, enc(p)));
        assert_eq!(got, want, "/api/q/{p}");
    }
    // ?stat= of a pattern that does not fold: the shards' rows merged.
    for p in ["*,api,lat", "k03"] {
        let q = format!("{}?stat=count,p99,max", enc(p));
        let (want, _) = get(&format!("{}/get/{q}", c.reference.base));
        let (got, _) = get(&format!("{}/get/{q}", c.front.base));
        assert_eq!(got, want, "/get/{q}");
    }
    // Averages of averages would differ: the shards' own folds are not the answer.
    let (mean, _) = get(&format!("{}/get/*,*,rx%7Cavg", c.front.base));
    let per_shard: Vec<f64> = c
        .shards
        .iter()
        .map(|s| {
            get(&format!("{}/get/*,*,rx%7Cavg", s.base)).0[0][1]
                .as_f64()
                .unwrap()
        })
        .collect();
    let naive = per_shard.iter().sum::<f64>() / 3.0;
    assert_ne!(mean[0][1].as_f64().unwrap(), naive);

    // Trends: every sample is dated in the past; wait until the reference stored them
    // all (3 rounds, 2 s apart: 3 points per series), then compare.
    let range = format!("from={}&until={}&points=0", c.t0 - 10, c.t0 + 30);
    let series = |base: &str, p: &str| get(&format!("{base}/trend/{}.json?{range}", enc(p))).0;
    wait_for("the reference's trends", || {
        let s = series(&c.reference.base, "*,cpu,user");
        let full = s.as_array()?.len() == KEYS
            && s.as_array()?
                .iter()
                .all(|x| x["points"].as_array().is_some_and(|p| p.len() == 3));
        full.then_some(())
    });
    for p in [
        "*,cpu,user",
        "k04",
        "*|sum,cpu,user",
        "*,*,rx|avg",
        "*|count,net,*",
    ] {
        let want = wait_for(&format!("shards' trends of {p}"), || {
            let want = series(&c.reference.base, p);
            let got = series(&c.front.base, p);
            (got == want).then_some(want)
        });
        assert!(!want.as_array().unwrap().is_empty(), "{p}");
    }
    // /export (NDJSON and CSV), /graph and the /diff chart drawn at the front from the
    // merged series: the same bytes as the server's.
    let text = |url: &str| {
        let mut r = ureq::get(url).call().expect(url);
        assert_eq!(r.status(), 200, "{url}");
        let ctype = r.headers()[&"content-type".parse::<ureq::http::HeaderName>().unwrap()]
            .to_str()
            .unwrap()
            .to_string();
        (ctype, r.body_mut().read_to_vec().unwrap())
    };
    let abs = format!("from={}&until={}", c.t0 - 10, c.t0 + 30);
    for path in [
        format!("/export/*,cpu.ndjson?{abs}"),
        format!("/export/k0*,net,rx.csv?{abs}"),
        format!("/export/*%7Csum,cpu,user.ndjson?{abs}"),
        format!("/export/*,*,rx%7Cavg.csv?{abs}"),
        format!("/graph/*,cpu,user.svg?{abs}&tz=UTC"),
        format!("/graph/*%7Csum,net,rx.svg?{abs}&tz=UTC&title=rx"),
        // Not k01/k02 whole: their markers are back-dated (pushed now, dated t0), and a
        // server's chart reads markers from the store by arrival interval, so it draws
        // them only once `until` passes their arrival, while its `/markers` (which the
        // front draws from) lists them at once.
        format!("/diff/k01,cpu/k02,cpu.svg?{abs}&tz=UTC"),
    ] {
        let want = text(&format!("{}{path}", c.reference.base));
        let got = text(&format!("{}{path}", c.front.base));
        assert!(want.1.len() > 60, "{path}");
        assert_eq!(got.0, want.0, "{path}");
        assert!(got.1 == want.1, "{path}: the front's answer differs");
    }
    // A chart carries an ETag over what it draws; asked again with it, the front
    // answers 304 without drawing.
    let url = format!("{}/graph/*,cpu,user.svg?{abs}&tz=UTC", c.front.base);
    let first = ureq::get(&url).call().unwrap();
    let tag = first.headers().get("etag").expect("an ETag").clone();
    assert_eq!(first.headers().get("cache-control").unwrap(), "no-cache");
    let again = ureq::get(&url)
        .header("If-None-Match", tag.to_str().unwrap())
        .call()
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers().get("etag"), Some(&tag));
    let other = ureq::get(&format!("{url}&title=other")).call().unwrap();
    assert_ne!(other.headers().get("etag"), Some(&tag));
    let (ctype, png) = text(&format!("{}/graph/*,cpu,user.png?{abs}", c.front.base));
    assert_eq!(ctype, "image/png");
    assert!(png.starts_with(b"\x89PNG"));
    // Graphite: targets evaluated at the front over the shards' series, and find.
    let g = format!("from={}&until={}", c.t0 - 10, c.t0 + 30);
    for path in [
        format!("/render?target=k0*.cpu.user&format=json&{g}"),
        format!(
            "/render?target=sumSeries(k*.net.rx)&target=averageSeries(*.cpu.*)&format=json&{g}"
        ),
        format!("/render?target=k1*.disk.sda.io&format=csv&{g}"),
        "/metrics/find?query=k0*".to_string(),
        "/metrics/find?query=k01.*&format=completer".to_string(),
    ] {
        let want = text(&format!("{}{path}", c.reference.base));
        let got = text(&format!("{}{path}", c.front.base));
        assert!(want.1.len() > 20, "{path}");
        assert_eq!(
            String::from_utf8_lossy(&got.1),
            String::from_utf8_lossy(&want.1),
            "{path}"
        );
    }
    // /all and /diff's JSON, from the live leaves; /api/keys and /markers merged.
    let markers = format!("/markers/*.json?from={}&until={}", c.t0 - 10, c.t0 + 30);
    for path in [
        "/all",
        "/diff/k01/k02.json",
        "/diff/k01,*/k05,*.json",
        "/api/keys/",
        "/api/keys/?limit=5",
        "/api/keys/k03",
        "/api/keys/k03,cpu,user",
        &markers,
    ] {
        let (want, _) = get(&format!("{}{path}", c.reference.base));
        let (got, _) = get(&format!("{}{path}", c.front.base));
        assert_eq!(got, want, "{path}");
    }
    // Windows over the closed intervals (`/api/q?window=`): live samples, then the last
    // hour's closed intervals hold all of them on every server once each has closed its
    // interval.
    for k in 0..KEYS {
        let d = format!(r#"{{"w{k:02}":{{"g":{k},"c":{{"default_action":"add","n":[1,{k}]}}}}}}"#);
        push(&c.shards[c.owner[k]].base, &d);
        push(&c.reference.base, &d);
    }
    let url = |base: &str, p: &str| format!("{base}/api/q/{}.json?window=1h", enc(p));
    wait_for("every server's window to hold the live samples", || {
        let keys = |base: &str| get(&url(base, "w*")).0.as_object().map_or(0, |o| o.len());
        (keys(&c.reference.base) == KEYS && keys(&c.front.base) == KEYS).then_some(())
    });
    for p in ["w*", "w*|sum,g", "w*,c|avg", "w*|count", "w0*,*|max"] {
        let (want, _) = get(&url(&c.reference.base, p));
        assert_eq!(get(&url(&c.front.base, p)).0, want, "window {p}");
    }
    let (markers, _) = get(&format!("{}{markers}", c.front.base));
    assert_eq!(markers.as_array().unwrap().len(), KEYS);
    let status = ureq::get(&format!("{}/api/keys/nokey", c.front.base))
        .call()
        .map(|r| r.status().as_u16());
    assert!(
        matches!(status, Err(ureq::Error::StatusCode(404))),
        "{status:?}"
    );
}

/// A shard's own count of HTTP requests (its `/metrics`).
fn requests(base: &str) -> f64 {
    let text = ureq::get(&format!("{base}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("treestat_http_requests_total "))
        .expect("treestat_http_requests_total")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_literal_top_level_pattern_reaches_its_owner_only() {
    let c = cluster("10s");
    let key = 4;
    let owner = c.owner[key];
    // The owner map is read at start: wait until the front knows it (a fan-out before
    // would also answer right, but touch every shard).
    let (want, _) = get(&format!("{}/get/k04", c.reference.base));
    wait_for("the front's answer", || {
        (get(&format!("{}/get/k04", c.front.base)).0 == want).then_some(())
    });
    let before: Vec<f64> = c.shards.iter().map(|s| requests(&s.base)).collect();
    for _ in 0..5 {
        assert_eq!(
            get(&format!("{}/get/k04,cpu", c.front.base)).0,
            get(&format!("{}/get/k04,cpu", c.reference.base)).0
        );
        get(&format!("{}/api/q/k04%7Csum.json", c.front.base));
    }
    let after: Vec<f64> = c.shards.iter().map(|s| requests(&s.base)).collect();
    // Each `/metrics` read counts the same on every shard; the owner got 10 more.
    let delta: Vec<f64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    for (i, d) in delta.iter().enumerate() {
        let want = if i == owner {
            delta[(owner + 1) % 3] + 10.0
        } else {
            delta[(owner + 1) % 3]
        };
        assert_eq!(*d, want, "shard {i} (owner {owner}): {delta:?}");
    }
    // A wildcard asks all three.
    get(&format!("{}/get/*,cpu", c.front.base));
    let again: Vec<f64> = c.shards.iter().map(|s| requests(&s.base)).collect();
    let d2: Vec<f64> = again.iter().zip(&after).map(|(a, b)| a - b).collect();
    assert!(d2.iter().all(|d| *d == d2[0]), "{d2:?}");
    // A key created just after the owner map was read is not answered empty: a miss
    // asks every shard. (Before, a key missing from a map read under a second ago was
    // answered `[]` from the map.) A miss starts a refresh; wait for it to land, then
    // create a key and read it at once.
    let refreshes = |base: &str| {
        let text = ureq::get(&format!("{base}/metrics"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("treestat_front_owner_refreshes_total "))
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let before = refreshes(&c.front.base);
    // (Misses start at most one refresh a second: ask until one has.)
    wait_for("the refresh a miss starts", || {
        get(&format!("{}/get/absent", c.front.base));
        (refreshes(&c.front.base) > before).then_some(())
    });
    // The counter moves when the refresh starts; the map is replaced when it ends.
    std::thread::sleep(Duration::from_millis(200));
    push(&c.shards[1].base, r#"{"brandnew":{"x":5}}"#);
    let (rows, _) = get(&format!("{}/get/brandnew", c.front.base));
    assert_eq!(rows, serde_json::json!([["brandnew,x", 5.0]]));
}

#[test]
fn a_stopped_shard_is_left_out_within_the_deadline() {
    // 3 s: long enough that a busy machine's shards answer in time, short next to
    // "hangs".
    let c = cluster("3s");
    let stopped = &c.shards[1];
    signal(&stopped.child, libc::SIGSTOP);
    let started = Instant::now();
    let (rows, partial) = get(&format!("{}/get/*%7Csum", c.front.base));
    // The deadline is 3 s; the bound is generous for a loaded machine, and far below
    // "hangs" (a stopped shard would otherwise hold the answer forever).
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(partial.as_deref(), Some(stopped.base.as_str()));
    assert!(!rows.as_array().unwrap().is_empty());
    let (tree, partial) = get(&format!("{}/api/q/*,cpu.json", c.front.base));
    assert_eq!(partial.as_deref(), Some(stopped.base.as_str()));
    assert_eq!(tree["partial"], serde_json::json!([stopped.base]));
    // Keys of the stopped shard are missing, the others there.
    let held = |s: usize| {
        (0..KEYS)
            .filter(|&k| c.owner[k] == s)
            .map(|k| format!("k{k:02}"))
            .collect::<Vec<_>>()
    };
    for k in held(1) {
        assert!(tree.get(&k).is_none(), "{k}");
    }
    for k in held(0).into_iter().chain(held(2)) {
        assert!(tree.get(&k).is_some(), "{k}");
    }
    let (series, partial) = get(&format!("{}/trend/*,cpu,user.json?from=-1h", c.front.base));
    assert_eq!(partial.as_deref(), Some(stopped.base.as_str()));
    for s in series.as_array().unwrap() {
        assert_eq!(s["partial"], serde_json::json!([stopped.base]));
    }
    cont(&stopped.child);
    // Back: whole answers again, no header, no field.
    wait_for("the shard back", || {
        let (rows, partial) = get(&format!("{}/get/*%7Csum", c.front.base));
        let (want, _) = get(&format!("{}/get/*%7Csum", c.reference.base));
        let (tree, tree_partial) = get(&format!("{}/api/q/*,cpu.json", c.front.base));
        let whole = partial.is_none() && tree_partial.is_none() && tree.get("partial").is_none();
        (whole && rows == want).then_some(())
    });
}

#[test]
fn the_front_sends_the_token_to_shards_and_asks_it_of_readers() {
    let dir = tempfile::tempdir().unwrap();
    let auth = "[auth]\ntoken = \"s3cret\"\nreads = true\n";
    let a = serve_with(&dir.path().join("a"), auth);
    let b = serve_with(&dir.path().join("b"), auth);
    for (s, d) in [(&a, r#"{"x":{"v":1}}"#), (&b, r#"{"y":{"v":2}}"#)] {
        let r = ureq::post(&format!("{}/push", s.base))
            .header("content-type", "application/json")
            .header("authorization", "Bearer s3cret")
            .send(d)
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let f = front_with(&[&a, &b], "10s", Some("s3cret"));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}/get/*%7Csum,v", f.base);
    assert_eq!(agent.get(&url).call().unwrap().status(), 401);
    let wrong = agent
        .get(&url)
        .header("authorization", "Bearer nope")
        .call()
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let mut r = agent
        .get(&url)
        .header("authorization", "Bearer s3cret")
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-treestat-partial").is_none());
    let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v, serde_json::json!([["*,v", 3.0]]));
    let mut r = agent
        .get(&url)
        .header("cookie", "treestat_token=s3cret")
        .call()
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "{}",
        r.body_mut().read_to_string().unwrap()
    );
    // A saved view's write through the front needs the token, as on a server; the
    // front then writes it to the first shard with its own.
    let views = format!("{}/api/views/mine", f.base);
    let view = r#"{"patterns":["*|sum,v"]}"#;
    let put = |auth: Option<&str>| {
        let mut req = agent.put(&views).header("content-type", "application/json");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.send(view).unwrap().status().as_u16()
    };
    assert_eq!(put(None), 401);
    assert_eq!(put(Some("Bearer nope")), 401);
    assert_eq!(put(Some("Bearer s3cret")), 200);
}

mod graphite;
mod live;
mod pages;
mod rebalance;
mod robust;
mod stats;
