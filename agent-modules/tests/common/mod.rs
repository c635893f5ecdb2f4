//! Test receivers on 127.0.0.1 port 0 that speak the server's push protocols (TCP lines
//! with a hint and `--OK`, HTTP `POST /push`, UDP datagrams), recording what arrives.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value as Json;

/// Documents a receiver got, in arrival order.
#[derive(Clone, Default)]
pub struct Received(pub Arc<Mutex<Vec<Json>>>);

impl Received {
    pub fn docs(&self) -> Vec<Json> {
        self.0.lock().clone()
    }

    pub fn len(&self) -> usize {
        self.0.lock().len()
    }

    /// Waits (polling, up to 60 s) until `pred` holds; panics with `what` otherwise.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&[Json]) -> bool) -> Vec<Json> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let docs = self.docs();
            if pred(&docs) {
                return docs;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; got {docs:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Records a document; one holding a top-level key `reject` is refused (to test the
    /// `--ERR` and 4xx paths).
    fn push(&self, bytes: &[u8]) -> Result<(), String> {
        let v: Json = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if v.get("reject").is_some() {
            return Err("refused by the test receiver".into());
        }
        self.0.lock().push(v);
        Ok(())
    }
}

/// A TCP receiver: sends a hint line on connect, answers each line `--OK` or `--ERR`.
pub struct TcpReceiver {
    pub addr: SocketAddr,
    pub got: Received,
    stop: Arc<AtomicBool>,
}

impl TcpReceiver {
    pub fn start() -> TcpReceiver {
        TcpReceiver::start_on("127.0.0.1:0", Received::default())
    }

    /// Starts on a given address (to come back on the same port after a stop).
    pub fn start_on(addr: &str, got: Received) -> TcpReceiver {
        let listener = bind_retry(addr);
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (got.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (g, s) = (g.clone(), Arc::clone(&s));
                        std::thread::spawn(move || serve_tcp(conn, &g, &s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TcpReceiver { addr, got, stop }
    }

    pub fn url(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        // Let the accept loop and open connections notice.
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for TcpReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn bind_retry(addr: &str) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpListener::bind(addr) {
            Ok(l) => return l,
            Err(e) => {
                assert!(Instant::now() < deadline, "bind {addr}: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn serve_tcp(conn: TcpStream, got: &Received, stop: &AtomicBool) {
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut w = conn.try_clone().unwrap();
    let _ = w.write_all(b"# send JSON trees or [\"name\", ts, value], one per line\n");
    let mut r = BufReader::new(conn);
    let mut line = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match r.read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) if line.ends_with(b"\n") => {
                let answer = match got.push(&line) {
                    Ok(()) => "--OK\n".to_string(),
                    Err(e) => format!("--ERR {e}\n"),
                };
                if w.write_all(answer.as_bytes()).is_err() {
                    return;
                }
                line.clear();
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

/// An HTTP receiver for `POST /push` (JSON body), 200 on valid JSON, 400 otherwise.
pub struct HttpReceiver {
    pub addr: SocketAddr,
    pub got: Received,
    stop: Arc<AtomicBool>,
}

impl HttpReceiver {
    pub fn start() -> HttpReceiver {
        let listener = bind_retry("127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Received::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (got.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let g = g.clone();
                        std::thread::spawn(move || serve_http(conn, &g));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        HttpReceiver { addr, got, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}/push", self.addr)
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve_http(conn: TcpStream, got: &Received) {
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut len = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    if r.read_exact(&mut body).is_err() {
        return;
    }
    let (status, text) = match got.push(&body) {
        Ok(()) => ("200 OK", "{\"ok\":true}".to_string()),
        Err(e) => ("400 Bad Request", e),
    };
    let mut w = conn;
    let _ = write!(
        w,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

/// A UDP receiver: one JSON document per datagram.
pub struct UdpReceiver {
    pub addr: SocketAddr,
    pub got: Received,
    pub sizes: Arc<Mutex<Vec<usize>>>,
}

impl UdpReceiver {
    pub fn start() -> UdpReceiver {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        let got = Received::default();
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let (g, sz) = (got.clone(), Arc::clone(&sizes));
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = sock.recv(&mut buf) {
                sz.lock().push(n);
                let _ = g.push(&buf[..n]);
            }
        });
        UdpReceiver { addr, got, sizes }
    }

    pub fn url(&self) -> String {
        format!("udp://{}", self.addr)
    }
}

/// A tiny HTTP server answering every GET with `status` and `body` (for the probes).
pub fn serve_static(status: u16, body: &'static str) -> SocketAddr {
    let listener = bind_retry("127.0.0.1:0");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
                let mut w = conn;
                let _ = write!(
                    w,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    addr
}

/// Finds the leaf at `path` (comma-separated) in any tree of a push document.
pub fn leaf(doc: &Json, path: &str) -> Option<Json> {
    let trees: Vec<&Json> = match doc {
        Json::Array(a) => a.iter().collect(),
        t => vec![t],
    };
    for t in trees {
        let mut node = t;
        let mut found = true;
        for key in path.split(',') {
            match node.get(key) {
                Some(n) => node = n,
                None => {
                    found = false;
                    break;
                }
            }
        }
        if found {
            return Some(node.clone());
        }
    }
    None
}

/// A test CA and a certificate it signed for `names`, with the leaf's key.
pub struct TestPki {
    /// The CA certificate, PEM (what a client adds to its roots).
    pub ca_pem: String,
    /// The server's certificate chain.
    pub chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// The server's key.
    pub key: rustls::pki_types::PrivateKeyDer<'static>,
}

impl TestPki {
    pub fn new(names: &[&str]) -> TestPki {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "treestat test CA");
        let ca =
            rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(ToString::to_string).collect();
        let leaf = rcgen::CertificateParams::new(names)
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        TestPki {
            ca_pem: ca.pem(),
            chain: vec![leaf.der().clone()],
            key: rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der()).into(),
        }
    }
}

/// An HTTPS server on 127.0.0.1 that answers every request with `status` and `body`
/// and sends each request body (read by its Content-Length) to the returned channel.
/// It closes without TLS's close_notify, as many servers do.
pub fn serve_tls(
    pki: &TestPki,
    status: u16,
    body: &'static str,
) -> (SocketAddr, std::sync::mpsc::Receiver<Vec<u8>>) {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), pki.key.clone_key())
        .unwrap();
    let config = std::sync::Arc::new(config);
    let listener = bind_retry("127.0.0.1:0");
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = std::sync::Arc::clone(&config);
            let tx = tx.clone();
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)));
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut r = BufReader::new(&mut tls);
                let mut line = String::new();
                let mut length = 0usize;
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return; // a failed handshake or a client that went away
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':')
                        && k.eq_ignore_ascii_case("content-length")
                    {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut got = vec![0u8; length];
                if std::io::Read::read_exact(&mut r, &mut got).is_err() {
                    return;
                }
                let _ = tx.send(got);
                let _ = write!(
                    tls,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.flush();
            });
        }
    });
    (addr, rx)
}
