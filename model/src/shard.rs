//! The shard key: which shard of a sharded deployment (docs/SCALING.md) a leaf belongs
//! to. One definition, used by every publisher (the agent and the relay) so that a
//! subtree never spans shards, and by anyone who must find a key's owner.
//!
//! The key is the leaf's first `depth` path keys (`shard_depth`, default
//! [`DEFAULT_SHARD_DEPTH`]), each made valid by the key rules ([`sanitize_key`]: a `,`
//! becomes `_`, so `,` only ever separates keys) and joined with [`SEP`]. A leaf
//! shallower than `depth` is keyed by its whole path. The key is an AMQP routing key
//! (a short string of at most [`MAX_SHARD_KEY_LEN`] bytes): a longer one keeps a prefix
//! cut at a character boundary and ends with `#` and 16 hex digits of the FNV-1a hash
//! of the whole key, so distinct long keys still hash apart and one key always maps to
//! the same text.

use crate::key::{SEP, sanitize_key};

/// `shard_depth` when none is given: the top-level key decides the shard.
pub const DEFAULT_SHARD_DEPTH: usize = 1;

/// The longest shard key, in bytes (an AMQP short string).
pub const MAX_SHARD_KEY_LEN: usize = 255;

/// The shard key of a path whose keys are `keys` (see the module doc). `depth` 0 is
/// taken as 1.
pub fn shard_key<S: AsRef<str>>(keys: &[S], depth: usize) -> String {
    let mut out = String::new();
    for (i, k) in keys.iter().take(depth.max(1)).enumerate() {
        if i > 0 {
            out.push(SEP);
        }
        out.push_str(&sanitize_key(k.as_ref()));
    }
    if out.len() <= MAX_SHARD_KEY_LEN {
        return out;
    }
    let hash = format!("#{:016x}", fnv1a(out.as_bytes()));
    let mut cut = MAX_SHARD_KEY_LEN - hash.len();
    while !out.is_char_boundary(cut) {
        cut -= 1;
    }
    out.truncate(cut);
    out.push_str(&hash);
    out
}

/// 64-bit FNV-1a: small, stable across releases and machines (std's hasher is not).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_depth_keys_decide() {
        let path = ["web", "host1", "cpu"];
        assert_eq!(shard_key(&path, 1), "web");
        assert_eq!(shard_key(&path, 2), "web,host1");
        assert_eq!(shard_key(&path, 3), "web,host1,cpu");
        assert_eq!(
            shard_key(&path, 9),
            "web,host1,cpu",
            "shallower: the whole path"
        );
        assert_eq!(shard_key(&path, 0), "web", "0 is taken as 1");
        // Same first keys, same shard key: a subtree never spans shards.
        assert_eq!(shard_key(&["web", "host2"], 1), shard_key(&path, 1));
    }

    #[test]
    fn dots_are_plain_characters_and_commas_follow_the_key_rules() {
        // Dots are no separator here (StatsD's dots were levels before the tree).
        assert_eq!(shard_key(&["a.b.c", "x"], 1), "a.b.c");
        // A `,` inside a key becomes `_` as the key rules make it, so the joined text
        // of ["a,b"] cannot collide with that of ["a", "b"].
        assert_eq!(shard_key(&["a,b", "x"], 2), "a_b,x");
        assert_ne!(shard_key(&["a,b"], 2), shard_key(&["a", "b"], 2));
        assert_eq!(shard_key(&["tab\there"], 1), "tab_here");
    }

    #[test]
    fn non_ascii_keys_stay_as_they_are() {
        assert_eq!(shard_key(&["Linköping", "温度"], 2), "Linköping,温度");
        assert_eq!(shard_key(&[String::from("ü")], 1), "ü");
    }

    #[test]
    fn long_keys_fit_a_routing_key_and_stay_distinct() {
        let a = "é".repeat(127); // 254 bytes: a valid key
        let k = shard_key(&[a.as_str(), "x"], 2);
        assert!(k.len() <= MAX_SHARD_KEY_LEN, "{}", k.len());
        assert!(k.ends_with(&format!("#{:016x}", fnv1a(format!("{a},x").as_bytes()))));
        assert!(k.starts_with('é'));
        let k2 = shard_key(&[a.as_str(), "y"], 2);
        assert_ne!(k, k2, "same prefix, different keys");
        assert_eq!(k, shard_key(&[a.as_str(), "x"], 2), "stable");
        // Exactly at the limit: kept as is.
        let b = "b".repeat(255);
        assert_eq!(shard_key(&[b.as_str()], 1), b);
    }
}
