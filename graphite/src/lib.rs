//! treestat-graphite: the core of treestat's Graphite render and find API
//! (docs/GRAFANA.md): target expressions ([`expr`]), the functions dashboards use with
//! graphite-web 1.1.8's semantics ([`funcs`]), names ([`names`]), Graphite's time
//! formats ([`time`]), and the answers' formats ([`output`]).
//!
//! It knows nothing of treestat's store: the web crate implements [`Source`] over the
//! trend store and the engine's ring, and this crate does the rest.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod eval;
pub mod expr;
pub mod funcs;
pub mod names;
pub mod output;
pub mod series;
pub mod time;

pub use eval::{Ctx, Source, eval};
pub use series::{Consolidate, Series};

/// The version `/version` answers: Grafana enables its Graphite 1.1 features on it.
pub const VERSION: &str = "1.1.8";

/// An error: a 400 (the request is wrong) or a 500 (the source failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Whether the client is at fault.
    pub client: bool,
    /// What went wrong.
    pub message: String,
}

impl Error {
    /// The request is wrong.
    pub fn bad_request(m: impl Into<String>) -> Error {
        Error {
            client: true,
            message: m.into(),
        }
    }

    /// The source failed.
    pub fn internal(m: impl Into<String>) -> Error {
        Error {
            client: false,
            message: m.into(),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// whisper's alignment of a fetch over `(from, until]` at `step`: the first value's
/// time (the first step boundary after `from`) and the end (just past the boundary at
/// or before `until`); never empty.
pub fn align(from: i64, until: i64, step: i64) -> (i64, i64) {
    let start = from - from.rem_euclid(step) + step;
    let mut end = until - until.rem_euclid(step) + step;
    if end <= start {
        end = start + step;
    }
    (start, end)
}

/// Evaluates every target over `[from, until]`, in order.
///
/// # Errors
/// 400 for a bad target (the message names it); 500 from the source.
pub fn render(
    targets: &[String],
    from: i64,
    until: i64,
    source: &dyn Source,
) -> Result<Vec<Series>, Error> {
    let cx = Ctx {
        start: from,
        end: until,
        source,
    };
    let mut out = Vec::new();
    for t in targets {
        let e = expr::parse(t)?;
        match e {
            expr::Expr::Path(_) | expr::Expr::Call { .. } => out.extend(eval(&e, &cx)?),
            _ => return Err(Error::bad_request(format!("target {t:?} is not a series"))),
        }
    }
    Ok(out)
}
