//! The splitter: walks a compiled format over one line, left to right, once.
//!
//! Why not a regex: the usual translation of a `log_format` into one capture-group
//! regex backtracks on every quoted field and is several times slower; here each field
//! ends at a known byte (a quote, the first byte of the next literal), found with
//! `str::find`, which uses memchr for one-byte needles. Text after the last step is
//! ignored, so a line with extra trailing fields (common in the wild) still parses.

use treestat_pipe_api::Span;

/// Why a line did not parse. An expected outcome, counted and skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadLine {
    /// Longer than [`super::MAX_LINE`].
    TooLong,
    /// A literal of the format was not where it should be (index of the step).
    Mismatch(usize),
}

/// How a field's value ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    /// Between quotes: ends at the first unescaped `"`.
    Quoted,
    /// Ends where the next literal starts.
    Until(Vec<u8>),
    /// Ends where the next literal starts; `a, b` and `a : b` lists stay one value.
    ListUntil(Vec<u8>),
    /// The last field, unquoted: up to the next space or the end of the line (so
    /// extra trailing fields are ignored, as for every other format).
    Rest,
    /// An unquoted `$request`: method, uri and an optional `HTTP/x` protocol.
    BareRequest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    Literal(Vec<u8>),
    Field { slot: usize, kind: Kind },
}

/// Slots of the fields derived from `$request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RequestSlots {
    pub(super) request: usize,
    pub(super) method: usize,
    pub(super) uri: usize,
    pub(super) protocol: usize,
}

/// Position of the closing quote of a quoted value starting at `from`, skipping
/// backslash escapes (`\"` in Apache logs; nginx writes `\x22`). Finds quotes with
/// memchr and only then looks back for an odd run of backslashes.
fn closing_quote(line: &str, from: usize) -> Option<usize> {
    let b = line.as_bytes();
    let mut i = from;
    loop {
        let q = i + line.get(i..)?.find('"')?;
        let backslashes = b[from..q].iter().rev().take_while(|&&c| c == b'\\').count();
        if backslashes % 2 == 0 {
            return Some(q);
        }
        i = q + 1;
    }
}

/// The first occurrence of `lit` at or after `from`: memchr for its first byte, then a
/// comparison (cheaper than a substring searcher's setup for these short literals).
fn find(line: &str, from: usize, lit: &str) -> Option<usize> {
    let b0 = *lit.as_bytes().first()?;
    if !b0.is_ascii() {
        return line.get(from..)?.find(lit).map(|k| from + k);
    }
    let first = char::from(b0);
    let mut at = from;
    loop {
        let k = at + line.get(at..)?.find(first)?;
        if line.as_bytes()[k..].starts_with(lit.as_bytes()) {
            return Some(k);
        }
        at = k + 1;
    }
}

/// Like [`find`], but `a, b` and `a : b` lists before a one-space literal stay one value.
fn find_list_end(line: &str, from: usize, lit: &str) -> Option<usize> {
    let mut search = from;
    loop {
        let k = find(line, search, lit)?;
        let value = &line[from..k];
        if value.ends_with(',') {
            search = k + lit.len();
            continue;
        }
        if lit == " " && line[k..].starts_with(" : ") {
            search = k + 3;
            continue;
        }
        return Some(k);
    }
}

/// The next space-separated token from `from`: its end.
fn token_end(line: &str, from: usize) -> usize {
    line[from..].find(' ').map_or(line.len(), |k| from + k)
}

/// An unquoted request: `METHOD URI [HTTP/x]`, or `-`. Fills the derived slots and
/// returns the end of the request.
fn bare_request(line: &str, from: usize, spans: &mut [Span], rs: RequestSlots) -> usize {
    let m_end = token_end(line, from);
    if m_end == from || &line[from..m_end] == "-" {
        return m_end;
    }
    spans[rs.method] = Span::new(from, m_end);
    let u_start = (m_end + 1).min(line.len());
    let u_end = token_end(line, u_start);
    if u_end == u_start {
        return m_end;
    }
    spans[rs.uri] = Span::new(u_start, u_end);
    let p_start = (u_end + 1).min(line.len());
    if line[p_start..].starts_with("HTTP/") {
        let p_end = token_end(line, p_start);
        spans[rs.protocol] = Span::new(p_start, p_end);
        return p_end;
    }
    u_end
}

/// Method, uri and protocol out of a quoted request value.
pub(super) fn derive_request(line: &str, sp: Span, spans: &mut [Span], rs: RequestSlots) {
    if sp == Span::ABSENT {
        return;
    }
    let (s, e) = (sp.start as usize, sp.end as usize);
    let Some(v) = line.get(s..e) else { return };
    if v.is_empty() || v == "-" {
        return;
    }
    let Some(m) = v.find(' ') else {
        spans[rs.method] = Span::new(s, e);
        return;
    };
    spans[rs.method] = Span::new(s, s + m);
    let rest_start = s + m + 1;
    let rest = &line[rest_start..e];
    match rest.rfind(' ') {
        Some(p) if rest[p + 1..].starts_with("HTTP/") => {
            spans[rs.uri] = Span::new(rest_start, rest_start + p);
            spans[rs.protocol] = Span::new(rest_start + p + 1, e);
        }
        _ => spans[rs.uri] = Span::new(rest_start, e),
    }
}

/// Runs the steps over `line`, filling `spans` (already sized, all absent).
pub(super) fn run(
    steps: &[Step],
    request: Option<RequestSlots>,
    line: &str,
    spans: &mut [Span],
) -> Result<(), BadLine> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut pos = 0usize;
    let mut bare = false;
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Literal(lit) => {
                if !line.as_bytes()[pos..].starts_with(lit) {
                    return Err(BadLine::Mismatch(i));
                }
                pos += lit.len();
            }
            Step::Field { slot, kind } => {
                let end = match kind {
                    Kind::Quoted => closing_quote(line, pos),
                    Kind::Until(lit) => find(line, pos, bytes_str(lit)),
                    Kind::ListUntil(lit) => find_list_end(line, pos, bytes_str(lit)),
                    Kind::Rest => Some(token_end(line, pos)),
                    Kind::BareRequest => match request {
                        Some(rs) => {
                            bare = true;
                            Some(bare_request(line, pos, spans, rs))
                        }
                        None => Some(token_end(line, pos)),
                    },
                };
                let end = end.ok_or(BadLine::Mismatch(i))?;
                spans[*slot] = Span::new(pos, end);
                pos = end;
            }
        }
    }
    if let (Some(rs), false) = (request, bare) {
        derive_request(line, spans[rs.request], spans, rs);
    }
    Ok(())
}

fn bytes_str(b: &[u8]) -> &str {
    // Literals come from a &str split at ASCII `$` boundaries: always UTF-8.
    std::str::from_utf8(b).unwrap_or("\u{0}")
}
