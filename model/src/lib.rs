//! treestat-model: the words every part of treestat speaks, in one crate with no
//! dependencies (as ripgrep keeps `grep-matcher` apart and axum has `axum-core`). The
//! engine, the pipes, the agent, the AMQP source, the graph and the pipe plugin API all
//! take these from here; nothing here is defined twice.
//!
//! - [`Action`]: how a node folds its samples (`add`, `average`, `max`, `min`, `last`,
//!   `histogram`).
//! - [`Stat`]: what a reader may ask of a leaf (`?stat=p99,upper_90`).
//! - Key rules: [`SEP`], [`MAX_KEY_LEN`], [`check_key`], [`cmp_keys`],
//!   [`sanitize_key`] / [`sanitize_key_or`], [`join_path`].
//! - The push format's reserved keys: [`TIMESTAMP_KEY`], [`COUNT_KEY`],
//!   [`DEFAULT_ACTION_KEY`] and its alias [`DEFAULT_ACTION_ALIAS`]; a push body's
//!   [`media_type`].
//! - The time grammar: [`parse_duration`] and [`parse_time`] (`now`, `-5m`, `now-1d`,
//!   epochs such as `1700000000.5`), one unit table for both.
//! - The shard key: [`shard_key`] (which shard of a sharded deployment a path goes to).
//! - Civil dates: [`days_from_civil`] and [`civil_from_days`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod action;
mod civil;
mod key;
mod push;
mod shard;
mod stat;
mod time;

pub use action::{Action, ParseActionError};
pub use civil::{civil_from_days, days_from_civil};
pub use key::{
    EMPTY_NAME_KEY, KeyProblem, MAX_KEY_LEN, MISSING_FIELD_KEY, SEP, check_key, cmp_keys,
    join_path, sanitize_key, sanitize_key_or,
};
pub use push::{
    ACTION_KEYS, COUNT_KEY, DEFAULT_ACTION_ALIAS, DEFAULT_ACTION_KEY, HEADER_KEYS, TIMESTAMP_KEY,
    is_action_key, media_type,
};
pub use shard::{DEFAULT_SHARD_DEPTH, MAX_SHARD_KEY_LEN, shard_key};
pub use stat::{PERCENT, ParseStatError, Stat, ThresholdStat, parse_stats};
pub use time::{MAX_SPAN_SECS, MAX_TIME, TimeError, TimeErrorKind, parse_duration, parse_time};
