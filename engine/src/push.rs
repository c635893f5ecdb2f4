//! Push documents: a JSON tree (or array of trees) parsed straight into a compact form,
//! validated whole before anything touches the tree; and the way back, flat paths
//! nested into a JSON tree as pushes nest them ([`nest`], [`insert_path`]). The flat
//! form that line protocols and pipes build is [`crate::Batch`] (`batch.rs`).
//!
//! Parsing goes through a serde visitor instead of `serde_json::Value`, so a document
//! is read once with no intermediate maps. Validation (keys, depth, value shapes) runs
//! on the parsed form so that every error can name the path where it happened.

use std::fmt;

use compact_str::CompactString;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::Action;
use crate::error::{Error, ErrorKind};
use crate::path::{SEP, check_key};
use treestat_model::{COUNT_KEY, is_action_key};

/// One value in a pushed tree.
#[derive(Debug, Clone, PartialEq)]
pub enum PushValue {
    /// A subtree.
    Tree(PushTree),
    /// One sample (numbers, and booleans as 0/1).
    Number(f64),
    /// Several samples for one leaf (an array of numbers).
    Samples(Vec<f64>),
    /// A string: an annotation kept beside the tree, never summed.
    Marker(String),
    /// `null`: skipped.
    Skip,
    /// An array that holds something other than numbers: refused at validation.
    BadArray,
}

/// A pushed (sub)tree: its explicit action, if any, and its entries in document order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PushTree {
    /// `default_action` / `defaultaction` given at this level.
    pub action: Option<Action>,
    /// `timestamp` (unix seconds) at the top of a pushed tree: the time of all its
    /// samples; `None` is now.
    pub ts: Option<i64>,
    /// Key and value pairs, in document order.
    pub entries: Vec<(CompactString, PushValue)>,
    /// Upper bound of the nodes this subtree adds when none exists yet (filled in by
    /// validation): branches that hold a number somewhere below, plus leaves.
    pub(crate) nodes: u32,
}

/// A whole push: one tree or an array of trees, each with its own action.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PushDoc {
    /// The trees, in order.
    pub trees: Vec<PushTree>,
}

impl PushDoc {
    /// Parses and validates a JSON push document.
    ///
    /// # Errors
    /// `BadDocument` for JSON that is not an object or an array of objects, `BadKey`,
    /// `BadValue` and `TooDeep` naming the place; nothing is applied on error.
    pub fn from_json(bytes: &[u8], max_depth: usize) -> Result<PushDoc, Error> {
        let doc: PushDoc = serde_json::from_slice(bytes)
            .map_err(|e| Error::new(ErrorKind::BadDocument, format!("not a JSON tree: {e}")))?;
        let mut doc = doc;
        doc.validate(max_depth)?;
        Ok(doc)
    }

    /// Checks keys, depth and values, and counts the nodes each subtree may add.
    ///
    /// # Errors
    /// As [`PushDoc::from_json`].
    pub fn validate(&mut self, max_depth: usize) -> Result<(), Error> {
        let mut path = String::new();
        for t in &mut self.trees {
            validate_tree(t, &mut path, 0, max_depth)?;
        }
        Ok(())
    }

    /// Upper bound of the nodes this push adds to an empty tree.
    pub fn max_new_nodes(&self) -> u64 {
        self.trees.iter().map(|t| u64::from(t.nodes)).sum()
    }
}

fn validate_tree(
    tree: &mut PushTree,
    path: &mut String,
    depth: usize,
    max: usize,
) -> Result<(), Error> {
    let mut nodes: u32 = 0;
    for (key, value) in &mut tree.entries {
        if let Err(problem) = check_key(key) {
            return Err(Error::bad_key(key, path, problem));
        }
        let len = path.len();
        if len > 0 {
            path.push(SEP);
        }
        path.push_str(key);
        if depth + 1 > max {
            return Err(Error::new(
                ErrorKind::TooDeep,
                format!("tree deeper than {max} levels at {:?}", trunc(path)),
            ));
        }
        match value {
            PushValue::Tree(sub) => {
                validate_tree(sub, path, depth + 1, max)?;
                if sub.nodes > 0 {
                    nodes = nodes.saturating_add(sub.nodes).saturating_add(1);
                }
            }
            PushValue::Number(_) => nodes = nodes.saturating_add(1),
            PushValue::Samples(v) if !v.is_empty() => nodes = nodes.saturating_add(1),
            PushValue::BadArray => {
                return Err(Error::new(
                    ErrorKind::BadValue,
                    format!(
                        "array at {:?} holds something other than numbers",
                        trunc(path)
                    ),
                ));
            }
            PushValue::Samples(_) | PushValue::Marker(_) | PushValue::Skip => {}
        }
        path.truncate(len);
    }
    tree.nodes = nodes;
    Ok(())
}

/// At most 200 bytes of a path, for messages.
fn trunc(path: &str) -> &str {
    &path[..path.floor_char_boundary(200)]
}

/// The key that dates a whole pushed tree (top level only); the push format's reserved
/// keys are the vocabulary's (treestat-model).
pub use treestat_model::TIMESTAMP_KEY;

impl<'de> serde::Deserialize<'de> for PushDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PushDoc, D::Error> {
        struct DocVisitor;
        impl<'de> Visitor<'de> for DocVisitor {
            type Value = PushDoc;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object (one tree) or an array of objects")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PushDoc, A::Error> {
                Ok(PushDoc {
                    trees: vec![TreeVisitor { top: true }.visit_map(map)?],
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PushDoc, A::Error> {
                let mut trees = Vec::new();
                while let Some(t) = seq.next_element::<TreeOnly>()? {
                    trees.push(t.0);
                }
                Ok(PushDoc { trees })
            }
        }
        d.deserialize_any(DocVisitor)
    }
}

struct TreeOnly(PushTree);

impl<'de> serde::Deserialize<'de> for TreeOnly {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TreeOnly, D::Error> {
        d.deserialize_map(TreeVisitor { top: true }).map(TreeOnly)
    }
}

/// Reads one tree. At the top of a pushed tree (`top`), a `timestamp` key (unix seconds)
/// dates every sample of the tree, so a push replayed from a buffer lands in the
/// interval it was measured in; below the top, `timestamp` is an ordinary key.
struct TreeVisitor {
    top: bool,
}

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = PushTree;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object (a tree)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PushTree, A::Error> {
        let mut tree = PushTree::default();
        while let Some(key) = map.next_key::<KeyBuf>()? {
            if is_action_key(&key.0) {
                let name: String = map.next_value()?;
                let action = name.parse::<Action>().map_err(de::Error::custom)?;
                tree.action = Some(action);
            } else if self.top && key.0 == TIMESTAMP_KEY {
                let ts: f64 = map.next_value()?;
                if !ts.is_finite() || !(0.0..=1e11).contains(&ts) {
                    return Err(de::Error::custom(format!(
                        "timestamp {ts} is not unix seconds"
                    )));
                }
                #[allow(clippy::cast_possible_truncation)] // checked range, whole seconds
                let secs = ts.floor() as i64;
                tree.ts = Some(secs);
            } else {
                let value: PushValue = map.next_value()?;
                tree.entries.push((key.0, value));
            }
        }
        Ok(tree)
    }
}

/// A key read without an intermediate `String` when the JSON has no escapes.
struct KeyBuf(CompactString);

impl<'de> serde::Deserialize<'de> for KeyBuf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<KeyBuf, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyBuf;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyBuf, E> {
                Ok(KeyBuf(CompactString::from(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> serde::Deserialize<'de> for PushValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PushValue, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = PushValue;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, boolean, null, string, array of numbers or object")
    }
    fn visit_bool<E>(self, v: bool) -> Result<PushValue, E> {
        Ok(PushValue::Number(if v { 1.0 } else { 0.0 }))
    }
    #[allow(clippy::cast_precision_loss)] // JSON integers beyond 2^53 lose precision as f64 anyway
    fn visit_i64<E>(self, v: i64) -> Result<PushValue, E> {
        Ok(PushValue::Number(v as f64))
    }
    #[allow(clippy::cast_precision_loss)]
    fn visit_u64<E>(self, v: u64) -> Result<PushValue, E> {
        Ok(PushValue::Number(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<PushValue, E> {
        Ok(PushValue::Number(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<PushValue, E> {
        Ok(PushValue::Marker(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<PushValue, E> {
        Ok(PushValue::Marker(v))
    }
    fn visit_unit<E>(self) -> Result<PushValue, E> {
        Ok(PushValue::Skip)
    }
    fn visit_none<E>(self) -> Result<PushValue, E> {
        Ok(PushValue::Skip)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PushValue, A::Error> {
        let mut samples = Vec::new();
        let mut bad = false;
        while let Some(s) = seq.next_element::<SampleElem>()? {
            match s {
                SampleElem::Num(v) => samples.push(v),
                SampleElem::Null => {}
                SampleElem::Other => bad = true,
            }
        }
        Ok(if bad {
            PushValue::BadArray
        } else {
            PushValue::Samples(samples)
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PushValue, A::Error> {
        TreeVisitor { top: false }
            .visit_map(map)
            .map(PushValue::Tree)
    }
}

enum SampleElem {
    Num(f64),
    Null,
    Other,
}

impl<'de> serde::Deserialize<'de> for SampleElem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SampleElem, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SampleElem;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_bool<E>(self, v: bool) -> Result<SampleElem, E> {
                Ok(SampleElem::Num(if v { 1.0 } else { 0.0 }))
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_i64<E>(self, v: i64) -> Result<SampleElem, E> {
                Ok(SampleElem::Num(v as f64))
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_u64<E>(self, v: u64) -> Result<SampleElem, E> {
                Ok(SampleElem::Num(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<SampleElem, E> {
                Ok(SampleElem::Num(v))
            }
            fn visit_unit<E>(self) -> Result<SampleElem, E> {
                Ok(SampleElem::Null)
            }
            fn visit_str<E>(self, _: &str) -> Result<SampleElem, E> {
                Ok(SampleElem::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SampleElem, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(SampleElem::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SampleElem, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(SampleElem::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// Turns `[path, value]` pairs into nested JSON. A path that passes through a number
/// moves the number under `count`, as pushes do.
pub fn nest(rows: &[(String, f64)]) -> Value {
    let mut root = Map::new();
    for (path, value) in rows {
        let v = serde_json::Number::from_f64(*value).map_or(Value::Null, Value::Number);
        insert_path(&mut root, path, v);
    }
    Value::Object(root)
}

/// Puts `value` at a comma-separated path in a JSON tree. A number standing where a
/// subtree must go moves under `count`, and a value landing on a subtree goes to its
/// `count`, as pushes do (docs/CONCEPTS.md, "The tree").
pub fn insert_path(root: &mut Map<String, Value>, path: &str, value: Value) {
    let keys: Vec<&str> = path.split(',').collect();
    let mut node = root;
    for k in &keys[..keys.len() - 1] {
        let slot = node
            .entry((*k).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            let old = std::mem::replace(slot, Value::Object(Map::new()));
            if let Value::Object(m) = slot {
                m.insert(COUNT_KEY.into(), old);
            }
        }
        let Value::Object(m) = slot else { return };
        node = m;
    }
    let last = keys[keys.len() - 1].to_string();
    match node.get_mut(&last) {
        Some(Value::Object(m)) => {
            m.insert(COUNT_KEY.into(), value);
        }
        _ => {
            node.insert(last, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<PushDoc, Error> {
        PushDoc::from_json(s.as_bytes(), 32)
    }

    #[test]
    fn parses_trees_and_arrays() {
        let d = parse(r#"{"a":{"b":1,"c":[1,2,null],"d":true,"e":null,"f":"hi"}}"#).unwrap();
        assert_eq!(d.trees.len(), 1);
        let d = parse(r#"[{"default_action":"add","a":1},{"defaultaction":"max","b":2}]"#).unwrap();
        assert_eq!(d.trees[0].action, Some(Action::Add));
        assert_eq!(d.trees[1].action, Some(Action::Max));
        assert_eq!(d.max_new_nodes(), 2);
    }

    #[test]
    fn refuses_bad_documents_with_names() {
        let e = parse(r#"{"a":{"b,c":1}}"#).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadKey);
        assert!(e.message().contains("\"b,c\""), "{e}");
        assert!(e.message().contains("\"a\""), "{e}");
        assert_eq!(parse("[1,2]").unwrap_err().kind(), ErrorKind::BadDocument);
        assert_eq!(parse("3").unwrap_err().kind(), ErrorKind::BadDocument);
        assert_eq!(parse("{").unwrap_err().kind(), ErrorKind::BadDocument);
        assert_eq!(
            parse(r#"{"a":[1,"x"]}"#).unwrap_err().kind(),
            ErrorKind::BadValue
        );
        assert_eq!(
            parse(r#"{"default_action":"median","a":1}"#)
                .unwrap_err()
                .kind(),
            ErrorKind::BadDocument
        );
        let deep = format!("{}1{}", r#"{"a":"#.repeat(40), "}".repeat(40));
        assert_eq!(parse(&deep).unwrap_err().kind(), ErrorKind::TooDeep);
        // serde_json's own recursion limit guards the stack before our depth check.
        let bomb = format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
        assert_eq!(parse(&bomb).unwrap_err().kind(), ErrorKind::BadDocument);
    }
}
