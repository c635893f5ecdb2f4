//! Router tests through `tower::ServiceExt::oneshot`: no socket, the real engine.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tower::ServiceExt;
use treestat_engine::telemetry::Telemetry;
use treestat_engine::{Engine, EngineConfig, ManualClock};

use crate::{AppState, AuthConfig, LogSink, LogSummary, WebConfig, app, interval_json};

/// Keeps the lines it is handed; stands in for the pipes, which the server wires later.
#[derive(Default)]
struct Lines(Mutex<Vec<(String, String)>>);

impl LogSink for Lines {
    fn lines(&self, source: &str, lines: &[&str]) -> Result<LogSummary, String> {
        let mut got = self.0.lock();
        for l in lines {
            got.push((source.to_string(), (*l).to_string()));
        }
        Ok(LogSummary {
            lines: lines.len() as u64,
            bad_lines: lines.iter().filter(|l| !l.starts_with("GET")).count() as u64,
            samples: 0,
        })
    }
}

async fn call(
    state: &AppState,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let res = app(state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), 64 << 20)
        .await
        .unwrap();
    (status, headers, body.to_vec())
}

async fn get(state: &AppState, uri: &str) -> (StatusCode, Value) {
    let (s, _, b) = call(state, Request::get(uri).body(Body::empty()).unwrap()).await;
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

async fn post(
    state: &AppState,
    uri: &str,
    ct: Option<&str>,
    body: impl Into<Body>,
) -> (StatusCode, Value) {
    let mut r = Request::post(uri);
    if let Some(ct) = ct {
        r = r.header(header::CONTENT_TYPE, ct);
    }
    let (s, _, b) = call(state, r.body(body.into()).unwrap()).await;
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

fn state() -> AppState {
    AppState::new(
        Engine::default(),
        WebConfig::default(),
        Telemetry::default(),
    )
}

#[tokio::test]
async fn json_push_lands_in_get_and_all() {
    let st = state();
    let (s, v) = post(
        &st,
        "/push",
        Some("application/json"),
        r#"{"br":{"ie":{"7":3}},"os":{"linux":1}}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["samples"], 2);
    assert_eq!(v["new_nodes"], 5);
    let (s, v) = post(&st, "/push", None, r#" [{"br":{"ie":{"7":5}}}]"#).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "no content type, body starts with [: {v}"
    );
    assert_eq!(get(&st, "/get/br,ie").await.1, json!([["br,ie,7", 4.0]]));
    assert_eq!(get(&st, "/get/br%2Cie").await.1, json!([["br,ie,7", 4.0]]));
    assert_eq!(
        get(&st, "/get/").await.1,
        json!([["br,ie,7", 4.0], ["os,linux", 1.0]])
    );
    assert_eq!(
        get(&st, "/all").await.1,
        json!({"br": {"ie": {"7": 4.0}}, "os": {"linux": 1.0}})
    );
    assert_eq!(
        get(&st, "/api/q/br.json").await.1,
        json!({"br": {"ie": {"7": 4.0}}})
    );
    assert_eq!(get(&st, "/api/q/br").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn form_pushes_take_json_and_accesslog_fields() {
    let st = state();
    let form = "json=%7B%22a%22%3A1%7D&accesslog=GET+%2F";
    let (s, _) = post(
        &st,
        "/push",
        Some("application/x-www-form-urlencoded"),
        form,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(
        get(&st, "/get/a").await.1,
        json!([]),
        "nothing applied from a refused form"
    );
    let sink = Arc::new(Lines::default());
    let st = state().with_log_sink(sink.clone());
    let form = "json=%7B%22a%22%3A%7B%22b%22%3A2%7D%7D&accesslog=GET+%2F+1%0Abroken%0A";
    let (s, v) = post(
        &st,
        "/push",
        Some("application/x-www-form-urlencoded"),
        form,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["samples"], 1);
    assert_eq!(
        v["log"],
        json!({"lines": 2, "bad_lines": 1, "samples": 0, "too_long": 0})
    );
    assert_eq!(
        sink.0.lock()[0],
        ("push".to_string(), "GET / 1".to_string())
    );
    let (s, v) = post(
        &st,
        "/push",
        Some("application/x-www-form-urlencoded"),
        "other=1",
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("json"), "{v}");
}

#[tokio::test]
async fn text_pushes_and_raw_go_to_the_log_sink_or_answer_501() {
    let st = state();
    let (s, v) = post(&st, "/push", Some("text/plain"), "GET / 200\n").await;
    assert_eq!(s, StatusCode::NOT_IMPLEMENTED);
    assert!(v["error"].as_str().unwrap().contains("access-log"), "{v}");
    let sink = Arc::new(Lines::default());
    let st = state().with_log_sink(sink.clone());
    let (s, v) = post(
        &st,
        "/push",
        Some("text/plain; charset=utf-8"),
        "GET /a\r\nGET /b\n",
    )
    .await;
    assert_eq!((s, v["log"]["lines"].clone()), (StatusCode::OK, json!(2)));
    let req = Request::put("/tornado")
        .body(Body::from("GET /c\n\nGET /d"))
        .unwrap();
    let (s, _, b) = call(&st, req).await;
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["lines"], 2);
    assert_eq!(
        sink.0.lock().last().unwrap(),
        &("tornado".to_string(), "GET /d".to_string())
    );
}

#[tokio::test]
async fn bad_pushes_get_a_json_error_naming_the_problem() {
    let st = state();
    let (s, v) = post(&st, "/push", Some("application/json"), r#"{"a,b": 1}"#).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("a,b"), "{v}");
    let (s, v) = post(&st, "/push", Some("application/json"), "NaN").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, _) = post(&st, "/push", Some("application/json"), "   ").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = post(&st, "/push", Some("image/png"), "{}").await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(v["error"].as_str().unwrap().contains("image/png"));
    let (s, _) = post(&st, "/push", None, "hello").await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, v) = get(&st, "/get/a%7Cbogus").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("bogus"), "{v}");
    let (s, v) = get(&st, "/nowhere").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(v["error"].is_string());
    let metrics = call(&st, Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .2;
    let text = String::from_utf8(metrics).unwrap();
    assert!(
        text.contains("treestat_rejects_total{reason=\"bad_key\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("treestat_http_rejects_total{reason=\"unsupported_media_type\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("treestat_http_rejects_total{reason=\"bad_pattern\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn limits_answer_413_and_507() {
    let cfg = WebConfig {
        body_limit: 100,
        ..WebConfig::default()
    };
    let mut ecfg = EngineConfig::default();
    ecfg.limits.max_push_nodes = 3;
    ecfg.limits.max_nodes = 6;
    let st = AppState::new(Engine::new(ecfg).unwrap(), cfg, Telemetry::default());
    let big = format!("{{\"a\": \"{}\"}}", "x".repeat(200));
    let (s, v) = post(&st, "/push", Some("application/json"), big).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(v["error"].as_str().unwrap().contains("body_limit"), "{v}");
    let (s, _) = post(
        &st,
        "/push",
        Some("application/json"),
        r#"{"a":1,"b":2,"c":3,"d":4}"#,
    )
    .await;
    assert_eq!(
        s,
        StatusCode::PAYLOAD_TOO_LARGE,
        "more nodes than max_push_nodes"
    );
    let mut statuses = Vec::new();
    for k in ["a", "b", "c", "d", "e", "f", "g", "h"] {
        statuses.push(
            post(
                &st,
                "/push",
                Some("application/json"),
                format!("{{\"{k}\":1}}"),
            )
            .await,
        );
    }
    assert_eq!(statuses[0].0, StatusCode::OK);
    let (s, v) = statuses.pop().unwrap();
    assert_eq!(s, StatusCode::INSUFFICIENT_STORAGE, "{v}");
}

#[tokio::test]
async fn tokens_guard_writes_and_optionally_reads() {
    let cfg = WebConfig {
        auth: AuthConfig {
            token: Some("s3cret".into()),
            reads: false,
        },
        ..WebConfig::default()
    };
    let st = AppState::new(Engine::default(), cfg.clone(), Telemetry::default());
    let (s, v) = post(&st, "/push", Some("application/json"), r#"{"a":1}"#).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(v["error"].as_str().unwrap().contains("Bearer"));
    let req = Request::post("/push")
        .header(header::AUTHORIZATION, "Bearer s3cret")
        .body(Body::from(r#"{"a":1}"#))
        .unwrap();
    assert_eq!(call(&st, req).await.0, StatusCode::OK);
    assert_eq!(
        get(
            &st,
            "/add_data_point?projectid=p&category=c&label=l&value=1"
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&st, "/get/a").await.0,
        StatusCode::OK,
        "reads are free by default"
    );
    let mut cfg = cfg;
    cfg.auth.reads = true;
    let st = AppState::new(Engine::default(), cfg, Telemetry::default());
    assert_eq!(get(&st, "/get/a").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&st, "/metrics").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(&st, "/health").await.0,
        StatusCode::OK,
        "load balancers carry no token"
    );
}

#[tokio::test]
async fn health_is_ok_or_degraded_with_reasons() {
    let telemetry = Telemetry::default();
    let st = AppState::new(Engine::default(), WebConfig::default(), telemetry.clone());
    assert_eq!(
        get(&st, "/health").await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
    let pipe = telemetry.health().flag("pipe:www");
    pipe.degraded("no line for 300 s");
    telemetry.health().probe("trend_store", || {
        vec!["storage errors (3 write, 0 flush so far)".into()]
    });
    assert_eq!(
        get(&st, "/health").await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "degraded", "reasons": [
                {"component": "pipe:www", "reason": "no line for 300 s"},
                {"component": "trend_store", "reason": "storage errors (3 write, 0 flush so far)"},
            ]})
        )
    );
    pipe.ok();
    telemetry.health().probe("trend_store", Vec::new);
    assert_eq!(get(&st, "/health").await.0, StatusCode::OK);
}

#[tokio::test]
async fn windows_and_diffs() {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    let st = AppState::new(engine.clone(), WebConfig::default(), Telemetry::default());
    post(
        &st,
        "/push",
        None,
        r#"{"web1":{"cpu":10,"mem":5},"web2":{"cpu":4,"disk":1}}"#,
    )
    .await;
    clock.advance(10);
    engine.close_now();
    post(&st, "/push", None, r#"{"web1":{"cpu":30}}"#).await;
    let (s, v) = get(&st, "/api/q/web1.json?window=60s").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"web1": {"cpu": 10.0, "mem": 5.0}}),
        "the open interval is not in a window"
    );
    assert_eq!(
        get(&st, "/api/q/web1.json?window=soon").await.0,
        StatusCode::BAD_REQUEST
    );
    let (s, v) = get(&st, "/diff/web1/web2.json").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!([
            {"path": "cpu", "a": 20.0, "b": 4.0, "diff": 16.0},
            {"path": "disk", "a": null, "b": 1.0, "diff": null},
            {"path": "mem", "a": 5.0, "b": null, "diff": null},
        ])
    );
    assert_eq!(
        get(&st, "/diff/**/web2.json").await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn statsserver_ingest() {
    let st = state();
    let (s, v) = get(
        &st,
        "/add_data_point?projectid=shop&category=orders&label=paid&value=3.5",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["path"], "shop,orders,paid");
    assert_eq!(
        get(&st, "/get/shop").await.1,
        json!([["shop,orders,paid", 3.5]])
    );
    let (s, v) = get(
        &st,
        "/add_data_point?projectid=shop&category=orders&label=paid&value=NaN",
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = get(&st, "/add_data_point?projectid=shop&category=orders").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("label"));
    assert_eq!(
        get(&st, "/register?name=shop").await.1,
        json!({"ok": true, "projectid": "shop"})
    );
    assert_eq!(
        get(&st, "/register?name=a,b").await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn pull_with_cursor_answers_at_once_and_timeouts_answer_204() {
    let st = state();
    post(&st, "/push", None, r#"{"br":{"ie":{"7":1}},"os":{"x":1}}"#).await;
    post(&st, "/push", None, r#"{"br":{"ff":{"3":2}}}"#).await;
    let (s, h, b) = call(
        &st,
        Request::get("/pull/br?cursor=0")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[crate::CURSOR_HEADER], "2");
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v, json!({"br,ie,7": 1.0, "br,ff,3": 2.0}));
    let (s, h, _) = call(
        &st,
        Request::get("/pull/br?cursor=2&timeout=0s")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(h[crate::CURSOR_HEADER], "2");
    let (s, _, _) = call(
        &st,
        Request::get("/pull/br?timeout=often")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let busy = AppState::new(
        Engine::default(),
        WebConfig {
            max_waiters: 0,
            ..WebConfig::default()
        },
        Telemetry::default(),
    );
    let (s, v) = get(&busy, "/pull/br?timeout=0s").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(v["error"].as_str().unwrap().contains("waiters"));
}

#[tokio::test]
async fn views_without_a_store_answer_501() {
    let st = state();
    let (s, v) = get(&st, "/api/views/home").await;
    assert_eq!(s, StatusCode::NOT_IMPLEMENTED);
    assert!(v["error"].as_str().unwrap().contains("store"));
}

#[tokio::test]
async fn trend_routes_mount_with_a_store_guarded_and_counted() {
    use treestat_engine::trend::{TrendConfig, TrendStore};
    let cfg = WebConfig {
        auth: AuthConfig {
            token: Some("t".into()),
            reads: true,
        },
        ..WebConfig::default()
    };
    let bare = app(AppState::new(
        Engine::default(),
        cfg.clone(),
        Telemetry::default(),
    ));
    let trend = || {
        Request::get("/trend/a.json")
            .header(header::AUTHORIZATION, "Bearer t")
            .body(Body::empty())
            .unwrap()
    };
    let res = bare.oneshot(trend()).await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::NOT_FOUND,
        "no store, no trend routes"
    );
    let dir = tempfile::tempdir().unwrap();
    let store = TrendStore::open(dir.path(), &TrendConfig::default()).unwrap();
    let st = AppState::new(Engine::default(), cfg, Telemetry::default()).with_trend_store(store);
    let router = app(st.clone());
    let res = router
        .clone()
        .oneshot(Request::get("/trend/a.json").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = router.clone().oneshot(trend()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = router
        .oneshot(Request::get("/nope").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(st.counters().requests.get(), 3);
    assert_eq!(st.counters().rejects("unauthorized"), 1);
}

#[tokio::test]
async fn interval_messages_fold_aggregating_patterns_over_the_interval() {
    let clock = Arc::new(ManualClock::new(2_000_000));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    engine
        .push_json(br#"{"web1":{"net":10,"cpu":1},"web2":{"net":20}}"#)
        .unwrap();
    clock.advance(10);
    let closed = engine.close_now();
    let pattern = treestat_engine::Pattern::parse("*|sum,net").unwrap();
    let msg = interval_json(&engine, &pattern, &closed);
    assert_eq!(msg["values"], json!({"*,net": 30.0}));
    let pattern = treestat_engine::Pattern::parse("*,net").unwrap();
    let msg = interval_json(&engine, &pattern, &closed);
    assert_eq!(msg["values"], json!({"web1,net": 10.0, "web2,net": 20.0}));
}

/// Holds every batch until told to go on, so a test can keep a log request in flight.
struct Gate {
    entered: Mutex<Option<std::sync::mpsc::Sender<()>>>,
    go: Mutex<std::sync::mpsc::Receiver<()>>,
}

impl LogSink for Gate {
    fn lines(&self, _source: &str, lines: &[&str]) -> Result<LogSummary, String> {
        if let Some(tx) = self.entered.lock().take() {
            let _ = tx.send(());
            let _ = self.go.lock().recv();
        }
        Ok(LogSummary {
            lines: lines.len() as u64,
            ..LogSummary::default()
        })
    }
}

/// Issue 12: log requests are bounded; past the bound they are refused at once with
/// 429 (before, each took a blocking thread and waited on the pipes, without bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_requests_past_the_bound_answer_429_at_once() {
    let (entered_tx, entered_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel();
    let st = AppState::new(
        Engine::default(),
        WebConfig {
            max_log_requests: 1,
            ..WebConfig::default()
        },
        Telemetry::default(),
    )
    .with_log_sink(Arc::new(Gate {
        entered: Mutex::new(Some(entered_tx)),
        go: Mutex::new(go_rx),
    }));
    let first = {
        let st = st.clone();
        tokio::spawn(async move { post(&st, "/push", Some("text/plain"), "GET /a\n").await })
    };
    tokio::task::spawn_blocking(move || entered_rx.recv().unwrap())
        .await
        .unwrap();
    let (s, v) = post(&st, "/push", Some("text/plain"), "GET /b\n").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("access-log requests"),
        "{v}"
    );
    let (s, _, _) = call(
        &st,
        Request::put("/raw").body(Body::from("GET /c\n")).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    // JSON pushes are not log requests: they go through.
    let (s, _) = post(&st, "/push", Some("application/json"), r#"{"a":1}"#).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(st.counters().rejects("too_many_log_requests"), 2);
    go_tx.send(()).unwrap();
    let (s, v) = first.await.unwrap();
    assert_eq!(s, StatusCode::OK, "{v}");
    // The slot came back.
    let (s, v) = post(&st, "/push", Some("text/plain"), "GET /d\n").await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

/// A pushed number is the f64 nearest to its decimal text: serde_json's default float
/// parser is best-effort and read `454.31574074074075` one ulp low (454.3157407407407),
/// so a value read from JSON differed from the one its sender wrote (workspace feature
/// `float_roundtrip`; issue 15, Etsy's `mean_90` compared bit for bit).
#[tokio::test]
async fn pushed_numbers_keep_every_bit() {
    let st = state();
    let text = "454.31574074074075";
    let (s, v) = post(&st, "/push", None, format!(r#"{{"x":{text}}}"#)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let want: f64 = text.parse().unwrap();
    let got = st.engine().query("x").unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1.to_bits(), want.to_bits(), "{} vs {want}", got[0].1);
}

/// Issue 16: the shard side of a read front. `/api/q/<p>.json?partial=1` answers the
/// leaves the pattern selects, unfolded (its folds are the front's to do), each with
/// its newest sample's time, and under a quantile fold a histogram leaf's sketch.
#[tokio::test]
async fn partial_answers_the_selected_leaves_unfolded() {
    let st = state();
    let (s, v) = post(
        &st,
        "/push",
        Some("application/json"),
        r#"{"timestamp":1700000000,"a":{"x":2,"y":4},"b":{"default_action":"histogram","x":[1,2,3]}}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = get(&st, "/api/q/*%7Csum,x.json?partial=1").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"rows": [["a,x", 2.0, 1_700_000_000], ["b,x", 2.0, 1_700_000_000]]})
    );
    let (_, v) = get(&st, "/api/q/*%7Cp99,x.json?partial=1").await;
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows[0], json!(["a,x", 2.0, 1_700_000_000]));
    assert_eq!(rows[1].as_array().unwrap().len(), 6, "{v}");
    assert!(rows[1][3].as_str().is_some_and(|h| !h.is_empty()), "{v}");
    assert_eq!((&rows[1][4], &rows[1][5]), (&json!(1.0), &json!(3.0)));
    // With `stat`: each leaf's value of every stat asked, `null` where it has none.
    let (s, v) = get(&st, "/api/q/*%7Csum,x.json?partial=1&stat=max,p50").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows[0], json!(["a,x", [2.0, null], 1_700_000_000]));
    assert_eq!(rows[1][1][0], json!(3.0));
    // The sketch's p50, within its 1 % relative error.
    assert!((rows[1][1][1].as_f64().unwrap() - 2.0).abs() < 0.02, "{v}");
    let (_, v) = get(&st, "/api/q/*%7Cp99,x.json?partial=1&stat=count").await;
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows[1].as_array().unwrap().len(), 6, "{v}");
    assert_eq!(
        get(&st, "/api/q/a.json?partial=1&stat=nope").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&st, "/api/q/a.json?partial=2").await.0,
        StatusCode::BAD_REQUEST
    );
}

mod stats;
