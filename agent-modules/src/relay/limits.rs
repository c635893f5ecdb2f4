//! The bounds the relay's TCP, UDP and HTTP listeners share (listen.rs's module doc).

use std::time::Duration;

/// Largest line or body a relay listener takes (413 past it over HTTP).
pub(super) const MAX_DOC: usize = 8 << 20;
/// Connections at once per TCP or HTTP listener; further ones are closed.
pub(super) const MAX_CONNECTIONS: usize = 256;
/// How often a listener looks at the shutdown token.
pub(super) const POLL: Duration = Duration::from_millis(50);
