//! Against a real carbon-cache (Debian's graphite-carbon): the whisper files hold the
//! exact points treestat's intervals forwarded, under the names treestat's Graphite API
//! shows; and a carbon-cache started after the forwarder gets every buffered point.

use treestat_forward::Kind;

use crate::common::receivers::Carbon;
use crate::common::{close, config, engine, forwarder, free_port, now, wait_for};

#[test]
fn whisper_files_hold_the_points_of_every_interval() {
    if !Carbon::available() {
        return;
    }
    let carbon = Carbon::start(free_port());
    let (e, clock, t0) = engine();
    let (f, _t) = forwarder(
        &e,
        &config(Kind::Graphite, &format!("tcp://127.0.0.1:{}", carbon.port)),
    );
    for i in 0..4 {
        e.push_json(
            format!(
                r#"{{"cpu":{{"10.3.1.12":{{"idle":{}}}}},
                    "url":{{"default_action":"add","/index.html":[{i},1]}},
                    "disk":{{"C: drive":{{"free":0.25}}}},
                    "api":{{"default_action":"histogram","latency":[10,20,30]}}}}"#,
                90 + i
            )
            .as_bytes(),
        )
        .unwrap();
        close(&e, &clock);
    }
    let until = t0 + 40;
    let series = |f: &dyn Fn(i64) -> f64| -> Vec<(i64, f64)> {
        (0..4).map(|i| (t0 + 10 * i, f(i))).collect()
    };
    #[allow(clippy::cast_precision_loss)]
    let idle = series(&|i| 90.0 + i as f64);
    #[allow(clippy::cast_precision_loss)]
    let hits = series(&|i| i as f64 + 1.0);
    carbon.wait_points("cpu.10_3_1_12.idle", t0, until, &idle);
    carbon.wait_points("url./index_html", t0, until, &hits);
    carbon.wait_points("disk.C:%20drive.free", t0, until, &series(&|_| 0.25));
    carbon.wait_points("api.latency", t0, until, &series(&|_| 20.0));
    carbon.wait_points("api.latency.count", t0, until, &series(&|_| 3.0));
    carbon.wait_points("api.latency.max", t0, until, &series(&|_| 30.0));
    // `url./index_html` is the file url/index_html.wsp: the key's `/` stays, its `.`
    // became `_`.
    assert!(
        carbon
            .file("url./index_html")
            .ends_with("whisper/url/index_html.wsp")
    );
    // The sender counts a batch once its write returned, which may be after carbon
    // read it.
    let s = crate::common::wait_for("every point counted as sent", || {
        let s = f.stats();
        (s.sent == 4 * (3 + 1 + 7)).then_some(s)
    });
    assert_eq!((s.dropped, s.errors), (0, 0));
    assert!(now() >= until);
}

#[test]
fn carbon_started_late_gets_every_buffered_point() {
    if !Carbon::available() {
        return;
    }
    let port = free_port();
    let (e, clock, t0) = engine();
    let (f, _t) = forwarder(
        &e,
        &config(Kind::Graphite, &format!("tcp://127.0.0.1:{port}")),
    );
    for i in 0..6 {
        e.push_json(format!(r#"{{"default_action":"add","svc":{{"req":{i}}}}}"#).as_bytes())
            .unwrap();
        close(&e, &clock);
    }
    wait_for("failed sends", || {
        (f.stats().errors >= 1 && f.stats().buffered_points == 6).then_some(())
    });
    let carbon = Carbon::start(port);
    #[allow(clippy::cast_precision_loss)]
    let want: Vec<(i64, f64)> = (0..6).map(|i| (t0 + 10 * i, i as f64)).collect();
    carbon.wait_points("svc.req", t0, t0 + 60, &want);
    let s = f.stats();
    assert_eq!((s.sent, s.dropped, s.buffered_points), (6, 0, 0));
}
