//! Evaluation: a target expression against a [`Source`](crate::Source) over a time
//! range, as graphite-web's `evaluateTarget`.

use crate::Error;
use crate::args::{Args, Ctx};
use crate::expr::Expr;
use crate::series::Series;

/// Evaluates one expression to a series list.
///
/// # Errors
/// 400 for an unknown function, a bad argument, or a value where series are needed.
pub fn eval(e: &Expr, cx: &Ctx<'_>) -> Result<Vec<Series>, Error> {
    match e {
        Expr::Path(p) => {
            let mut list = cx.source.fetch(p, cx.start, cx.end)?;
            list.sort_by(|a, b| a.name.cmp(&b.name));
            for s in &mut list {
                s.path_expr.clone_from(p);
            }
            Ok(list)
        }
        Expr::Call { name, args, kwargs } => crate::funcs::call(
            name,
            &Args {
                func: name,
                pos: args,
                kw: kwargs,
                cx,
                eval,
            },
        ),
        other => Err(Error::bad_request(format!(
            "{other:?} is not a series list"
        ))),
    }
}
