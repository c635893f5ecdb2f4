//! The shard side of a read front's `partial=1` reads (`/api/q` and `/events`,
//! docs/API.md "Shards: `partial=1`"): the selected leaves unfolded, as JSON rows.

use serde_json::Value;
use treestat_engine::query::{PartialRow, PartialStatRow};
use treestat_engine::sketch::Sketch;

use crate::extract::num;

/// The shard side of a read front (`?partial=1`, docs/API.md): `{"rows": [[path,
/// value, ts], ...]}`, a histogram leaf under a quantile fold `[path, value, ts,
/// "<sketch as hex>", min, max]`.
pub(crate) fn partial_rows(rows: &[PartialRow]) -> Value {
    answer(
        rows.iter()
            .map(|r| row(&r.path, num(r.value), r.ts, r.sketch.as_ref())),
    )
}

/// `?partial=1&stat=` (docs/API.md): `{"rows": [[path, [value per stat], ts], ...]}`,
/// a value `null` where the leaf has no such stat; under a quantile fold a histogram
/// leaf's row adds its sketch, min and max as [`partial_rows`] does.
pub(crate) fn partial_stat_rows(rows: &[PartialStatRow]) -> Value {
    answer(rows.iter().map(|r| {
        let values = r
            .values
            .iter()
            .map(|v| v.map_or(Value::Null, num))
            .collect();
        row(&r.path, Value::Array(values), r.ts, r.sketch.as_ref())
    }))
}

fn answer(rows: impl Iterator<Item = Value>) -> Value {
    serde_json::json!({ "rows": Value::Array(rows.collect()) })
}

/// One row: path, value, time stamp, and the sketch with its min and max if any.
fn row(path: &str, value: Value, ts: i64, sketch: Option<&(Sketch, f64, f64)>) -> Value {
    let mut row = vec![Value::from(path), value, Value::from(ts)];
    if let Some((sketch, min, max)) = sketch {
        let mut bytes = Vec::new();
        sketch.encode(&mut bytes);
        row.extend([Value::from(hex(&bytes)), num(*min), num(*max)]);
    }
    Value::Array(row)
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}
