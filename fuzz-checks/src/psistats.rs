//! The Psistats mapping of the AMQP source (`host_of`, `to_batch`). Checks: a message
//! the mapping accepts becomes updates under `psistats,<host>` that a real engine takes
//! whole (the mapping makes every key valid and stays within the depth limit, so a
//! message is never half-applied or refused late); and, as a model of the agent's side,
//! every Psistats message the agent's encoder makes from a tree (valid keys, at most
//! 16 levels under a reporter) is accepted by the mapping.
//!
//! Input: the first line is the routing key, the rest the body; the body is also read
//! as an agent tree for the encoder.

use serde_json::Value;
use treestat_amqp::encode::psistats_messages;
use treestat_amqp::psistats::{self, MAX_DEPTH, ROOT};
use treestat_engine::path::{check_key, check_path};
use treestat_engine::{Action, Engine, EngineConfig};

/// Whether a JSON tree has only valid keys and at most `left` levels.
fn plain_tree(v: &Value, left: usize) -> bool {
    match v {
        Value::Object(m) => {
            left > 0
                && m.iter()
                    .all(|(k, v)| check_key(k).is_ok() && plain_tree(v, left - 1))
        }
        Value::Array(items) => left > 0 && items.iter().all(|v| plain_tree(v, left - 1)),
        _ => true,
    }
}

/// Checks one input; panics on a finding.
pub fn run(data: &[u8]) {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (key, body) = (&data[..split], data.get(split + 1..).unwrap_or(&[]));
    let key = String::from_utf8_lossy(key);
    if let Ok(host) = psistats::host_of(&key) {
        check_key(&host).unwrap_or_else(|e| panic!("host of {key:?}: {host:?} {e}"));
        if let Ok(batch) = psistats::to_batch(&host, body, Action::Last, Some(1_700_000_000)) {
            let prefix = format!("{ROOT},{host},");
            for u in batch.updates() {
                assert!(
                    u.path().starts_with(&prefix),
                    "{:?} outside {prefix:?}",
                    u.path()
                );
                check_path(u.path()).unwrap_or_else(|e| panic!("{:?}: {e}", u.path()));
            }
            let engine = Engine::new(EngineConfig::default()).unwrap();
            engine
                .apply(&batch)
                .unwrap_or_else(|e| panic!("the engine refused a mapped message: {e}"));
        }
    }
    // The agent's encoder: its tree is {group: {host: subtree}} (or an array of them).
    let Ok(tree) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    if !plain_tree(&tree, MAX_DEPTH + 2) {
        return;
    }
    for m in psistats_messages(&tree) {
        let host = psistats::host_of(&m.routing_key)
            .unwrap_or_else(|e| panic!("the encoder's routing key {:?}: {e}", m.routing_key));
        psistats::to_batch(&host, &m.body, Action::Last, None).unwrap_or_else(|e| {
            panic!(
                "the encoder's message {:?} refused: {e}",
                String::from_utf8_lossy(&m.body)
            )
        });
    }
}
