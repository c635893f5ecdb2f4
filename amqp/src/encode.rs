//! The agent's tree as AMQP messages: one treestat JSON document, or Psistats messages
//! (one per host and reporter) for consumers that speak Psistats.
//!
//! The agent's tree is `{<group>: {<host>: {<metric>: value}}}`, or an array of such
//! trees each with a `default_action` (docs/CONCEPTS.md, "The push format";
//! docs/AGENT.md). For Psistats the groups map to the reporters the Psistats client
//! sends:
//!
//! | agent group | Psistats message |
//! |---|---|
//! | `cpu` (`core<N>` or `<N>` children) | `{"cpu": [busy per core]}`, ordered by core number; busy = the core's number, or `100 - idle - iowait` from its fields; without cores, the host-wide value as one element |
//! | `memory` / `mem` | `{"mem": percent}`: a number as is, else `used_percent`/`percent`, else `used / total * 100` |
//! | `ip` / `ipaddr` | `{"ipaddr": {<iface>: "<addresses>"}}` |
//! | `disk` / `hddspace` | `{"hddspace": {<mount>: percent}}`: a number as is, else `used_percent` |
//! | `temperature` / `sensors` | `{"sensors": {"<keys joined by space>": {"value": v, "unit": "C"}}}` |
//! | `hddtemps` | `{"hddtemps": {"<keys joined by space>": {"value": v, "unit": "C"}}}` |
//! | anything else | `{<group>: <the host's subtree>}` (the source nests it the same way) |
//!
//! The routing key is `psistats.<host>`. Values the mapping cannot use (a cpu core with
//! neither a number nor `idle`) are left out rather than guessed.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// One message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Routing key.
    pub routing_key: String,
    /// JSON body.
    pub body: Vec<u8>,
}

/// The whole tree as one JSON message with `routing_key`.
pub fn json_message(tree: &Value, routing_key: &str) -> Message {
    Message {
        routing_key: routing_key.to_string(),
        body: tree.to_string().into_bytes(),
    }
}

/// The ancestors of a subtree being routed: each key with the action keys
/// (`default_action`) its node carried, so a split-off part keeps its inherited action.
type Ancestors<'a> = Vec<(&'a str, Vec<(&'a String, &'a Value)>)>;

/// Splits a push document (a tree or an array of trees) by shard key
/// ([`treestat_model::shard_key`] at `depth`): one document per key, in key order, each
/// an array of the parts of the input trees under that key. Every part keeps its tree's
/// header (`default_action`, `timestamp`) and the action keys of the ancestors it was
/// cut from, so the shard applies exactly what the whole push would have applied there.
/// Leaves shallower than `depth` are keyed by their whole path.
pub fn shard_groups(doc: &Value, depth: usize) -> Vec<(String, Value)> {
    let trees: Vec<&Value> = match doc {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for t in trees {
        let Value::Object(top) = t else { continue };
        let header: Map<String, Value> = top
            .iter()
            .filter(|(k, _)| treestat_model::HEADER_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // This tree's part per key, so each key gets one part per input tree.
        let mut parts: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        let mut ancestors: Ancestors<'_> = Vec::new();
        route(top, depth.max(1), true, &mut ancestors, &header, &mut parts);
        for (key, part) in parts {
            groups.entry(key).or_default().push(Value::Object(part));
        }
    }
    groups
        .into_iter()
        .map(|(k, parts)| (k, Value::Array(parts)))
        .collect()
}

/// Walks `node` down to `depth` levels below the top, adding each subtree found there
/// (or a leaf above it) to its key's part.
fn route<'a>(
    node: &'a Map<String, Value>,
    depth: usize,
    top: bool,
    ancestors: &mut Ancestors<'a>,
    header: &Map<String, Value>,
    parts: &mut BTreeMap<String, Map<String, Value>>,
) {
    let skip = |k: &str| {
        if top {
            treestat_model::HEADER_KEYS.contains(&k)
        } else {
            treestat_model::is_action_key(k)
        }
    };
    for (k, v) in node {
        if skip(k) {
            continue;
        }
        match v {
            Value::Object(child) if ancestors.len() + 1 < depth => {
                let actions = child
                    .iter()
                    .filter(|(ck, _)| treestat_model::is_action_key(ck))
                    .collect();
                ancestors.push((k, actions));
                route(child, depth, false, ancestors, header, parts);
                ancestors.pop();
            }
            _ => {
                let mut path: Vec<&str> = ancestors.iter().map(|(a, _)| *a).collect();
                path.push(k);
                let key = treestat_model::shard_key(&path, depth);
                let part = parts.entry(key).or_insert_with(|| header.clone());
                let mut slot = part;
                for (a, actions) in ancestors.iter() {
                    let next = slot
                        .entry((*a).to_string())
                        .or_insert_with(|| Value::Object(Map::new()));
                    let Value::Object(m) = next else { return };
                    for (ak, av) in actions {
                        m.insert((*ak).clone(), (*av).clone());
                    }
                    slot = m;
                }
                slot.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The tree as Psistats messages, hosts and groups in key order.
pub fn psistats_messages(tree: &Value) -> Vec<Message> {
    let mut hosts: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    let trees = match tree {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    for t in trees {
        let Value::Object(groups) = t else { continue };
        for (group, per_host) in groups {
            if treestat_model::is_action_key(group) {
                continue;
            }
            let Value::Object(per_host) = per_host else {
                continue;
            };
            for (host, sub) in per_host {
                let slot = hosts
                    .entry(host.clone())
                    .or_default()
                    .entry(group.clone())
                    .or_insert(Value::Null);
                merge(slot, sub);
            }
        }
    }
    let mut out = Vec::new();
    for (host, groups) in hosts {
        let routing_key = format!("psistats.{host}");
        for (group, sub) in &groups {
            if let Some(body) = reporter(group, sub) {
                out.push(Message {
                    routing_key: routing_key.clone(),
                    body: body.to_string().into_bytes(),
                });
            }
        }
    }
    out
}

/// Deep-merges `new` into `slot` (objects key by key; anything else replaces).
fn merge(slot: &mut Value, new: &Value) {
    match (slot, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (slot, new) => *slot = new.clone(),
    }
}

/// The Psistats message for one agent group of one host, if it has anything to say.
fn reporter(group: &str, sub: &Value) -> Option<Value> {
    match group {
        "cpu" => cpu(sub).map(|cores| json!({ "cpu": cores })),
        "memory" | "mem" => mem(sub).map(|m| json!({ "mem": m })),
        "ip" | "ipaddr" => {
            let mut m = Map::new();
            if let Value::Object(ifaces) = sub {
                for (iface, v) in ifaces {
                    if let Value::String(s) = v {
                        m.insert(iface.clone(), Value::String(s.clone()));
                    }
                }
            }
            (!m.is_empty()).then(|| json!({ "ipaddr": m }))
        }
        "disk" | "hddspace" => {
            let mut m = Map::new();
            if let Value::Object(mounts) = sub {
                for (mount, v) in mounts {
                    let pct = v.as_f64().or_else(|| field(v, "used_percent"));
                    if let Some(p) = pct {
                        m.insert(mount.clone(), json!(p));
                    }
                }
            }
            (!m.is_empty()).then(|| json!({ "hddspace": m }))
        }
        "temperature" | "sensors" => readings(sub).map(|r| json!({ "sensors": r })),
        "hddtemps" => readings(sub).map(|r| json!({ "hddtemps": r })),
        other => (!sub.is_null()).then(|| json!({ other: sub })),
    }
}

fn field(v: &Value, name: &str) -> Option<f64> {
    v.get(name).and_then(Value::as_f64)
}

/// Busy percent of a cpu subtree: a number, or `100 - idle - iowait`.
fn busy(v: &Value) -> Option<f64> {
    if let Some(n) = v.as_f64() {
        return Some(n);
    }
    let idle = field(v, "idle")?;
    let iowait = field(v, "iowait").unwrap_or(0.0);
    Some((100.0 - idle - iowait).clamp(0.0, 100.0))
}

fn cpu(sub: &Value) -> Option<Vec<f64>> {
    let mut cores: BTreeMap<u32, f64> = BTreeMap::new();
    if let Value::Object(map) = sub {
        for (k, v) in map {
            let n = k.strip_prefix("core").unwrap_or(k);
            if let (Ok(n), Some(b)) = (n.parse::<u32>(), busy(v)) {
                cores.insert(n, b);
            }
        }
    }
    if cores.is_empty() {
        return busy(sub).map(|b| vec![b]);
    }
    Some(cores.into_values().collect())
}

fn mem(sub: &Value) -> Option<f64> {
    if let Some(n) = sub.as_f64() {
        return Some(n);
    }
    if let Some(p) = field(sub, "used_percent").or_else(|| field(sub, "percent")) {
        return Some(p);
    }
    let (used, total) = (field(sub, "used")?, field(sub, "total")?);
    (total > 0.0).then(|| used * 100.0 / total)
}

/// Every numeric leaf as `{"<keys joined by space>": {"value": v, "unit": "C"}}`.
fn readings(sub: &Value) -> Option<Map<String, Value>> {
    fn walk(prefix: &str, v: &Value, out: &mut Map<String, Value>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix} {k}")
                    };
                    walk(&name, v, out);
                }
            }
            Value::Number(n) if !prefix.is_empty() => {
                out.insert(prefix.to_string(), json!({"value": n, "unit": "C"}));
            }
            _ => {}
        }
    }
    let mut out = Map::new();
    walk("", sub, &mut out);
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_groups_cut_each_tree_by_its_top_level_keys() {
        let doc = json!([
            {"default_action": "add", "timestamp": 1_700_000_000,
             "web": {"h1": {"hits": 1}}, "db": {"q": 2}},
            {"default_action": "last", "web": {"h2": {"up": 1}}, "x.y": 3}
        ]);
        let g = shard_groups(&doc, 1);
        let keys: Vec<&str> = g.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["db", "web", "x.y"]);
        assert_eq!(
            g[1].1,
            json!([
                {"default_action": "add", "timestamp": 1_700_000_000, "web": {"h1": {"hits": 1}}},
                {"default_action": "last", "web": {"h2": {"up": 1}}}
            ])
        );
        assert_eq!(g[2].1, json!([{"default_action": "last", "x.y": 3}]));
        // A single tree (not an array) works the same.
        let g = shard_groups(&json!({"a": 1, "b": {"c": 2}}), 1);
        assert_eq!(
            g,
            [
                ("a".into(), json!([{"a": 1}])),
                ("b".into(), json!([{"b": {"c": 2}}]))
            ]
        );
    }

    #[test]
    fn deeper_shard_keys_keep_the_actions_of_the_levels_cut() {
        let doc = json!({"web": {"default_action": "max", "h1": {"ms": 5}, "h2": 7}, "top": 1});
        let g = shard_groups(&doc, 2);
        assert_eq!(
            g,
            [
                ("top".into(), json!([{"top": 1}])),
                (
                    "web,h1".into(),
                    json!([{"web": {"default_action": "max", "h1": {"ms": 5}}}])
                ),
                (
                    "web,h2".into(),
                    json!([{"web": {"default_action": "max", "h2": 7}}])
                ),
            ]
        );
    }

    fn decoded(msgs: &[Message]) -> Vec<(String, Value)> {
        msgs.iter()
            .map(|m| {
                (
                    m.routing_key.clone(),
                    serde_json::from_slice(&m.body).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn agent_tree_becomes_one_message_per_reporter() {
        let tree = json!([
            {"default_action": "average",
             "cpu": {"h1": {
                 "core0": {"user": 10.0, "idle": 80.0, "iowait": 5.0},
                 "core1": {"user": 1.0, "idle": 99.0},
                 "user": 5.5, "idle": 89.5}},
             "memory": {"h1": {"total": 200.0, "used": 50.0, "free": 150.0}},
             "disk": {"h1": {"/": {"used_percent": 41.0, "total": 9.0}}},
             "temperature": {"h1": {"coretemp": {"Core 0": 48.0}}},
             "load": {"h1": {"1m": 0.5}}},
            {"default_action": "last", "ip": {"h1": {"eth0": "10.0.0.5"}}}
        ]);
        let got = decoded(&psistats_messages(&tree));
        let key = "psistats.h1".to_string();
        assert_eq!(
            got,
            vec![
                (key.clone(), json!({"cpu": [15.0, 1.0]})),
                (key.clone(), json!({"hddspace": {"/": 41.0}})),
                (key.clone(), json!({"ipaddr": {"eth0": "10.0.0.5"}})),
                (key.clone(), json!({"load": {"1m": 0.5}})),
                (key.clone(), json!({"mem": 25.0})),
                (
                    key,
                    json!({"sensors": {"coretemp Core 0": {"value": 48.0, "unit": "C"}}})
                ),
            ]
        );
    }

    #[test]
    fn several_hosts_get_their_own_routing_key_and_odd_shapes_are_skipped() {
        let tree = json!({
            "cpu": {"a": {"0": 12.5, "1": 3.0}, "b": {"idle": 75.0}, "c": {"weird": "x"}},
            "mem": {"a": 34.1},
            "flat": 3
        });
        let got = decoded(&psistats_messages(&tree));
        assert_eq!(
            got,
            vec![
                ("psistats.a".into(), json!({"cpu": [12.5, 3.0]})),
                ("psistats.a".into(), json!({"mem": 34.1})),
                ("psistats.b".into(), json!({"cpu": [25.0]})),
            ]
        );
    }

    #[test]
    fn json_message_is_the_tree() {
        let tree = json!({"g": {"h": {"m": 1}}});
        let m = json_message(&tree, "treestat.h");
        assert_eq!(m.routing_key, "treestat.h");
        assert_eq!(serde_json::from_slice::<Value>(&m.body).unwrap(), tree);
    }
}
