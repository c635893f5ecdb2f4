//! The integration harness: a real server on 127.0.0.1:0 and a small HTTP/1.1 client
//! over a raw `TcpStream`.
//!
//! A raw client rather than reqwest or hyper-util: the hostile tests need byte-level
//! control anyway (partial requests, lying lengths, invalid UTF-8, dropped sockets),
//! one client then serves every test, and no HTTP stack of our own choosing sits
//! between the test and the server to normalise what is sent.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use treestat_web::AppState;

/// Every wait in these tests is bounded by this: generous, never a timing assertion.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub state: AppState,
    pub shutdown: CancellationToken,
    pub handle: JoinHandle<std::io::Result<()>>,
}

pub async fn start(state: AppState) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(treestat_web::serve(
        listener,
        state.clone(),
        shutdown.clone(),
    ));
    Server {
        addr,
        state,
        shutdown,
        handle,
    }
}

/// A parsed answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The bytes of a request with `Connection: close`.
pub fn request_bytes(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Sends one request and reads the whole answer.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The server may answer (413) and close before it has read a large body.
    let _ = s
        .write_all(&request_bytes(method, path, headers, body))
        .await;
    read_reply(&mut s).await
}

pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, &[], b"").await
}

pub async fn push_json(addr: SocketAddr, doc: &str) -> Reply {
    request(
        addr,
        "POST",
        "/push",
        &[("Content-Type", "application/json")],
        doc.as_bytes(),
    )
    .await
}

/// Reads an answer to its end (the server closes after `Connection: close`).
pub async fn read_reply(s: &mut TcpStream) -> Reply {
    let mut raw = Vec::new();
    tokio::time::timeout(PATIENCE, s.read_to_end(&mut raw))
        .await
        .expect("the server answered in time")
        .or_else(|e| if raw.is_empty() { Err(e) } else { Ok(0) })
        .unwrap();
    parse_reply(&raw)
}

pub fn parse_reply(raw: &[u8]) -> Reply {
    let end = find(raw, b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        let mut d = Dechunk::default();
        d.feed(&body);
        body = d.out;
    }
    Reply {
        status,
        headers,
        body,
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Decodes `Transfer-Encoding: chunked` as bytes arrive.
#[derive(Default)]
pub struct Dechunk {
    raw: Vec<u8>,
    pub out: Vec<u8>,
}

impl Dechunk {
    pub fn feed(&mut self, bytes: &[u8]) {
        self.raw.extend_from_slice(bytes);
        loop {
            let Some(eol) = find(&self.raw, b"\r\n") else {
                return;
            };
            let size_text = String::from_utf8_lossy(&self.raw[..eol]).into_owned();
            let size =
                usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
            if self.raw.len() < eol + 2 + size + 2 {
                return;
            }
            self.out
                .extend_from_slice(&self.raw[eol + 2..eol + 2 + size]);
            self.raw.drain(..eol + 2 + size + 2);
            if size == 0 {
                return;
            }
        }
    }
}

/// Polls `/metrics` until `name` reads `value` (bounded by [`PATIENCE`]).
pub async fn wait_metric(addr: SocketAddr, name: &str, value: u64) {
    let want = format!("\n{name} {value}\n");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let text = get(addr, "/metrics").await.text();
        if text.contains(&want) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never reached {value}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
