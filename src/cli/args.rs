//! Value parsers that several commands' flags share.

use std::time::Duration;

/// A flag's interval or duration (`10s`, `5m`, `1h`), as the config files write them.
pub(crate) fn parse_interval(s: &str) -> Result<Duration, String> {
    treestat_engine::parse_duration(s).map_err(|e| e.to_string())
}
