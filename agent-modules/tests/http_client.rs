//! The agent's HTTP client (`treestat_agent::http`, over ureq) against real listeners on
//! 127.0.0.1: the `Host` header keeps a non-default port, a chunked body of several MiB
//! is counted whole, a proxy named by `HTTP_PROXY` is used, and a name whose first
//! address refuses is reached at its next one.
//!
//! The last two change the process environment or `/etc/hosts`, so they run in a child
//! process (this test binary again, on one `#[ignore]`d test): with the variable set,
//! and in a private mount namespace (`unshare -m`, root) whose `/etc/hosts` lists `::1`
//! before `127.0.0.1` for one name.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use treestat_agent::http::{Client, Url};

/// Serves every connection on `listener` with `answer` (given the raw stream), after
/// reading the request head, which goes to the returned channel.
fn serve(
    listener: TcpListener,
    answer: impl Fn(&mut TcpStream) + Send + Sync + 'static,
) -> Receiver<String> {
    let (tx, rx) = channel();
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (tx, answer) = (tx.clone(), std::sync::Arc::clone(&answer));
            std::thread::spawn(move || {
                conn.set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut head = String::new();
                let mut line = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    head.push_str(&line);
                    line.clear();
                }
                let _ = tx.send(head);
                let mut w = conn;
                answer(&mut w);
            });
        }
    });
    rx
}

fn ok(w: &mut TcpStream) {
    let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn client() -> Client {
    Client::new(Duration::from_secs(10), None)
}

/// The old hand-written client sent `Host: 127.0.0.1`, dropping the port: a virtual
/// host on a non-default port was not matched.
#[test]
fn host_header_keeps_a_non_default_port() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads = serve(listener, ok);
    let url = Url::parse(&format!("http://127.0.0.1:{port}/status")).unwrap();
    let r = client().request("GET", &url, None, None).unwrap();
    assert_eq!((r.status, &*r.body), (200, &b"ok"[..]));
    let head = heads.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(head.starts_with("GET /status HTTP/1.1\r\n"), "{head}");
    assert_eq!(
        header(&head, "host"),
        Some(&*format!("127.0.0.1:{port}")),
        "{head}"
    );
}

/// A 3 MiB body sent in 64 KiB chunks is counted whole (the old client kept 2 MiB of
/// raw chunked bytes and counted only what it decoded from them: about 2 MiB); the
/// first MiB is kept.
#[test]
fn chunked_bodies_over_2_mib_are_counted_whole() {
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 48;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let _heads = serve(listener, |w| {
        let _ = w.write_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        );
        let data = vec![b'x'; CHUNK];
        for _ in 0..CHUNKS {
            let _ = write!(w, "{CHUNK:x}\r\n");
            let _ = w.write_all(&data);
            let _ = w.write_all(b"\r\n");
        }
        let _ = w.write_all(b"0\r\n\r\n");
    });
    let url = Url::parse(&format!("http://{addr}/big")).unwrap();
    let r = client().request("GET", &url, None, None).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.bytes, (CHUNK * CHUNKS) as u64);
    assert_eq!(r.body.len(), treestat_agent::http::KEEP_MAX);
    assert!(r.ttfb <= r.total);
}

/// Runs the `#[ignore]`d test `name` of this binary in a child process with `env`,
/// under `wrap` (a command and its arguments, before the binary) if given; panics with
/// the child's output unless it passed.
fn run_child(name: &str, env: &[(&str, String)], wrap: &[&str]) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = match wrap.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    cmd.args([name, "--ignored", "--nocapture", "--test-threads=1"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    for k in [
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        cmd.env_remove(k);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child {name} failed:\n{text}");
    assert!(
        text.contains("1 passed"),
        "child {name} ran no test:\n{text}"
    );
}

/// `HTTP_PROXY` sends the request through the proxy (ureq tunnels with `CONNECT`) to a
/// name that only the proxy knows: the old client had no proxy support and tried to
/// resolve the name itself.
#[test]
fn requests_go_through_the_proxy_named_by_http_proxy() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = listener.local_addr().unwrap();
    let (inner_tx, inner) = channel();
    let inner_tx = std::sync::Mutex::new(inner_tx);
    // The proxy: `CONNECT` answered 200, then the tunnelled request answered itself.
    let heads = serve(listener, move |w| {
        let _ = w.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
        let mut r = BufReader::new(w.try_clone().unwrap());
        let mut head = String::new();
        let mut line = String::new();
        while r.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
            head.push_str(&line);
            line.clear();
        }
        let _ = inner_tx.lock().unwrap().send(head);
        ok(w);
    });
    run_child(
        "child_request_via_proxy",
        &[
            ("HTTP_PROXY", format!("http://{proxy}")),
            ("TREESTAT_TEST_URL", "http://metrics.invalid:81/x".into()),
        ],
        &[],
    );
    let head = heads.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(
        head.starts_with("CONNECT metrics.invalid:81 HTTP/1.1\r\n"),
        "{head}"
    );
    let head = inner.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(head.starts_with("GET /x HTTP/1.1\r\n"), "{head}");
    assert_eq!(header(&head, "host"), Some("metrics.invalid:81"), "{head}");
}

#[test]
#[ignore = "run by requests_go_through_the_proxy_named_by_http_proxy, with HTTP_PROXY set"]
fn child_request_via_proxy() {
    let url = Url::parse(&std::env::var("TREESTAT_TEST_URL").unwrap()).unwrap();
    let r = client().request("GET", &url, None, None).unwrap();
    assert_eq!((r.status, &*r.body), (200, &b"ok"[..]));
}

/// A name that resolves to `::1` first (nothing listens there on that port) and to
/// `127.0.0.1` next (the server) is reached: the old client tried only the first
/// address and failed with "connection refused".
#[test]
fn a_refused_first_address_falls_back_to_the_next() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads = serve(listener, ok);
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    std::fs::write(
        &hosts,
        "::1 treestat-two.test\n127.0.0.1 treestat-two.test localhost\n",
    )
    .unwrap();
    let script = format!(
        "mount --bind '{}' /etc/hosts && exec \"$0\" \"$@\"",
        hosts.display()
    );
    run_child(
        "child_request_to_two_addresses",
        &[(
            "TREESTAT_TEST_URL",
            format!("http://treestat-two.test:{port}/"),
        )],
        &["unshare", "-m", "sh", "-c", &script],
    );
    let head = heads.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(
        header(&head, "host"),
        Some(&*format!("treestat-two.test:{port}"))
    );
}

#[test]
#[ignore = "run by a_refused_first_address_falls_back_to_the_next, in a mount namespace"]
fn child_request_to_two_addresses() {
    use std::net::ToSocketAddrs;
    let url = Url::parse(&std::env::var("TREESTAT_TEST_URL").unwrap()).unwrap();
    let addrs: Vec<SocketAddr> = url.addr.to_socket_addrs().unwrap().collect();
    assert!(
        addrs.len() == 2 && addrs[0].is_ipv6() && addrs[1].is_ipv4(),
        "the namespace's /etc/hosts gives ::1 first: {addrs:?}"
    );
    // Nothing listens on [::1] at that port: the first address refuses.
    assert!(TcpStream::connect(addrs[0]).is_err());
    let r = client().request("GET", &url, None, None).unwrap();
    assert_eq!((r.status, &*r.body), (200, &b"ok"[..]));
}
