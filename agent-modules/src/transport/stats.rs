//! What a server's sender counts, shared by every transport.

/// Counters of one server's sender.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// The server's URL.
    pub url: String,
    /// Documents the server took.
    pub sent: u64,
    /// Documents the server refused (not resent).
    pub rejected: u64,
    /// Documents dropped because the buffer was full (or too large for a datagram).
    pub dropped: u64,
    /// Documents waiting.
    pub pending: usize,
    /// True while the last attempt failed.
    pub down: bool,
}
