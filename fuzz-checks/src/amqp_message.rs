//! The AMQP source's message decoder (`source::decode`: size limit, tree or Psistats by
//! exchange, host from the routing key), then the engine, as the consumer runs it.
//! Checks: no panic anywhere on the way; a refusal is one of the counted reasons; a
//! tree message is what `/push` would take (same acceptance as `PushDoc::from_json`).
//!
//! Input: byte 0: bit 0 = tree exchange; then the routing key up to `\n`; the rest is
//! the body.

use treestat_amqp::source::{Limits, Message, decode};
use treestat_engine::{Action, Engine, EngineConfig, ErrorKind, PushDoc};

const REASONS: [&str; 5] = [
    "too_large",
    "routing_key",
    "not_json",
    "not_object",
    "too_deep",
];

/// Checks one input; panics on a finding.
pub fn run(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let split = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let (key, body) = (&rest[..split], rest.get(split + 1..).unwrap_or(&[]));
    let key = String::from_utf8_lossy(key);
    let limits = Limits {
        max_bytes: 4096,
        action: Action::Average,
    };
    let engine = Engine::new(EngineConfig::default()).unwrap();
    let depth = engine.config().limits.max_depth;
    match decode(flags & 1 == 1, &key, body, Some(1_700_000_000), &limits) {
        Ok(Message::Tree(bytes)) => {
            let pushed = engine.push_json(bytes);
            let parsed = PushDoc::from_json(bytes, depth);
            match (&pushed, &parsed) {
                (Ok(_), Ok(_)) | (Err(_), Err(_)) => {}
                // The engine may still refuse a valid document for its limits or time.
                (Err(e), Ok(_)) => assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::PushTooLarge | ErrorKind::TreeFull | ErrorKind::FutureTime
                    ),
                    "a parsed tree refused: {e}"
                ),
                (Ok(_), Err(e)) => panic!("pushed what the parser refuses: {e}"),
            }
        }
        Ok(Message::Psistats(batch)) => {
            engine
                .apply(&batch)
                .unwrap_or_else(|e| panic!("the engine refused a decoded Psistats message: {e}"));
        }
        Err(reason) => {
            assert!(REASONS.contains(&reason), "unknown reason {reason:?}");
            if reason == "too_large" {
                assert!(body.len() > limits.max_bytes);
            }
        }
    }
}
