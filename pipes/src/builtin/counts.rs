//! Counting pipes: `status`, `errors`, `url` and `host`. Each emits `add` counters.
//!
//! - `status`: `status,<class>xx,<code>` (`status,2xx,200`).
//! - `errors`: for 4xx and 5xx, `errors,<code>,<url path>`: which URLs fail.
//! - `url`: `url,<path>` request counts (query strings dropped).
//! - `host`: `host,<host>` request counts.
//!
//! URLs and hosts come from clients, so distinct keys are capped per pipe: once the cap
//! is reached, new ones count under `other` (as GoAccess folds its long tail).

use std::collections::HashSet;
use treestat_pipe_api::{Action, Emit, Pipe, PipeError, Record, Schema, join_path};

/// Distinct keys a pipe accepts before folding new ones into `other`.
#[derive(Debug)]
pub struct Capped {
    seen: HashSet<Box<str>>,
    cap: usize,
}

impl Capped {
    /// Allows `cap` distinct keys.
    pub fn new(cap: usize) -> Capped {
        Capped {
            seen: HashSet::new(),
            cap,
        }
    }

    /// `key` if it is known or there is room for it, else `other`.
    pub fn admit<'a>(&mut self, key: &'a str) -> &'a str {
        if self.seen.contains(key) {
            return key;
        }
        if self.seen.len() < self.cap {
            self.seen.insert(key.into());
            return key;
        }
        "other"
    }
}

/// The path part of a request URI: no query string or fragment.
pub fn url_path(uri: &str) -> &str {
    let end = uri.find(['?', '#']).unwrap_or(uri.len());
    if end == 0 { "/" } else { &uri[..end] }
}

fn need(schema: &Schema, pipe: &str, field: &str) -> Result<usize, PipeError> {
    schema
        .index(field)
        .ok_or_else(|| PipeError::new(format!("{pipe}: the log format has no ${field} field")))
}

pub(crate) fn status_code(record: &Record<'_>, i: usize) -> Result<Option<u16>, PipeError> {
    let Some(s) = record.get(i) else {
        return Ok(None);
    };
    match s.parse::<u16>() {
        Ok(c) if (100..600).contains(&c) => Ok(Some(c)),
        _ => Err(PipeError::new(format!(
            "status {s:?} is not an HTTP status"
        ))),
    }
}

/// Which counting pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountKind {
    /// `status,2xx,200`.
    Status,
    /// `errors,404,/missing`.
    Errors,
    /// `url,/path`.
    Url,
    /// `host,example.org`.
    Host,
}

/// One of the counting pipes.
#[derive(Debug)]
pub struct CountPipe {
    kind: CountKind,
    status: usize,
    field: usize,
    keys: Capped,
    path: String,
}

impl CountPipe {
    /// A counting pipe; `cap` bounds distinct URLs or hosts.
    pub fn new(kind: CountKind, cap: usize) -> CountPipe {
        CountPipe {
            kind,
            status: usize::MAX,
            field: usize::MAX,
            keys: Capped::new(cap),
            path: String::new(),
        }
    }
}

impl Pipe for CountPipe {
    fn name(&self) -> &str {
        match self.kind {
            CountKind::Status => "status",
            CountKind::Errors => "errors",
            CountKind::Url => "url",
            CountKind::Host => "host",
        }
    }

    fn init(&mut self, schema: &Schema) -> Result<(), PipeError> {
        let name = self.name().to_string();
        match self.kind {
            CountKind::Status => self.status = need(schema, &name, "status")?,
            CountKind::Errors => {
                self.status = need(schema, &name, "status")?;
                self.field = need(schema, &name, "uri")?;
            }
            CountKind::Url => self.field = need(schema, &name, "uri")?,
            CountKind::Host => self.field = need(schema, &name, "host")?,
        }
        Ok(())
    }

    fn process(&mut self, record: &Record<'_>, out: &mut dyn Emit) -> Result<(), PipeError> {
        match self.kind {
            CountKind::Status => {
                let Some(c) = status_code(record, self.status)? else {
                    return Ok(());
                };
                let class = [
                    char::from(b'0' + u8::try_from(c / 100).unwrap_or(0)),
                    'x',
                    'x',
                ];
                let class: String = class.iter().collect();
                join_path(&mut self.path, &["status", &class, &c.to_string()]);
            }
            CountKind::Errors => {
                let Some(c) = status_code(record, self.status)? else {
                    return Ok(());
                };
                if c < 400 {
                    return Ok(());
                }
                let url = record.get(self.field).map_or("-", url_path);
                let url = self.keys.admit(url);
                join_path(&mut self.path, &["errors", &c.to_string(), url]);
            }
            CountKind::Url => {
                let Some(uri) = record.get(self.field) else {
                    return Ok(());
                };
                let url = self.keys.admit(url_path(uri));
                join_path(&mut self.path, &["url", url]);
            }
            CountKind::Host => {
                let Some(host) = record.get(self.field) else {
                    return Ok(());
                };
                let host = self.keys.admit(host);
                join_path(&mut self.path, &["host", host]);
            }
        }
        out.emit(&self.path, 1.0, Some(Action::Add));
        Ok(())
    }
}
