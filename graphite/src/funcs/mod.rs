//! The functions, by name, with graphite-web 1.1.8's semantics (nulls, naming, tags).

mod agg;
mod combine;
mod common;
mod filter;
mod transform;

use crate::Error;
use crate::args::Args;
use crate::series::Series;

pub use agg::{AggFn, ColumnFold};
pub use common::{fold_rows, rows};

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
