//! Names: treestat paths as Graphite dotted names, and Graphite's globs.
//!
//! A Graphite node is one tree level (one key). A key is shown as itself with two
//! changes (docs/GRAFANA.md, "Names"):
//! - each `.` becomes `_`: `cpu,10.3.1.12,idle` is `cpu.10_3_1_12.idle`, `br,webkit,14.0`
//!   is `br.webkit.14_0`;
//! - a character Graphite's grammar cannot carry in a bare path (space, `( ) , ' " = \`,
//!   the glob characters `* ? [ ] { }`, `%`, and other ASCII punctuation outside
//!   `- _ : @ ! $ ^ & ~ ; # < > | /`) becomes `%XX` for each of its UTF-8 bytes
//!   (`a b` is `a%20b`). Letters and digits of any script stay as they are.
//!
//! A query node matches a key when it matches the key's shown form, so `10_3_1_12`
//! finds the key `10.3.1.12` and `a%20b` the key `a b`. The one ambiguity: sibling
//! keys that differ only by `.` against `_` (`a.b` and `a_b`) show the same; a query
//! naming them answers both, under the same name.

use regex::Regex;

use crate::Error;

/// Whether `c` is shown as itself in a node.
fn plain(c: char) -> bool {
    c.is_alphanumeric()
        || (!c.is_ascii() && !c.is_whitespace() && !c.is_control())
        || "-_:@!$^&~;#<>|/".contains(c)
}

/// The Graphite node showing one treestat key.
pub fn node_of_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        if c == '.' {
            out.push('_');
        } else if plain(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// The Graphite name of a treestat path (`,`-joined keys).
pub fn name_of_path(path: &str) -> String {
    path.split(',')
        .map(node_of_key)
        .collect::<Vec<_>>()
        .join(".")
}

/// One node of a Graphite query: a literal, or a glob compiled to a regex.
#[derive(Debug, Clone)]
pub enum NodeGlob {
    /// No glob characters: compared as text.
    Literal(String),
    /// `*`, `?`, `[..]` or `{a,b}`.
    Glob(Regex),
}

impl NodeGlob {
    /// Compiles one node.
    ///
    /// # Errors
    /// 400 for an unclosed `[` or `{`.
    pub fn new(node: &str) -> Result<NodeGlob, Error> {
        if !node.contains(['*', '?', '[', '{']) {
            return Ok(NodeGlob::Literal(node.to_string()));
        }
        let mut re = String::from("^(?:");
        let mut chars = node.chars().peekable();
        let mut depth = 0usize;
        while let Some(c) = chars.next() {
            match c {
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                '[' => {
                    let mut class = String::from("[");
                    if chars.peek() == Some(&'!') || chars.peek() == Some(&'^') {
                        chars.next();
                        class.push('^');
                    }
                    let mut closed = false;
                    for d in chars.by_ref() {
                        if d == ']' {
                            closed = true;
                            break;
                        }
                        if d == '\\' || d == '[' || d == '&' || d == '~' {
                            class.push('\\');
                        }
                        class.push(d);
                    }
                    if !closed {
                        return Err(Error::bad_request(format!("{node:?}: unclosed '['")));
                    }
                    class.push(']');
                    re.push_str(&class);
                }
                '{' => {
                    depth += 1;
                    re.push_str("(?:");
                }
                '}' if depth > 0 => {
                    depth -= 1;
                    re.push(')');
                }
                ',' if depth > 0 => re.push('|'),
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
        if depth > 0 {
            return Err(Error::bad_request(format!("{node:?}: unclosed '{{'")));
        }
        re.push_str(")$");
        Regex::new(&re)
            .map(NodeGlob::Glob)
            .map_err(|e| Error::bad_request(format!("{node:?}: {e}")))
    }

    /// Whether a shown node matches.
    pub fn matches(&self, node: &str) -> bool {
        match self {
            NodeGlob::Literal(l) => l == node,
            NodeGlob::Glob(r) => r.is_match(node),
        }
    }

    /// Whether a treestat key matches (through its shown form).
    pub fn matches_key(&self, key: &str) -> bool {
        match self {
            NodeGlob::Literal(l) if !key.contains('.') && l.len() == key.len() && l == key => true,
            _ => self.matches(&node_of_key(key)),
        }
    }

    /// The literal text, if the node has no glob.
    pub fn literal(&self) -> Option<&str> {
        match self {
            NodeGlob::Literal(l) => Some(l),
            NodeGlob::Glob(_) => None,
        }
    }
}

/// A dotted query split into nodes. Dots inside `{}` or `[]` do not split.
///
/// # Errors
/// 400 for a bad glob or an empty node.
pub fn compile_query(query: &str) -> Result<Vec<NodeGlob>, Error> {
    split_nodes(query)
        .into_iter()
        .map(|n| {
            if n.is_empty() {
                Err(Error::bad_request(format!("{query:?}: empty node")))
            } else {
                NodeGlob::new(n)
            }
        })
        .collect()
}

/// Splits a dotted name at the dots outside braces and brackets.
pub fn split_nodes(query: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, b) in query.bytes().enumerate() {
        match b {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'.' if depth == 0 => {
                out.push(&query[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&query[start..]);
    out
}

/// Whether a treestat path's keys match every node of a query, level for level.
pub fn path_matches(globs: &[NodeGlob], keys: &[&str]) -> bool {
    globs.len() == keys.len() && globs.iter().zip(keys).all(|(g, k)| g.matches_key(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_keys_as_nodes() {
        assert_eq!(name_of_path("cpu,10.3.1.12,idle"), "cpu.10_3_1_12.idle");
        assert_eq!(name_of_path("br,webkit,14.0"), "br.webkit.14_0");
        assert_eq!(node_of_key("a b(c)*"), "a%20b%28c%29%2A");
        assert_eq!(node_of_key("größe_µs"), "größe_µs");
        assert_eq!(node_of_key("50%"), "50%25");
    }

    #[test]
    fn globs_match_like_graphite() {
        let m = |g: &str, k: &str| NodeGlob::new(g).unwrap().matches_key(k);
        assert!(m("h*", "h12"));
        assert!(m("h?", "h1") && !m("h?", "h12"));
        assert!(m("h[1-3]", "h2") && !m("h[1-3]", "h4"));
        assert!(m("h[!1]", "h2") && !m("h[!1]", "h1"));
        assert!(m("{a,b}x", "bx") && !m("{a,b}x", "cx"));
        assert!(m("10_3_1_12", "10.3.1.12"));
        assert!(m("10_3_*", "10.3.1.12"));
        assert!(NodeGlob::new("[ab").is_err());
        assert_eq!(split_nodes("a.{b.c,d}.e"), ["a", "{b.c,d}", "e"]);
    }
}
