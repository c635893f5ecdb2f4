//! Value parsers that several commands' flags share.

use std::time::Duration;

/// A flag's interval or duration (`10s`, `5m`, `1h`), as the config files write them.
pub(crate) fn parse_interval(s: &str) -> Result<Duration, String> {
    treestat_engine::parse_duration(s).map_err(|e| e.to_string())
}

/// A flag whose values are a fixed list, listed in `--help` and checked by clap, each
/// with the other spellings the server (or the command) also takes, accepted but not
/// listed: `&[("stacked", &["stack"])]`. The flag's value is the listed name whatever
/// spelling was typed (any case, where the arg says `ignore_case = true`).
pub(crate) fn one_of(
    values: &'static [(&'static str, &'static [&'static str])],
) -> impl clap::builder::TypedValueParser<Value = String> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(
        values
            .iter()
            .map(|(name, aliases)| PossibleValue::new(*name).aliases(aliases.iter().copied())),
    )
    .map(move |typed: String| {
        values
            .iter()
            .find(|(name, aliases)| {
                name.eq_ignore_ascii_case(&typed)
                    || aliases.iter().any(|a| a.eq_ignore_ascii_case(&typed))
            })
            .map_or(typed.clone(), |(name, _)| (*name).to_string())
    })
}

/// `--style` of `graph`, as the graph crate parses it.
pub(crate) const STYLES: &[(&str, &[&str])] =
    &[("default", &[""]), ("cpu", &[]), ("net", &[]), ("url", &[])];

/// `--type` of `graph`.
pub(crate) const CHART_TYPES: &[(&str, &[&str])] = &[
    ("line", &[""]),
    ("area", &[]),
    ("stacked", &["stack"]),
    ("bar", &["bars"]),
];

/// `--theme` of `graph`.
pub(crate) const THEMES: &[(&str, &[&str])] = &[("light", &[""]), ("dark", &[])];

/// On/off flags of `graph` (`--legend`).
pub(crate) const ON_OFF: &[(&str, &[&str])] = &[
    ("on", &["", "true", "1", "yes"]),
    ("off", &["false", "0", "no"]),
];

/// The trend file formats of `export` and `import`.
pub(crate) const TREND_FORMATS: &[(&str, &[&str])] =
    &[("ndjson", &["json", "jsonl"]), ("csv", &[])];

/// The actions a series can have (`import --action`), with the aliases the engine
/// takes.
pub(crate) const ACTIONS: &[(&str, &[&str])] = &[
    ("add", &["sum"]),
    ("average", &["avg", "mean"]),
    ("max", &[]),
    ("min", &[]),
    ("last", &[]),
    ("histogram", &["timer"]),
];
