//! Psistats messages into tree updates: the pure half of the source, no broker here.
//!
//! A Psistats client publishes one JSON object per reporter with routing key
//! `psistats.<hostname>`; the host is known only from that key. Every value lands under
//! `psistats,<host>,<reporter>,...`:
//!
//! | message | updates |
//! |---|---|
//! | `{"cpu": [12.5, 3.0]}` | `psistats,<host>,cpu,0` = 12.5, `...,cpu,1` = 3.0 (an array's index is a key) |
//! | `{"mem": 34.1}` | `psistats,<host>,mem` = 34.1 |
//! | `{"ipaddr": {"eth0": "10.0.0.5"}}` | a marker at `psistats,<host>,ipaddr,eth0` (strings are markers) |
//! | `{"hddspace": {"/": 41.0}}` | `psistats,<host>,hddspace,/` = 41 |
//! | `{"hddtemps": {"/dev/sda": {"value": "35", "unit": "C"}}}` | `...,hddtemps,/dev/sda` = 35 (numeric strings are numbers) |
//! | `{"sensors": {"Core 0": {"value": 48.0, "unit": "C"}}}` | `...,sensors,Core 0` = 48 (a `{value, unit}` reading is one leaf; the unit is dropped) |
//!
//! Booleans are 0/1, `null` is skipped, other objects nest. Keys are made valid tree
//! keys by treestat-model's [`sanitize_key_or`] with [`EMPTY_NAME_KEY`]: `,` and control
//! characters become `_`, an empty key is `_`,
//! a key is cut to 255 bytes. `/` and spaces stay. A message that is not a JSON object,
//! or nests deeper than [`MAX_DEPTH`], is refused whole ([`Problem`]), never half-applied.

use serde_json::Value;
use treestat_engine::{Action, Batch};
use treestat_model::{EMPTY_NAME_KEY, sanitize_key_or};

/// Deepest nesting under a reporter that a message may have.
pub const MAX_DEPTH: usize = 16;

/// The first key of every Psistats path.
pub const ROOT: &str = "psistats";

/// Why a message was refused; the source rejects it (no requeue) and counts the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The routing key has no host after its first `.`.
    #[error("routing key {0:?} is not psistats.<hostname>")]
    RoutingKey(String),
    /// The body is not JSON.
    #[error("body is not JSON: {0}")]
    NotJson(String),
    /// The body is JSON but not an object of reporters.
    #[error("body is not a JSON object of reporters")]
    NotObject,
    /// The body nests deeper than [`MAX_DEPTH`].
    #[error("body nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

impl Problem {
    /// A short stable name, the `reason` label of the reject counter.
    pub fn reason(&self) -> &'static str {
        match self {
            Problem::RoutingKey(_) => "routing_key",
            Problem::NotJson(_) => "not_json",
            Problem::NotObject => "not_object",
            Problem::TooDeep => "too_deep",
        }
    }
}

/// The host of a Psistats routing key: everything after the first `.`
/// (`psistats.web1.example.com` -> `web1.example.com`), made a valid key.
///
/// # Errors
/// [`Problem::RoutingKey`] when nothing follows the first `.`.
pub fn host_of(routing_key: &str) -> Result<String, Problem> {
    match routing_key.split_once('.') {
        Some((_, host)) if !host.is_empty() => {
            Ok(sanitize_key_or(host, EMPTY_NAME_KEY).into_owned())
        }
        _ => Err(Problem::RoutingKey(routing_key.chars().take(128).collect())),
    }
}

/// Turns one Psistats message from `host` into a batch of updates with `action`; `ts`
/// (unix seconds) dates the samples, `None` is now.
///
/// # Errors
/// [`Problem`] when the body is not a JSON object or nests too deep.
pub fn to_batch(
    host: &str,
    body: &[u8],
    action: Action,
    ts: Option<i64>,
) -> Result<Batch, Problem> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| Problem::NotJson(e.to_string()))?;
    let Value::Object(reporters) = doc else {
        return Err(Problem::NotObject);
    };
    let mut out = Updates {
        batch: Batch::new(),
        action,
        ts,
    };
    let mut path = format!("{ROOT},{}", sanitize_key_or(host, EMPTY_NAME_KEY));
    for (reporter, value) in &reporters {
        with_key(&mut path, reporter, |path| out.walk(path, value, 0))?;
    }
    Ok(out.batch)
}

/// Appends `,<key>` to `path` for the duration of `f`.
fn with_key<T>(path: &mut String, key: &str, f: impl FnOnce(&mut String) -> T) -> T {
    let len = path.len();
    path.push(',');
    path.push_str(&sanitize_key_or(key, EMPTY_NAME_KEY));
    let r = f(path);
    path.truncate(len);
    r
}

struct Updates {
    batch: Batch,
    action: Action,
    ts: Option<i64>,
}

impl Updates {
    fn sample(&mut self, path: &str, v: f64) {
        let action = Some(self.action);
        match self.ts {
            Some(ts) => self.batch.sample_at(path, ts, v, action),
            None => self.batch.sample(path, v, action),
        }
    }

    fn walk(&mut self, path: &mut String, value: &Value, depth: usize) -> Result<(), Problem> {
        if depth > MAX_DEPTH {
            return Err(Problem::TooDeep);
        }
        match value {
            Value::Null => {}
            Value::Bool(b) => self.sample(path, if *b { 1.0 } else { 0.0 }),
            Value::Number(n) => {
                if let Some(v) = n.as_f64().filter(|v| v.is_finite()) {
                    self.sample(path, v);
                }
            }
            Value::String(s) => match numeric(s) {
                Some(v) => self.sample(path, v),
                None => self.batch.marker(path, s),
            },
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    with_key(path, &i.to_string(), |p| self.walk(p, item, depth + 1))?;
                }
            }
            Value::Object(map) => {
                if let Some(reading) = reading(map) {
                    return self.walk(path, reading, depth + 1);
                }
                for (k, v) in map {
                    with_key(path, k, |p| self.walk(p, v, depth + 1))?;
                }
            }
        }
        Ok(())
    }
}

/// A sensor reading `{"value": x, "unit": u}` (either key optional besides `value`):
/// its value, else `None` for an ordinary object.
fn reading(map: &serde_json::Map<String, Value>) -> Option<&Value> {
    let v = map.get("value")?;
    let scalar = matches!(v, Value::Number(_) | Value::String(_) | Value::Bool(_));
    let only_unit = map.keys().all(|k| k == "value" || k == "unit");
    (scalar && only_unit).then_some(v)
}

/// A string that holds a finite number (`"35"`, `" 41.5 "`), as Psistats sends some
/// readings.
fn numeric(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use treestat_engine::Update;

    use super::*;

    /// The updates of a message from host `h1`, sorted (object key order depends on
    /// serde_json's features).
    fn updates(body: &str) -> Vec<(String, String)> {
        let mut out: Vec<_> = to_batch("h1", body.as_bytes(), Action::Average, None)
            .unwrap()
            .updates()
            .iter()
            .map(|u| {
                // `if let` rather than `match`: the engine may grow update kinds.
                if let Update::Sample { path, value, .. } = u {
                    (path.clone(), value.to_string())
                } else if let Update::Marker { path, text } = u {
                    (path.clone(), format!("marker {text}"))
                } else {
                    (u.path().to_string(), format!("{u:?}"))
                }
            })
            .collect();
        out.sort();
        out
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn every_reporter_of_the_issue_maps_to_its_path() {
        assert_eq!(
            updates(r#"{"cpu": [12.5, 3.0, 0.0, 7.8]}"#),
            pairs(&[
                ("psistats,h1,cpu,0", "12.5"),
                ("psistats,h1,cpu,1", "3"),
                ("psistats,h1,cpu,2", "0"),
                ("psistats,h1,cpu,3", "7.8"),
            ])
        );
        assert_eq!(
            updates(r#"{"mem": 34.1}"#),
            pairs(&[("psistats,h1,mem", "34.1")])
        );
        assert_eq!(
            updates(r#"{"ipaddr": {"eth0": "10.0.0.5"}}"#),
            pairs(&[("psistats,h1,ipaddr,eth0", "marker 10.0.0.5")])
        );
        assert_eq!(
            updates(r#"{"hddspace": {"/": 41.0, "/home": 7}}"#),
            pairs(&[
                ("psistats,h1,hddspace,/", "41"),
                ("psistats,h1,hddspace,/home", "7")
            ])
        );
        assert_eq!(
            updates(r#"{"hddtemps": {"/dev/sda": {"value": "35", "unit": "C"}}}"#),
            pairs(&[("psistats,h1,hddtemps,/dev/sda", "35")])
        );
        assert_eq!(
            updates(r#"{"sensors": {"Core 0": {"value": 48.0, "unit": "C"}}}"#),
            pairs(&[("psistats,h1,sensors,Core 0", "48")])
        );
    }

    #[test]
    fn keys_the_tree_refuses_are_mapped() {
        assert_eq!(
            updates(r#"{"hddspace": {"a,b\u0007": 1, "": 2}}"#),
            pairs(&[
                ("psistats,h1,hddspace,_", "2"),
                ("psistats,h1,hddspace,a_b_", "1")
            ])
        );
        let long = "é".repeat(200);
        let got = updates(&format!(r#"{{"x": {{"{long}": 1}}}}"#));
        let key = got[0].0.rsplit(',').next().unwrap();
        assert_eq!(
            key.len(),
            254,
            "cut on a character boundary at most 255 bytes"
        );
    }

    #[test]
    fn booleans_nulls_and_odd_readings() {
        assert_eq!(
            updates(r#"{"up": true, "gone": null, "t": {"value": "N/A", "unit": "C"}}"#),
            pairs(&[("psistats,h1,t", "marker N/A"), ("psistats,h1,up", "1")])
        );
        // An object with `value` and other keys is an ordinary subtree.
        assert_eq!(
            updates(r#"{"s": {"value": 1, "max": 2}}"#),
            pairs(&[("psistats,h1,s,max", "2"), ("psistats,h1,s,value", "1")])
        );
    }

    #[test]
    fn bad_messages_are_refused_with_a_reason() {
        let err = |b: &str| to_batch("h", b.as_bytes(), Action::Average, None).unwrap_err();
        assert_eq!(err("{nope").reason(), "not_json");
        assert_eq!(err("[1, 2]").reason(), "not_object");
        let deep = format!("{{\"a\": {}1{}}}", "[".repeat(40), "]".repeat(40));
        assert_eq!(err(&deep).reason(), "too_deep");
    }

    #[test]
    fn host_comes_from_the_routing_key() {
        assert_eq!(host_of("psistats.web1").unwrap(), "web1");
        assert_eq!(
            host_of("psistats.web1.example.com").unwrap(),
            "web1.example.com"
        );
        assert_eq!(host_of("psistats.a,b").unwrap(), "a_b");
        assert_eq!(host_of("psistats").unwrap_err().reason(), "routing_key");
        assert_eq!(host_of("psistats.").unwrap_err().reason(), "routing_key");
    }

    #[test]
    fn time_stamp_dates_the_samples() {
        let b = to_batch("h", br#"{"mem": 1}"#, Action::Last, Some(1_700_000_000)).unwrap();
        assert_eq!(
            b.updates(),
            &[Update::Sample {
                path: "psistats,h,mem".into(),
                value: 1.0,
                action: Some(Action::Last),
                ts: Some(1_700_000_000),
            }]
        );
    }

    mod properties {
        use proptest::prelude::*;
        use serde_json::{Map, Value};

        use super::*;

        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<f64>().prop_map(
                    |f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
                ),
                any::<i64>().prop_map(Value::from),
                ".{0,12}".prop_map(Value::String),
            ];
            leaf.prop_recursive(6, 64, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    prop::collection::vec((".{0,12}", inner), 0..6)
                        .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
                ]
            })
        }

        proptest! {
            /// Any JSON object from any routing key is either refused with a reason or
            /// becomes a batch the engine's key rules accept: never a panic, never a
            /// half-valid push.
            #[test]
            fn any_message_maps_to_valid_paths(
                reporters in prop::collection::vec((".{0,16}", json()), 0..6),
                key in ".{0,20}",
            ) {
                let body = Value::Object(reporters.into_iter().collect::<Map<_, _>>());
                let bytes = serde_json::to_vec(&body).unwrap();
                if let Ok(host) = host_of(&key) {
                    let batch = to_batch(&host, &bytes, Action::Average, None).unwrap();
                    prop_assert!(batch.validate(64).is_ok(), "{:?}", batch.validate(64));
                }
            }
        }
    }
}
