//! What a module reports: metric descriptors (Ganglia's fields) and samples.
//!
//! A descriptor says how a value is typed and how it folds on the server: Ganglia's
//! `slope = positive` marks a counter, which the agent turns into a rate per second;
//! everything else is a gauge. String values are sent as markers.

use std::collections::BTreeMap;

use treestat_model::Action;

/// Ganglia's `slope`: how a value moves over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Slope {
    /// A constant (Ganglia `zero`).
    Zero,
    /// A counter that only grows: sent as a rate per second.
    Positive,
    /// A value that only falls.
    Negative,
    /// A gauge (Ganglia `both`, the default).
    #[default]
    Both,
}

impl Slope {
    /// Parses Ganglia's names; unknown names (and `unspecified`) read as `both`.
    pub fn parse(text: &str) -> Slope {
        match text.trim().to_ascii_lowercase().as_str() {
            "zero" => Slope::Zero,
            "positive" => Slope::Positive,
            "negative" => Slope::Negative,
            _ => Slope::Both,
        }
    }
}

/// Ganglia's `value_type`, reduced to what matters here: a number or a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValueType {
    /// `int`, `uint`, `float`, `double`, `uint8`... : a number.
    #[default]
    Number,
    /// `string`: a marker on the server.
    Text,
}

impl ValueType {
    /// Parses Ganglia's type names; `string` is text, every other name a number.
    pub fn parse(text: &str) -> ValueType {
        if text.trim().eq_ignore_ascii_case("string") {
            ValueType::Text
        } else {
            ValueType::Number
        }
    }
}

/// One metric a module provides.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricDesc {
    /// The metric's key under the host (Ganglia `name`).
    pub name: String,
    /// The group: the top-level key of the pushed tree (Ganglia `groups`, first entry).
    pub group: String,
    /// Number or string.
    pub value_type: ValueType,
    /// Counter or gauge.
    pub slope: Slope,
    /// Units, for the docs and pages (`bytes`, `%`...).
    pub units: String,
    /// Human description.
    pub description: String,
    /// An explicit server action, when the module asks for one (descriptor key
    /// `action`); otherwise it follows from the slope (see [`MetricDesc::action`]).
    pub action: Option<Action>,
    /// Every other descriptor key (`time_max`, `format`, extra keys), kept as text.
    pub metadata: BTreeMap<String, String>,
}

impl MetricDesc {
    /// A numeric gauge in `group`.
    pub fn gauge(group: &str, name: &str, units: &str) -> MetricDesc {
        MetricDesc {
            name: name.to_string(),
            group: group.to_string(),
            units: units.to_string(),
            ..MetricDesc::default()
        }
    }

    /// A counter (slope positive) in `group`: sent as a rate per second.
    pub fn counter(group: &str, name: &str, units: &str) -> MetricDesc {
        MetricDesc {
            slope: Slope::Positive,
            ..MetricDesc::gauge(group, name, units)
        }
    }

    /// The action the server applies: explicit if given, else `average` (gauges, and
    /// counters once turned into rates).
    pub fn action(&self) -> Action {
        self.action.unwrap_or(Action::Average)
    }
}

/// A measured value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number.
    Number(f64),
    /// A string: a marker on the server.
    Text(String),
}

/// One measurement: where it goes (group, path under the host), how it folds, and the
/// value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Top-level key.
    pub group: String,
    /// Keys under the host (one for Ganglia modules, more for per-core, per-disk...).
    pub path: Vec<String>,
    /// Counter or gauge.
    pub slope: Slope,
    /// The server action.
    pub action: Action,
    /// The value.
    pub value: Value,
}

impl Sample {
    /// A sample of `desc` with `value` at the descriptor's name.
    pub fn of(desc: &MetricDesc, value: Value) -> Sample {
        Sample {
            group: desc.group.clone(),
            path: vec![desc.name.clone()],
            slope: desc.slope,
            action: desc.action(),
            value,
        }
    }

    /// A numeric gauge at `group`/`path`.
    pub fn gauge(group: &str, path: &[&str], value: f64) -> Sample {
        Sample {
            group: group.to_string(),
            // As `tree::sanitize_key`: the key rules live below the tree builder.
            path: path
                .iter()
                .map(|k| treestat_engine::path::sanitize_key_or(k, "_").into_owned())
                .collect(),
            slope: Slope::Both,
            action: Action::Average,
            value: Value::Number(value),
        }
    }

    /// A counter at `group`/`path`: the agent sends its rate per second.
    pub fn counter(group: &str, path: &[&str], value: f64) -> Sample {
        Sample {
            slope: Slope::Positive,
            ..Sample::gauge(group, path, value)
        }
    }

    /// A string value (marker) at `group`/`path`.
    pub fn text(group: &str, path: &[&str], text: &str) -> Sample {
        Sample {
            value: Value::Text(text.to_string()),
            action: Action::Last,
            ..Sample::gauge(group, path, 0.0)
        }
    }
}
