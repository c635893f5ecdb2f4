//! `regex:` formats: a log format given as a regular expression whose named groups are
//! the fields (`regex:^(?P<remote_addr>\S+) \S+ \S+ \[(?P<time_local>[^\]]+)\] ...`),
//! for logs no `log_format` string describes.
//!
//! The regex is compiled once (the `regex` crate: linear time in the line, no
//! backtracking blow-up whatever the pattern). Group names are nginx variable names,
//! the names a `log_format` string gives its fields, so the built-in pipes find theirs;
//! a name that is not one is refused, as a typo (`stauts`) would otherwise leave a pipe
//! without its field in silence. A `request` group yields `method`, `uri` and
//! `protocol` as `$request` does, unless the regex has groups of those names. A line
//! the regex does not match is a bad line; a group that did not take part is absent,
//! and so are `-` and empty values, as for every format.

use regex::{CaptureLocations, Regex, RegexBuilder};
use treestat_pipe_api::Span;

use super::error::FormatError;
use super::split::{BadLine, RequestSlots, derive_request};

/// nginx variables that access logs carry, besides those under [`KNOWN_PREFIXES`].
const KNOWN_NAMES: &[&str] = &[
    "args",
    "binary_remote_addr",
    "body_bytes_sent",
    "bytes_sent",
    "connection",
    "connection_requests",
    "document_uri",
    "gzip_ratio",
    "host",
    "hostname",
    "method",
    "msec",
    "pid",
    "pipe",
    "protocol",
    "query_string",
    "realip_remote_addr",
    "remote_addr",
    "remote_port",
    "remote_user",
    "request",
    "request_id",
    "request_length",
    "request_method",
    "request_time",
    "request_uri",
    "scheme",
    "server_addr",
    "server_name",
    "server_port",
    "server_protocol",
    "status",
    "time_iso8601",
    "time_local",
    "uri",
];

/// Families of nginx variables: request and response headers, upstream, cookies,
/// arguments, TLS, GeoIP.
const KNOWN_PREFIXES: &[&str] = &[
    "http_",
    "sent_http_",
    "upstream_",
    "cookie_",
    "arg_",
    "ssl_",
    "geoip_",
];

fn known(name: &str) -> bool {
    KNOWN_NAMES.contains(&name)
        || KNOWN_PREFIXES.iter().any(|p| {
            name.strip_prefix(p).is_some_and(|rest| {
                !rest.is_empty()
                    && rest
                        .bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
            })
        })
}

/// The most memory a log format's compiled regex may take (the regex crate's default is
/// 10 MiB). A line regex of any real log compiles to a few hundred KiB at most; one like
/// `\d{20003}` compiled for seconds in the fuzz build (fuzz/CAMPAIGN.md, finding 7) and
/// is refused now, at once.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A compiled `regex:` format.
#[derive(Debug, Clone)]
pub(super) struct RegexFormat {
    re: Regex,
    /// `(capture group index, field slot)` of each named group.
    groups: Vec<(usize, usize)>,
}

impl RegexFormat {
    /// Compiles `pattern` (without the `regex:` prefix). Returns the format, the field
    /// names (the named groups in order, then `method`, `uri`, `protocol` when derived
    /// from `request`) and the derived request slots.
    ///
    /// # Errors
    /// A regex that does not compile, one without a named group, or a group name that
    /// is not an nginx variable name.
    pub(super) fn compile(
        pattern: &str,
    ) -> Result<(RegexFormat, Vec<String>, Option<RequestSlots>), FormatError> {
        let re = RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| FormatError(format!("bad regex: {e}")))?;
        let mut names: Vec<String> = Vec::new();
        let mut groups = Vec::new();
        for (i, name) in re.capture_names().enumerate() {
            let Some(name) = name else { continue };
            if !known(name) {
                return Err(FormatError(format!(
                    "unknown group name {name:?}: name groups as nginx variables, the \
                     fields the pipes read (status, request, remote_addr, time_local, \
                     body_bytes_sent, bytes_sent, request_time, host, http_user_agent, \
                     http_referer, ...; http_*, sent_http_*, upstream_*, cookie_*, arg_*, \
                     ssl_*, geoip_*)"
                )));
            }
            groups.push((i, names.len()));
            names.push(name.to_string());
        }
        if names.is_empty() {
            return Err(FormatError(
                "the regex has no named group; fields are named groups: (?P<status>\\d{3})".into(),
            ));
        }
        let has = |n: &str| names.iter().any(|x| x == n);
        let request = match names.iter().position(|n| n == "request") {
            Some(r) if !has("method") && !has("uri") && !has("protocol") => {
                let base = names.len();
                names.extend(["method", "uri", "protocol"].map(String::from));
                Some(RequestSlots {
                    request: r,
                    method: base,
                    uri: base + 1,
                    protocol: base + 2,
                })
            }
            _ => None,
        };
        Ok((RegexFormat { re, groups }, names, request))
    }

    /// Fills `spans` (sized, all absent) from one line.
    pub(super) fn run(
        &self,
        request: Option<RequestSlots>,
        line: &str,
        spans: &mut [Span],
    ) -> Result<(), BadLine> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut locs: CaptureLocations = self.re.capture_locations();
        if self.re.captures_read(&mut locs, line).is_none() {
            return Err(BadLine::Mismatch(0));
        }
        for &(group, slot) in &self.groups {
            if let Some((s, e)) = locs.get(group) {
                spans[slot] = Span::new(s, e);
            }
        }
        if let Some(rs) = request {
            derive_request(line, spans[rs.request], spans, rs);
        }
        Ok(())
    }
}
