//! The port-8007 line format (TCP and UDP): a JSON tree, a JSON array of trees, or a
//! SimpleStats tuple `["name", timestamp, value]`.
//!
//! The kind of a line is decided by its first bytes, so a tree document is parsed once,
//! straight into a [`PushDoc`]: `{` is a tree, `[` followed by `"` is a tuple, any other
//! `[` is an array of trees (so `[1,2,3]` is refused as "not a JSON tree").
//!
//! SimpleStats names: the name is ONE key as SimpleStats had it (dots stay inside the
//! key: `"web.cpu"` is the leaf `web.cpu`), except that `,`, treestat's level
//! separator, splits it into levels (`"web,cpu"` is `web` then `cpu`). Like
//! SimpleStats (which called Python's `float()` on them), the time stamp and value may
//! also be numeric strings; fractional time stamps are floored to whole seconds.

use serde_json::Value;

use super::keys::{finite, short, timestamp};
use super::metrics::{LineError, Reject};
use crate::batch::Batch;
use crate::engine::{Engine, PushSummary};
use crate::path::check_path;
use crate::push::PushDoc;

/// The line SimpleStats sent on connect (and after each bad line); treestat sends it on
/// connect only and answers bad lines with `--ERR <reason>`.
pub const HINT: &str = "--Hint: send data of the form [name:str, timestamp:float, data:float]";

/// One parsed line of the 8007 protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// A tree or an array of trees, validated.
    Tree(PushDoc),
    /// A SimpleStats tuple: one time-stamped sample.
    Tuple {
        /// Comma-joined path.
        path: String,
        /// Unix seconds.
        ts: i64,
        /// The sample.
        value: f64,
    },
}

/// Parses one line (without its line ending).
///
/// # Errors
/// `BadDocument` for anything that is not one of the three forms, `BadKey`,
/// `BadValue` and `TooDeep` naming the place.
pub fn parse_line(line: &str, max_depth: usize) -> Result<Line, LineError> {
    let t = line.trim();
    let mut bytes = t.bytes();
    match bytes.next() {
        Some(b'{') => Ok(Line::Tree(PushDoc::from_json(t.as_bytes(), max_depth)?)),
        Some(b'[') => match bytes.find(|b| !b.is_ascii_whitespace()) {
            Some(b'"') => parse_tuple(t, max_depth),
            _ => Ok(Line::Tree(PushDoc::from_json(t.as_bytes(), max_depth)?)),
        },
        None => Err(LineError::new(Reject::BadLine, "empty line")),
        Some(_) => Err(LineError::new(
            Reject::BadDocument,
            format!(
                "expected a JSON tree, an array of trees or [name, timestamp, value], got {}",
                short(t)
            ),
        )),
    }
}

/// Parses one line of the 8007 protocol and merges it into `engine`, as the server's
/// TCP listener does for each line (and `treestat relay` for its `tcp://` and `udp://`
/// listeners): a tree document all or nothing, a tuple as one sample filed at its own
/// time stamp (under the engine's default action).
///
/// A line whose every sample the engine skipped is refused (`FutureTime`, or
/// `BadValue` for a fold that would not be finite); one that landed in part is `Ok`
/// with the skipped samples counted in the summary.
///
/// # Errors
/// As [`parse_line`], and the engine's refusal (limits, a future `timestamp`).
pub fn apply_line(engine: &Engine, line: &str) -> Result<PushSummary, LineError> {
    apply_parsed(engine, parse_line(line, engine.config().limits.max_depth)?)
}

/// Merges a line [`parse_line`] gave (with the engine's `max_depth`) into `engine`, as
/// [`apply_line`] does.
///
/// # Errors
/// The engine's refusal (limits, a future `timestamp`), or every sample skipped.
pub fn apply_parsed(engine: &Engine, line: Line) -> Result<PushSummary, LineError> {
    let summary = match line {
        Line::Tree(doc) => engine.push_doc(&doc)?,
        Line::Tuple { path, ts, value } => {
            let mut b = Batch::new();
            b.sample_at(&path, ts, value, None);
            engine.apply(&b)?
        }
    };
    if summary.samples == 0 && summary.refused_future > 0 {
        return Err(LineError::new(
            Reject::FutureTime,
            format!(
                "time stamp is more than {}s ahead of the server's clock",
                engine.config().max_future_secs()
            ),
        ));
    }
    if summary.samples == 0 && summary.refused_nonfinite > 0 {
        return Err(LineError::new(
            Reject::BadValue,
            "the value would make the total not a finite number",
        ));
    }
    Ok(summary)
}

/// One item of a tuple as it came: the messages name what was wrong in the sender's
/// terms (which item, what it should be, what it was), not in serde's.
fn number(v: &Value, what: &str, item: usize) -> Result<f64, LineError> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| {
            LineError::new(
                Reject::BadValue,
                format!("the {what} (item {item}) is out of range"),
            )
        }),
        Value::String(s) => finite(s.trim(), what),
        other => Err(LineError::new(
            Reject::BadValue,
            format!(
                "the {what} (item {item}) must be a number or a numeric string, got {}",
                kind_of(other)
            ),
        )),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse_tuple(t: &str, max_depth: usize) -> Result<Line, LineError> {
    const FORM: &str = "a SimpleStats tuple is [name, timestamp, value]";
    let items: Vec<Value> = serde_json::from_str(t).map_err(|e| {
        LineError::new(Reject::BadDocument, format!("{FORM}: not valid JSON ({e})"))
    })?;
    let [name, ts, value] = <[Value; 3]>::try_from(items).map_err(|items| {
        LineError::new(
            Reject::BadDocument,
            format!("{FORM}: got {} items", items.len()),
        )
    })?;
    let Value::String(name) = name else {
        return Err(LineError::new(
            Reject::BadDocument,
            format!(
                "{FORM}: the name (item 1) must be a string, got {}",
                kind_of(&name)
            ),
        ));
    };
    let ts = timestamp(number(&ts, "time stamp", 2)?)?;
    let value = number(&value, "value", 3)?;
    check_path(&name)?;
    let depth = name.split(',').count();
    if depth > max_depth {
        return Err(LineError::new(
            Reject::TooDeep,
            format!("name {} has more than {max_depth} levels", short(&name)),
        ));
    }
    Ok(Line::Tuple {
        path: name,
        ts,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Line, LineError> {
        parse_line(s, 32)
    }

    #[test]
    fn tuples() {
        assert_eq!(
            p(r#"["var1", 1322721979, 8]"#).unwrap(),
            Line::Tuple {
                path: "var1".into(),
                ts: 1_322_721_979,
                value: 8.0
            }
        );
        assert_eq!(
            p(r#"  ["web.cpu,idle", "1322721979.5", "2.5"] "#).unwrap(),
            Line::Tuple {
                path: "web.cpu,idle".into(),
                ts: 1_322_721_979,
                value: 2.5
            }
        );
    }

    #[test]
    fn trees() {
        assert!(matches!(p(r#"{"a":1}"#).unwrap(), Line::Tree(d) if d.trees.len() == 1));
        assert!(matches!(p(r#"[{"a":1},{"b":2}]"#).unwrap(), Line::Tree(d) if d.trees.len() == 2));
        assert!(matches!(p("[]").unwrap(), Line::Tree(d) if d.trees.is_empty()));
    }

    #[test]
    fn the_issue_s_bad_lines_are_refused() {
        for bad in ["invalid data", "[1,2,3]", r#"["v",1]"#, r#"["v",1,"x"]"#] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert_eq!(p(r#"["v",1,"x"]"#).unwrap_err().reason, Reject::BadValue);
        assert_eq!(p("invalid data").unwrap_err().reason, Reject::BadDocument);
        assert_eq!(p("[1,2,3]").unwrap_err().reason, Reject::BadDocument);
        assert_eq!(p(r#"["v",1,2,3]"#).unwrap_err().reason, Reject::BadDocument);
        assert_eq!(p("").unwrap_err().reason, Reject::BadLine);
    }

    /// Regression: `--ERR` leaked serde's "did not match any variant of untagged enum
    /// Field"; the messages now say which item is wrong and what it should be.
    #[test]
    fn tuple_errors_speak_the_sender_s_terms() {
        let msg = |s: &str| p(s).unwrap_err().message;
        for (line, says) in [
            (
                r#"["v", true, 1]"#,
                "time stamp (item 2) must be a number or a numeric string, got a boolean",
            ),
            (
                r#"["v", 1, null]"#,
                "value (item 3) must be a number or a numeric string, got null",
            ),
            (
                r#"["v", 1, [2]]"#,
                "value (item 3) must be a number or a numeric string, got an array",
            ),
            (r#"["v", 1]"#, "[name, timestamp, value]: got 2 items"),
            (r#"["v", 1, 2, 3]"#, "got 4 items"),
            (r#"["v", 1, 2"#, "not valid JSON"),
        ] {
            let m = msg(line);
            assert!(m.contains(says), "{line}: {m}");
            assert!(
                !m.contains("untagged") && !m.contains("variant"),
                "{line}: {m}"
            );
        }
        assert!(msg(r#"[1, 2, 3]"#).contains("tree"));
        assert!(msg(r#"["v", "abc", 1]"#).contains("time stamp"));
    }

    #[test]
    fn hostile_lines() {
        assert_eq!(
            p(r#"["a,b\u0001", 1, 2]"#).unwrap_err().reason,
            Reject::BadKey
        );
        assert_eq!(p(r#"["", 1, 2]"#).unwrap_err().reason, Reject::BadKey);
        assert_eq!(p(r#"{"a,b":1}"#).unwrap_err().reason, Reject::BadKey);
        assert_eq!(
            p(r#"["v", "NaN", 2]"#).unwrap_err().reason,
            Reject::BadValue
        );
        assert_eq!(
            p(r#"["v", 1, "Infinity"]"#).unwrap_err().reason,
            Reject::BadValue
        );
        assert_eq!(p(r#"["v", -1, 2]"#).unwrap_err().reason, Reject::BadValue);
        assert_eq!(p(r#"{"a":NaN}"#).unwrap_err().reason, Reject::BadDocument);
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(p(&deep).unwrap_err().reason, Reject::BadDocument);
        let deep = format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
        assert_eq!(p(&deep).unwrap_err().reason, Reject::BadDocument);
        let deep_name = vec!["k"; 40].join(",");
        assert_eq!(
            p(&format!(r#"["{deep_name}", 1, 2]"#)).unwrap_err().reason,
            Reject::TooDeep
        );
        match p(r#"["v", 1, -0.0]"#).unwrap() {
            Line::Tuple { value, .. } => assert_eq!(value, 0.0),
            Line::Tree(_) => panic!("a tuple"),
        }
    }
}
