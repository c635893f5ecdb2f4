//! StatsD and Graphite tags placed in the tree by the `[listen.tags]` template (issue
//! 15), end to end: real UDP and TCP sockets into a server, read back over HTTP.

use std::io::Write;
use std::net::{TcpStream, UdpSocket};

use treestat::server::Server;

use crate::common;

#[test]
fn tags_become_levels_and_the_others_are_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut c = common::quiet_config(dir.path());
    c.listen.statsd = "127.0.0.1:0".into();
    c.listen.graphite = "127.0.0.1:0".into();
    c.listen.tags = toml::from_str("template = [\"host\", \"dc\"]").unwrap();
    let server = rt.block_on(Server::start(c)).unwrap();
    let base = common::base(&server);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(
        b"api.latency:12|ms|#host:web1,dc:eu,env:prod\napi.hits;host=web2:3|c\napi.hits:1|c",
        server.bound.statsd.unwrap(),
    )
    .unwrap();
    let mut g = TcpStream::connect(server.bound.graphite.unwrap()).unwrap();
    g.write_all(b"cpu.user;dc=us;host=db1;rack=r7 40\n")
        .unwrap();
    drop(g);
    let want = [
        ("api,hits", 1.0),
        ("api,web1,eu,latency", 12.0),
        ("api,web2,none,hits", 3.0),
        ("cpu,db1,us,user", 40.0),
    ];
    common::wait_for("the tagged samples", || {
        let got = common::get_values(&base, "*,**");
        want.iter()
            .all(|(p, v)| got.get(*p) == Some(v))
            .then_some(())
    });
    // `env` and `rack` are not in the template: dropped, one each, and counted.
    let metrics = common::get_text(&format!("{base}/metrics"));
    for l in [
        "treestat_listen_tags_dropped_total{listener=\"statsd\"} 1",
        "treestat_listen_tags_dropped_total{listener=\"graphite\"} 1",
    ] {
        assert!(metrics.lines().any(|m| m == l), "no {l} in\n{metrics}");
    }
    common::stop(&rt, server);
}
