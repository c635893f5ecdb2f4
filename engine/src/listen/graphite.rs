//! Graphite's plaintext protocol: `a.b.c value [timestamp]`, fields separated by
//! spaces or tabs; a tagged name `a.b.c;k=v;k2=v2` has its tags placed by the
//! `[listen.tags]` template (`tags.rs`).
//!
//! Dots become tree levels. A missing timestamp or `-1` (carbon's "now") is now; a
//! fractional one is floored to whole seconds. NaN and infinities are refused (carbon
//! stores NaN as "no value"; a tree sample must be a number). Samples carry no action:
//! the node's own, the config's rules, or the root default (`average`) apply, like
//! carbon's storage-aggregation rules.

use super::keys::{dotted_path, finite, short, timestamp};
use super::metrics::{LineError, Reject};
use super::tags::{RawTags, TagConfig, split_name};

/// One parsed Graphite line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Comma-joined path.
    pub path: String,
    /// The value.
    pub value: f64,
    /// Unix seconds; `None` is now.
    pub ts: Option<i64>,
}

/// Parses one line (without its line ending), tags dropped.
///
/// # Errors
/// `BadLine` for a wrong number of fields, `BadKey`, `BadValue` (not a finite number,
/// time stamp out of range), `TooDeep`.
pub fn parse_line(line: &str, max_depth: usize) -> Result<Sample, LineError> {
    parse_tagged(line, max_depth, &TagConfig::default()).map(|(s, _)| s)
}

/// Parses one line, its tags placed by `tags`; also returns the number of tags
/// dropped.
///
/// # Errors
/// As [`parse_line`]; the depth counts the levels the tags add.
pub fn parse_tagged(
    line: &str,
    max_depth: usize,
    tags: &TagConfig,
) -> Result<(Sample, usize), LineError> {
    let mut fields = line.split([' ', '\t']).filter(|f| !f.is_empty());
    let (Some(name), Some(value)) = (fields.next(), fields.next()) else {
        return Err(LineError::new(
            Reject::BadLine,
            format!("expected \"path value [timestamp]\", got {}", short(line)),
        ));
    };
    let ts = fields.next();
    if fields.next().is_some() {
        return Err(LineError::new(
            Reject::BadLine,
            format!("more than three fields in {}", short(line)),
        ));
    }
    let (name, graphite) = split_name(name);
    let raw = RawTags { dog: "", graphite };
    let (path, dropped) = tags.apply(dotted_path(name)?, raw)?;
    if path.split(',').count() > max_depth {
        return Err(LineError::new(
            Reject::TooDeep,
            format!("path {} has more than {max_depth} levels", short(name)),
        ));
    }
    let value = finite(value, "value")?;
    let ts = match ts {
        None | Some("-1") => None,
        Some(t) => Some(timestamp(finite(t, "time stamp")?)?),
    };
    Ok((Sample { path, value, ts }, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Sample, LineError> {
        parse_line(s, 32)
    }

    #[test]
    fn lines() {
        assert_eq!(
            p("servers.web01.cpu 12.5 1322721979").unwrap(),
            Sample {
                path: "servers,web01,cpu".into(),
                value: 12.5,
                ts: Some(1_322_721_979)
            }
        );
        assert_eq!(p("a.b 3").unwrap().ts, None);
        assert_eq!(p("a.b\t3\t-1").unwrap().ts, None);
        assert_eq!(p("  a  4  1.9 ").unwrap().ts, Some(1));
        assert!(p("a -0").unwrap().value.is_sign_negative());
    }

    #[test]
    fn tags() {
        assert_eq!(p("a.b;k=v;x=y 1").unwrap().path, "a,b");
        let t: TagConfig = toml::from_str("template = [\"host\"]").unwrap();
        let (s, dropped) = parse_tagged("cpu.user;host=web1;dc=eu 5", 32, &t).unwrap();
        assert_eq!((s.path.as_str(), dropped), ("cpu,web1,user", 1));
        let e = parse_tagged("a.b;host=x 1", 2, &t).unwrap_err();
        assert_eq!(e.reason, Reject::TooDeep);
    }

    #[test]
    fn bad_lines() {
        for (line, reason) in [
            ("", Reject::BadLine),
            ("a.b", Reject::BadLine),
            ("a.b 1 2 3", Reject::BadLine),
            ("a,b 1", Reject::BadKey),
            ("a..b 1", Reject::BadKey),
            ("a\u{7f} 1", Reject::BadKey),
            ("a nan", Reject::BadValue),
            ("a NaN 1", Reject::BadValue),
            ("a inf", Reject::BadValue),
            ("a -Infinity", Reject::BadValue),
            ("a x", Reject::BadValue),
            ("a 1 -5", Reject::BadValue),
            ("a 1 1e300", Reject::BadValue),
            ("a 1 now", Reject::BadValue),
        ] {
            assert_eq!(p(line).unwrap_err().reason, reason, "{line:?}");
        }
        let deep = format!("{} 1", vec!["k"; 40].join("."));
        assert_eq!(p(&deep).unwrap_err().reason, Reject::TooDeep);
    }
}
