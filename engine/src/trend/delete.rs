//! Deleting series (`DELETE /api/q/<pattern>`, issue 18), run by the writer thread in
//! order with the intervals queued before it.
//!
//! A deleted series' id gets a tombstone (`dead` + id in the `State` keyspace) and
//! loses its path, totals and chunks at once. Its points in interval blobs not yet
//! compacted stay until compaction folds those blobs, which skips them: nothing reads
//! them meanwhile, since every read goes through the index and the tombstone keeps the
//! id out of it on open too (the blobs also name the paths they introduced). Ids are
//! never given again: the index's next id counts the dead ones, so a path pushed again
//! after a delete is a new series.

use super::blob::chunk_key;
use super::error::Result;
use super::shared::Core;
use super::storage::{Op, Space, Storage};
use crate::Pattern;

/// Key prefix of the tombstones in the `State` keyspace.
const DEAD: &[u8] = b"dead";

fn dead_key(id: u32) -> Vec<u8> {
    let mut k = DEAD.to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The ids deleted so far (read on open).
pub(super) fn dead_ids(storage: &dyn Storage) -> Result<Vec<u32>> {
    Ok(super::storage::scan_prefix(storage, Space::State, DEAD)?
        .into_iter()
        .filter_map(|(k, _)| Some(u32::from_be_bytes(k.get(DEAD.len()..)?.try_into().ok()?)))
        .collect())
}

/// Removes the series `pattern` selects and returns their ids (durable once this
/// returns).
pub(super) fn forget(core: &Core, pattern: &Pattern) -> Result<Vec<u32>> {
    let _w = core.write_lock.lock();
    let ids: Vec<u32> = core
        .index
        .read()
        .matching(pattern)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    if ids.is_empty() {
        return Ok(ids);
    }
    let archives = core.cfg.retention.archives().len();
    let mut ops = Vec::new();
    for &id in &ids {
        let key = id.to_be_bytes().to_vec();
        ops.push(Op::Put(Space::State, dead_key(id), Vec::new()));
        ops.push(Op::Delete(Space::Paths, key.clone()));
        ops.push(Op::Delete(Space::Totals, key));
        for a in 0..archives {
            let a = u8::try_from(a).unwrap_or(u8::MAX);
            let from = chunk_key(a, id, i64::MIN);
            let until = chunk_key(a, id, i64::MAX);
            for (k, _) in core.storage.scan(Space::Chunks, &from, Some(&until))? {
                ops.push(Op::Delete(Space::Chunks, k.to_vec()));
            }
            ops.push(Op::Delete(Space::Chunks, until.to_vec()));
        }
    }
    // Readers must not see a series half gone.
    let _view = core.view.write();
    core.storage.apply(ops)?;
    core.storage.flush()?;
    let mut index = core.index.write();
    for &id in &ids {
        index.remove(id);
    }
    Ok(ids)
}
