//! Paths: the `,`-joined text form of keys, split and checked whole.
//!
//! The key rules themselves (a key is 1..=255 bytes of UTF-8 without `,` or control
//! characters; children are kept sorted by [`cmp_keys`], which orders a key as if a `,`
//! followed it, so a depth-first walk yields paths in byte order) are the vocabulary's,
//! defined once in treestat-model and re-exported here for the engine's own modules.

pub use treestat_model::{
    KeyProblem, MAX_KEY_LEN, SEP, check_key, cmp_keys, sanitize_key, sanitize_key_or,
};

/// Splits the text form of a path into keys, dropping empty keys at the end
/// (`br,ie,7,` is `br,ie,7`). Keys are not validated here.
pub fn split(path: &str) -> impl Iterator<Item = &str> {
    path.trim_end_matches(SEP)
        .split(SEP)
        .filter(move |_| !path.trim_end_matches(SEP).is_empty())
}

/// Checks every key of a path in text form.
///
/// # Errors
/// Names the offending key and its problem.
pub fn check_path(path: &str) -> Result<(), crate::Error> {
    let mut n = 0;
    for key in path.split(SEP) {
        n += 1;
        check_key(key).map_err(|problem| crate::Error::bad_key(key, path, problem))?;
    }
    if n == 0 {
        return Err(crate::Error::bad_key("", path, KeyProblem::Empty));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_drops_trailing_commas() {
        assert_eq!(split("br,ie,7,").collect::<Vec<_>>(), ["br", "ie", "7"]);
        assert_eq!(split("").count(), 0);
        assert_eq!(split(",,").count(), 0);
        assert_eq!(split(",ie").collect::<Vec<_>>(), ["", "ie"]);
    }
}
