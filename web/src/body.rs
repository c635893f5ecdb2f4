//! Reading request bodies with a size bound and a deadline, and splitting streamed
//! bodies into bounded lines.
//!
//! Bodies are read frame by frame so that the limit is enforced on what actually
//! arrives (a lying or missing `Content-Length` changes nothing) and the error is our
//! JSON 413, not a plain-text rejection.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::error::AppError;

/// Reads a whole body of at most `limit` bytes within `deadline`.
///
/// # Errors
/// 413 past the limit (checked against `Content-Length` first), 408 past the deadline,
/// 400 when the connection breaks mid-body.
pub(crate) async fn read_bounded(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    deadline: Duration,
) -> Result<Bytes, AppError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(AppError::body_too_large(limit));
    }
    let read = async {
        let mut stream = body.into_data_stream();
        let mut buf = BytesMut::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| AppError::bad_request(format!("body broke off: {e}")))?;
            if buf.len() + chunk.len() > limit {
                return Err(AppError::body_too_large(limit));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    };
    match tokio::time::timeout(deadline, read).await {
        Ok(r) => r,
        Err(_) => Err(body_timeout(deadline)),
    }
}

/// 408 for a client that sends too slowly.
pub(crate) fn body_timeout(deadline: Duration) -> AppError {
    AppError::new(
        StatusCode::REQUEST_TIMEOUT,
        "body_timeout",
        format!(
            "the request body did not arrive within {} s (web.body_timeout)",
            deadline.as_secs()
        ),
    )
}

/// Splits a byte stream into lines of at most `max` bytes, across chunk boundaries.
///
/// `\n` ends a line and a `\r` before it is dropped; empty lines are skipped; a line
/// longer than `max` is skipped whole and counted, and never held in memory beyond
/// `max` bytes. Invalid UTF-8 is replaced (access logs carry arbitrary bytes).
#[derive(Debug)]
pub(crate) struct LineSplitter {
    buf: Vec<u8>,
    max: usize,
    skipping: bool,
    /// Lines skipped for being longer than `max`.
    pub(crate) too_long: u64,
}

impl LineSplitter {
    pub(crate) fn new(max: usize) -> LineSplitter {
        LineSplitter {
            buf: Vec::new(),
            max: max.max(1),
            skipping: false,
            too_long: 0,
        }
    }

    /// Feeds a chunk; complete lines are appended to `out`.
    pub(crate) fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<String>) {
        while !chunk.is_empty() {
            match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.take(&chunk[..i]);
                    self.end_line(out);
                    chunk = &chunk[i + 1..];
                }
                None => {
                    self.take(chunk);
                    chunk = &[];
                }
            }
        }
    }

    /// The last line when the body did not end with `\n`.
    pub(crate) fn finish(&mut self, out: &mut Vec<String>) {
        self.end_line(out);
    }

    fn take(&mut self, part: &[u8]) {
        if self.skipping {
            return;
        }
        if self.buf.len() + part.len() > self.max {
            self.skipping = true;
            self.buf.clear();
            return;
        }
        self.buf.extend_from_slice(part);
    }

    fn end_line(&mut self, out: &mut Vec<String>) {
        if self.skipping {
            self.skipping = false;
            self.too_long += 1;
            return;
        }
        let mut line = &self.buf[..];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        if !line.is_empty() {
            out.push(String::from_utf8_lossy(line).into_owned());
        }
        self.buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]], max: usize) -> (Vec<String>, u64) {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, &mut out);
        }
        s.finish(&mut out);
        (out, s.too_long)
    }

    #[test]
    fn lines_cross_chunk_boundaries() {
        let (lines, long) = split(&[b"GET /a\r\nGE", b"T /b\n\n", b"last"], 100);
        assert_eq!(lines, ["GET /a", "GET /b", "last"]);
        assert_eq!(long, 0);
    }

    #[test]
    fn long_lines_are_skipped_and_counted() {
        let big = vec![b'x'; 50];
        let (lines, long) = split(&[b"ok\n", &big, &big, b"\nafter\n"], 60);
        assert_eq!(lines, ["ok", "after"]);
        assert_eq!(long, 1);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_refused() {
        let (lines, _) = split(&[b"caf\xff\xfe\n"], 100);
        assert_eq!(lines, ["caf\u{fffd}\u{fffd}"]);
    }
}
