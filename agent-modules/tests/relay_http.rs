//! The relay's HTTP listener (hyper) against raw requests on 127.0.0.1: a push with
//! `Expect: 100-continue` is told to go on at once, chunked bodies are taken, and the
//! listener keeps its limits and status codes (404, 405, 413, 431, 400, 200).
//!
//! The hand-written listener it replaced sent no `100 Continue`, so a client waited its
//! whole expect timeout (curl: 1 s) before sending the body, and it answered a chunked
//! body with 411.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use treestat_agent::config::RelayConfig;
use treestat_agent::relay::{Relay, RelayCounters};
use treestat_agent::{AgentConfig, CancellationToken};

/// A relay listening on HTTP only, forwarding to a port where nothing listens (what
/// arrives is read from the relay's own engine).
struct Running {
    addr: String,
    engine: treestat_engine::Engine,
    counters: std::sync::Arc<RelayCounters>,
    shutdown: CancellationToken,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn start() -> Running {
        let nobody = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let config = AgentConfig {
            host: Some("relayhost".into()),
            timeout: Duration::from_secs(2),
            relay: RelayConfig {
                listen: vec!["http://127.0.0.1:0/push".into()],
                upstream: vec![format!("tcp://{nobody}")],
                interval: Duration::from_secs(3600),
                ..RelayConfig::default()
            },
            ..AgentConfig::default()
        };
        let relay = Relay::bind(&config).unwrap();
        let url = relay.local_addrs()[0].clone();
        let addr = url
            .strip_prefix("http://")
            .unwrap()
            .strip_suffix("/push")
            .unwrap()
            .to_string();
        let (engine, counters) = (relay.engine(), relay.counters());
        let shutdown = CancellationToken::new();
        let s = shutdown.clone();
        let handle = std::thread::spawn(move || {
            relay.run(&s, Duration::from_millis(100));
        });
        Running {
            addr,
            engine,
            counters,
            shutdown,
            handle: Some(handle),
        }
    }

    fn value(&self, path: &str) -> Option<f64> {
        self.engine.query(path).unwrap().first().map(|r| r.1)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            h.join().unwrap();
        }
    }
}

/// Reads one response (status line, headers, a `Content-Length` body); returns the
/// status code and the body.
fn read_response(r: &mut BufReader<TcpStream>) -> (u16, String) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no status line: {line:?}"))
        .parse()
        .unwrap();
    let mut length = 0;
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).unwrap();
    (status, String::from_utf8(body).unwrap())
}

fn connect(addr: &str) -> (TcpStream, BufReader<TcpStream>) {
    let conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let r = BufReader::new(conn.try_clone().unwrap());
    (conn, r)
}

/// A JSON document of about `size` bytes: one leaf, padded with whitespace (cheap to
/// merge, so the time measured is the HTTP exchange's).
fn padded_doc(path: &str, value: u32, size: usize) -> Vec<u8> {
    let mut doc = b"{".to_vec();
    doc.resize(size, b' ');
    let keys: Vec<&str> = path.split(',').collect();
    let mut tail = String::new();
    for k in &keys[..keys.len() - 1] {
        tail.push_str(&format!("\"{k}\": {{"));
    }
    tail.push_str(&format!("\"{}\": {value}", keys[keys.len() - 1]));
    tail.push_str(&"}".repeat(keys.len()));
    doc.extend_from_slice(tail.as_bytes());
    doc
}

/// Writes `body` in chunks of `size` bytes, then the last chunk.
fn write_chunked(w: &mut TcpStream, body: &[u8], size: usize) {
    for c in body.chunks(size) {
        write!(w, "{:x}\r\n", c.len()).unwrap();
        w.write_all(c).unwrap();
        w.write_all(b"\r\n").unwrap();
    }
    w.write_all(b"0\r\n\r\n").unwrap();
}

/// Like curl: send the head with `Expect: 100-continue`, wait up to 1 s for `100
/// Continue`, then send the body anyway. Returns whether a 100 came.
fn expect_continue(w: &mut TcpStream, r: &mut BufReader<TcpStream>) -> bool {
    r.get_ref()
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut line = String::new();
    let got = match r.read_line(&mut line) {
        Ok(_) => {
            assert!(line.starts_with("HTTP/1.1 100"), "{line:?}");
            let mut blank = String::new();
            r.read_line(&mut blank).unwrap();
            assert_eq!(blank, "\r\n");
            true
        }
        Err(e) => {
            assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "{e}"
            );
            false
        }
    };
    r.get_ref()
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let _ = w;
    got
}

/// A 1.1 MB push with `Expect: 100-continue`: the relay answers `100 Continue` at once,
/// so the push completes in milliseconds (the old listener: 1.15 s, curl's expect
/// timeout plus the transfer).
#[test]
fn expect_100_continue_push_is_answered_at_once() {
    let relay = Running::start();
    let doc = padded_doc("big,push", 7, 1_100_000);
    let (mut w, mut r) = connect(&relay.addr);
    let start = Instant::now();
    write!(
        w,
        "POST /push HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        doc.len()
    )
    .unwrap();
    let continued = expect_continue(&mut w, &mut r);
    w.write_all(&doc).unwrap();
    let (status, body) = read_response(&mut r);
    let took = start.elapsed();
    println!(
        "1.1 MB push with Expect: 100-continue: {:.1} ms",
        took.as_secs_f64() * 1000.0
    );
    assert!(continued, "no 100 Continue within 1 s");
    assert_eq!(status, 200, "{body}");
    assert_eq!(relay.value("big,push"), Some(7.0));
    assert!(took < Duration::from_millis(900), "took {took:?}");
}

/// A chunked body, announced with `Expect: 100-continue`, is taken and merged; so is a
/// plain chunked one.
#[test]
fn chunked_pushes_are_accepted_and_arrive() {
    let relay = Running::start();
    let doc = padded_doc("chunked,expect", 3, 300_000);
    let (mut w, mut r) = connect(&relay.addr);
    w.write_all(
        b"POST /push HTTP/1.1\r\nHost: relay\r\nTransfer-Encoding: chunked\r\n\
          Expect: 100-continue\r\n\r\n",
    )
    .unwrap();
    assert!(expect_continue(&mut w, &mut r), "no 100 Continue");
    write_chunked(&mut w, &doc, 16 * 1024);
    let (status, body) = read_response(&mut r);
    assert_eq!(status, 200, "{body}");
    assert_eq!(relay.value("chunked,expect"), Some(3.0));

    let (mut w, mut r) = connect(&relay.addr);
    w.write_all(b"POST /push HTTP/1.1\r\nHost: relay\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    write_chunked(&mut w, br#"{"chunked": {"plain": 4}}"#, 5);
    let (status, body) = read_response(&mut r);
    assert_eq!(status, 200, "{body}");
    assert_eq!(relay.value("chunked,plain"), Some(4.0));
    assert_eq!(relay.counters.json.load(Ordering::SeqCst), 2);
}

/// The limits and answers of the old listener hold: 404 elsewhere, 405 for another
/// method, 413 past 8 MiB (announced, or counted while a chunked body streams), 431
/// for a head past 64 KiB, 400 naming a bad document. Refused bodies count as rejected.
#[test]
fn limits_and_status_codes_are_kept() {
    let relay = Running::start();
    let send = |head: &str, body: &[u8]| {
        let (mut w, mut r) = connect(&relay.addr);
        w.write_all(head.as_bytes()).unwrap();
        w.write_all(body).unwrap();
        read_response(&mut r)
    };
    let (s, body) = send("GET /other HTTP/1.1\r\nHost: relay\r\n\r\n", b"");
    assert_eq!(s, 404);
    assert!(body.contains("POST /push"), "{body}");
    let (s, body) = send("GET /push HTTP/1.1\r\nHost: relay\r\n\r\n", b"");
    assert_eq!(s, 405);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": 405, "message": "use POST"})
    );
    let (s, body) = send(
        "POST /push HTTP/1.1\r\nHost: relay\r\nContent-Length: 9000000\r\n\r\n",
        b"",
    );
    assert_eq!(s, 413, "{body}");
    assert!(body.contains("8 MiB"), "{body}");

    // A chunked body over 8 MiB: refused once the limit is passed.
    let (mut w, mut r) = connect(&relay.addr);
    w.write_all(b"POST /push HTTP/1.1\r\nHost: relay\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..9 {
        write!(w, "{:x}\r\n", chunk.len()).unwrap();
        if w.write_all(&chunk).is_err() || w.write_all(b"\r\n").is_err() {
            break; // the relay answered and closed
        }
    }
    let (s, body) = read_response(&mut r);
    assert_eq!(s, 413, "{body}");

    let big_head = format!(
        "POST /push HTTP/1.1\r\nHost: relay\r\nX-Pad: {}\r\n\r\n",
        "x".repeat(70 * 1024)
    );
    let (s, _) = send(&big_head, b"");
    assert_eq!(s, 431);

    let (s, body) = send(
        "POST /push?x=1 HTTP/1.1\r\nHost: relay\r\nContent-Length: 8\r\n\r\n",
        b"not json",
    );
    assert_eq!(s, 400, "{body}");
    let (s, body) = send(
        "POST /push HTTP/1.1\r\nHost: relay\r\nContent-Length: 12\r\n\r\n",
        br#"{"ok": {"a": 1}}"#[..12].as_ref(),
    );
    assert_eq!(s, 400, "{body}");
    let doc = br#"{"ok": {"a": 1}}"#;
    let (s, body) = send(
        &format!(
            "POST /push HTTP/1.1\r\nHost: relay\r\nContent-Length: {}\r\n\r\n",
            doc.len()
        ),
        doc,
    );
    assert_eq!(s, 200);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body, serde_json::json!({"status": 200, "message": "ok"}));
    assert_eq!(relay.value("ok,a"), Some(1.0));
    assert_eq!(relay.counters.json.load(Ordering::SeqCst), 1);
    assert_eq!(relay.counters.rejected.load(Ordering::SeqCst), 4);
}

/// One combined-format access-log line answered `status`.
fn log_line(status: u16) -> String {
    format!(
        "10.0.0.1 - - [06/Dec/2026:10:00:00 +0000] \"GET /a HTTP/1.1\" {status} 512 \"-\" \
         \"curl/8.5.0\""
    )
}

/// Sends one request (head and body as given) and reads the answer.
fn request(addr: &str, head: &str, body: &[u8]) -> (u16, String) {
    let (mut w, mut r) = connect(addr);
    w.write_all(head.as_bytes()).unwrap();
    w.write_all(body).unwrap();
    read_response(&mut r)
}

fn post(addr: &str, content_type: &str, body: &str) -> (u16, String) {
    request(
        addr,
        &format!(
            "POST /push HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        ),
        body.as_bytes(),
    )
}

/// Issue 16: the relay's `http://` listener takes access-log lines as the server does
/// (`text/plain` bodies and form `accesslog` fields on the push path, `PUT /raw`
/// streamed in chunks) and runs them through the `[relay.accesslog]` pipeline (here
/// the server's default: combined, every built-in it feeds); what the pipes make lands
/// in the relay's engine and goes upstream. A type it does not take is answered 415
/// naming what it takes. (Before, a `text/plain` body was answered 400 "not JSON" and
/// `PUT /raw` 404.)
#[test]
fn access_log_lines_run_through_the_pipes() {
    let relay = Running::start();
    let text = format!(
        "{}\n{}\r\nnot a log line\n{}\n",
        log_line(200),
        log_line(200),
        log_line(404)
    );
    let (status, body) = post(&relay.addr, "text/plain; charset=utf-8", &text);
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["lines"], 4, "{body}");
    assert_eq!(answer["bad_lines"], 1, "{body}");
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("accesslog", &log_line(500))
        .append_pair("json", r#"{"default_action": "add", "formjson": 1}"#)
        .finish();
    let (status, body) = post(&relay.addr, "application/x-www-form-urlencoded", &form);
    assert_eq!(status, 200, "{body}");
    // PUT /raw, chunked, a line cut across chunks.
    let raw = format!("{}\n{}\n", log_line(301), log_line(301));
    let (mut w, mut r) = connect(&relay.addr);
    w.write_all(b"PUT /raw HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    write_chunked(&mut w, raw.as_bytes(), 37);
    let (status, body) = read_response(&mut r);
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["lines"], 2, "{body}");
    let (status, body) = post(&relay.addr, "application/xml", "<a/>");
    assert_eq!(status, 415, "{body}");
    assert!(body.contains("text/plain"), "{body}");
    let (status, body) = request(&relay.addr, "GET /raw HTTP/1.1\r\nHost: x\r\n\r\n", b"");
    assert_eq!(status, 405, "{body}");

    for (path, want) in [
        ("status,2xx,200", 2.0),
        ("status,4xx,404", 1.0),
        ("status,5xx,500", 1.0),
        ("status,3xx,301", 2.0),
        ("bytes,total", 3072.0),
        ("formjson", 1.0),
    ] {
        assert_eq!(relay.value(path), Some(want), "{path}");
    }
    assert_eq!(relay.counters.log_lines.load(Ordering::SeqCst), 7);
    let snap = relay.counters.snapshot();
    assert_eq!((snap.log_lines, snap.json), (7, 1));
}

/// `[relay.accesslog]` takes the server's `[accesslog]` keys; a pipeline that does not
/// build stops the relay at start, naming the key, instead of dropping lines later.
#[test]
fn the_relay_s_pipeline_is_configured_as_the_server_s() {
    let cfg = AgentConfig::parse(
        "[relay]\nlisten = [\"http://127.0.0.1:0\"]\nupstream = [\"tcp://127.0.0.1:9\"]\n\
         [relay.accesslog]\nname = \"edge\"\nformat = \"common\"\npipes = [\"status\"]\n\
         max_paths = 10\n",
    )
    .unwrap();
    assert_eq!(cfg.relay.accesslog.format, "common");
    assert_eq!(cfg.relay.accesslog.name, "edge");
    assert!(Relay::bind(&cfg).is_ok());
    let bad = AgentConfig::parse(
        "[relay]\nlisten = [\"http://127.0.0.1:0\"]\nupstream = [\"tcp://127.0.0.1:9\"]\n\
         [relay.accesslog]\npipes = [\"nosuchpipe\"]\n",
    )
    .unwrap();
    let err = Relay::bind(&bad).unwrap_err().to_string();
    assert!(
        err.contains("relay.accesslog") && err.contains("nosuchpipe"),
        "{err}"
    );
    assert!(
        AgentConfig::parse("[relay.accesslog]\nformatt = \"common\"\n")
            .unwrap_err()
            .to_string()
            .contains("formatt")
    );
}

/// `GET /metrics` on the relay's HTTP listener: its counters in the Prometheus text
/// format (what it merged by kind, what it refused, and per upstream what the outbox
/// counts), the figures that also go upstream under `_treestat,relay,<host>`.
#[test]
fn metrics_give_the_relay_s_counters_for_prometheus() {
    let r = Running::start();
    assert_eq!(post(&r.addr, "application/json", r#"{"m":{"x":1}}"#).0, 200);
    assert_eq!(post(&r.addr, "application/json", "{not json").0, 400);
    assert_eq!(post(&r.addr, "image/png", "x").0, 415);
    let (mut w, mut rd) = connect(&r.addr);
    w.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (status, text) = read_response(&mut rd);
    assert_eq!(status, 200, "{text}");
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
    };
    assert_eq!(value(r#"treestat_relay_received_total{kind="json"}"#), 1.0);
    assert_eq!(
        value(r#"treestat_relay_received_total{kind="statsd"}"#),
        0.0
    );
    assert_eq!(value("treestat_relay_rejected_total"), 2.0);
    assert!(text.contains("# TYPE treestat_relay_received_total counter"));
    // The upstream (where nothing listens), as of the relay loop's last turn: the
    // first interval has not ended, so nothing was sent to it yet.
    let upstream = text
        .lines()
        .find(|l| l.starts_with("treestat_relay_upstream_pending{upstream=\"tcp://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no upstream in:\n{text}"));
    assert!(upstream.ends_with(" 0"), "{upstream}");
    assert!(text.contains("# TYPE treestat_relay_upstream_down gauge"));
    assert_eq!(
        request(
            &r.addr,
            "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            b""
        )
        .0,
        405
    );
}
