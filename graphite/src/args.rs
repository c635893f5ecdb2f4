//! What a function sees: the request's context, the data source, and its arguments
//! (evaluated on demand through the evaluator it is handed, so this file needs no
//! evaluator of its own), and the node helpers graphite-web's functions share.

use std::collections::BTreeMap;

use crate::Error;
use crate::expr::Expr;
use crate::funcs::AggFn;
use crate::series::Series;

/// The evaluator [`Args`] evaluates series arguments with ([`crate::eval::eval`]).
pub type EvalFn = fn(&Expr, &Ctx<'_>) -> Result<Vec<Series>, Error>;

/// Where series come from.
pub trait Source {
    /// The series whose names match a dotted query (globs allowed), over
    /// `(from, until]` in graphite-web's alignment (see [`crate::align`]).
    ///
    /// # Errors
    /// A 400 for a bad query; a 500 for a storage failure.
    fn fetch(&self, query: &str, from: i64, until: i64) -> Result<Vec<Series>, Error>;

    /// The series [`Source::fetch`] gives, ordered by name as the evaluator orders
    /// them, folded into one row with `f` a series at a time ([`ColumnFold`](crate::funcs::ColumnFold)),
    /// for a source that can do so without holding them all at once (a thousand
    /// day-long series are 138 MB as `Option<f64>`s). `None`: there were fewer than
    /// two series, `f` does not fold by column, or the source does not fold; the
    /// caller fetches and folds instead.
    ///
    /// # Errors
    /// As [`Source::fetch`].
    fn fetch_folded(
        &self,
        query: &str,
        from: i64,
        until: i64,
        f: AggFn,
    ) -> Result<Option<Folded>, Error> {
        let _ = (query, from, until, f);
        Ok(None)
    }

    /// The series [`Source::fetch`] gives, in the evaluator's order (by name, stable),
    /// handed to `each` one at a time, for a source that can read them without
    /// holding them all: a function that keeps a few of 10,000 (`highestCurrent`)
    /// then never holds the rest. `false`: the source does not stream this query
    /// (two series of one name, or it cannot), and `each` was not called; the caller
    /// fetches instead.
    ///
    /// # Errors
    /// As [`Source::fetch`].
    fn stream(
        &self,
        query: &str,
        from: i64,
        until: i64,
        each: &mut dyn FnMut(Row<'_>),
    ) -> Result<bool, Error> {
        let _ = (query, from, until, each);
        Ok(false)
    }
}

/// One series as [`Source::stream`] hands it over: its values a row from `start`, one
/// per `step`, NaN where it has none.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// The name [`Source::fetch`] gives it.
    pub name: &'a str,
    /// The time of the first value.
    pub start: i64,
    /// Seconds between values.
    pub step: i64,
    /// The values, NaN for none.
    pub values: &'a [f64],
}

/// What [`Source::fetch_folded`] answers: the folded row and the range the fetched
/// series shared.
#[derive(Debug)]
pub struct Folded {
    /// The time of the first value.
    pub start: i64,
    /// Seconds between values.
    pub step: i64,
    /// The folded values.
    pub values: Vec<Option<f64>>,
}

/// A request's context: the range asked and the source.
pub struct Ctx<'a> {
    /// Start of the range (epoch seconds).
    pub start: i64,
    /// End of the range.
    pub end: i64,
    /// The source.
    pub source: &'a dyn Source,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ctx({}..{})", self.start, self.end)
    }
}

impl Ctx<'_> {
    /// The same context over another range.
    pub fn with_range(&self, start: i64, end: i64) -> Ctx<'_> {
        Ctx {
            start,
            end,
            source: self.source,
        }
    }
}

/// A call's arguments, evaluated on demand.
pub struct Args<'a> {
    /// The function's name (for errors).
    pub func: &'a str,
    /// Positional arguments.
    pub pos: &'a [Expr],
    /// Keyword arguments.
    pub kw: &'a [(String, Expr)],
    /// The context.
    pub cx: &'a Ctx<'a>,
    /// The evaluator.
    pub eval: EvalFn,
}

impl std::fmt::Debug for Args<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Args({})", self.func)
    }
}

impl Args<'_> {
    /// The argument at position `i` or named `key`.
    pub fn get(&self, i: usize, key: &str) -> Option<&Expr> {
        self.pos
            .get(i)
            .or_else(|| self.kw.iter().find(|(k, _)| k == key).map(|(_, e)| e))
    }

    fn bad(&self, what: String) -> Error {
        Error::bad_request(format!("{}: {what}", self.func))
    }

    /// A required series-list argument.
    ///
    /// # Errors
    /// 400 when missing or not a series list.
    pub fn series(&self, i: usize, key: &str) -> Result<Vec<Series>, Error> {
        let e = self
            .get(i, key)
            .ok_or_else(|| self.bad(format!("missing argument {key}")))?;
        (self.eval)(e, self.cx)
    }

    /// Argument `i` evaluated over another range (moving windows, time shifts).
    ///
    /// # Errors
    /// As [`Args::series`].
    pub fn series_in(
        &self,
        i: usize,
        key: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<Series>, Error> {
        let e = self
            .get(i, key)
            .ok_or_else(|| self.bad(format!("missing argument {key}")))?;
        (self.eval)(e, &self.cx.with_range(start, end))
    }

    /// Every positional argument from `from` on, evaluated and concatenated
    /// (`*seriesLists`).
    ///
    /// # Errors
    /// As [`Args::series`].
    pub fn all_series(&self, from: usize) -> Result<Vec<Series>, Error> {
        let mut out = Vec::new();
        for e in self.pos.iter().skip(from) {
            out.extend((self.eval)(e, self.cx)?);
        }
        Ok(out)
    }

    /// A number argument and whether it was written as an integer.
    ///
    /// # Errors
    /// 400 when present but not a number.
    pub fn num_opt(&self, i: usize, key: &str) -> Result<Option<(f64, bool)>, Error> {
        match self.get(i, key) {
            None => Ok(None),
            Some(Expr::Num(v, int)) => Ok(Some((*v, *int))),
            Some(Expr::Bool(b)) => Ok(Some((if *b { 1.0 } else { 0.0 }, true))),
            Some(e) => Err(self.bad(format!("{key} must be a number, not {e:?}"))),
        }
    }

    /// A required number.
    ///
    /// # Errors
    /// 400 when missing or not a number.
    pub fn num(&self, i: usize, key: &str) -> Result<f64, Error> {
        self.num_opt(i, key)?
            .map(|(v, _)| v)
            .ok_or_else(|| self.bad(format!("missing argument {key}")))
    }

    /// A required integer.
    ///
    /// # Errors
    /// 400 when missing or not an integer.
    pub fn int(&self, i: usize, key: &str) -> Result<i64, Error> {
        let v = self.num(i, key)?;
        if v.fract() != 0.0 || v.abs() > 1e15 {
            return Err(self.bad(format!("{key} must be an integer")));
        }
        #[allow(clippy::cast_possible_truncation)] // checked integral and small just above
        Ok(v as i64)
    }

    /// A string argument.
    ///
    /// # Errors
    /// 400 when present but not a string.
    pub fn str_opt(&self, i: usize, key: &str) -> Result<Option<String>, Error> {
        match self.get(i, key) {
            None => Ok(None),
            Some(Expr::Str(s)) => Ok(Some(s.clone())),
            Some(e) => Err(self.bad(format!("{key} must be a quoted string, not {e:?}"))),
        }
    }

    /// A required string.
    ///
    /// # Errors
    /// 400 when missing or not a string.
    pub fn string(&self, i: usize, key: &str) -> Result<String, Error> {
        self.str_opt(i, key)?
            .ok_or_else(|| self.bad(format!("missing argument {key}")))
    }

    /// A boolean (default `dflt`).
    ///
    /// # Errors
    /// 400 when present but not a boolean.
    pub fn boolean(&self, i: usize, key: &str, dflt: bool) -> Result<bool, Error> {
        match self.get(i, key) {
            None => Ok(dflt),
            Some(Expr::Bool(b)) => Ok(*b),
            Some(Expr::Num(v, _)) => Ok(*v != 0.0),
            Some(e) => Err(self.bad(format!("{key} must be true or false, not {e:?}"))),
        }
    }

    /// Node numbers or tag names from position `from` on (`*nodes`).
    ///
    /// # Errors
    /// 400 for anything else.
    pub fn nodes(&self, from: usize) -> Result<Vec<NodeRef>, Error> {
        self.pos
            .iter()
            .skip(from)
            .map(|e| match e {
                #[allow(clippy::cast_possible_truncation)] // node numbers are small
                Expr::Num(v, true) => Ok(NodeRef::Index(*v as i64)),
                Expr::Str(s) => Ok(NodeRef::Tag(s.clone())),
                e => Err(self.bad(format!(
                    "a node must be an integer or a tag name, not {e:?}"
                ))),
            })
            .collect()
    }
}

/// A node of a name, or a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeRef {
    /// The n-th dotted node (negative from the end).
    Index(i64),
    /// A tag's value.
    Tag(String),
}

/// graphite-web's `_getFirstPathExpression`: the first path inside a name that looks
/// like a call (`sumSeries(a.*.b)` -> `a.*.b`).
pub fn first_path(name: &str) -> Option<String> {
    let mut e = crate::expr::parse(name).ok()?;
    loop {
        match e {
            Expr::Path(p) => return Some(p),
            Expr::Call { mut args, .. } if !args.is_empty() => e = args.swap_remove(0),
            _ => return None,
        }
    }
}

/// graphite-web's `getNodeOrTag`.
pub fn node_or_tag(s: &Series, n: &NodeRef, path: Option<&str>) -> String {
    if let NodeRef::Index(i) = n {
        let text = path.unwrap_or(&s.name);
        let text = text.split(';').next().unwrap_or(text);
        let parts: Vec<&str> = text.split('.').collect();
        let len = i64::try_from(parts.len()).unwrap_or(0);
        let idx = if *i < 0 { len + i } else { *i };
        if let Some(p) = usize::try_from(idx).ok().and_then(|k| parts.get(k)) {
            return (*p).to_string();
        }
    }
    let key = match n {
        NodeRef::Index(i) => i.to_string(),
        NodeRef::Tag(t) => t.clone(),
    };
    s.tags.get(&key).cloned().unwrap_or_default()
}

/// graphite-web's `aggKey`: the nodes of a series' name (of its first path when the
/// name is a call), joined with dots.
pub fn agg_key(s: &Series, nodes: &[NodeRef]) -> String {
    let path = if s.name.ends_with(')') {
        first_path(&s.name)
    } else {
        None
    };
    nodes
        .iter()
        .map(|n| node_or_tag(s, n, path.as_deref()))
        .collect::<Vec<_>>()
        .join(".")
}

/// Groups series by key, keys in first-seen order.
pub fn group_by<F: Fn(&Series) -> String>(list: Vec<Series>, key: F) -> Vec<(String, Vec<Series>)> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, Vec<Series>> = BTreeMap::new();
    for s in list {
        let k = key(&s);
        if !groups.contains_key(&k) {
            order.push(k.clone());
        }
        groups.entry(k).or_default().push(s);
    }
    order
        .into_iter()
        .map(|k| {
            let v = groups.remove(&k).unwrap_or_default();
            (k, v)
        })
        .collect()
}
