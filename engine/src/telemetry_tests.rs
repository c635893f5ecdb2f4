//! Tests of `telemetry.rs`, kept apart so the module reads as what it does.

use super::*;
use crate::Update;

#[test]
fn counters_are_shared_and_rendered() {
    let t = Telemetry::default();
    t.describe(
        "treestat_listen_lines_total",
        "Lines received by a listener.",
    );
    let a = t.counter("treestat_listen_lines_total", &[("listener", "tcp")]);
    let b = t.counter("treestat_listen_lines_total", &[("listener", "tcp")]);
    a.inc();
    b.add(4);
    t.counter("treestat_listen_lines_total", &[("listener", "udp")])
        .inc();
    let g = t.gauge("treestat_listen_connections", &[("listener", "tcp")]);
    g.inc();
    g.inc();
    g.dec();
    t.gauge_fn("treestat_tree_nodes", &[], || 42.0);
    let mut out = String::new();
    t.render_prometheus(&mut out);
    assert!(out.contains("# HELP treestat_listen_lines_total Lines received by a listener.\n"));
    assert!(out.contains("# TYPE treestat_listen_lines_total counter\n"));
    assert!(out.contains("treestat_listen_lines_total{listener=\"tcp\"} 5\n"));
    assert!(out.contains("treestat_listen_lines_total{listener=\"udp\"} 1\n"));
    assert!(out.contains("# TYPE treestat_listen_connections gauge\n"));
    assert!(out.contains("treestat_listen_connections{listener=\"tcp\"} 1\n"));
    assert!(out.contains("treestat_tree_nodes 42\n"));
    assert_eq!(
        t.value("treestat_listen_lines_total", &[("listener", "tcp")]),
        Some(5.0)
    );
    assert_eq!(t.sum("treestat_listen_lines_total", &[]), 6.0);
}

#[test]
fn label_values_are_escaped() {
    let t = Telemetry::default();
    t.counter("treestat_x_total", &[("reason", "a\"b\\c\nd")])
        .inc();
    let mut out = String::new();
    t.render_prometheus(&mut out);
    assert!(
        out.contains(r#"treestat_x_total{reason="a\"b\\c\nd"} 1"#),
        "{out}"
    );
}

#[test]
fn batch_paths_follow_the_naming_rule() {
    let t = Telemetry::default();
    t.counter("treestat_listen_lines_total", &[("listener", "tcp")])
        .add(3);
    t.counter(
        "treestat_listen_rejects_total",
        &[("listener", "tcp"), ("reason", "bad_key")],
    )
    .inc();
    t.counter("treestat_uptime", &[]).inc();
    t.counter("treestat_odd_total", &[("l", "a,b\u{1}")]).inc();
    let batch = t.to_batch();
    let paths: Vec<(&str, f64)> = batch
        .updates()
        .iter()
        .map(|u| match u {
            Update::Sample {
                path,
                value,
                action,
                ..
            } => {
                assert_eq!(*action, Some(Action::Last));
                (path.as_str(), *value)
            }
            other => panic!("a sample expected, got {other:?}"),
        })
        .collect();
    assert!(
        paths.contains(&("_treestat,listen,tcp,lines", 3.0)),
        "{paths:?}"
    );
    assert!(paths.contains(&("_treestat,listen,tcp,rejects,bad_key", 1.0)));
    assert!(paths.contains(&("_treestat,uptime", 1.0)));
    assert!(paths.contains(&("_treestat,odd,a_b_", 1.0)), "{paths:?}");
    batch.validate(32).unwrap();
    let engine = crate::Engine::default();
    engine.apply(&batch).unwrap();
    let (_, action, stats) = engine.leaf_at("_treestat,listen,tcp,lines").unwrap();
    assert_eq!(action, Action::Last);
    assert_eq!(stats.last, 3.0);
}

#[test]
fn health_reports_flags_and_probes_by_name() {
    let t = Telemetry::default();
    let h = t.health().clone();
    assert_eq!(h.report().status, "ok");
    let flag = h.flag("pipe:www");
    let probed = Arc::new(AtomicU64::new(0));
    {
        let probed = probed.clone();
        h.probe("trend_store", move || {
            if probed.load(Ordering::Relaxed) > 0 {
                vec!["2 write errors".into()]
            } else {
                Vec::new()
            }
        });
    }
    assert!(h.report().is_ok());
    flag.degraded("stuck for 30 s");
    probed.store(1, Ordering::Relaxed);
    let r = t.health().report();
    assert_eq!(r.status, "degraded");
    assert_eq!(
        r.reasons,
        vec![
            HealthReason {
                component: "pipe:www".into(),
                reason: "stuck for 30 s".into()
            },
            HealthReason {
                component: "trend_store".into(),
                reason: "2 write errors".into()
            },
        ]
    );
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        r#"{"status":"degraded","reasons":[{"component":"pipe:www","reason":"stuck for 30 s"},{"component":"trend_store","reason":"2 write errors"}]}"#
    );
    flag.ok();
    h.flag("pipe:www"); // the same flag, still healthy
    probed.store(0, Ordering::Relaxed);
    assert_eq!(
        serde_json::to_string(&h.report()).unwrap(),
        r#"{"status":"ok"}"#
    );
}

#[test]
fn registered_counters_render_under_their_name() {
    let t = Telemetry::default();
    let c = Counter::default();
    c.add(3);
    t.register_counter("treestat_trend_write_errors_total", &[], &c);
    c.inc();
    assert_eq!(t.value("treestat_trend_write_errors_total", &[]), Some(4.0));
    let mut out = String::new();
    t.render_prometheus(&mut out);
    assert!(out.contains("# TYPE treestat_trend_write_errors_total counter\n"));
}

#[test]
fn kind_clash_does_not_panic() {
    let t = Telemetry::default();
    t.gauge("treestat_clash", &[]).set(2);
    let c = t.counter("treestat_clash", &[]);
    c.inc();
    assert_eq!(t.value("treestat_clash", &[]), Some(2.0));
}
