//! The `ua` pipe: browser, OS, engine and vendor counts from the User-Agent field.
//!
//! Trees (all `add` counters): `br,<family>,<major.minor>`, `os,<family>,<version>`,
//! `engine,<name>,<version>`, `vendor,<name>,<version>`. Each distinct UA string is
//! analysed once and its paths cached (bounded: the cache is cleared when full, so
//! memory stays flat on hostile input). Without a data file the built-in [`rules`]
//! apply; with a uap-core `regexes.yaml` ([`UaConfig::regexes`]) browser and OS come
//! from the `ua-parser` crate (full fidelity), engine and vendor still from the rules.

pub mod rules;

use std::collections::HashMap;
use std::path::Path;
use treestat_pipe_api::{Action, Emit, Pipe, PipeError, Record, Schema, join_path};

/// The most UA strings kept in the cache before it is cleared.
pub const CACHE_CAP: usize = 20_000;

/// The `ua` pipe.
pub struct UaPipe {
    field: Option<usize>,
    uap: Option<Box<ua_parser::Extractor<'static>>>,
    cache: HashMap<Box<str>, Box<[Box<str>]>>,
    scratch: String,
}

impl UaPipe {
    /// A pipe using the built-in rules.
    pub fn new() -> UaPipe {
        UaPipe {
            field: None,
            uap: None,
            cache: HashMap::new(),
            scratch: String::new(),
        }
    }

    /// A pipe using uap-core rules from a `regexes.yaml` for browser and OS.
    ///
    /// # Errors
    /// When the file cannot be read or its rules do not compile.
    pub fn with_regexes(path: &Path) -> Result<UaPipe, PipeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PipeError::new(format!("ua: cannot read {}: {e}", path.display())))?;
        let regexes: ua_parser::Regexes<'static> = serde_norway::from_str(&text).map_err(|e| {
            PipeError::new(format!("ua: {} is not uap-core YAML: {e}", path.display()))
        })?;
        let ex = ua_parser::Extractor::try_from(regexes).map_err(|e| {
            PipeError::new(format!(
                "ua: rules in {} do not compile: {e}",
                path.display()
            ))
        })?;
        let mut p = UaPipe::new();
        p.uap = Some(Box::new(ex));
        Ok(p)
    }

    fn analyse(&mut self, ua: &str) -> Box<[Box<str>]> {
        let parsed = rules::parse(ua);
        let (mut br, mut os) = (parsed.browser, parsed.os);
        if let Some(ex) = &self.uap {
            let mm = |a: Option<&str>, b: Option<&str>| match (a, b) {
                (Some(a), Some(b)) => format!("{a}.{b}"),
                (Some(a), None) => format!("{a}.0"),
                _ => rules::UNKNOWN.to_string(),
            };
            br = match ex.ua.extract(ua) {
                Some(v) => (v.family.to_string(), mm(v.major, v.minor)),
                None => ("Other".into(), rules::UNKNOWN.into()),
            };
            os = match ex.os.extract(ua) {
                Some(v) => (v.os.to_string(), mm(v.major.as_deref(), v.minor.as_deref())),
                None => ("Other".into(), rules::UNKNOWN.into()),
            };
        }
        let mut out = Vec::with_capacity(4);
        let mut push = |top: &str, (a, b): &(String, String)| {
            join_path(&mut self.scratch, &[top, a, b]);
            out.push(self.scratch.clone().into_boxed_str());
        };
        push("br", &br);
        push("os", &os);
        if let Some(e) = &parsed.engine {
            push("engine", e);
        }
        if let Some(v) = &parsed.vendor {
            push("vendor", v);
        }
        out.into_boxed_slice()
    }
}

impl Default for UaPipe {
    fn default() -> Self {
        UaPipe::new()
    }
}

impl Pipe for UaPipe {
    fn name(&self) -> &str {
        "ua"
    }

    fn init(&mut self, schema: &Schema) -> Result<(), PipeError> {
        self.field =
            Some(schema.index("http_user_agent").ok_or_else(|| {
                PipeError::new("ua: the log format has no $http_user_agent field")
            })?);
        Ok(())
    }

    fn process(&mut self, record: &Record<'_>, out: &mut dyn Emit) -> Result<(), PipeError> {
        let Some(ua) = self.field.and_then(|i| record.get(i)) else {
            return Ok(());
        };
        if let Some(paths) = self.cache.get(ua) {
            for p in paths {
                out.emit(p, 1.0, Some(Action::Add));
            }
            return Ok(());
        }
        let paths = self.analyse(ua);
        for p in &paths {
            out.emit(p, 1.0, Some(Action::Add));
        }
        if self.cache.len() >= CACHE_CAP {
            self.cache.clear();
        }
        self.cache.insert(ua.into(), paths);
        Ok(())
    }
}
