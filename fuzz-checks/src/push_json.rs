//! The JSON push visitor (`PushDoc::from_json`, what `/push`, port 8007 and the AMQP
//! tree exchange run on outside bytes). Model: a document it accepts, written back as
//! JSON, is accepted again and parses to the same document.

use serde_json::{Map, Number, Value};
use treestat_engine::{PushDoc, PushTree, PushValue};

const MAX_DEPTH: usize = 32;

fn number(v: f64) -> Value {
    Value::Number(Number::from_f64(v).expect("an accepted number is finite"))
}

/// One tree as JSON text; written by hand because keys may repeat in a document and a
/// `Map` would fold them.
fn tree_json(t: &PushTree, top: bool) -> String {
    let mut m = Map::new();
    if let Some(a) = t.action {
        m.insert("default_action".into(), Value::String(a.as_str().into()));
    }
    if let Some(ts) = t.ts {
        assert!(top, "a timestamp below the top of a tree");
        m.insert("timestamp".into(), Value::from(ts));
    }
    let mut out = serde_json::to_string(&Value::Object(m)).unwrap();
    out.pop(); // the closing brace
    for (k, v) in &t.entries {
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(k.as_str()).unwrap());
        out.push(':');
        out.push_str(&value_json(v));
    }
    out.push('}');
    out
}

fn value_json(v: &PushValue) -> String {
    match v {
        PushValue::Tree(t) => tree_json(t, false),
        PushValue::Number(x) => number(*x).to_string(),
        PushValue::Samples(xs) => Value::Array(xs.iter().map(|x| number(*x)).collect()).to_string(),
        PushValue::Marker(s) => Value::String(s.clone()).to_string(),
        PushValue::Skip => "null".into(),
        PushValue::BadArray => panic!("validation let a bad array through"),
    }
}

fn doc_json(doc: &PushDoc, as_array: bool) -> String {
    let trees: Vec<String> = doc.trees.iter().map(|t| tree_json(t, true)).collect();
    if as_array || trees.len() != 1 {
        format!("[{}]", trees.join(","))
    } else {
        trees[0].clone()
    }
}

/// Checks one input; panics on a finding.
pub fn run(data: &[u8]) {
    let Ok(doc) = PushDoc::from_json(data, MAX_DEPTH) else {
        return;
    };
    for as_array in [false, true] {
        let text = doc_json(&doc, as_array);
        let again = PushDoc::from_json(text.as_bytes(), MAX_DEPTH)
            .unwrap_or_else(|e| panic!("accepted, written back as {text:?}, refused: {e}"));
        assert_eq!(doc, again, "written back as {text:?}");
    }
}
