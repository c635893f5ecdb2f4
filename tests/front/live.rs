//! The front's live streams: `/events` and `/pull` fan in from every shard.

use super::*;

/// Reads `interval` events of an SSE stream on a thread, handing their data over.
pub(super) fn sse(url: &str) -> std::sync::mpsc::Receiver<Value> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    let url = url.to_string();
    std::thread::spawn(move || {
        let mut r = ureq::get(&url).call().expect(&url);
        let reader = std::io::BufReader::new(r.body_mut().as_reader());
        let mut interval = false;
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if line == "event: interval" || line == "event:interval" {
                interval = true;
            } else if let Some(d) = line.strip_prefix("data:") {
                if interval && tx.send(serde_json::from_str(d.trim()).unwrap()).is_err() {
                    return;
                }
            } else if line.is_empty() {
                interval = false;
            }
        }
    });
    rx
}

/// Events until every path of `want` was seen (values by path, the newest kept).
fn gather(
    rx: &std::sync::mpsc::Receiver<Value>,
    paths: usize,
) -> (serde_json::Map<String, Value>, Vec<Value>) {
    let mut values = serde_json::Map::new();
    let mut events = Vec::new();
    let until = Instant::now() + Duration::from_secs(120);
    while values.len() < paths {
        let left = until.saturating_duration_since(Instant::now());
        let e = rx
            .recv_timeout(left)
            .expect("an interval event within 120 s");
        if let Some(Value::Object(v)) = e.get("values") {
            values.extend(v.clone());
        }
        events.push(e);
    }
    (values, events)
}

#[test]
fn events_fan_in_from_every_shard() {
    let c = cluster("10s");
    let front_rx = sse(&format!("{}/events/*,live", c.front.base));
    let ref_rx = sse(&format!("{}/events/*,live", c.reference.base));
    // The streams are open once a first (empty) interval closed on each.
    front_rx.recv_timeout(Duration::from_secs(60)).unwrap();
    ref_rx.recv_timeout(Duration::from_secs(60)).unwrap();
    for k in 0..KEYS {
        let d = format!(r#"{{"k{k:02}":{{"live":{{"v":{k}}}}}}}"#);
        push(&c.shards[c.owner[k]].base, &d);
        push(&c.reference.base, &d);
    }
    let (got, events) = gather(&front_rx, KEYS);
    let (want, _) = gather(&ref_rx, KEYS);
    assert_eq!(got, want);
    assert!(
        events.iter().all(|e| e.get("partial").is_none()),
        "{events:?}"
    );

    // A stopped shard: the interval is sent past the deadline, naming it.
    let stopped = &c.shards[2];
    signal(&stopped.child, libc::SIGSTOP);
    let started = Instant::now();
    let e = loop {
        let e = front_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("an event");
        if e.get("partial").is_some() {
            break e;
        }
    };
    assert_eq!(e["partial"], serde_json::json!([stopped.base]));
    assert!(started.elapsed() < Duration::from_secs(60));
    cont(&stopped.child);
}

/// GET with its status and `X-Treestat-Cursor`.
pub(super) fn pull(url: &str) -> (u16, String, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent.get(url).call().expect(url);
    let status = r.status().as_u16();
    let cursor = r.headers()["x-treestat-cursor"]
        .to_str()
        .unwrap()
        .to_string();
    let body = r.body_mut().read_to_string().unwrap();
    let v = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).unwrap()
    };
    (status, cursor, v)
}

#[test]
fn pull_fans_in_and_its_cursor_loses_no_push() {
    let c = cluster("10s");
    let url = |cursor: &str| {
        format!(
            "{}/pull/*,p?timeout=60s{}",
            c.front.base,
            if cursor.is_empty() {
                String::new()
            } else {
                format!("&cursor={cursor}")
            }
        )
    };
    // Nothing yet: 204 with a cursor of one entry per shard.
    let (status, mut cursor, _) = pull(&format!("{}/pull/*,p?timeout=0s", c.front.base));
    assert_eq!(status, 204);
    assert_eq!(cursor.split('_').count(), 3, "{cursor}");
    // Pushes to every shard, one by one; each poll with the last cursor returns what is
    // new, none lost, none twice.
    let mut seen = serde_json::Map::new();
    for k in [1, 2, 3, 5, 8, 13] {
        push(
            &c.shards[c.owner[k]].base,
            &format!(r#"{{"k{k:02}":{{"p":{k}}}}}"#),
        );
    }
    while seen.len() < 6 {
        let (status, next, v) = pull(&url(&cursor));
        assert_eq!(status, 200, "{v}");
        for (k, v) in v.as_object().unwrap() {
            assert!(seen.insert(k.clone(), v.clone()).is_none(), "{k} twice");
        }
        cursor = next;
    }
    let want: serde_json::Map<String, Value> = [1, 2, 3, 5, 8, 13]
        .iter()
        .map(|k| (format!("k{k:02},p"), serde_json::json!(f64::from(*k))))
        .collect();
    assert_eq!(seen, want);
    // A poll that waits is woken by the next push on any shard.
    let waiting = {
        let u = url(&cursor);
        std::thread::spawn(move || pull(&u))
    };
    std::thread::sleep(Duration::from_millis(300));
    push(&c.shards[c.owner[20]].base, r#"{"k20":{"p":20}}"#);
    let (status, _, v) = waiting.join().unwrap();
    assert_eq!(status, 200);
    assert_eq!(v, serde_json::json!({"k20,p": 20.0}));
    // A literal key no shard holds yet is waited for on every shard.
    let (_, cursor, _) = pull(&format!("{}/pull/fresh?timeout=0s", c.front.base));
    push(&c.shards[2].base, r#"{"fresh":{"p":1}}"#);
    let (status, _, v) = pull(&format!(
        "{}/pull/fresh?timeout=60s&cursor={cursor}",
        c.front.base
    ));
    assert_eq!((status, v), (200, serde_json::json!({"fresh,p": 1.0})));
}

/// The non-empty `values` of one round on a stream: events until one has values, then
/// one more (a round whose pushes straddled an interval's close shows in both).
fn round_values(rx: &std::sync::mpsc::Receiver<Value>) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let e = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("an interval event within 60 s");
        let seen = !out.is_empty();
        if e["values"].as_object().is_some_and(|v| !v.is_empty()) {
            out.push(e["values"].clone());
        }
        if seen {
            return out;
        }
    }
}

/// Quantile folds and `?stat=` with a fold on `/events`: each shard sends the
/// interval's leaves unfolded (with their sketches), the front folds them as the
/// reference folds its own. Samples are pushed live, so a round whose pushes straddle
/// an interval's close on one server but not another is told apart (its values come
/// in two intervals) and pushed again; a round landing in one interval on both sides
/// must agree exactly.
#[test]
fn events_quantile_folds_and_stats_equal_one_unsharded_engine() {
    let c = cluster("10s");
    let streams = [
        "*%7Cp90,ev,lat",
        "*%7Csum,ev,lat?stat=count,p50,max",
        "*%7Cmax,ev,lat?stat=p99",
        "*,ev%7Cp50",
    ];
    let open = |base: &str| -> Vec<_> {
        streams
            .iter()
            .map(|s| sse(&format!("{base}/events/{s}")))
            .collect()
    };
    let (front_rx, ref_rx) = (open(&c.front.base), open(&c.reference.base));
    for rx in front_rx.iter().chain(&ref_rx) {
        rx.recv_timeout(Duration::from_secs(60)).unwrap();
    }
    let mut agreed = 0;
    for round in 0..10 {
        // One push per server: the shards' keys each, the reference all of them.
        let mut per_shard = vec![Vec::new(); c.shards.len()];
        let mut all = Vec::new();
        for k in 0..KEYS {
            let lat: Vec<String> = (0..20)
                .map(|i| ((i * 13 + k * 7 + round * 3) % 83 + 1).to_string())
                .collect();
            let part = format!(
                r#""k{k:02}":{{"ev":{{"default_action":"histogram","lat":[{}]}}}}"#,
                lat.join(",")
            );
            per_shard[c.owner[k]].push(part.clone());
            all.push(part);
        }
        for (s, parts) in c.shards.iter().zip(&per_shard) {
            push(&s.base, &format!("{{{}}}", parts.join(",")));
        }
        push(&c.reference.base, &format!("{{{}}}", all.join(",")));
        let mut straddled = false;
        let mut pairs = Vec::new();
        for (f, r) in front_rx.iter().zip(&ref_rx) {
            let (got, want) = (round_values(f), round_values(r));
            straddled |= got.len() != 1 || want.len() != 1;
            pairs.push((got, want));
        }
        if straddled {
            continue;
        }
        for ((got, want), s) in pairs.iter().zip(streams) {
            assert_eq!(got, want, "round {round}, /events/{s}");
        }
        agreed += 1;
        if agreed == 2 {
            break;
        }
    }
    assert_eq!(
        agreed, 2,
        "rounds that fell in one interval on every server"
    );
}
