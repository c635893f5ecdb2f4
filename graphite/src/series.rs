//! A series as graphite-web holds it: values at `start + i * step` for `i` in
//! `0..len`, `end` just past the last, `None` for a missing value.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// How points are folded when a series is consolidated (`consolidateBy`,
/// `maxDataPoints`, normalising series of different steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consolidate {
    /// Mean of the non-null values (the default).
    Average,
    /// Sum.
    Sum,
    /// Smallest.
    Min,
    /// Largest.
    Max,
    /// First non-null.
    First,
    /// Last non-null.
    Last,
}

impl Consolidate {
    /// From graphite-web's names (`avg` is `average`).
    pub fn parse(s: &str) -> Option<Consolidate> {
        Some(match s {
            "average" | "avg" => Consolidate::Average,
            "sum" => Consolidate::Sum,
            "min" => Consolidate::Min,
            "max" => Consolidate::Max,
            "first" => Consolidate::First,
            "last" => Consolidate::Last,
            _ => return None,
        })
    }

    /// Folds non-null values (never empty).
    pub fn fold(self, v: &[f64]) -> f64 {
        match self {
            Consolidate::Average => v.iter().sum::<f64>() / len_f(v.len()),
            Consolidate::Sum => v.iter().sum(),
            Consolidate::Min => v.iter().copied().fold(f64::INFINITY, f64::min),
            Consolidate::Max => v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Consolidate::First => v[0],
            Consolidate::Last => v[v.len() - 1],
        }
    }
}

/// A count as an f64 (counts stay far below 2^53).
#[allow(clippy::cast_precision_loss)]
pub fn len_f(n: usize) -> f64 {
    n as f64
}

/// One series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The name shown (`target` in JSON).
    pub name: String,
    /// The path expression it was fetched by (for naming aggregates).
    pub path_expr: String,
    /// Time of the first value.
    pub start: i64,
    /// Just past the last value's time.
    pub end: i64,
    /// Seconds between values.
    pub step: i64,
    /// The values.
    pub values: Vec<Option<f64>>,
    /// Tags (`name` at least).
    pub tags: BTreeMap<String, String>,
    /// Consolidation function.
    pub consolidate: Consolidate,
    /// Values folded into each point when drawn or answered (1: none).
    pub values_per_point: usize,
}

impl Series {
    /// A fetched series: tags hold its name.
    pub fn new(name: &str, start: i64, step: i64, values: Vec<Option<f64>>) -> Series {
        let end = start + step * i64::try_from(values.len()).unwrap_or(0);
        let mut tags = BTreeMap::new();
        tags.insert("name".to_string(), name.to_string());
        Series {
            name: name.to_string(),
            path_expr: name.to_string(),
            start,
            end,
            step,
            values,
            tags,
            consolidate: Consolidate::Average,
            values_per_point: 1,
        }
    }

    /// A derived series: same times, new name and values, tags copied.
    pub fn derive(&self, name: String, values: Vec<Option<f64>>) -> Series {
        // Field by field: `..self.clone()` would copy the old values only to drop them.
        Series {
            name: name.clone(),
            path_expr: name,
            start: self.start,
            end: self.end,
            step: self.step,
            values,
            tags: self.tags.clone(),
            consolidate: self.consolidate,
            values_per_point: self.values_per_point,
        }
    }

    /// Sets a tag.
    pub fn tag(&mut self, k: &str, v: impl Into<String>) {
        self.tags.insert(k.to_string(), v.into());
    }

    /// The values as answered: consolidated by `values_per_point` (graphite-web's
    /// generator: a trailing partial group yields one more value); borrowed when
    /// nothing is consolidated.
    pub fn points(&self) -> Cow<'_, [Option<f64>]> {
        let vpp = self.values_per_point.max(1);
        if vpp == 1 {
            return Cow::Borrowed(&self.values);
        }
        self.values
            .chunks(vpp)
            .map(|c| {
                let nn: Vec<f64> = c.iter().flatten().copied().collect();
                (!nn.is_empty()).then(|| self.consolidate.fold(&nn))
            })
            .collect()
    }

    /// `(value, time)` pairs as graphite-web's `datapoints()`: times from `start`
    /// through `end` inclusive at `step * values_per_point`, zipped with the points.
    pub fn datapoints(&self) -> Vec<(Option<f64>, i64)> {
        let spp = self.step * i64::try_from(self.values_per_point.max(1)).unwrap_or(1);
        let pts = self.points();
        let mut out = Vec::with_capacity(pts.len());
        let mut t = self.start;
        for &v in pts.iter() {
            if t > self.end {
                break;
            }
            out.push((v, t));
            t += spp;
        }
        out
    }

    /// Non-null values.
    pub fn non_null(&self) -> impl Iterator<Item = f64> + '_ {
        self.values.iter().flatten().copied()
    }
}

/// Python's `str()` of a float: `2.5`, `-3.0`, `1e+20`.
pub fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    if x.fract() == 0.0 && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// A number argument as Python shows it: an integer as written, a float as `str()`.
pub fn py_num(x: f64, int: bool) -> String {
    if int && x.fract() == 0.0 && x.abs() < 1e16 {
        format!("{x:.0}")
    } else {
        py_float(x)
    }
}

/// C's `%g` (six significant digits, trailing zeros dropped).
pub fn fmt_g(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    if !x.is_finite() {
        return py_float(x);
    }
    #[allow(clippy::cast_possible_truncation)]
    let exp = x.abs().log10().floor() as i32;
    if !(-4..6).contains(&exp) {
        let s = format!("{x:.5e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = m.trim_end_matches('0').trim_end_matches('.');
        let e: i32 = e.parse().unwrap_or(0);
        return format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let decimals = usize::try_from(5 - exp).unwrap_or(0);
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

/// Brings series to one step (the least common multiple, each consolidated by its
/// function) and one range, as graphite-web's `normalize`: `(start, end, step)`.
pub fn normalize(list: &mut [Series]) -> (i64, i64, i64) {
    let step = list
        .iter()
        .map(|s| s.step)
        .fold(1, |acc, s| acc / gcd(acc, s) * s);
    for s in list.iter_mut() {
        let vpp = usize::try_from(step / s.step).unwrap_or(1);
        s.values_per_point = vpp;
    }
    let start = list.iter().map(|s| s.start).min().unwrap_or(0);
    let end = list.iter().map(|s| s.end).max().unwrap_or(0);
    let end = end - (end - start) % step;
    (start, end, step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_python() {
        assert_eq!(py_float(2.5), "2.5");
        assert_eq!(py_float(-3.0), "-3.0");
        assert_eq!(py_num(5.0, true), "5");
        assert_eq!(fmt_g(2.5), "2.5");
        assert_eq!(fmt_g(2.0), "2");
        assert_eq!(fmt_g(-3.0), "-3");
        assert_eq!(fmt_g(0.000_012_5), "1.25e-05");
        assert_eq!(fmt_g(1_234_567.0), "1.23457e+06");
    }

    #[test]
    fn consolidates_with_a_trailing_group() {
        let mut s = Series::new("a", 0, 10, vec![Some(1.0), None, Some(3.0), None, None]);
        s.values_per_point = 2;
        assert_eq!(s.points().into_owned(), vec![Some(1.0), Some(3.0), None]);
        assert_eq!(
            s.datapoints(),
            vec![(Some(1.0), 0), (Some(3.0), 20), (None, 40)]
        );
    }
}
