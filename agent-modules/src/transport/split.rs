//! Splits a push document into several that each fit a size limit (UDP datagrams),
//! without losing a leaf or changing its action or its time stamp: every part carries
//! the top-level header keys (`default_action`, `timestamp`) of the tree it came from.

use serde_json::{Map, Value as Json};

use crate::tree::insert;
// The top-level keys of a tree that describe it rather than hold a metric.
use treestat_model::HEADER_KEYS;

/// A tree's header: its [`HEADER_KEYS`] entries, in document order.
type Header = Vec<(String, Json)>;

/// One leaf of a push: its tree's header, path and value.
type FlatLeaf = (Header, Vec<String>, Json);

/// Serialises `doc` (a tree or an array of trees) into documents of at most `max`
/// bytes each. Returns the documents and the number of leaves too large to fit alone
/// (left out).
pub fn split(doc: &Json, max: usize) -> (Vec<Vec<u8>>, usize) {
    let whole = serde_json::to_vec(doc).unwrap_or_default();
    if whole.len() <= max {
        return (vec![whole], 0);
    }
    let mut leaves = Vec::new();
    let trees: Vec<&Json> = match doc {
        Json::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    for t in trees {
        if let Json::Object(m) = t {
            let header: Header = m
                .iter()
                .filter(|(k, _)| HEADER_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            flatten(m, &mut Vec::new(), &header, &mut leaves);
        }
    }
    let mut out = Vec::new();
    let mut too_big = 0;
    pack(&leaves, max, &mut out, &mut too_big);
    (out, too_big)
}

fn flatten(
    m: &Map<String, Json>,
    path: &mut Vec<String>,
    header: &Header,
    out: &mut Vec<FlatLeaf>,
) {
    for (k, v) in m {
        if path.is_empty() && HEADER_KEYS.contains(&k.as_str()) {
            continue;
        }
        path.push(k.clone());
        match v {
            Json::Object(child) => flatten(child, path, header, out),
            leaf => out.push((header.clone(), path.clone(), leaf.clone())),
        }
        path.pop();
    }
}

fn build(leaves: &[FlatLeaf]) -> Vec<u8> {
    let mut trees: Vec<(&Header, Map<String, Json>)> = Vec::new();
    for (header, path, value) in leaves {
        let idx = match trees.iter().position(|(h, _)| *h == header) {
            Some(i) => i,
            None => {
                let m: Map<String, Json> = header.iter().cloned().collect();
                trees.push((header, m));
                trees.len() - 1
            }
        };
        insert(&mut trees[idx].1, path, value.clone());
    }
    let doc = Json::Array(trees.into_iter().map(|(_, m)| Json::Object(m)).collect());
    serde_json::to_vec(&doc).unwrap_or_default()
}

fn pack(leaves: &[FlatLeaf], max: usize, out: &mut Vec<Vec<u8>>, too_big: &mut usize) {
    if leaves.is_empty() {
        return;
    }
    let doc = build(leaves);
    if doc.len() <= max {
        out.push(doc);
    } else if leaves.len() == 1 {
        *too_big += 1;
    } else {
        let (a, b) = leaves.split_at(leaves.len() / 2);
        pack(a, max, out, too_big);
        pack(b, max, out, too_big);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_documents_split_without_losing_leaves() {
        let mut net = Map::new();
        for i in 0..200 {
            net.insert(format!("eth{i}"), Json::from(i));
        }
        let doc = serde_json::json!([
            {"default_action": "average", "network": {"h": net}},
            {"default_action": "last", "uptime": {"h": {"seconds": 5}}}
        ]);
        let (parts, too_big) = split(&doc, 300);
        assert_eq!(too_big, 0);
        assert!(parts.len() > 5);
        let mut seen = 0;
        for p in &parts {
            assert!(p.len() <= 300);
            let v: Json = serde_json::from_slice(p).unwrap();
            for t in v.as_array().unwrap() {
                assert!(t.get("default_action").is_some());
                let mut leaves = Vec::new();
                flatten(
                    t.as_object().unwrap(),
                    &mut Vec::new(),
                    &Vec::new(),
                    &mut leaves,
                );
                seen += leaves.len();
            }
        }
        assert_eq!(seen, 201);
    }

    #[test]
    fn every_part_keeps_its_trees_time_stamp() {
        let mut net = Map::new();
        for i in 0..50 {
            net.insert(format!("eth{i}"), Json::from(i));
        }
        let doc = serde_json::json!([
            {"default_action": "add", "timestamp": 1_700_000_000, "network": {"h": net}},
            {"default_action": "last", "timestamp": 1_700_000_001, "uptime": {"h": {"s": 5}}}
        ]);
        let (parts, too_big) = split(&doc, 200);
        assert_eq!(too_big, 0);
        assert!(parts.len() > 2);
        let mut leaves = 0;
        for p in &parts {
            let v: Json = serde_json::from_slice(p).unwrap();
            for t in v.as_array().unwrap() {
                let (action, ts) = (t["default_action"].clone(), t["timestamp"].clone());
                let want = if action == "add" {
                    1_700_000_000
                } else {
                    1_700_000_001
                };
                assert_eq!(ts, want, "{t}");
                let mut l = Vec::new();
                flatten(t.as_object().unwrap(), &mut Vec::new(), &Vec::new(), &mut l);
                assert!(l.iter().all(|(_, path, _)| path[0] != "timestamp"), "{t}");
                leaves += l.len();
            }
        }
        assert_eq!(leaves, 51);
    }

    #[test]
    fn a_leaf_too_large_alone_is_counted() {
        let doc = serde_json::json!({"a": "x".repeat(500), "b": 1});
        let (parts, too_big) = split(&doc, 100);
        assert_eq!((parts.len(), too_big), (1, 1));
    }
}
