//! Long requests to shards on the runtime: `/pull`'s long-polls and `/events`' streams.
//!
//! A front's ordinary reads are short, and run on the blocking pool with the binary's
//! one HTTP client (`shards.rs`). A long-poll or a stream is not: it waits for
//! seconds or for the life of a reader's stream, and a blocking call would hold one OS
//! thread per shard per waiting reader (a hundred dashboards over three shards: three
//! hundred threads). Here the request is an async HTTP/1 GET (hyper's client
//! connection over a tokio `TcpStream`), so a waiting reader costs a task and a
//! socket per shard, no thread. `https://` shards take the blocking path (no TLS on
//! this one), as before.

use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

/// Why a long request failed.
#[derive(Debug)]
pub(crate) enum LongFailure {
    /// Past its time limit.
    Timeout,
    /// Unreachable, refused, a broken answer.
    Error(String),
}

/// Whether `url` can take the async path (`http://` only).
pub(crate) fn is_plain(url: &str) -> bool {
    url.starts_with("http://")
}

/// Opens `url` (an `http://` URL) with a GET on a fresh connection, `token` as the
/// bearer token, and returns the answer's head and body as it streams. `connect`
/// bounds the connection and the wait for the answer's head.
pub(crate) async fn open(
    url: &str,
    token: Option<&str>,
    connect: Duration,
) -> Result<hyper::Response<Incoming>, LongFailure> {
    let u = url::Url::parse(url).map_err(|e| LongFailure::Error(format!("{url}: {e}")))?;
    let host = u
        .host_str()
        .ok_or_else(|| LongFailure::Error(format!("{url}: no host")))?
        .to_string();
    let port = u.port_or_known_default().unwrap_or(80);
    let authority = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let path = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    };
    let head = async {
        // `[::1]` is a host literal in a URL, `::1` to connect to.
        let addr = host.trim_start_matches('[').trim_end_matches(']');
        let tcp = tokio::net::TcpStream::connect((addr, port))
            .await
            .map_err(|e| LongFailure::Error(format!("{url}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| LongFailure::Error(format!("{url}: {e}")))?;
        // The connection runs beside the request; it ends when the answer is read or
        // the response is dropped.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = hyper::Request::get(path).header(hyper::header::HOST, authority);
        if let Some(t) = token {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = req
            .body(http_body_util::Empty::<hyper::body::Bytes>::new())
            .map_err(|e| LongFailure::Error(e.to_string()))?;
        sender
            .send_request(req)
            .await
            .map_err(|e| LongFailure::Error(format!("{url}: {e}")))
    };
    tokio::time::timeout(connect, head)
        .await
        .map_err(|_| LongFailure::Timeout)?
}

/// The whole body of `resp`, at most `limit` bytes.
pub(crate) async fn body(
    resp: hyper::Response<Incoming>,
    limit: usize,
) -> Result<Vec<u8>, LongFailure> {
    let limited = http_body_util::Limited::new(resp.into_body(), limit);
    let collected = limited
        .collect()
        .await
        .map_err(|e| LongFailure::Error(format!("reading the answer: {e}")))?;
    Ok(collected.to_bytes().to_vec())
}
