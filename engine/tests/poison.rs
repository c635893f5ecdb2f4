//! Issue #12: no input poisons a total, freezes a gauge or refuses other senders' lines.
//! Each test reproduces a finding of the issue against a real engine (and, for the
//! listeners, real sockets on 127.0.0.1 port 0); on the code before the fix each one
//! fails as the issue describes (the batch dropped, the total inf then NaN, the gauge
//! frozen).

use crate::listen_common;

use std::sync::Arc;

use listen_common::{LineClient, start_with, test_config, udp_client};
use treestat_engine::EngineConfig;
use treestat_engine::listen::Reject;
use treestat_engine::{Action, Batch, Engine, ErrorKind, ManualClock, Stats};

const NOW: i64 = 1_700_000_000;

fn engine_at(now: i64) -> (Engine, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(now));
    let e = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    (e, clock)
}

#[test]
fn add_overflow_pushed_twice_is_refused_alone_and_total_stays_finite() {
    let (e, _) = engine_at(NOW);
    let doc = br#"{"default_action":"add","ov":1e308,"ok":1}"#;
    let first = e.push_json(doc).unwrap();
    assert_eq!((first.samples, first.refused_nonfinite), (2, 0));
    let second = e.push_json(doc).unwrap();
    // `ov` would become inf: that sample alone is skipped; `ok` lands.
    assert_eq!((second.samples, second.refused_nonfinite), (1, 1));
    assert_eq!(e.query("ov").unwrap(), vec![("ov".to_string(), 1e308)]);
    assert_eq!(e.query("ok").unwrap(), vec![("ok".to_string(), 2.0)]);
    // A third time would have turned inf into NaN (`null` at /get).
    e.push_json(doc).unwrap();
    assert!(e.query("").unwrap().iter().all(|(_, v)| v.is_finite()));
    assert_eq!(e.metrics().refused_nonfinite.get(), 2);
    // The interval's aggregate stays finite too.
    let closed = e.close_now();
    assert!(closed.points.iter().all(|p| p.stats.sum.is_finite()));
}

#[test]
fn a_batch_with_one_overflowing_update_lands_the_others() {
    // The shape of a native pipe's output beside the built-in pipes' output.
    let (e, _) = engine_at(NOW);
    let mut b = Batch::new();
    b.sample("status,2xx,200", 5.0, Some(Action::Add));
    b.stats("big", Stats::one(1e308), Some(Action::Add));
    b.stats("big", Stats::one(1e308), Some(Action::Add));
    b.sample("nan", f64::NAN, None);
    b.sample("inf", f64::INFINITY, None);
    b.sample("bytes", 10.0, Some(Action::Add));
    let s = e.apply(&b).unwrap();
    assert_eq!(s.refused_nonfinite, 3);
    assert_eq!(e.leaf_at("status,2xx,200").unwrap().2.sum, 5.0);
    assert_eq!(e.leaf_at("bytes").unwrap().2.sum, 10.0);
    assert_eq!(e.leaf_at("big").unwrap().2.sum, 1e308);
    // A refused sample creates no node.
    assert!(e.leaf_at("nan").is_none() && e.leaf_at("inf").is_none());
}

#[test]
fn future_samples_are_refused_and_a_gauge_follows_later_values() {
    let (e, clock) = engine_at(NOW);
    let mut b = Batch::new();
    b.sample_at("fz", 99_999_999_999, 999.0, Some(Action::Last));
    b.sample_at("near", NOW + 60, 1.0, Some(Action::Last));
    b.sample("ok", 1.0, None);
    let s = e.apply(&b).unwrap();
    assert_eq!((s.samples, s.refused_future), (2, 1));
    assert!(e.leaf_at("fz").is_none());
    for v in [1.0, 2.0, 3.0] {
        clock.advance(10);
        let mut b = Batch::new();
        b.sample("fz", v, Some(Action::Last));
        e.apply(&b).unwrap();
    }
    assert_eq!(e.query("fz").unwrap(), vec![("fz".to_string(), 3.0)]);
    // A JSON push dated in the future is refused whole, naming the time.
    let err = e
        .push_json(br#"{"timestamp":99999999999,"a":1}"#)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FutureTime);
    assert!(err.message().contains("99999999999"), "{err}");
    assert!(e.leaf_at("a").is_none());
    e.push_json(format!(r#"{{"timestamp":{},"a":1}}"#, NOW + 100).as_bytes())
        .unwrap();
    assert_eq!(e.metrics().refused_future.get(), 2);
}

#[test]
fn restore_heals_poisoned_totals_and_future_times() {
    let (e, _) = engine_at(NOW);
    let mut nan = Stats::one(1.0);
    nan.sum = f64::NAN;
    let skipped = e.restore(vec![
        ("bad".to_string(), Action::Add, nan, NOW),
        (
            "fz".to_string(),
            Action::Last,
            Stats::one(999.0),
            99_999_999_999,
        ),
        ("good".to_string(), Action::Add, Stats::one(4.0), NOW),
    ]);
    assert_eq!(skipped, 1);
    assert!(e.leaf_at("bad").is_none());
    let mut b = Batch::new();
    b.sample("fz", 5.0, Some(Action::Last));
    e.apply(&b).unwrap();
    assert_eq!(e.query("fz").unwrap(), vec![("fz".to_string(), 5.0)]);
    assert_eq!(e.query("good").unwrap(), vec![("good".to_string(), 4.0)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statsd_overflowing_datagram_does_not_drop_other_senders() {
    let srv = start_with(Engine::default(), test_config()).await;
    let senders: Vec<_> = futures_join(200).await;
    let bad = udp_client().await;
    // The bad datagram goes first so that it shares a drained batch with the others.
    bad.send_to(b"x:1e308|c|@0.5", srv.statsd).await.unwrap();
    for (i, u) in senders.iter().enumerate() {
        u.send_to(format!("good.s{i}:1|c").as_bytes(), srv.statsd)
            .await
            .unwrap();
    }
    srv.wait("200 good datagrams landed", |s| {
        s.engine.query("good").unwrap().len() == 200
    })
    .await;
    assert!(srv.engine.leaf_at("x").is_none());
    assert_eq!(srv.rejects("statsd", Reject::BadValue), 1.0);
    srv.stop().await;
}

async fn futures_join(n: usize) -> Vec<tokio::net::UdpSocket> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(udp_client().await);
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphite_overflow_twice_keeps_the_good_line() {
    let srv = start_with(Engine::default(), test_config()).await;
    let mut c = LineClient::connect(srv.graphite).await;
    c.send(b"g.b 1e308\ng.b 1e308\ng.ok 1\n").await;
    drop(c);
    srv.wait_leaf("g,ok", |_, _| true).await;
    let (_, _, s) = srv.engine.leaf_at("g,b").unwrap();
    assert_eq!((s.sum, s.count), (1e308, 1));
    srv.wait("the overflowing line counted", |s| {
        s.rejects("graphite", Reject::BadValue) == 1.0
    })
    .await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphite_future_line_does_not_freeze_a_gauge() {
    let mut cfg = EngineConfig::default();
    cfg.actions.push(treestat_engine::ActionRule {
        pattern: "fz".into(),
        action: Action::Last,
    });
    let srv = start_with(Engine::new(cfg).unwrap(), test_config()).await;
    let mut c = LineClient::connect(srv.graphite).await;
    c.send(b"fz 999 99999999999\nother 1\n").await;
    drop(c);
    srv.wait_leaf("other", |_, _| true).await;
    srv.wait("the future line counted", |s| {
        s.rejects("graphite", Reject::FutureTime) == 1.0
    })
    .await;
    for v in [1, 2, 3] {
        let mut c = LineClient::connect(srv.graphite).await;
        c.send(format!("fz {v}\n").as_bytes()).await;
        drop(c);
        srv.wait_leaf("fz", |_, s| s.last == f64::from(v)).await;
    }
    assert_eq!(
        srv.engine.query("fz").unwrap(),
        vec![("fz".to_string(), 3.0)]
    );
    // TCP 8007: a future tuple is answered as refused, a good one lands.
    let mut c = LineClient::connect_8007(srv.tcp).await;
    let reply = c.ask(r#"["zz", 1e15, 1]"#).await;
    assert!(reply.starts_with("--ERR"), "{reply}");
    assert_eq!(c.ask(r#"["zz", 1322721979, 1]"#).await, "--OK");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_future_tree_does_not_refuse_the_others() {
    let srv = start_with(Engine::default(), test_config()).await;
    let u = udp_client().await;
    u.send_to(
        b"{\"timestamp\":99999999999,\"f\":1}\n{\"a\":1}\n{\"b\":2}",
        srv.udp,
    )
    .await
    .unwrap();
    srv.wait_leaf("b", |_, _| true).await;
    assert!(srv.engine.leaf_at("a").is_some());
    assert!(srv.engine.leaf_at("f").is_none());
    assert_eq!(srv.rejects("udp", Reject::FutureTime), 1.0);
    srv.stop().await;
}
