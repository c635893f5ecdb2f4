//! The functions, by name, with graphite-web 1.1.8's semantics (nulls, naming, tags).

mod combine;
mod filter;
mod transform;

use crate::Error;
use crate::eval::Args;
use crate::series::{Series, len_f};

/// A parameter: name, type, required.
pub type Param = (&'static str, &'static str, bool);

/// A function: name, group, parameters.
pub type Spec = (&'static str, &'static str, &'static [Param]);

/// Every implemented function: name, group (as `/functions` shows), parameters.
pub const FUNCTIONS: &[Spec] = &[
    (
        "alias",
        "Alias",
        &[
            ("seriesList", "seriesList", true),
            ("newName", "string", true),
        ],
    ),
    (
        "aliasByNode",
        "Alias",
        &[
            ("seriesList", "seriesList", true),
            ("nodes", "nodeOrTag", true),
        ],
    ),
    (
        "aliasByMetric",
        "Alias",
        &[("seriesList", "seriesList", true)],
    ),
    (
        "aliasSub",
        "Alias",
        &[
            ("seriesList", "seriesList", true),
            ("search", "string", true),
            ("replace", "string", true),
        ],
    ),
    (
        "sumSeries",
        "Combine",
        &[("seriesLists", "seriesList", true)],
    ),
    (
        "averageSeries",
        "Combine",
        &[("seriesLists", "seriesList", true)],
    ),
    (
        "maxSeries",
        "Combine",
        &[("seriesLists", "seriesList", true)],
    ),
    (
        "minSeries",
        "Combine",
        &[("seriesLists", "seriesList", true)],
    ),
    (
        "diffSeries",
        "Combine",
        &[("seriesLists", "seriesList", true)],
    ),
    (
        "multiplySeries",
        "Combine",
        &[("seriesLists", "seriesList", true)],
    ),
    (
        "divideSeries",
        "Combine",
        &[
            ("dividendSeriesList", "seriesList", true),
            ("divisorSeries", "seriesList", true),
        ],
    ),
    (
        "asPercent",
        "Combine",
        &[("seriesList", "seriesList", true), ("total", "any", false)],
    ),
    (
        "countSeries",
        "Combine",
        &[("seriesLists", "seriesList", false)],
    ),
    (
        "sumSeriesWithWildcards",
        "Combine",
        &[
            ("seriesList", "seriesList", true),
            ("position", "node", false),
        ],
    ),
    (
        "averageSeriesWithWildcards",
        "Combine",
        &[
            ("seriesList", "seriesList", true),
            ("position", "node", false),
        ],
    ),
    (
        "groupByNode",
        "Combine",
        &[
            ("seriesList", "seriesList", true),
            ("nodeNum", "nodeOrTag", true),
            ("callback", "aggFunc", false),
        ],
    ),
    (
        "groupByNodes",
        "Combine",
        &[
            ("seriesList", "seriesList", true),
            ("callback", "aggFunc", true),
            ("nodes", "nodeOrTag", false),
        ],
    ),
    (
        "percentileOfSeries",
        "Combine",
        &[
            ("seriesList", "seriesList", true),
            ("n", "float", true),
            ("interpolate", "boolean", false),
        ],
    ),
    (
        "scale",
        "Transform",
        &[
            ("seriesList", "seriesList", true),
            ("factor", "float", true),
        ],
    ),
    (
        "scaleToSeconds",
        "Transform",
        &[
            ("seriesList", "seriesList", true),
            ("seconds", "float", true),
        ],
    ),
    (
        "offset",
        "Transform",
        &[
            ("seriesList", "seriesList", true),
            ("factor", "float", true),
        ],
    ),
    (
        "absolute",
        "Transform",
        &[("seriesList", "seriesList", true)],
    ),
    (
        "derivative",
        "Transform",
        &[("seriesList", "seriesList", true)],
    ),
    (
        "nonNegativeDerivative",
        "Transform",
        &[
            ("seriesList", "seriesList", true),
            ("maxValue", "float", false),
            ("minValue", "float", false),
        ],
    ),
    (
        "perSecond",
        "Transform",
        &[
            ("seriesList", "seriesList", true),
            ("maxValue", "float", false),
            ("minValue", "float", false),
        ],
    ),
    (
        "integral",
        "Transform",
        &[("seriesList", "seriesList", true)],
    ),
    (
        "delay",
        "Transform",
        &[
            ("seriesList", "seriesList", true),
            ("steps", "integer", true),
        ],
    ),
    (
        "timeShift",
        "Transform",
        &[
            ("seriesList", "seriesList", true),
            ("timeShift", "interval", true),
            ("resetEnd", "boolean", false),
        ],
    ),
    (
        "summarize",
        "Transform",
        &[
            ("seriesList", "seriesList", true),
            ("intervalString", "interval", true),
            ("func", "aggFunc", false),
            ("alignToFrom", "boolean", false),
        ],
    ),
    (
        "hitcount",
        "Transform",
        &[
            ("seriesList", "seriesList", true),
            ("intervalString", "interval", true),
        ],
    ),
    (
        "transformNull",
        "Transform",
        &[
            ("seriesList", "seriesList", true),
            ("default", "float", false),
        ],
    ),
    (
        "keepLastValue",
        "Transform",
        &[
            ("seriesList", "seriesList", true),
            ("limit", "integer", false),
        ],
    ),
    (
        "consolidateBy",
        "Special",
        &[
            ("seriesList", "seriesList", true),
            ("consolidationFunc", "string", true),
        ],
    ),
    (
        "movingAverage",
        "Calculate",
        &[
            ("seriesList", "seriesList", true),
            ("windowSize", "intOrInterval", true),
        ],
    ),
    (
        "movingSum",
        "Calculate",
        &[
            ("seriesList", "seriesList", true),
            ("windowSize", "intOrInterval", true),
        ],
    ),
    (
        "movingMax",
        "Calculate",
        &[
            ("seriesList", "seriesList", true),
            ("windowSize", "intOrInterval", true),
        ],
    ),
    (
        "movingMin",
        "Calculate",
        &[
            ("seriesList", "seriesList", true),
            ("windowSize", "intOrInterval", true),
        ],
    ),
    (
        "nPercentile",
        "Calculate",
        &[("seriesList", "seriesList", true), ("n", "float", true)],
    ),
    ("constantLine", "Special", &[("value", "float", true)]),
    (
        "removeBelowValue",
        "Filter Data",
        &[("seriesList", "seriesList", true), ("n", "float", true)],
    ),
    (
        "removeAboveValue",
        "Filter Data",
        &[("seriesList", "seriesList", true), ("n", "float", true)],
    ),
    (
        "highestCurrent",
        "Filter Series",
        &[("seriesList", "seriesList", true), ("n", "integer", true)],
    ),
    (
        "highestAverage",
        "Filter Series",
        &[("seriesList", "seriesList", true), ("n", "integer", true)],
    ),
    (
        "highestMax",
        "Filter Series",
        &[("seriesList", "seriesList", true), ("n", "integer", true)],
    ),
    (
        "lowestCurrent",
        "Filter Series",
        &[("seriesList", "seriesList", true), ("n", "integer", true)],
    ),
    (
        "lowestAverage",
        "Filter Series",
        &[("seriesList", "seriesList", true), ("n", "integer", true)],
    ),
    (
        "limit",
        "Filter Series",
        &[("seriesList", "seriesList", true), ("n", "integer", true)],
    ),
    (
        "exclude",
        "Filter Series",
        &[
            ("seriesList", "seriesList", true),
            ("pattern", "string", true),
        ],
    ),
    (
        "grep",
        "Filter Series",
        &[
            ("seriesList", "seriesList", true),
            ("pattern", "string", true),
        ],
    ),
    (
        "sortByName",
        "Sorting",
        &[
            ("seriesList", "seriesList", true),
            ("natural", "boolean", false),
            ("reverse", "boolean", false),
        ],
    ),
    (
        "sortByMaxima",
        "Sorting",
        &[("seriesList", "seriesList", true)],
    ),
    (
        "sortByTotal",
        "Sorting",
        &[("seriesList", "seriesList", true)],
    ),
    ("stacked", "Graph", &[("seriesLists", "seriesList", true)]),
    (
        "legendValue",
        "Graph",
        &[
            ("seriesList", "seriesList", true),
            ("valuesTypes", "string", false),
        ],
    ),
    (
        "color",
        "Graph",
        &[
            ("seriesList", "seriesList", true),
            ("theColor", "string", true),
        ],
    ),
    (
        "lineWidth",
        "Graph",
        &[("seriesList", "seriesList", true), ("width", "float", true)],
    ),
];

/// Calls a function by name.
///
/// # Errors
/// 400 naming an unknown function, or a bad argument.
pub fn call(name: &str, a: &Args<'_>) -> Result<Vec<Series>, Error> {
    if let Some(r) = combine::call(name, a) {
        return r;
    }
    if let Some(r) = transform::call(name, a) {
        return r;
    }
    if let Some(r) = filter::call(name, a) {
        return r;
    }
    Err(Error::bad_request(format!("unknown function {name}")))
}

/// An aggregation function over a row or a window (graphite-web's `aggFuncs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFn {
    /// Mean of the non-null values.
    Average,
    /// Median.
    Median,
    /// Sum.
    Sum,
    /// Smallest.
    Min,
    /// Largest.
    Max,
    /// The first minus the rest.
    Diff,
    /// Standard deviation.
    Stddev,
    /// Number of non-null values.
    Count,
    /// Largest minus smallest.
    Range,
    /// Product (null when any value is null).
    Multiply,
    /// Last non-null value.
    Last,
}

impl AggFn {
    /// By graphite-web's name or alias.
    ///
    /// # Errors
    /// 400 for an unknown name.
    pub fn parse(s: &str) -> Result<AggFn, Error> {
        Ok(match s {
            "average" | "avg" => AggFn::Average,
            "median" => AggFn::Median,
            "sum" | "total" => AggFn::Sum,
            "min" => AggFn::Min,
            "max" => AggFn::Max,
            "diff" => AggFn::Diff,
            "stddev" => AggFn::Stddev,
            "count" => AggFn::Count,
            "range" | "rangeOf" => AggFn::Range,
            "multiply" => AggFn::Multiply,
            "last" | "current" => AggFn::Last,
            other => {
                return Err(Error::bad_request(format!(
                    "Unsupported aggregation function: {other}"
                )));
            }
        })
    }

    /// Applies to values with nulls; `None` when there is nothing to fold.
    pub fn apply(self, row: &[Option<f64>]) -> Option<f64> {
        let nn: Vec<f64> = row.iter().flatten().copied().collect();
        if self == AggFn::Multiply {
            if nn.is_empty() || nn.len() != row.len() {
                return None;
            }
            return Some(nn.iter().product());
        }
        if self == AggFn::Count {
            return (!nn.is_empty()).then(|| len_f(nn.len()));
        }
        if nn.is_empty() {
            return None;
        }
        Some(match self {
            AggFn::Average => nn.iter().sum::<f64>() / len_f(nn.len()),
            AggFn::Median => {
                let mut s = nn.clone();
                s.sort_by(f64::total_cmp);
                let mid = s.len() / 2;
                if s.len().is_multiple_of(2) {
                    f64::midpoint(s[mid - 1], s[mid])
                } else {
                    s[mid]
                }
            }
            AggFn::Sum => nn.iter().sum(),
            AggFn::Min => nn.iter().copied().fold(f64::INFINITY, f64::min),
            AggFn::Max => nn.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            AggFn::Diff => nn[0] - nn[1..].iter().sum::<f64>(),
            AggFn::Stddev => {
                let m = nn.iter().sum::<f64>() / len_f(nn.len());
                (nn.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / len_f(nn.len())).sqrt()
            }
            AggFn::Range => {
                nn.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                    - nn.iter().copied().fold(f64::INFINITY, f64::min)
            }
            AggFn::Last => nn[nn.len() - 1],
            AggFn::Multiply | AggFn::Count => unreachable!("handled above"),
        })
    }
}

/// Rows across series by index (Python's `izip_longest` over consolidated points).
pub fn rows(list: &[Series]) -> Vec<Vec<Option<f64>>> {
    let pts: Vec<Vec<Option<f64>>> = list.iter().map(Series::points).collect();
    let n = pts.iter().map(Vec::len).max().unwrap_or(0);
    (0..n)
        .map(|i| pts.iter().map(|p| p.get(i).copied().flatten()).collect())
        .collect()
}

/// `f` over each row of the series (zipped by index, as [`rows`]). Sums, means,
/// extremes, counts and last values fold column by column without building the rows
/// (a thousand series of a day at 10 s are 8.6 million values); the others go row by row.
pub fn fold_rows(list: &[Series], f: AggFn) -> Vec<Option<f64>> {
    let columnwise = matches!(
        f,
        AggFn::Sum | AggFn::Average | AggFn::Min | AggFn::Max | AggFn::Count | AggFn::Last
    );
    if !columnwise || list.iter().any(|s| s.values_per_point > 1) {
        return rows(list).iter().map(|r| f.apply(r)).collect();
    }
    let n = list.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let mut acc = vec![0.0f64; n];
    let mut count = vec![0u32; n];
    for s in list {
        for (i, v) in s.values.iter().enumerate() {
            let Some(v) = *v else { continue };
            let a = &mut acc[i];
            *a = match f {
                AggFn::Sum | AggFn::Average => *a + v,
                AggFn::Min if count[i] > 0 => a.min(v),
                AggFn::Max if count[i] > 0 => a.max(v),
                _ => v,
            };
            count[i] += 1;
        }
    }
    acc.into_iter()
        .zip(count)
        .map(|(a, c)| {
            (c > 0).then(|| match f {
                AggFn::Average => a / f64::from(c),
                AggFn::Count => f64::from(c),
                _ => a,
            })
        })
        .collect()
}
