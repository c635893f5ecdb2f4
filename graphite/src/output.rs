//! The answers: `format=json|csv|raw`, `maxDataPoints`, `noNullPoints`, and the
//! `/functions` catalogue, as graphite-web 1.1.8 writes them.

use serde_json::{Value, json};

use crate::series::Series;

/// graphite-web's `maxDataPoints` for JSON: each series longer than `max` points over
/// the request's whole span is consolidated by its function, its start nudged so that
/// bands line up from one refresh to the next. (graphite-web drops one value fewer than
/// the nudge skips, `range(1, valuesToLose)`; this follows it, so the answers agree.)
pub fn consolidate(list: &mut [Series], max: usize) {
    if list.is_empty() || max == 0 {
        return;
    }
    let start = list.iter().map(|s| s.start).min().unwrap_or(0);
    let end = list.iter().map(|s| s.end).max().unwrap_or(0);
    let range = end - start;
    let max_i = i64::try_from(max).unwrap_or(i64::MAX);
    for s in list.iter_mut() {
        if max == 1 {
            s.values_per_point = s.values.len().max(1);
            continue;
        }
        let step = s.step.max(1);
        // numberOfDataPoints = timeRange/step (a float in Python).
        if max_i * step >= range {
            continue;
        }
        let vpp = (range + max_i * step - 1) / (max_i * step);
        let spp = vpp * step;
        let nudge = spp + s.start.rem_euclid(step) - s.start.rem_euclid(spp);
        s.start += nudge;
        let lose = usize::try_from(nudge / step).unwrap_or(0);
        let drop = lose.saturating_sub(1).min(s.values.len());
        s.values.drain(..drop);
        s.values_per_point = usize::try_from(vpp).unwrap_or(1);
    }
}

/// A number as JSON (non-finite values as `null`).
fn num(v: Option<f64>) -> Value {
    v.filter(|v| v.is_finite())
        .map_or(Value::Null, |v| json!(v))
}

/// `format=json`: `[{"target", "tags", "datapoints": [[value|null, ts], ...]}]`.
pub fn json(list: &[Series], no_null: bool) -> Value {
    let mut out = Vec::new();
    for s in list {
        let mut pts: Vec<(Option<f64>, i64)> = s.datapoints();
        if no_null {
            pts.retain(|(v, _)| v.is_some_and(f64::is_finite));
            if pts.is_empty() {
                continue;
            }
        }
        out.push(json!({
            "target": s.name,
            "tags": s.tags,
            "datapoints": pts.into_iter().map(|(v, t)| json!([num(v), t])).collect::<Vec<_>>(),
        }));
    }
    Value::Array(out)
}

fn py_value(v: Option<f64>) -> String {
    v.map_or_else(|| "None".into(), crate::series::py_float)
}

/// `format=raw`: `name,start,end,step|v,v,...` per series, one a line.
pub fn raw(list: &[Series]) -> String {
    let mut out = String::new();
    for s in list {
        let vals: Vec<String> = s.points().iter().copied().map(py_value).collect();
        out.push_str(&format!(
            "{},{},{},{}|{}\n",
            s.name,
            s.start,
            s.end,
            s.step * i64::try_from(s.values_per_point.max(1)).unwrap_or(1),
            vals.join(",")
        ));
    }
    out
}

/// `format=csv`: `name,YYYY-MM-DD HH:MM:SS,value` (UTC; empty for null), one a line.
pub fn csv(list: &[Series]) -> String {
    let mut out = String::new();
    for s in list {
        for (i, v) in s.values.iter().enumerate() {
            let t = s.start + i64::try_from(i).unwrap_or(0) * s.step;
            let name = if s.name.contains([',', '"']) {
                format!("\"{}\"", s.name.replace('"', "\"\""))
            } else {
                s.name.clone()
            };
            let v = v.map_or_else(String::new, crate::series::py_float);
            out.push_str(&format!("{name},{},{v}\r\n", utc(t)));
        }
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn utc(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = treestat_model::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// `/functions`: the implemented functions as graphite-web describes them
/// (`{name: {"name", "function", "description", "module", "group", "params"}}`).
pub fn functions() -> Value {
    let mut map = serde_json::Map::new();
    for (name, group, params) in crate::funcs::FUNCTIONS {
        let sig: Vec<String> = params.iter().map(|p| p.0.to_string()).collect();
        map.insert(
            (*name).to_string(),
            json!({
                "name": name,
                "function": format!("{name}({})", sig.join(", ")),
                "description": format!("{name}: as graphite-web 1.1 (treestat implements it natively)"),
                "module": "graphite.render.functions",
                "group": group,
                "params": params.iter().map(|(n, t, r)| {
                    let mut p = json!({"name": n, "type": t, "required": r});
                    if *n == "seriesLists" || *n == "nodes" || *n == "position" || *n == "valuesTypes" {
                        p["multiple"] = json!(true);
                    }
                    p
                }).collect::<Vec<_>>(),
            }),
        );
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_times() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_704_067_200 + 48_600), "2024-01-01 13:30:00");
    }

    #[test]
    fn consolidates_like_graphite_web() {
        // 180 values at 60 s from a start 180 s past a 240 s boundary.
        let start = 1_796_545_020;
        let mut l = vec![Series::new(
            "a",
            start,
            60,
            (0..180).map(|i| Some(f64::from(i))).collect(),
        )];
        consolidate(&mut l, 50);
        let pts = l[0].datapoints();
        assert_eq!(l[0].values_per_point, 4);
        assert_eq!(pts[0].1, start + 180);
        assert_eq!(pts.len(), 45);
    }
}
