//! `treestat serve` end to end, in process: every protocol into one server started on
//! port 0, read back over HTTP; SimpleStats compatibility; trends and graphs over the
//! API; a restart that restores the totals from the store.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use treestat::config::Config;
use treestat::server::Server;

fn config(data: &std::path::Path) -> Config {
    let mut c = Config::default();
    c.server.data = data.to_path_buf();
    c.server.http = Some("127.0.0.1:0".parse().unwrap());
    for addr in [
        &mut c.listen.tcp,
        &mut c.listen.udp,
        &mut c.listen.statsd,
        &mut c.listen.graphite,
    ] {
        *addr = "127.0.0.1:0".into();
    }
    c.engine.interval = Duration::from_secs(1);
    // Keep SimpleStats' 2011 time stamps: ten minutes steps for 20 years.
    c.trend = toml::from_str("retention = \"1s:1h,10m:20y\"\ncompact_after = \"1h\"").unwrap();
    c
}

fn http(server: &Server) -> String {
    format!("http://{}", server.bound.http.unwrap())
}

fn get(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent.get(url).call().unwrap();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    (resp.status().as_u16(), body)
}

fn get_json(url: &str) -> serde_json::Value {
    let (status, body) = get(url);
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Polls `/get/<pattern>` until it answers `want` (listeners apply asynchronously).
fn wait_for(base: &str, pattern: &str, want: serde_json::Value) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = get_json(&format!("{base}/get/{pattern}"));
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{pattern}: {got} never became {want}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn line_client(addr: SocketAddr) -> (BufReader<TcpStream>, TcpStream) {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    (BufReader::new(s.try_clone().unwrap()), s)
}

fn reply(r: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    line.trim_end().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protocol_lands_in_get_with_its_action() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path())).await.unwrap();
    let b = server.bound;
    let base = http(&server);
    tokio::task::spawn_blocking(move || {
        // HTTP: a JSON body with an explicit action.
        let agent = ureq::Agent::new_with_defaults();
        agent
            .post(&format!("{base}/push"))
            .header("content-type", "application/json")
            .send(r#"{"default_action":"add","http":{"hits":2}}"#)
            .unwrap();
        agent
            .post(&format!("{base}/push"))
            .header("content-type", "application/json")
            .send(r#"{"http":{"hits":3}}"#)
            .unwrap();
        // TCP 8007: a JSON tree line and a SimpleStats tuple.
        let (mut r, mut w) = line_client(b.tcp.unwrap());
        assert!(reply(&mut r).starts_with("--"), "the hint line");
        w.write_all(b"{\"tcp\":{\"gauge\":30}}\r\n{\"tcp\":{\"gauge\":50}}\n")
            .unwrap();
        assert_eq!(reply(&mut r), "--OK");
        assert_eq!(reply(&mut r), "--OK");
        // UDP 8007: a JSON document per datagram.
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.send_to(
            br#"{"default_action":"max","udp":{"peak":7}}"#,
            b.udp.unwrap(),
        )
        .unwrap();
        udp.send_to(br#"{"udp":{"peak":3}}"#, b.udp.unwrap())
            .unwrap();
        // StatsD: a counter with a sample rate, a gauge with a delta, a timer.
        udp.send_to(
            b"app.req:1|c|@0.5\napp.temp:20|g\napp.temp:+5|g\napp.lat:10|ms\napp.lat:30|ms",
            b.statsd.unwrap(),
        )
        .unwrap();
        // Graphite plaintext, with and without a time stamp.
        let mut g = TcpStream::connect(b.graphite.unwrap()).unwrap();
        g.write_all(b"gr.load 4\ngr.load 6 1700000000\n").unwrap();
    })
    .await
    .unwrap();
    let s = &server;
    tokio::task::spawn_blocking({
        let base = http(s);
        move || {
            let srv = |p: &str, v: serde_json::Value| wait_for(&base, p, v);
            srv("http", serde_json::json!([["http,hits", 5.0]]));
            srv("tcp", serde_json::json!([["tcp,gauge", 40.0]]));
            srv("udp", serde_json::json!([["udp,peak", 7.0]]));
            srv(
                "app",
                serde_json::json!([["app,lat", 20.0], ["app,req", 2.0], ["app,temp", 25.0]]),
            );
            srv("gr", serde_json::json!([["gr,load", 5.0]]));
        }
    })
    .await
    .unwrap();
    server.shutdown_token().cancel();
    server.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simplestats_tuples_reach_totals_and_the_trend_at_their_time() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path())).await.unwrap();
    let (tcp, base) = (server.bound.tcp.unwrap(), http(&server));
    tokio::task::spawn_blocking(move || {
        let (mut r, mut w) = line_client(tcp);
        let hint = reply(&mut r);
        assert!(
            hint.contains("[name:str, timestamp:float, data:float]"),
            "{hint}"
        );
        for (line, ok) in [
            (r#"["var1", 1322721979, 8]"#, true),
            ("invalid data", false),
            ("[1,2,3]", false),
            (r#"["v",1]"#, false),
            (r#"["v",1,"x"]"#, false),
            (r#"{"a":1}"#, true),
            (r#"["var1", 1322721989.0, 2.0]"#, true),
        ] {
            w.write_all(format!("{line}\n").as_bytes()).unwrap();
            let answer = reply(&mut r);
            if ok {
                assert_eq!(answer, "--OK", "{line}");
            } else {
                assert!(answer.starts_with("--ERR "), "{line}: {answer}");
            }
        }
        // Totals: both samples (var1 is a gauge: the mean).
        let totals = get_json(&format!("{base}/get/var1"));
        assert_eq!(totals, serde_json::json!([["var1", 5.0]]));
        // The trend holds them at their own time once the interval closes.
        let url = format!("{base}/trend/var1.json?from=1322721000&until=1322723000");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let series = get_json(&url);
            if series.as_array().is_some_and(|a| !a.is_empty()) {
                let pts = &series[0]["points"];
                assert_eq!(series[0]["path"], "var1");
                // 10-minute archive: both samples in the bucket that holds 1322721979.
                assert_eq!(pts[0][0], 1322721979 / 600 * 600, "{series}");
                assert_eq!(pts[0][1], 5.0, "{series}");
                break;
            }
            assert!(Instant::now() < deadline, "no trend point: {series}");
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
    server.shutdown_token().cancel();
    server.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trends_and_graphs_over_http_and_totals_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path())).await.unwrap();
    let base = http(&server);
    let engine = server.engine.clone();
    engine
        .push_json(br#"{"web":{"deploy":"v2 rolled out"}}"#)
        .unwrap();
    for i in 0..3 {
        engine
            .push_json(format!(r#"{{"default_action":"add","web":{{"a":{i},"b":1}}}}"#).as_bytes())
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // a = 0, 1, 2 and b = 1, 1, 1 in three intervals: summed per interval.
            let s = get_json(&format!("{base}/trend/web,*|sum.json?from=-5min"));
            let total: f64 = s[0]["points"]
                .as_array()
                .map_or(0.0, |p| p.iter().map(|x| x[1].as_f64().unwrap()).sum());
            if s.as_array().unwrap().len() == 1 && total == 6.0 {
                assert_eq!(s[0]["path"], "web,*");
                assert_eq!(s[0]["action"], "sum");
                break;
            }
            assert!(Instant::now() < deadline, "trend never complete: {s}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let (status, body) = get(&format!("{base}/graph/web,*.svg?from=-5min&title=Web"));
        assert_eq!(status, 200);
        assert!(body.contains("Web") && body.contains("web,a"), "{body}");
        let (status, _) = get(&format!("{base}/graph/web,*.png?from=-5min&width=100000"));
        assert_eq!(status, 400);
        // /diff draws both subtrees on one chart.
        let (status, body) = get(&format!("{base}/diff/web/web.svg?from=-5min"));
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains("a: web,a") && body.contains("b: web,b"),
            "{body}"
        );
        let (status, body) = get(&format!("{base}/diff/web/web.json"));
        assert_eq!(status, 200, "{body}");
    })
    .await
    .unwrap();
    server.shutdown_token().cancel();
    server.wait().await.unwrap();

    let again = Server::start(config(dir.path())).await.unwrap();
    let rows = again.engine.query("web").unwrap();
    assert_eq!(
        rows,
        [("web,a".to_string(), 3.0), ("web,b".to_string(), 3.0)]
    );
    again.shutdown_token().cancel();
    again.wait().await.unwrap();
}

#[test]
fn the_cli_pushes_and_queries_a_running_server() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = rt.block_on(Server::start(config(dir.path()))).unwrap();
    let base = http(&server);
    let bin = env!("CARGO_BIN_EXE_treestat");
    let out = std::process::Command::new(bin)
        .args([
            "push",
            "--server",
            &base,
            r#"{"br":{"ie":{"7":{"venders":{"sogou":2}}}}}"#,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new(bin)
        .args(["query", "--server", &base, "br,ie,,venders"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "br,ie,7,venders,sogou\t2\n"
    );
    let out = std::process::Command::new(bin)
        .args(["push", "--server", &base, r#"{"bad,key":1}"#])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad,key"));
    server.shutdown_token().cancel();
    rt.block_on(server.wait()).unwrap();
}

/// Runs the `treestat` binary with the environment variable `var` set to `value`, or
/// removed for `None`.
fn treestat_with(
    var: &str,
    value: Option<impl AsRef<std::ffi::OsStr>>,
    args: &[&str],
) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_treestat"));
    cmd.args(args).env_remove(var);
    if let Some(v) = value {
        cmd.env(var, v);
    }
    cmd.output().unwrap()
}

/// With `auth.token` set (reads too), the CLI sends `TREESTAT_TOKEN` as its bearer
/// token; without it the server's 401 reaches the user as a clear failure.
#[test]
fn the_cli_sends_the_token_from_its_environment() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.auth.token = Some("cli-s3cret".into());
    c.auth.reads = true;
    let server = rt.block_on(Server::start(c)).unwrap();
    let base = http(&server);
    let run = |token: Option<&str>, args: &[&str]| treestat_with("TREESTAT_TOKEN", token, args);
    let doc = r#"{"cli":{"auth":5}}"#;
    let out = run(None, &["push", "--server", &base, doc]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("401") && err.contains("Bearer"), "{err}");
    let out = run(Some("wrong"), &["push", "--server", &base, doc]);
    assert!(!out.status.success());

    let out = run(Some("cli-s3cret"), &["push", "--server", &base, doc]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(Some("cli-s3cret"), &["query", "--server", &base, "cli"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "cli,auth\t5\n");
    let out = run(None, &["query", "--server", &base, "cli"]);
    assert!(!out.status.success(), "reads need the token too");
    server.shutdown_token().cancel();
    rt.block_on(server.wait()).unwrap();
}

/// A TLS front for `backend`, as nginx would be: each connection's request is read
/// whole, passed on with `Connection: close`, and the answer written back.
fn tls_front(backend: std::net::SocketAddr, names: &[&str]) -> (std::net::SocketAddr, String) {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(ToString::to_string).collect();
    let leaf = rcgen::CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )
        .unwrap();
    let config = std::sync::Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = std::sync::Arc::clone(&config);
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut r = BufReader::new(&mut tls);
                let (mut head, mut line, mut length) = (String::new(), String::new(), 0);
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return; // a refused handshake, or the client went away
                    }
                    if line == "\r\n" {
                        break;
                    }
                    let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
                    if name == "content-length" {
                        length = line[15..].trim().parse().unwrap_or(0);
                    }
                    if name != "connection" {
                        head.push_str(&line);
                    }
                }
                let mut body = vec![0u8; length];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                let mut up = std::net::TcpStream::connect(backend).unwrap();
                up.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes())
                    .unwrap();
                up.write_all(&body).unwrap();
                let mut answer = Vec::new();
                let _ = up.read_to_end(&mut answer);
                let _ = tls.write_all(&answer);
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    (addr, ca.pem())
}

/// The CLI over https (behind a TLS front): trusted through `SSL_CERT_FILE`, refused
/// without it (the certificate is from a private CA), and a CA file with no
/// certificate is a clear error.
#[test]
fn the_cli_speaks_https() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = rt.block_on(Server::start(config(dir.path()))).unwrap();
    let (front, ca_pem) = tls_front(server.bound.http.unwrap(), &["127.0.0.1"]);
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "no certificate here\n").unwrap();
    let base = format!("https://{front}");
    let run = |roots: Option<&std::path::Path>, args: &[&str]| {
        treestat_with("SSL_CERT_FILE", roots.map(std::path::Path::as_os_str), args)
    };
    let doc = r#"{"tls":{"ok":7}}"#;
    let out = run(Some(&ca), &["push", "--server", &base, doc]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(Some(&ca), &["query", "--server", &base, "tls"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tls,ok\t7\n");

    let out = run(None, &["query", "--server", &base, "tls"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&base) && err.to_lowercase().contains("certificate"),
        "{err}"
    );

    let out = run(Some(&junk), &["query", "--server", &base, "tls"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("junk.pem") && err.contains("no PEM certificate"),
        "{err}"
    );
    server.shutdown_token().cancel();
    rt.block_on(server.wait()).unwrap();
}
