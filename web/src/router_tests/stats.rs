//! Router tests of `?stat=` (issue 15) on `/get`, `/api/q`, interval messages, `/trend`
//! and `/graph`, of `/graph`'s PDF and gaps, and of `/markers` over the open interval.

use super::*;

/// Issue 15: `/get` keeps `[path, value]` (a histogram leaf's mean); `?stat=` adds one
/// column per stat, `null` where a leaf has no such stat; a bad name is a 400.
#[tokio::test]
async fn get_takes_stat() {
    let st = state();
    let (s, _) = post(
        &st,
        "/push",
        Some("application/json"),
        r#"{"default_action":"histogram","t":{"a":[1,2,3,4,5,6,7,8,9,10]}}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    post(&st, "/push", Some("application/json"), r#"{"g":3}"#).await;
    assert_eq!(get(&st, "/get/t").await.1, json!([["t,a", 5.5]]));
    assert_eq!(
        get(&st, "/get/t?stat=count,upper,sum").await.1,
        json!([["t,a", 10.0, 10.0, 55.0]])
    );
    let (s, v) = get(&st, "/get/?stat=max,p100").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!([["g", 3.0, null], ["t,a", 10.0, 10.0]]));
    let (s, v) = get(&st, "/get/t?stat=p50,upper_99x").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("upper_99x"), "{v}");
    // An empty list is no list.
    assert_eq!(get(&st, "/get/t?stat=").await.1, json!([["t,a", 5.5]]));
}

/// Issue 15: `/api/q` with `window` and `stat` reads the closed intervals' sketches, and
/// one interval's raw samples give Etsy's exact statistics; leaves become objects.
#[tokio::test]
async fn api_q_takes_stat_with_a_window() {
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    let st = AppState::new(engine, WebConfig::default(), Telemetry::default());
    let push = |body: &'static str| {
        let st = st.clone();
        async move { post(&st, "/push", Some("application/json"), body).await }
    };
    push(r#"{"default_action":"histogram","t":{"a":[3,1,2]},"g":4}"#).await;
    clock.advance(10);
    st.engine().close_due().unwrap();
    let (s, v) = get(
        &st,
        "/api/q/t.json?window=10s&stat=upper_80,mean_80,count_ps,p100",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"t": {"a": {"upper_80": 2.0, "mean_80": 1.5, "count_ps": 0.3, "p100": 3.0}}})
    );
    // Without a window: the totals, as /get?stat= reads them.
    let (_, v) = get(&st, "/api/q/t.json?stat=count,max").await;
    assert_eq!(v, json!({"t": {"a": {"count": 3.0, "max": 3.0}}}));
    // A second interval: the window merges both; the raw samples no longer apply.
    push(r#"{"default_action":"histogram","t":{"a":[10]}}"#).await;
    clock.advance(10);
    st.engine().close_due().unwrap();
    let (_, v) = get(&st, "/api/q/t.json?window=20s&stat=count,max,count_ps").await;
    assert_eq!(
        v,
        json!({"t": {"a": {"count": 4.0, "max": 10.0, "count_ps": 0.2}}})
    );
}

/// Issue 15: an `/events` message with `?stat=` carries each leaf's stats of that
/// interval (Etsy's exact ones from its raw samples).
#[test]
fn an_interval_message_takes_stat() {
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    engine
        .push_json(br#"{"default_action":"histogram","t":{"a":[3,1,2]},"g":5}"#)
        .unwrap();
    clock.advance(10);
    let closed = engine.close_due().unwrap();
    let pattern = treestat_engine::Pattern::parse("").unwrap();
    let stats = treestat_engine::parse_stats("upper_80,count").unwrap();
    let v = crate::interval_json::interval_stats_json(&engine, &pattern, &stats, &closed);
    assert_eq!(
        v["values"],
        json!({"g": {"upper_80": 5.0, "count": 1.0}, "t,a": {"upper_80": 2.0, "count": 3.0}})
    );
    assert_eq!(v["start"], 1_700_000_000);
}

/// Issue 15: `/trend?stat=` answers a column per stat per interval, and `/graph` draws
/// one line per stat (an SVG naming each).
#[tokio::test]
async fn trend_and_graph_take_stat() {
    use treestat_engine::trend::{TrendConfig, TrendStore};
    let dir = tempfile::tempdir().unwrap();
    let store = TrendStore::open(dir.path(), &TrendConfig::default()).unwrap();
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    store.attach(&engine);
    let st = AppState::new(engine, WebConfig::default(), Telemetry::default())
        .with_trend_store(store.clone());
    for vs in ["[3,1,2]", "[10,20]"] {
        let body = format!(r#"{{"default_action":"histogram","t":{{"a":{vs}}},"g":{{"x":1}}}}"#);
        let (s, _) = post(&st, "/push", Some("application/json"), body).await;
        assert_eq!(s, StatusCode::OK);
        clock.advance(10);
        st.engine().close_due().unwrap();
    }
    store.sync().unwrap();
    let (s, v) = get(
        &st,
        "/trend/t.json?points=0&from=1700000000&until=1700000020&stat=count,p100,upper_90",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!([{"path": "t,a", "step": 10, "stats": ["count", "p100", "upper_90"],
                "points": [[1_700_000_000_i64, 3.0, 3.0, 3.0], [1_700_000_010_i64, 2.0, 20.0, 20.0]]}])
    );
    let (s, v) = get(&st, "/trend/t.json?stat=bogus").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, _, body) = call(
        &st,
        Request::get("/graph/t.svg?from=1700000000&until=1700000020&stat=p50,p100")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let svg = String::from_utf8(body).unwrap();
    assert!(svg.contains("t,a p50") && svg.contains("t,a p100"), "{svg}");
}

/// Issue 18: `/graph/<pattern>.pdf` answers a PDF (same options as .png/.svg); the
/// store's step reaches the chart, so intervals without a push are a gap (two runs in the
/// line's path, one before), and without `tz=` the axis names the server's zone.
#[tokio::test]
async fn graph_answers_pdf_and_draws_missing_intervals_as_gaps() {
    use treestat_engine::trend::{TrendConfig, TrendStore};
    let dir = tempfile::tempdir().unwrap();
    let store = TrendStore::open(dir.path(), &TrendConfig::default()).unwrap();
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    store.attach(&engine);
    let st = AppState::new(engine, WebConfig::default(), Telemetry::default())
        .with_trend_store(store.clone());
    // Pushes in intervals 0, 1, 2, then none for six intervals, then 9, 10, 11.
    for i in 0..12 {
        if !(3..9).contains(&i) {
            let (s, _) = post(
                &st,
                "/push",
                Some("application/json"),
                r#"{"w":{"r":5}}"#.to_string(),
            )
            .await;
            assert_eq!(s, StatusCode::OK);
        }
        clock.advance(10);
        st.engine().close_due().unwrap();
    }
    store.sync().unwrap();
    let range = "from=1700000000&until=1700000120&type=line";
    let (s, _, body) = call(
        &st,
        Request::get(format!("/graph/w,r.svg?{range}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let svg = String::from_utf8(body).unwrap();
    let line = svg
        .split("<path fill=\"none\"")
        .nth(1)
        .and_then(|p| p.split("d=\"").nth(1))
        .and_then(|d| d.split('"').next())
        .unwrap_or_default();
    assert_eq!(
        line.matches('M').count(),
        2,
        "two runs, a gap between: {line}"
    );
    let zone = treestat_graph::Tz::local().label_at(1_700_000_120);
    assert!(svg.contains(&zone), "axis names {zone}: {svg}");

    let (s, headers, body) = call(
        &st,
        Request::get(format!("/graph/w,r.pdf?{range}&title=PDF"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/pdf");
    assert!(body.starts_with(b"%PDF-"));
    assert!(String::from_utf8_lossy(&body).contains("/FontFile2"));
    let (s, v) = get(&st, "/graph/w,r.bmp").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(v.to_string().contains("pdf"), "{v}");

    // Graphite's /render drops null points and passes the step: a gap too, or zeros
    // with its own `drawNullAsZero=true` (one run: down to 0 and back up).
    for (extra, runs) in [("", 2), ("&drawNullAsZero=true", 1)] {
        let uri = format!("/render?target=w.r&from=1700000000&until=1700000120&format=svg{extra}");
        let (s, _, body) = call(&st, Request::get(uri).body(Body::empty()).unwrap()).await;
        assert_eq!(s, StatusCode::OK);
        let svg = String::from_utf8(body).unwrap();
        let line = svg
            .split("<path fill=\"none\"")
            .nth(1)
            .and_then(|p| p.split("d=\"").nth(1))
            .and_then(|d| d.split('"').next())
            .unwrap_or_default();
        assert_eq!(line.matches('M').count(), runs, "{extra}: {line}");
    }
}

/// `/trend?stat=` and `/graph?stat=` take an aggregating pattern (a 400 before): the
/// folded hosts' samples are pooled per interval, so `mean` is the pooled sum over the
/// pooled count (8.0, not the mean of means 8.5) and `p100` the largest sample.
#[tokio::test]
async fn trend_and_graph_take_stat_with_a_fold() {
    use treestat_engine::trend::{TrendConfig, TrendStore};
    let dir = tempfile::tempdir().unwrap();
    let store = TrendStore::open(dir.path(), &TrendConfig::default()).unwrap();
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    store.attach(&engine);
    let st = AppState::new(engine, WebConfig::default(), Telemetry::default())
        .with_trend_store(store.clone());
    let body = r#"{"default_action":"histogram","t":{"h1":{"a":[3,1,2]},"h2":{"a":[10,24]}}}"#;
    let (s, _) = post(&st, "/push", Some("application/json"), body.to_string()).await;
    assert_eq!(s, StatusCode::OK);
    clock.advance(10);
    st.engine().close_due().unwrap();
    store.sync().unwrap();
    let (s, v) = get(
        &st,
        "/trend/t,*%7Csum,a.json?points=0&from=1700000000&until=1700000010&stat=count,sum,mean,p100",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!([{"path": "t,*,a", "step": 10, "stats": ["count", "sum", "mean", "p100"],
                "points": [[1_700_000_000_i64, 5.0, 40.0, 8.0, 24.0]]}])
    );
    let (s, _, body) = call(
        &st,
        Request::get("/graph/t,*%7Cp99,a.svg?from=1700000000&until=1700000010&stat=p50,mean")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let svg = String::from_utf8(body).unwrap();
    assert!(
        svg.contains("t,*,a p50") && svg.contains("t,*,a mean"),
        "{svg}"
    );
}

/// Issue 18: `/markers` answers a marker of the open interval at once, the one pushed
/// this very second included (the default `until=now` is end-exclusive, and a marker's
/// `ts` is the push's second: it was left out until the clock moved on), and once only
/// after its interval closed into the store. A range ending in the past stays
/// end-exclusive.
#[tokio::test]
async fn markers_include_the_open_interval_at_once() {
    use treestat_engine::trend::{TrendConfig, TrendStore};
    let dir = tempfile::tempdir().unwrap();
    let store = TrendStore::open(dir.path(), &TrendConfig::default()).unwrap();
    let clock = Arc::new(ManualClock::new(1_700_000_005));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    store.attach(&engine);
    let st = AppState::new(engine, WebConfig::default(), Telemetry::default())
        .with_trend_store(store.clone());
    let (s, v) = post(
        &st,
        "/push",
        Some("application/json"),
        r#"{"deploy":{"web":"v1.2"}}"#,
    )
    .await;
    assert_eq!((s, &v["markers"]), (StatusCode::OK, &json!(1)), "{v}");
    let want = json!([{"path": "deploy,web", "ts": 1_700_000_005_i64, "text": "v1.2"}]);
    for uri in [
        "/markers/deploy,*.json",
        "/markers/deploy,*.json?until=now",
        "/markers/**.json?from=-1h",
    ] {
        let (s, v) = get(&st, uri).await;
        assert_eq!((s, &v), (StatusCode::OK, &want), "{uri}");
    }
    // Closed and stored: still there, once.
    clock.advance(10);
    st.engine().close_due().unwrap();
    store.sync().unwrap();
    let (s, v) = get(&st, "/markers/deploy,*.json").await;
    assert_eq!((s, &v), (StatusCode::OK, &want));
    let (s, v) = get(
        &st,
        "/markers/deploy,*.json?from=1700000000&until=1700000005",
    )
    .await;
    assert_eq!((s, v), (StatusCode::OK, json!([])));
    let (s, v) = get(
        &st,
        "/markers/deploy,*.json?from=1700000000&until=1700000006",
    )
    .await;
    assert_eq!((s, &v), (StatusCode::OK, &want));
}
