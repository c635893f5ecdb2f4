//! The TCP line splitter (ports 8007 and 2003). Model: the frames of a byte stream do
//! not depend on how it is cut into reads; they are the stream split at `\n`, a `\r`
//! before it dropped, each line longer than the limit reported once as too long; a
//! last line without `\n` comes at the end.

use treestat_engine::listen::lines::{Frame, LineFramer};

#[derive(Debug, PartialEq)]
enum F {
    Line(Vec<u8>, bool),
    TooLong,
}

fn own(f: Frame<'_>) -> F {
    match f {
        Frame::Line { bytes, crlf } => F::Line(bytes.to_vec(), crlf),
        Frame::TooLong => F::TooLong,
    }
}

/// The reference: the whole stream at once, the obvious way.
fn model(stream: &[u8], max: usize) -> Vec<F> {
    let mut out = Vec::new();
    let mut parts: Vec<&[u8]> = stream.split(|&b| b == b'\n').collect();
    let last = parts.pop().unwrap_or(&[]);
    for p in parts {
        let (bytes, crlf) = match p.strip_suffix(b"\r") {
            Some(b) => (b, true),
            None => (p, false),
        };
        out.push(if bytes.len() > max {
            F::TooLong
        } else {
            F::Line(bytes.to_vec(), crlf)
        });
    }
    if !last.is_empty() {
        // An unterminated tail: too long as soon as it passes the limit (plus a `\r`
        // that may still come), else a line at the end.
        if last.len() > max + 1 {
            out.push(F::TooLong);
        } else {
            let (bytes, crlf) = match last.strip_suffix(b"\r") {
                Some(b) => (b, true),
                None => (last, false),
            };
            out.push(if bytes.len() > max {
                F::TooLong
            } else {
                F::Line(bytes.to_vec(), crlf)
            });
        }
    }
    out
}

/// Checks one input; panics on a finding.
pub fn run(data: &[u8]) {
    // First byte: the limit; second: a seed for the cut points; the rest: the stream.
    let [max, cut, stream @ ..] = data else {
        return;
    };
    let max = usize::from(*max % 64);
    let mut framer = LineFramer::new(max);
    let mut got = Vec::new();
    let mut rest = stream;
    let mut seed = u32::from(*cut) | 1;
    while !rest.is_empty() {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let n = (usize::try_from(seed >> 16).unwrap() % 17 + 1).min(rest.len());
        let (chunk, more) = rest.split_at(n);
        let count = framer.feed(chunk, &mut |f| got.push(own(f)));
        assert!(count <= got.len());
        assert!(
            framer.pending() <= max + 1,
            "{} bytes held for a limit of {max}",
            framer.pending()
        );
        rest = more;
    }
    framer.finish(&mut |f| got.push(own(f)));
    assert_eq!(got, model(stream, max), "max {max}, stream {stream:?}");
}
