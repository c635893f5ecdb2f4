//! StatsD lines (`name:value|type[|@rate][|#tags]`) parsed and turned into engine
//! updates, as Etsy's statsd reads them.
//!
//! - Several lines per datagram, separated by `\n` (a `\r` before it is dropped).
//! - Several values per line, as Etsy's statsd accepts: `name:1|c:5|ms`; a bare
//!   `name` counts as `name:1|c`.
//! - Dots in the name become tree levels; a `,` or control character in a key refuses
//!   the line (it is never rewritten).
//! - `c` -> `add` of `value * (1 / rate)` (Etsy's rounding); `g` -> `last`, a leading `+` or `-` is a delta on
//!   the gauge's current value (0 when it has none yet); `ms` and `h` -> `histogram` (the
//!   leaf keeps a sketch and the interval's raw samples, so Etsy's timer statistics
//!   can be read with `?stat=`; the rate does not change the samples and is ignored); `s` -> the number of distinct members
//!   seen in the current interval, sent with action `last` (members are kept as 64-bit
//!   hashes, bounded in number).
//! - A gauge keeps its value across intervals, as Etsy's `deleteGauges: false`: the
//!   server carries each gauge's value into the interval that opens at every close
//!   (bounded by `statsd_gauges`; `state.rs` keeps the names, `udp.rs` carries them).
//! - Tags, DogStatsD's `|#k:v,k2:v2` and Graphite's `;k=v` after the name, are placed
//!   as levels by the `[listen.tags]` template (`listen/tags.rs`), or dropped and
//!   counted.
//! - A line with any bad part is refused whole and counted; the other lines of the
//!   datagram are kept.
//!
//! The parser (`parse.rs`) is a pure function of a line; the state between datagrams
//! (`state.rs`: set members, gauges) turns parsed lines into updates.

mod parse;
mod state;

pub use parse::{Kind, Parsed, Value, parse_line};
pub use state::Statsd;
