//! Functions that transform each series on its own: arithmetic, derivatives, windows,
//! buckets, nulls, time shifts.

use super::agg::AggFn;
use super::common::{constant_line, get_percentile};
use crate::Error;
use crate::args::Args;
use crate::expr::Expr;
use crate::series::{Consolidate, Series, fmt_g, len_f, py_float, py_num};
use crate::time::parse_offset;

pub(super) fn call(name: &str, a: &Args<'_>) -> Option<Result<Vec<Series>, Error>> {
    Some(match name {
        "scale" => map_num(
            a,
            "factor",
            |s, f, _| {
                s.tag("scale", py_float(f));
                format!("scale({},{})", s.name, fmt_g(f))
            },
            |v, f, _| v.map(|v| v * f),
        ),
        "offset" => map_num(
            a,
            "factor",
            |s, f, _| {
                s.tag("offset", py_float(f));
                format!("offset({},{})", s.name, fmt_g(f))
            },
            |v, f, _| v.map(|v| v + f),
        ),
        "scaleToSeconds" => map_num(
            a,
            "seconds",
            |s, f, _| {
                s.tag("scaleToSeconds", py_float(f));
                #[allow(clippy::cast_possible_truncation)] // Python's %d of a float
                let secs = f.trunc() as i64;
                format!("scaleToSeconds({},{secs})", s.name)
            },
            |v, f, step| v.map(|v| round6(v * (f / len_f(usize::try_from(step).unwrap_or(1))))),
        ),
        "absolute" => map_each(a, |s| {
            s.tag("absolute", "1");
            s.values.iter_mut().for_each(|v| *v = v.map(f64::abs));
            format!("absolute({})", s.name)
        }),
        "derivative" => copy_each(a, "derivative", |s| {
            let mut prev: Option<f64> = None;
            s.values
                .iter()
                .map(|&v| {
                    let d = match (prev, v) {
                        (Some(p), Some(v)) => Some(v - p),
                        _ => None,
                    };
                    prev = v;
                    d
                })
                .collect()
        }),
        "nonNegativeDerivative" | "perSecond" => non_negative(a, name),
        "integral" => copy_each(a, "integral", |s| {
            let mut cur = 0.0;
            s.values
                .iter()
                .map(|v| {
                    v.map(|v| {
                        cur += v;
                        cur
                    })
                })
                .collect()
        }),
        "delay" => (|| {
            let steps = a.int(1, "steps")?;
            let mut out = Vec::new();
            for mut s in a.series(0, "seriesList")? {
                let n = s.values.len();
                let k = usize::try_from(steps.unsigned_abs())
                    .unwrap_or(usize::MAX)
                    .min(n);
                let values: Vec<Option<f64>> = if steps < 0 {
                    s.values[k..]
                        .iter()
                        .copied()
                        .chain(std::iter::repeat_n(None, k))
                        .collect()
                } else {
                    std::iter::repeat_n(None, k)
                        .chain(s.values[..n - k].iter().copied())
                        .collect()
                };
                s.tag("delay", steps.to_string());
                let name = format!("delay({},{steps})", s.name);
                out.push(s.derive(name, values));
            }
            Ok(out)
        })(),
        "timeShift" => time_shift(a),
        "movingAverage" => moving(a, AggFn::Average, "movingAverage"),
        "movingSum" => moving(a, AggFn::Sum, "movingSum"),
        "movingMax" => moving(a, AggFn::Max, "movingMax"),
        "movingMin" => moving(a, AggFn::Min, "movingMin"),
        "summarize" => summarize(a),
        "hitcount" => hitcount(a),
        "keepLastValue" => keep_last(a),
        "transformNull" => (|| {
            let (d, int) = a.num_opt(1, "default")?.unwrap_or((0.0, true));
            let tag = if a.get(1, "default").is_some() {
                py_float(d)
            } else {
                py_num(d, int)
            };
            map_each(a, |s| {
                s.tag("transformNull", tag.clone());
                s.values.iter_mut().for_each(|v| *v = Some(v.unwrap_or(d)));
                format!("transformNull({},{})", s.name, fmt_g(d))
            })
        })(),
        "consolidateBy" => (|| {
            let f = a.string(1, "consolidationFunc")?;
            let c = Consolidate::parse(&f).ok_or_else(|| {
                Error::bad_request(format!("consolidateBy: unknown function {f:?}"))
            })?;
            map_each(a, |s| {
                s.consolidate = c;
                s.tag("consolidateBy", f.clone());
                format!("consolidateBy({},\"{f}\")", s.name)
            })
        })(),
        "constantLine" => (|| {
            let v = a.num(0, "value")?;
            Ok(vec![constant_line(a.cx, v, &py_float(v))])
        })(),
        "nPercentile" => (|| {
            let n = a.num(1, "n")?;
            let mut out = Vec::new();
            for mut s in a.series(0, "seriesList")? {
                let Some(p) = get_percentile(&s.values, n, false) else {
                    continue;
                };
                s.tag("nPercentile", py_float(n));
                let count = usize::try_from((s.end - s.start) / s.step).unwrap_or(0);
                let name = format!("nPercentile({}, {})", s.name, fmt_g(n));
                out.push(s.derive(name, vec![Some(p); count]));
            }
            Ok(out)
        })(),
        _ => return None,
    })
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Renames each series in place (name and path expression) after `f` changed it.
fn map_each<F: FnMut(&mut Series) -> String>(a: &Args<'_>, mut f: F) -> Result<Vec<Series>, Error> {
    let mut list = a.series(0, "seriesList")?;
    for s in &mut list {
        let name = f(s);
        s.path_expr.clone_from(&name);
        s.name = name;
    }
    Ok(list)
}

/// A number argument applied to every value.
fn map_num(
    a: &Args<'_>,
    key: &str,
    name: impl Fn(&mut Series, f64, i64) -> String,
    value: impl Fn(Option<f64>, f64, i64) -> Option<f64>,
) -> Result<Vec<Series>, Error> {
    let f = a.num(1, key)?;
    map_each(a, |s| {
        let step = s.step;
        s.values.iter_mut().for_each(|v| *v = value(*v, f, step));
        name(s, f, step)
    })
}

/// graphite-web's `series.copy(name=f(name), values=...)` with a tag `tag=1`.
fn copy_each(
    a: &Args<'_>,
    tag: &str,
    values: impl Fn(&Series) -> Vec<Option<f64>>,
) -> Result<Vec<Series>, Error> {
    let mut out = Vec::new();
    for mut s in a.series(0, "seriesList")? {
        s.tag(tag, "1");
        let v = values(&s);
        let name = format!("{tag}({})", s.name);
        out.push(s.derive(name, v));
    }
    Ok(out)
}

fn non_negative(a: &Args<'_>, fname: &str) -> Result<Vec<Series>, Error> {
    let max = a.num_opt(1, "maxValue")?.map(|v| v.0);
    let min = a.num_opt(2, "minValue")?.map(|v| v.0);
    let per_second = fname == "perSecond";
    copy_each(a, fname, |s| {
        let mut prev: Option<f64> = None;
        let step = len_f(usize::try_from(s.step).unwrap_or(1));
        s.values
            .iter()
            .map(|&v| {
                let (d, p) = nn_delta(v, prev, max, min);
                prev = p;
                if per_second {
                    d.map(|d| round6(d / step))
                } else {
                    d
                }
            })
            .collect()
    })
}

/// graphite-web's `_nonNegativeDelta`: `(delta, new prev)`.
fn nn_delta(
    v: Option<f64>,
    prev: Option<f64>,
    max: Option<f64>,
    min: Option<f64>,
) -> (Option<f64>, Option<f64>) {
    if let (Some(m), Some(x)) = (max, v)
        && x > m
    {
        return (None, None);
    }
    if let (Some(m), Some(x)) = (min, v)
        && x < m
    {
        return (None, None);
    }
    let (Some(p), Some(x)) = (prev, v) else {
        return (None, v);
    };
    if x >= p {
        return (Some(x - p), v);
    }
    if let Some(m) = max {
        return (Some(m + 1.0 + x - p - min.unwrap_or(0.0)), v);
    }
    if let Some(m) = min {
        return (Some(x - m), v);
    }
    (None, v)
}

fn time_shift(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let mut shift = a.string(1, "timeShift")?;
    let reset_end = a.boolean(2, "resetEnd", true)?;
    if shift.starts_with(|c: char| c.is_ascii_digit()) {
        shift.insert(0, '-');
    }
    let delta = parse_offset(&shift)?;
    let orig = a.series(0, "seriesList")?;
    let Some(first) = orig.first() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for mut s in a.series_in(0, "seriesList", a.cx.start + delta, a.cx.end + delta)? {
        s.tag("timeShift", shift.clone());
        s.name = format!("timeShift({}, \"{shift}\")", s.name);
        s.end = if reset_end {
            first.end
        } else {
            s.end - s.start + first.start
        };
        s.start = first.start;
        out.push(s);
    }
    Ok(out)
}

fn moving(a: &Args<'_>, f: AggFn, tag: &str) -> Result<Vec<Series>, Error> {
    let window = a
        .get(1, "windowSize")
        .ok_or_else(|| Error::bad_request(format!("{tag}: missing argument windowSize")))?
        .clone();
    let orig = a.series(0, "seriesList")?;
    if orig.is_empty() {
        return Ok(orig);
    }
    let (preview, text) = match &window {
        Expr::Str(w) => (parse_offset(w)?.abs(), format!("\"{w}\"")),
        Expr::Num(n, true) if *n >= 0.0 => {
            #[allow(clippy::cast_possible_truncation)] // a small point count
            let n = *n as i64;
            (
                orig.iter().map(|s| s.step).max().unwrap_or(1) * n,
                n.to_string(),
            )
        }
        e => return Err(Error::bad_request(format!("{tag}: bad windowSize {e:?}"))),
    };
    let tag_value = match &window {
        Expr::Str(w) => w.clone(),
        _ => text.clone(),
    };
    let mut out = Vec::new();
    for mut s in a.series_in(0, "seriesList", a.cx.start - preview, a.cx.end)? {
        let points = match &window {
            Expr::Str(_) => usize::try_from(preview / s.step).unwrap_or(0),
            _ => usize::try_from(preview / s.step.max(1)).unwrap_or(0),
        };
        let points = match &window {
            Expr::Num(n, _) => {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // checked >= 0
                let n = *n as usize;
                n
            }
            _ => points,
        };
        s.tag(tag, tag_value.clone());
        let values: Vec<Option<f64>> = (points..s.values.len())
            .map(|i| f.apply(&s.values[i - points..i]))
            .collect();
        let name = format!("{tag}({},{text})", s.name);
        let mut n = s.derive(name, values);
        n.start = s.start + preview;
        n.end = s.end;
        out.push(n);
    }
    Ok(out)
}

fn summarize(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let interval_s = a.string(1, "intervalString")?;
    let func = a.str_opt(2, "func")?.unwrap_or_else(|| "sum".into());
    let agg = AggFn::parse(&func)?;
    let align = a.boolean(3, "alignToFrom", false)?;
    let interval = parse_offset(&interval_s)?.abs().max(1);
    let mut out = Vec::new();
    for mut s in a.series(0, "seriesList")? {
        let (start, mut end) = if align {
            (s.start, s.end)
        } else {
            (
                s.start - s.start.rem_euclid(interval),
                s.end - s.end.rem_euclid(interval) + interval,
            )
        };
        let ts: Vec<i64> = (0..)
            .map(|i| s.start + i * s.step)
            .take_while(|&t| t < s.end)
            .collect();
        let n = ts.len().min(s.values.len());
        let mut values = Vec::new();
        let (mut i, mut t) = (0usize, start);
        while t < end {
            let mut first = i;
            let mut non_null = 0;
            while i < n && ts[i] < t + interval {
                if ts[i] <= t {
                    first = i;
                }
                if ts[i] >= t && s.values[i].is_some() {
                    non_null += 1;
                }
                i += 1;
            }
            values.push(if non_null > 0 {
                agg.apply(&s.values[first..i])
            } else {
                None
            });
            t += interval;
        }
        if align {
            end = t;
        }
        s.tag("summarize", interval_s.clone());
        s.tag("summarizeFunction", func.clone());
        let name = format!(
            "summarize({}, \"{interval_s}\", \"{func}\"{})",
            s.name,
            if align { ", true" } else { "" }
        );
        let mut r = s.derive(name, values);
        r.start = start;
        r.end = end;
        r.step = interval;
        out.push(r);
    }
    Ok(out)
}

fn hitcount(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let interval_s = a.string(1, "intervalString")?;
    if a.boolean(2, "alignToInterval", false)? {
        return Err(Error::bad_request(
            "hitcount: alignToInterval is not supported",
        ));
    }
    let interval = parse_offset(&interval_s)?.abs().max(1);
    let mut out = Vec::new();
    for mut s in a.series(0, "seriesList")? {
        let step = s.step;
        let count = (s.end - s.start + interval - 1) / interval;
        let n = usize::try_from(count).unwrap_or(0);
        let mut buckets: Vec<Vec<f64>> = vec![Vec::new(); n];
        let new_start = s.end - count * interval;
        let idx = |b: i64| usize::try_from(b).ok();
        for (i, v) in s.values.iter().enumerate() {
            let Some(v) = *v else { continue };
            let st = s.start + i64::try_from(i).unwrap_or(0) * step;
            let (sb, sm) = (
                (st - new_start).div_euclid(interval),
                (st - new_start).rem_euclid(interval),
            );
            let et = st + step;
            let (mut eb, mut em) = (
                (et - new_start).div_euclid(interval),
                (et - new_start).rem_euclid(interval),
            );
            if eb >= count {
                eb = count - 1;
                em = interval;
            }
            let f = |x: i64| len_f(usize::try_from(x).unwrap_or(0));
            if sb == eb {
                if let Some(b) = idx(sb) {
                    buckets[b].push(v * f(em - sm));
                }
            } else {
                if let Some(b) = idx(sb) {
                    buckets[b].push(v * f(interval - sm));
                }
                for j in sb + 1..eb {
                    if let Some(b) = idx(j) {
                        buckets[b].push(v * f(interval));
                    }
                }
                if em > 0
                    && let Some(b) = idx(eb)
                {
                    buckets[b].push(v * f(em));
                }
            }
        }
        let values = buckets
            .iter()
            .map(|b| (!b.is_empty()).then(|| b.iter().sum()))
            .collect();
        s.tag("hitcount", interval_s.clone());
        let name = format!("hitcount({}, \"{interval_s}\")", s.name);
        let mut r = s.derive(name, values);
        r.start = new_start;
        r.step = interval;
        out.push(r);
    }
    Ok(out)
}

fn keep_last(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let limit = match a.num_opt(1, "limit")? {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // a count
        Some((v, _)) => v.max(0.0) as usize,
        None => usize::MAX,
    };
    map_each(a, |s| {
        let mut nones = 0usize;
        let mut last: Option<f64> = None;
        let n = s.values.len();
        for i in 0..n {
            match s.values[i] {
                None => nones += 1,
                Some(v) => {
                    if nones > 0
                        && nones <= limit
                        && let Some(l) = last
                    {
                        s.values[i - nones..i].iter_mut().for_each(|x| *x = Some(l));
                    }
                    nones = 0;
                    last = Some(v);
                }
            }
        }
        if nones > 0
            && nones <= limit
            && let Some(l) = last
        {
            s.values[n - nones..].iter_mut().for_each(|x| *x = Some(l));
        }
        format!("keepLastValue({})", s.name)
    })
}
