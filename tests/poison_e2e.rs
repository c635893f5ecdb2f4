//! Issue #12 end to end: `treestat serve` in process with HTTP on 127.0.0.1 port 0,
//! spoken to with raw HTTP/1.1 so that every header (Host, Origin, Sec-Fetch-Site) is
//! exactly what a browser or an attacker's page would send.
//!
//! On the code before the fix: the cross-origin `text/plain` POST to `/import` was
//! accepted (200) and its `["zz",1e15,1]` line emptied `/trend` and `/export`; a Host
//! of another name was served; `{"default_action":"add","ov":1e308}` pushed twice
//! made `/get` answer `null`, also after a restart; an import older than retention
//! answered `"imported": 2`.

use crate::common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{quiet_config, wait_for};
use serde_json::Value as Json;
use treestat::server::Server;

/// One HTTP/1.1 request with exactly these headers (Host first, given by the caller;
/// `None` sends none, as HTTP/1.0 tools do); returns the status and the body.
fn raw(
    addr: SocketAddr,
    method: &str,
    target: &str,
    host: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\n");
    if let Some(h) = host {
        req.push_str(&format!("Host: {h}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}

fn json(body: &str) -> Json {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn browser_writes_only_from_the_same_origin_and_rebound_hosts_refused() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = rt
        .block_on(Server::start(quiet_config(dir.path())))
        .unwrap();
    let addr = server.bound.http.unwrap();
    let host = addr.to_string();
    let own = format!("http://{addr}");

    // Any web page may send this without a preflight.
    let (status, body) = raw(
        addr,
        "POST",
        "/import",
        Some(&host),
        &[
            ("Content-Type", "text/plain"),
            ("Origin", "http://evil.example"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
        "[\"zz\",1e15,1]\n",
    );
    assert_eq!(status, 403, "{body}");
    assert!(
        json(&body)["error"].as_str().unwrap().contains("own pages"),
        "{body}"
    );
    // An older browser sends Origin only.
    let (status, _) = raw(
        addr,
        "POST",
        "/push",
        Some(&host),
        &[
            ("Content-Type", "application/json"),
            ("Origin", "http://evil.example"),
        ],
        r#"{"x":1}"#,
    );
    assert_eq!(status, 403);
    // A GET that writes is a write.
    let (status, _) = raw(
        addr,
        "GET",
        "/add_data_point?projectid=p&category=c&label=l&value=1",
        Some(&host),
        &[("Sec-Fetch-Site", "cross-site")],
        "",
    );
    assert_eq!(status, 403);
    assert!(server.engine.leaf_at("x").is_none() && server.engine.leaf_at("p,c,l").is_none());

    // The server's own page, and tools that are not browsers, write.
    let (status, body) = raw(
        addr,
        "POST",
        "/push",
        Some(&host),
        &[
            ("Content-Type", "application/json"),
            ("Origin", &own),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        r#"{"page":1}"#,
    );
    assert_eq!(status, 200, "{body}");
    let (status, _) = raw(
        addr,
        "POST",
        "/push",
        Some(&format!("localhost:{}", addr.port())),
        &[("Content-Type", "application/json")],
        r#"{"curl":1}"#,
    );
    assert_eq!(status, 200);
    let (status, _) = raw(addr, "POST", "/push", None, &[], r#"{"http10":1}"#);
    assert_eq!(status, 200);
    assert!(server.engine.leaf_at("page").is_some() && server.engine.leaf_at("curl").is_some());

    // DNS rebinding: the attacker's name now points at 127.0.0.1. Same-origin with
    // itself, so only the Host header tells; reads are refused too.
    let evil = format!("evil.example:{}", addr.port());
    let (status, body) = raw(addr, "GET", "/get/", Some(&evil), &[], "");
    assert_eq!(status, 421, "{body}");
    assert!(
        json(&body)["error"]
            .as_str()
            .unwrap()
            .contains("web.allowed_hosts"),
        "{body}"
    );
    let (status, _) = raw(
        addr,
        "POST",
        "/push",
        Some(&evil),
        &[
            ("Origin", &format!("http://{evil}")),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        r#"{"rebound":1}"#,
    );
    assert_eq!(status, 421);
    assert!(server.engine.leaf_at("rebound").is_none());

    server.shutdown_token().cancel();
    rt.block_on(server.wait()).unwrap();
}

#[test]
fn no_line_wipes_history_and_no_push_poisons_a_total_across_a_restart() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = rt
        .block_on(Server::start(quiet_config(dir.path())))
        .unwrap();
    let addr = server.bound.http.unwrap();
    let host = addr.to_string();
    let push = |doc: &str| {
        let (status, body) = raw(addr, "POST", "/push", Some(&host), &[], doc);
        assert_eq!(status, 200, "{body}");
        json(&body)
    };
    let doc = r#"{"default_action":"add","ov":1e308,"hits":1}"#;
    assert!(push(doc).get("refused_nonfinite").is_none());
    let second = push(doc);
    assert_eq!(second["refused_nonfinite"], 1, "{second}");
    assert_eq!(second["samples"], 1);
    let ov = |addr: SocketAddr| {
        let (_, body) = raw(addr, "GET", "/get/ov", Some(&addr.to_string()), &[], "");
        json(&body)[0][1].clone()
    };
    assert_eq!(ov(addr), 1e308);

    // The import line of the issue is refused, and says so.
    let (status, body) = raw(
        addr,
        "POST",
        "/import",
        Some(&host),
        &[("Content-Type", "text/plain")],
        "[\"zz\",1e15,1]\n",
    );
    assert_eq!(status, 200, "{body}");
    let report = json(&body);
    assert_eq!(
        (report["imported"].clone(), report["future"].clone()),
        (0.into(), 1.into()),
        "{body}"
    );
    // Older than retention (two hours in this config): not "imported", but counted.
    let old = server.engine.now() - 10 * 86_400;
    let (_, body) = raw(
        addr,
        "POST",
        "/import",
        Some(&host),
        &[],
        &format!("[\"old\",{old},1]\n[\"old\",{},2]\n", old + 1),
    );
    let report = json(&body);
    assert_eq!(report["imported"], 0, "{body}");
    assert_eq!(report["outside_retention"], 2, "{body}");

    // History still reads: the pushes' interval reaches /trend once it closes.
    let trend = |addr: SocketAddr| {
        let (_, body) = raw(
            addr,
            "GET",
            "/trend/hits.json?from=-1h",
            Some(&addr.to_string()),
            &[],
            "",
        );
        json(&body)[0]["points"].as_array().map_or(0, Vec::len)
    };
    wait_for("the pushes' interval in /trend", || {
        (trend(addr) > 0).then_some(())
    });
    server.shutdown_token().cancel();
    rt.block_on(server.wait()).unwrap();

    let again = rt
        .block_on(Server::start(quiet_config(dir.path())))
        .unwrap();
    let addr = again.bound.http.unwrap();
    assert_eq!(ov(addr), 1e308);
    assert!(trend(addr) > 0);
    again.shutdown_token().cancel();
    rt.block_on(again.wait()).unwrap();
}
