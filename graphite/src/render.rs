//! A request's evaluation: every target over the range, and whisper's alignment.

use crate::Error;
use crate::args::{Ctx, Source};
use crate::eval::eval;
use crate::expr;
use crate::series::Series;

/// The version `/version` answers: Grafana enables its Graphite 1.1 features on it.
pub const VERSION: &str = "1.1.8";

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
