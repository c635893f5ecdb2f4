//! Splitting a TCP byte stream into lines with a hard bound on memory.
//!
//! A line ends at `\n`; a `\r` before it is dropped (so `\r\n` works too). A line
//! longer than the limit is reported once as [`Frame::TooLong`] the moment it passes
//! the limit, and the rest of it is discarded as it arrives, up to the next `\n`: it
//! is never buffered, so a 10 MB line costs no more memory than a short one.

/// One event from the byte stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line, without its line ending; `crlf` says whether it ended in `\r\n`.
    Line {
        /// The line's bytes.
        bytes: &'a [u8],
        /// Ended in `\r\n`.
        crlf: bool,
    },
    /// A line passed the limit; what remains of it is skipped.
    TooLong,
}

/// The line splitter of one connection.
#[derive(Debug)]
pub struct LineFramer {
    buf: Vec<u8>,
    max: usize,
    skipping: bool,
}

impl LineFramer {
    /// A splitter for lines of at most `max` bytes (line ending not counted).
    pub fn new(max: usize) -> LineFramer {
        LineFramer {
            buf: Vec::new(),
            max,
            skipping: false,
        }
    }

    /// Feeds bytes, calling `on` for every complete line and every over-long line.
    /// Returns the number of frames produced.
    pub fn feed(&mut self, mut data: &[u8], on: &mut impl FnMut(Frame<'_>)) -> usize {
        let mut frames = 0;
        while !data.is_empty() {
            let Some(i) = data.iter().position(|&b| b == b'\n') else {
                if !self.skipping {
                    // `+ 1`: a trailing `\r` may still be dropped when the `\n` comes.
                    if self.buf.len() + data.len() > self.max + 1 {
                        self.buf = Vec::new();
                        self.skipping = true;
                        frames += 1;
                        on(Frame::TooLong);
                    } else {
                        self.buf.extend_from_slice(data);
                    }
                }
                return frames;
            };
            let head = &data[..i];
            data = &data[i + 1..];
            if self.skipping {
                self.skipping = false;
                continue;
            }
            frames += 1;
            if self.buf.is_empty() {
                self.emit(head, on);
            } else if self.buf.len() + head.len() > self.max + 1 {
                self.buf.clear();
                on(Frame::TooLong);
            } else {
                let mut line = std::mem::take(&mut self.buf);
                line.extend_from_slice(head);
                self.emit(&line, on);
                line.clear();
                self.buf = line;
            }
        }
        frames
    }

    /// At end of stream: the last line if it had no line ending (and was not too long).
    pub fn finish(&mut self, on: &mut impl FnMut(Frame<'_>)) -> usize {
        if self.skipping || self.buf.is_empty() {
            return 0;
        }
        let line = std::mem::take(&mut self.buf);
        self.emit(&line, on);
        1
    }

    /// Bytes held for an incomplete line.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    fn emit(&self, line: &[u8], on: &mut impl FnMut(Frame<'_>)) {
        let (bytes, crlf) = match line.strip_suffix(b"\r") {
            Some(l) => (l, true),
            None => (line, false),
        };
        if bytes.len() > self.max {
            on(Frame::TooLong);
        } else {
            on(Frame::Line { bytes, crlf });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(max: usize, chunks: &[&[u8]]) -> Vec<String> {
        let mut f = LineFramer::new(max);
        let mut out = Vec::new();
        let mut on = |fr: Frame<'_>| {
            out.push(match fr {
                Frame::Line { bytes, crlf } => {
                    format!(
                        "{}{}",
                        String::from_utf8_lossy(bytes),
                        if crlf { "/crlf" } else { "" }
                    )
                }
                Frame::TooLong => "TOO LONG".into(),
            });
        };
        for c in chunks {
            f.feed(c, &mut on);
        }
        f.finish(&mut on);
        out
    }

    #[test]
    fn splits_lines_across_chunks() {
        assert_eq!(run(100, &[b"a\nb", b"c\r\nd\n"]), ["a", "bc/crlf", "d"]);
        assert_eq!(run(100, &[b"\n\n"]), ["", ""]);
        assert_eq!(run(100, &[b"last"]), ["last"]);
        assert_eq!(run(100, &[b"x\r", b"\n"]), ["x/crlf"]);
    }

    #[test]
    fn long_lines_are_reported_once_and_skipped() {
        assert_eq!(run(4, &[b"abcd\nabcde\nok\n"]), ["abcd", "TOO LONG", "ok"]);
        assert_eq!(run(4, &[b"abcd\r\n"]), ["abcd/crlf"]);
        assert_eq!(
            run(4, &[b"ab", b"cde", b"fgh", b"ij\nok\n"]),
            ["TOO LONG", "ok"]
        );
        assert_eq!(run(4, &[b"abcdefgh"]), ["TOO LONG"]);
    }

    #[test]
    fn memory_stays_bounded_for_a_huge_line() {
        let mut f = LineFramer::new(1024);
        let chunk = vec![b'x'; 64 * 1024];
        let mut too_long = 0;
        for _ in 0..160 {
            f.feed(&chunk, &mut |fr| {
                if fr == Frame::TooLong {
                    too_long += 1;
                }
            });
            assert!(f.pending() <= 1025);
        }
        assert_eq!(too_long, 1);
        let mut lines = Vec::new();
        f.feed(b"tail\nnext\n", &mut |fr| {
            if let Frame::Line { bytes, .. } = fr {
                lines.push(bytes.to_vec());
            }
        });
        assert_eq!(lines, [b"next".to_vec()]);
    }
}
