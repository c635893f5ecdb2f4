//! The six actions a node can have: how its samples fold into one reported value.

use std::fmt;
use std::str::FromStr;

/// How a node folds its samples into one value (docs/API.md, `POST /push`).
///
/// The action belongs to the node; a push may set it explicitly (`default_action`),
/// otherwise a new node takes it from a config rule or from its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Action {
    /// Counters: the value is the sum of all samples.
    Add = 0,
    /// Gauges: the value is the running mean, sum / count. The root default.
    #[default]
    Average = 1,
    /// The largest sample.
    Max = 2,
    /// The smallest sample.
    Min = 3,
    /// The newest sample.
    Last = 4,
    /// Timers and latencies: a mergeable quantile sketch beside sum, count, min and max;
    /// reports the mean unless a reader asks for another [`Stat`](crate::Stat).
    Histogram = 5,
}

impl Action {
    /// Every action, in the order of their `u8` codes.
    pub const ALL: [Action; 6] = [
        Action::Add,
        Action::Average,
        Action::Max,
        Action::Min,
        Action::Last,
        Action::Histogram,
    ];

    /// The name used in pushes, configs and the API (`add`, `average`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Average => "average",
            Action::Max => "max",
            Action::Min => "min",
            Action::Last => "last",
            Action::Histogram => "histogram",
        }
    }

    /// The action for a `u8` code as used in the C ABI and on disk.
    pub fn from_code(code: u8) -> Option<Action> {
        Action::ALL.get(usize::from(code)).copied()
    }

    /// The action whose one number this action reports: a histogram reports (and rolls
    /// up, and folds in windows) its mean as `average` does; every other is itself.
    pub fn scalar(self) -> Action {
        match self {
            Action::Histogram => Action::Average,
            other => other,
        }
    }

    /// The `u8` code of this action (stable: used in the C ABI and on disk).
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseActionError(pub String);

impl fmt::Display for ParseActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown action {:?} (expected add, average, max, min, last or histogram)",
            self.0
        )
    }
}

impl std::error::Error for ParseActionError {}

impl FromStr for Action {
    type Err = ParseActionError;

    /// Accepts the six names, case-insensitively, plus the aliases `avg`, `sum`
    /// and `mean` that users of StatsD and Graphite type by habit, and `timer` for
    /// `histogram`.
    fn from_str(s: &str) -> Result<Action, ParseActionError> {
        match s.to_ascii_lowercase().as_str() {
            "add" | "sum" => Ok(Action::Add),
            "average" | "avg" | "mean" => Ok(Action::Average),
            "max" => Ok(Action::Max),
            "min" => Ok(Action::Min),
            "last" => Ok(Action::Last),
            "histogram" | "timer" => Ok(Action::Histogram),
            _ => Err(ParseActionError(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>(), Ok(a));
            assert_eq!(Action::from_code(a.code()), Some(a));
        }
        assert_eq!("AVG".parse::<Action>(), Ok(Action::Average));
        assert!("median".parse::<Action>().is_err());
        assert_eq!(Action::from_code(9), None);
    }
}
