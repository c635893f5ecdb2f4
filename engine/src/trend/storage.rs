//! The storage trait under the trend store, and its two implementations: sled (the
//! real one, one `sled::Db` per data directory) and an in-memory `BTreeMap` (for unit
//! tests of the store logic and for tools that need a scratch store).
//!
//! The store needs very little: a handful of named keyspaces of ordered byte keys,
//! point reads, range scans, and an atomic batch across keyspaces. The batch is what
//! makes compaction crash-safe: each batch of folded chunks carries the mark of how
//! far the fold got, so a crash never counts a point twice (see `compact.rs`).
//!
//! sled keeps the `Intervals` keyspace in parts (see [`PART_BYTES`]): an interval's
//! value (all its points, megabytes at 100k leaves) is split over keys
//! `interval key + part index`, so sled never stores it in one of its blob files,
//! which it cannot recover from in process after the disk filled.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use parking_lot::RwLock;
pub use sled::IVec as Bytes;

use super::error::{Result, TrendError, TrendErrorKind};

/// The keyspaces of the trend store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Space {
    /// Small metadata: saved views, tail checkpoints, store settings (UTF-8 keys).
    Meta,
    /// Interned series: `id (u32 BE)` -> path.
    Paths,
    /// One blob per closed interval: `start (i64, order-preserving)` -> all its points.
    Intervals,
    /// Compressed per-series chunks: `archive, id, chunk start` -> Gorilla-coded points.
    Chunks,
    /// Leaf totals as of the last compaction: `id` -> action and stats.
    Totals,
    /// Markers older than the interval blobs: `ts, interval, seq` -> marker.
    Markers,
    /// The store's own state (newest data time, expiry marks).
    State,
}

impl Space {
    /// Every keyspace, in a fixed order.
    pub const ALL: [Space; 7] = [
        Space::Meta,
        Space::Paths,
        Space::Intervals,
        Space::Chunks,
        Space::Totals,
        Space::Markers,
        Space::State,
    ];

    /// The keyspace's name (the sled tree name).
    pub fn name(self) -> &'static str {
        match self {
            Space::Meta => "meta",
            Space::Paths => "paths",
            Space::Intervals => "intervals",
            Space::Chunks => "chunks",
            Space::Totals => "totals",
            Space::Markers => "markers",
            Space::State => "state",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One write in an atomic batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Sets `key` to `value`.
    Put(Space, Vec<u8>, Vec<u8>),
    /// Removes `key` (no error if absent).
    Delete(Space, Vec<u8>),
}

/// What the trend store needs from a key-value store. Values come back as [`Bytes`]
/// (sled's reference-counted buffer) so reading a large interval blob from the cache
/// does not copy it.
pub trait Storage: Send + Sync + 'static {
    /// The value at `key`.
    ///
    /// # Errors
    /// A storage failure.
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Bytes>>;

    /// Sets one key.
    ///
    /// # Errors
    /// A storage failure.
    fn put(&self, space: Space, key: &[u8], value: &[u8]) -> Result<()>;

    /// Removes one key.
    ///
    /// # Errors
    /// A storage failure.
    fn delete(&self, space: Space, key: &[u8]) -> Result<()>;

    /// Every pair with `from <= key < until` (`until: None`: to the end), in key order.
    ///
    /// # Errors
    /// A storage failure.
    fn scan(&self, space: Space, from: &[u8], until: Option<&[u8]>) -> Result<Vec<(Bytes, Bytes)>>;

    /// Applies every op or none (across keyspaces).
    ///
    /// # Errors
    /// A storage failure; nothing was applied.
    fn apply(&self, ops: Vec<Op>) -> Result<()>;

    /// Makes everything written so far durable.
    ///
    /// # Errors
    /// A storage failure.
    fn flush(&self) -> Result<()>;

    /// Bytes the store occupies on disk (0 in memory).
    ///
    /// # Errors
    /// A storage failure.
    fn size_on_disk(&self) -> Result<u64>;

    /// Starts afresh after a failure, keeping what is durable (sled: closes the
    /// database and opens it again; a sled that saw an I/O error fails every later
    /// call until then). Nothing to do by default.
    ///
    /// # Errors
    /// The store cannot be opened again (yet).
    fn reopen(&self) -> Result<()> {
        Ok(())
    }
}

/// Every pair whose key starts with `prefix`.
///
/// # Errors
/// A storage failure.
pub fn scan_prefix(st: &dyn Storage, space: Space, prefix: &[u8]) -> Result<Vec<(Bytes, Bytes)>> {
    match prefix_end(prefix) {
        Some(end) => st.scan(space, prefix, Some(&end)),
        None => st.scan(space, prefix, None),
    }
}

/// The smallest key greater than every key starting with `prefix` (`None`: no bound).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The most bytes of an interval value sled stores under one key.
///
/// Why parts: sled 0.34.7 writes a log item over its blob threshold (a segment / 4
/// less a header: about 128 KiB with the default 512 KiB segments) to a blob file of
/// its own, and after ENOSPC a `Db` holding blob writes blocks forever in flush and
/// drop, keeping the folder's lock (measured on an 8 MB tmpfs), so only a new process
/// could open the store again. With small values a failed `Db` is simply dropped and
/// the folder opened again. sled splits a leaf by count (more than 16 items), not by
/// size, and writes whole leaves when it consolidates them: 16 parts of 4 KiB (64 KiB)
/// keep even a whole leaf well under the threshold.
pub const PART_BYTES: usize = 4096;

/// The length of a key in `Space::Intervals` (`ts_key`); a part's key is that plus a
/// `u32` BE part index. A bare 8-byte key is the layout before parts (the whole value
/// under one key): still read, and replaced by parts at the next put.
const INTERVAL_KEY_LEN: usize = 8;

/// The key of part `index` of the interval value at `key`.
fn part_key(key: &[u8], index: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 4);
    k.extend_from_slice(key);
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// The interval key a stored key belongs to, and its part index (`None`: a whole value
/// in the layout before parts).
fn split_part_key(raw: &[u8]) -> (&[u8], Option<u32>) {
    match raw.split_at_checked(INTERVAL_KEY_LEN) {
        Some((key, idx)) if idx.len() == 4 => {
            let idx: [u8; 4] = idx.try_into().unwrap_or_default();
            (key, Some(u32::from_be_bytes(idx)))
        }
        _ => (raw, None),
    }
}

/// One stored value from the pairs stored under its key (in key order: a whole value
/// of the old layout first, then parts 0, 1, ...). Parts win over an old whole value
/// (a put removes it in the same batch, so both are never there together).
fn join_parts(key: &[u8], stored: Vec<(Bytes, Bytes)>) -> Result<Bytes> {
    let mut whole = None;
    let mut parts = Vec::with_capacity(stored.len());
    for (raw, v) in stored {
        match split_part_key(&raw).1 {
            None => whole = Some(v),
            Some(i) => {
                if usize::try_from(i).ok() != Some(parts.len()) {
                    return Err(TrendError::corrupt(format!(
                        "interval {key:02x?}: part {i} follows {} parts",
                        parts.len()
                    )));
                }
                parts.push(v);
            }
        }
    }
    if parts.len() == 1 {
        return Ok(parts.swap_remove(0));
    }
    if parts.is_empty() {
        return whole.ok_or_else(|| TrendError::corrupt("an interval with no parts"));
    }
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in &parts {
        out.extend_from_slice(p);
    }
    Ok(Bytes::from(out))
}

/// How long opening waits for a lock held by a closing `sled::Db` of this process.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The sled implementation: one tree per keyspace in one `sled::Db`.
///
/// What sled 0.34.7 does when its disk fills (measured on an 8 MB tmpfs): the call
/// that hits ENOSPC returns an error, and from then on that `Db` fails every write
/// and flush even after space returns (with large values, kept in sled's blob files,
/// the first flush after space returns may instead block forever, and so may dropping
/// the `Db`: hence interval values in parts, [`PART_BYTES`]). Hence
/// [`Storage::reopen`]: the trend writer, after an error, drops the `Db` and opens a
/// fresh one before it retries.
pub struct SledStorage {
    dir: std::path::PathBuf,
    cache_bytes: u64,
    /// Swapped whole by `reopen`; each call clones the `Arc` and works on it unlocked,
    /// so a call stuck inside sled never blocks a reopen (or other calls).
    /// `None` while a reopen is under way or after it failed (calls then fail).
    db: RwLock<Option<Arc<Sled>>>,
    /// Held for writing by every write to `Space::Intervals` from reading which parts
    /// a key has to applying the batch that replaces them, so two writes of one key
    /// never leave a stale part behind; held for reading by every read of intervals, as
    /// sled shows a batch to a concurrent reader part by part (a `/graph` read during a
    /// write got some parts of an interval and answered 500 in the soak).
    interval_writes: RwLock<()>,
}

struct Sled {
    db: sled::Db,
    trees: Vec<sled::Tree>,
}

impl Sled {
    fn tree(&self, space: Space) -> &sled::Tree {
        &self.trees[space.index()]
    }

    /// The stored pairs (a whole old-layout value and/or parts) of interval `key`.
    fn interval_pairs(&self, key: &[u8]) -> Result<Vec<(Bytes, Bytes)>> {
        let tree = self.tree(Space::Intervals);
        let iter = match prefix_end(key) {
            Some(end) => tree.range(key..end.as_slice()),
            None => tree.range(key..),
        };
        let mut out = Vec::new();
        for kv in iter {
            let (raw, v) = kv?;
            if split_part_key(&raw).0 == key {
                out.push((raw, v));
            }
        }
        Ok(out)
    }

    /// `ops` as sled writes: each interval put or delete becomes writes of parts that
    /// replace every part stored before (and an old-layout whole value). Later writes
    /// of one key in a batch win over earlier ones, as in sled's own batches.
    /// Callers hold `interval_writes`.
    fn expand(&self, ops: Vec<Op>) -> Result<Vec<Op>> {
        use std::collections::HashMap;
        // The stored keys of each interval touched, as of the ops so far.
        let mut present: HashMap<Vec<u8>, Vec<Vec<u8>>> = HashMap::new();
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            let key = match &op {
                Op::Put(Space::Intervals, k, _) | Op::Delete(Space::Intervals, k) => k.clone(),
                _ => {
                    out.push(op);
                    continue;
                }
            };
            let stored = match present.remove(&key) {
                Some(s) => s,
                None => self
                    .interval_pairs(&key)?
                    .into_iter()
                    .map(|(k, _)| k.to_vec())
                    .collect(),
            };
            let mut now = Vec::new();
            let mut parts = 0u32;
            if let Op::Put(_, _, value) = &op {
                // An empty value is one empty part, so the key still exists.
                let chunks: Vec<&[u8]> = if value.is_empty() {
                    vec![&[]]
                } else {
                    value.chunks(PART_BYTES).collect()
                };
                for (i, part) in chunks.into_iter().enumerate() {
                    let i = u32::try_from(i).map_err(|_| {
                        TrendError::new(TrendErrorKind::Storage, "an interval value too large")
                    })?;
                    let pk = part_key(&key, i);
                    now.push(pk.clone());
                    out.push(Op::Put(Space::Intervals, pk, part.to_vec()));
                    parts = i + 1;
                }
            }
            // What the puts above do not overwrite: an old-layout whole value and
            // parts past the new last one.
            for k in stored {
                if split_part_key(&k).1.is_none_or(|i| i >= parts) {
                    out.push(Op::Delete(Space::Intervals, k));
                }
            }
            present.insert(key, now);
        }
        Ok(out)
    }

    /// Applies sled writes atomically: one batch when they all go to one keyspace,
    /// a transaction across keyspaces otherwise.
    fn write(&self, ops: Vec<Op>) -> Result<()> {
        use sled::Transactional;
        use sled::transaction::{ConflictableTransactionError, TransactionError};
        let space = match ops.first() {
            Some(Op::Put(s, ..) | Op::Delete(s, _)) => *s,
            None => return Ok(()),
        };
        let one_space = ops
            .iter()
            .all(|op| matches!(op, Op::Put(s, ..) | Op::Delete(s, _) if *s == space));
        if one_space {
            let mut batch = sled::Batch::default();
            for op in ops {
                match op {
                    Op::Put(_, k, v) => batch.insert(k, v),
                    Op::Delete(_, k) => batch.remove(k),
                }
            }
            self.tree(space).apply_batch(batch)?;
            return Ok(());
        }
        let trees: &[sled::Tree] = &self.trees;
        let res: Result<(), TransactionError<()>> = trees.transaction(|tx| {
            for op in &ops {
                match op {
                    Op::Put(s, k, v) => {
                        tx[s.index()].insert(k.as_slice(), v.as_slice())?;
                    }
                    Op::Delete(s, k) => {
                        tx[s.index()].remove(k.as_slice())?;
                    }
                }
            }
            Ok::<(), ConflictableTransactionError<()>>(())
        });
        res.map_err(|e| match e {
            TransactionError::Abort(()) => {
                TrendError::new(TrendErrorKind::Storage, "trend batch aborted")
            }
            TransactionError::Storage(e) => TrendError::from(e),
        })
    }
}

impl SledStorage {
    /// Opens (or creates) the store in `dir`.
    ///
    /// # Errors
    /// sled cannot open the directory (missing permissions, another process holds it).
    ///
    /// When the directory is still locked by a `sled::Db` of this process that is
    /// shutting down (its I/O threads let go a moment after the last handle drops),
    /// opening retries for up to [`LOCK_WAIT`].
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<SledStorage> {
        Ok(SledStorage {
            dir: dir.to_path_buf(),
            cache_bytes,
            db: RwLock::new(Some(Arc::new(Sled::open(dir, cache_bytes)?))),
            interval_writes: RwLock::new(()),
        })
    }

    fn sled(&self) -> Result<Arc<Sled>> {
        self.db.read().clone().ok_or_else(|| {
            TrendError::new(
                TrendErrorKind::Storage,
                format!(
                    "trend store at {} is closed (reopening it failed)",
                    self.dir.display()
                ),
            )
        })
    }
}

/// Removes snapshots sled left half written in `dir` (`snap.<lsn>.generating`).
///
/// sled 0.34.7 writes a snapshot to `snap.<lsn>.generating` and renames it to
/// `snap.<lsn>` once complete and synced, but when opening it takes the newest of all
/// `snap.*` files, `.generating` ones included: one torn by ENOSPC (an open or a flush
/// on a full disk writes a snapshot) makes every later open fail with "Read corrupted
/// data", in this process and after a restart (measured on an 8 MB tmpfs). Such a
/// file never holds anything the log does not, so it is removed before opening. A
/// closing `Db` of this process that is still writing one only fails its rename.
fn remove_torn_snapshots(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => tracing::warn!(
                    "trend store: removed a half-written sled snapshot {}",
                    entry.path().display()
                ),
                Err(e) => tracing::warn!(
                    "trend store: cannot remove a half-written sled snapshot {}: {e}",
                    entry.path().display()
                ),
            }
        }
    }
}

impl Sled {
    fn open(dir: &Path, cache_bytes: u64) -> Result<Sled> {
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        remove_torn_snapshots(dir);
        let db = loop {
            match sled::Config::new()
                .path(dir)
                .cache_capacity(cache_bytes)
                .open()
            {
                Ok(db) => break db,
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => {
                    return Err(TrendError::new(
                        TrendErrorKind::Storage,
                        format!("cannot open trend store at {}: {e}", dir.display()),
                    ));
                }
            }
        };
        let trees = Space::ALL
            .iter()
            .map(|s| db.open_tree(s.name()))
            .collect::<Result<Vec<_>, sled::Error>>()?;
        Ok(Sled { db, trees })
    }
}

impl Storage for SledStorage {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Bytes>> {
        let sled = self.sled()?;
        if space != Space::Intervals {
            return Ok(sled.tree(space).get(key)?);
        }
        let _r = self.interval_writes.read();
        let stored = sled.interval_pairs(key)?;
        if stored.is_empty() {
            return Ok(None);
        }
        join_parts(key, stored).map(Some)
    }

    fn put(&self, space: Space, key: &[u8], value: &[u8]) -> Result<()> {
        if space == Space::Intervals {
            return self.apply(vec![Op::Put(space, key.to_vec(), value.to_vec())]);
        }
        self.sled()?.tree(space).insert(key, value)?;
        Ok(())
    }

    fn delete(&self, space: Space, key: &[u8]) -> Result<()> {
        if space == Space::Intervals {
            return self.apply(vec![Op::Delete(space, key.to_vec())]);
        }
        self.sled()?.tree(space).remove(key)?;
        Ok(())
    }

    fn scan(&self, space: Space, from: &[u8], until: Option<&[u8]>) -> Result<Vec<(Bytes, Bytes)>> {
        let sled = self.sled()?;
        let tree = sled.tree(space);
        let iter = match until {
            Some(u) => tree.range(from..u),
            None => tree.range(from..),
        };
        if space != Space::Intervals {
            return iter.map(|kv| Ok(kv?)).collect();
        }
        let _r = self.interval_writes.read();
        // Stored pairs come in key order, so an interval's parts are adjacent.
        let mut out = Vec::new();
        let mut group: Vec<(Bytes, Bytes)> = Vec::new();
        for kv in iter {
            let (raw, v) = kv?;
            if let Some((first, _)) = group.first()
                && split_part_key(first).0 != split_part_key(&raw).0
            {
                let key = Bytes::from(split_part_key(first).0);
                out.push((key.clone(), join_parts(&key, std::mem::take(&mut group))?));
            }
            group.push((raw, v));
        }
        if let Some((first, _)) = group.first() {
            let key = Bytes::from(split_part_key(first).0);
            out.push((key.clone(), join_parts(&key, group)?));
        }
        Ok(out)
    }

    fn apply(&self, ops: Vec<Op>) -> Result<()> {
        let sled = self.sled()?;
        let intervals = ops.iter().any(|op| {
            matches!(
                op,
                Op::Put(Space::Intervals, ..) | Op::Delete(Space::Intervals, _)
            )
        });
        if !intervals {
            return sled.write(ops);
        }
        let _w = self.interval_writes.write();
        sled.write(sled.expand(ops)?)
    }

    fn flush(&self) -> Result<()> {
        self.sled()?.db.flush()?;
        Ok(())
    }

    fn size_on_disk(&self) -> Result<u64> {
        Ok(self.sled()?.db.size_on_disk()?)
    }

    fn reopen(&self) -> Result<()> {
        // The old database goes on a thread of its own: its drop may block on sled's
        // flusher when the disk is gone. Opening waits up to LOCK_WAIT for its lock.
        let old = self.db.write().take();
        if let Some(old) = old {
            let dropper = std::thread::Builder::new()
                .name("trend-close".into())
                .spawn(move || drop(old));
            if let Err(e) = dropper {
                tracing::warn!("trend store: no thread to close the old database: {e}");
            }
        }
        let fresh = Arc::new(Sled::open(&self.dir, self.cache_bytes)?);
        *self.db.write() = Some(fresh);
        Ok(())
    }
}

type Map = BTreeMap<Vec<u8>, Bytes>;

/// An in-memory store: a `BTreeMap` per keyspace behind one lock.
#[derive(Default)]
pub struct MemStorage {
    spaces: RwLock<[Map; 7]>,
}

impl MemStorage {
    /// An empty store.
    pub fn new() -> MemStorage {
        MemStorage::default()
    }
}

impl Storage for MemStorage {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Bytes>> {
        Ok(self.spaces.read()[space.index()].get(key).cloned())
    }

    fn put(&self, space: Space, key: &[u8], value: &[u8]) -> Result<()> {
        self.spaces.write()[space.index()].insert(key.to_vec(), Bytes::from(value));
        Ok(())
    }

    fn delete(&self, space: Space, key: &[u8]) -> Result<()> {
        self.spaces.write()[space.index()].remove(key);
        Ok(())
    }

    fn scan(&self, space: Space, from: &[u8], until: Option<&[u8]>) -> Result<Vec<(Bytes, Bytes)>> {
        let g = self.spaces.read();
        let upper = until.map_or(Bound::Unbounded, |u| Bound::Excluded(u.to_vec()));
        Ok(g[space.index()]
            .range((Bound::Included(from.to_vec()), upper))
            .map(|(k, v)| (Bytes::from(k.as_slice()), v.clone()))
            .collect())
    }

    fn apply(&self, ops: Vec<Op>) -> Result<()> {
        let mut g = self.spaces.write();
        for op in ops {
            match op {
                Op::Put(s, k, v) => {
                    g[s.index()].insert(k, Bytes::from(v));
                }
                Op::Delete(s, k) => {
                    g[s.index()].remove(&k);
                }
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn size_on_disk(&self) -> Result<u64> {
        Ok(0)
    }
}

#[cfg(test)]
#[path = "storage_tests.rs"]
mod tests;
