//! Access-log formats: the presets and any nginx `log_format` string, compiled once into
//! a hand-written splitter (see [`split`]) that fills field spans without allocating;
//! or, for logs no `log_format` describes, a `regex:` whose named groups are the fields
//! (see `regex_format.rs`).
//!
//! Compiling turns the format text into steps: literals the line must contain, and
//! fields, each knowing how it ends (a quote, the next literal, the end of the line).
//! Derived fields: a `$request` also yields `method`, `uri` and `protocol`; an
//! `$upstream_*` or `$remote_addr` value may be a list (`0.001, 0.002`, `a : b`).

mod error;
mod regex_format;
mod split;

pub use error::FormatError;
use regex_format::RegexFormat;
pub use split::BadLine;
use split::{Kind, RequestSlots, Step};

use treestat_pipe_api::{Record, Schema, Span};

/// The presets by name, as nginx `log_format` strings.
pub const PRESETS: [(&str, &str); 4] = [
    (
        "common",
        r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent"#,
    ),
    (
        "combined",
        r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#,
    ),
    (
        "vcombined",
        r#"$host:$server_port $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#,
    ),
    (
        "peach",
        r#"[$time_local] $status $host $upstream_addr $upstream_response_time $request_time $remote_addr $remote_user $request $bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for""#,
    ),
];

/// The longest line a format will split, in bytes; longer lines are bad lines.
pub const MAX_LINE: usize = 64 * 1024;

/// The prefix of a format given as a regular expression (`regex:^(?P<remote_addr>\S+) ...`).
pub const REGEX_PREFIX: &str = "regex:";

/// A compiled log format.
#[derive(Debug, Clone)]
pub struct Format {
    name: String,
    text: String,
    schema: Schema,
    splitter: Splitter,
    request: Option<RequestSlots>,
}

/// How a format finds the fields of a line.
#[derive(Debug, Clone)]
enum Splitter {
    /// A `log_format` string's steps, walked by `split.rs`.
    Steps(Vec<Step>),
    /// A `regex:` format.
    Regex(RegexFormat),
}

fn is_list_field(name: &str) -> bool {
    name.starts_with("upstream_") || name == "remote_addr" || name == "http_x_forwarded_for"
}

/// Splits a format string into literals and variable names.
fn tokenize(text: &str) -> Result<Vec<(bool, String)>, FormatError> {
    let b = text.as_bytes();
    let mut out: Vec<(bool, String)> = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            let (name, next) = if b.get(i + 1) == Some(&b'{') {
                let end = text[i + 2..]
                    .find('}')
                    .ok_or_else(|| FormatError(format!("unclosed ${{ at byte {i}")))?;
                (&text[i + 2..i + 2 + end], i + 3 + end)
            } else {
                let len = b[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                    .count();
                (&text[i + 1..i + 1 + len], i + 1 + len)
            };
            if name.is_empty() {
                return Err(FormatError(format!(
                    "`$` without a variable name at byte {i}"
                )));
            }
            if !lit.is_empty() {
                out.push((false, std::mem::take(&mut lit)));
            }
            out.push((true, name.to_string()));
            i = next;
        } else {
            let ch = text[i..].chars().next().unwrap_or(' ');
            lit.push(ch);
            i += ch.len_utf8();
        }
    }
    if !lit.is_empty() {
        out.push((false, lit));
    }
    Ok(out)
}

impl Format {
    /// A preset by name, a regular expression after [`REGEX_PREFIX`] (see
    /// [`Format::regex`]), or else `text` taken as an nginx `log_format` string (the
    /// part in quotes, pasted as is; `'...'` quotes around it are removed).
    ///
    /// # Errors
    /// When the text has no variable, two variables with nothing between them, or a
    /// variable twice; for a regex, as [`Format::regex`].
    pub fn new(name_or_format: &str) -> Result<Format, FormatError> {
        if let Some(pattern) = name_or_format.trim_start().strip_prefix(REGEX_PREFIX) {
            return Format::regex(pattern);
        }
        let t = name_or_format.trim();
        if let Some((name, text)) = PRESETS.iter().find(|(n, _)| n.eq_ignore_ascii_case(t)) {
            return Format::compile(name, text);
        }
        if !t.contains('$') {
            let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            return Err(FormatError(format!(
                "{t:?} is neither a preset ({}) nor a log_format string with $variables",
                names.join(", ")
            )));
        }
        let t = t
            .strip_prefix('\'')
            .and_then(|s| s.strip_suffix('\''))
            .unwrap_or(t);
        Format::compile("custom", t)
    }

    /// A format whose fields are the named groups of the regular expression `pattern`
    /// (Rust `regex` syntax, no `regex:` prefix), named as nginx variables so that the
    /// pipes find them: `(?P<status>\d{3})`. A `request` group also yields `method`,
    /// `uri` and `protocol` unless the regex names those itself. A line the regex does
    /// not match is a bad line ([`BadLine::Mismatch`]`(0)`); a group that took no part
    /// in the match is absent. Display name `regex`.
    ///
    /// # Errors
    /// A regex that does not compile (the message is the `regex` crate's, pointing at
    /// the place), one without named groups, or a group name that is no nginx variable
    /// name.
    pub fn regex(pattern: &str) -> Result<Format, FormatError> {
        let (re, names, request) = RegexFormat::compile(pattern)?;
        Ok(Format {
            name: "regex".to_string(),
            text: format!("{REGEX_PREFIX}{pattern}"),
            schema: Schema::new(names),
            splitter: Splitter::Regex(re),
            request,
        })
    }

    /// Compiles a `log_format` string under a display name.
    ///
    /// # Errors
    /// As [`Format::new`].
    pub fn compile(name: &str, text: &str) -> Result<Format, FormatError> {
        let toks = tokenize(text)?;
        let mut names: Vec<String> = Vec::new();
        let mut steps = Vec::new();
        let mut request = None;
        for (i, (is_var, tok)) in toks.iter().enumerate() {
            if !*is_var {
                steps.push(Step::Literal(tok.as_bytes().to_vec()));
                continue;
            }
            if names.contains(tok) {
                return Err(FormatError(format!("${tok} appears twice")));
            }
            let prev = i.checked_sub(1).and_then(|p| toks.get(p));
            let next = toks.get(i + 1);
            if let Some((true, n)) = next {
                return Err(FormatError(format!(
                    "${tok} and ${n} have nothing between them, so they cannot be told apart"
                )));
            }
            let quoted = matches!(prev, Some((false, p)) if p.ends_with('"'))
                && matches!(next, Some((false, n)) if n.starts_with('"'));
            let kind = match next {
                _ if quoted => Kind::Quoted,
                _ if tok == "request" => Kind::BareRequest,
                None => Kind::Rest,
                Some((_, lit)) if is_list_field(tok) => Kind::ListUntil(lit.as_bytes().to_vec()),
                Some((_, lit)) => Kind::Until(lit.as_bytes().to_vec()),
            };
            steps.push(Step::Field {
                slot: names.len(),
                kind,
            });
            names.push(tok.clone());
        }
        if names.is_empty() {
            return Err(FormatError("no $variable in the format".into()));
        }
        if let Some(r) = names.iter().position(|n| n == "request") {
            let mut slot = |n: &str| {
                names.iter().position(|x| x == n).unwrap_or_else(|| {
                    names.push(n.to_string());
                    names.len() - 1
                })
            };
            request = Some(RequestSlots {
                request: r,
                method: slot("method"),
                uri: slot("uri"),
                protocol: slot("protocol"),
            });
        }
        Ok(Format {
            name: name.to_string(),
            text: text.to_string(),
            schema: Schema::new(names),
            splitter: Splitter::Steps(steps),
            request,
        })
    }

    /// The preset name, `custom`, or `regex`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `log_format` text this was compiled from (a regex with its `regex:` prefix).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The fields a record of this format has.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Splits one line (without its newline) into a record. `spans` is scratch space
    /// reused from line to line.
    ///
    /// # Errors
    /// [`BadLine`] when the line does not follow the format.
    pub fn parse<'a>(
        &'a self,
        line: &'a str,
        spans: &'a mut Vec<Span>,
    ) -> Result<Record<'a>, BadLine> {
        self.split(line, spans)?;
        Ok(Record::new(&self.schema, line, spans))
    }

    /// Fills `spans` for a line without building a record.
    ///
    /// # Errors
    /// As [`Format::parse`].
    pub fn split(&self, line: &str, spans: &mut Vec<Span>) -> Result<(), BadLine> {
        if line.len() > MAX_LINE {
            return Err(BadLine::TooLong);
        }
        spans.clear();
        spans.resize(self.schema.len(), Span::ABSENT);
        match &self.splitter {
            Splitter::Steps(steps) => split::run(steps, self.request, line, spans),
            Splitter::Regex(re) => re.run(self.request, line, spans),
        }
    }
}

/// Reads a time field that may be a list (`0.001, 0.002`, `0.1 : 0.2`, `-`): the sum of
/// its numbers, the total time spent upstream across retries and internal redirects.
/// `None` when it holds no number.
pub fn sum_times(text: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut any = false;
    for part in text.split([',', ':', ' ']) {
        if let Ok(v) = part.trim().parse::<f64>()
            && v.is_finite()
        {
            total += v;
            any = true;
        }
    }
    any.then_some(total)
}

#[cfg(test)]
mod tests;
