//! The storage trait under the trend store, and its two implementations: sled (the
//! real one, one `sled::Db` per data directory) and an in-memory `BTreeMap` (for unit
//! tests of the store logic and for tools that need a scratch store).
//!
//! The store needs very little: a handful of named keyspaces of ordered byte keys,
//! point reads, range scans, and an atomic batch across keyspaces. The batch is what
//! makes compaction crash-safe: folding interval blobs into chunks and deleting the
//! blobs happens in one transaction, so a crash never counts a point twice.

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

/// How long opening waits for a lock held by a closing `sled::Db` of this process.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The sled implementation: one tree per keyspace in one `sled::Db`.
///
/// What sled 0.34.7 does when its disk fills (measured on an 8 MB tmpfs): the call
/// that hits ENOSPC returns an error, and from then on that `Db` fails every write
/// and flush even after space returns (with large values, kept in sled's blob files,
/// the first flush after space returns may instead block forever). Hence
/// [`Storage::reopen`]: the trend writer, after an error, drops the `Db` and opens a
/// fresh one before it retries.
pub struct SledStorage {
    dir: std::path::PathBuf,
    cache_bytes: u64,
    /// Swapped whole by `reopen`; each call clones the `Arc` and works on it unlocked,
    /// so a call stuck inside sled never blocks a reopen (or other calls).
    /// `None` while a reopen is under way or after it failed (calls then fail).
    db: RwLock<Option<Arc<Sled>>>,
}

struct Sled {
    db: sled::Db,
    trees: Vec<sled::Tree>,
}

impl Sled {
    fn tree(&self, space: Space) -> &sled::Tree {
        &self.trees[space.index()]
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

impl Sled {
    fn open(dir: &Path, cache_bytes: u64) -> Result<Sled> {
        let deadline = std::time::Instant::now() + LOCK_WAIT;
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
        Ok(self.sled()?.tree(space).get(key)?)
    }

    fn put(&self, space: Space, key: &[u8], value: &[u8]) -> Result<()> {
        self.sled()?.tree(space).insert(key, value)?;
        Ok(())
    }

    fn delete(&self, space: Space, key: &[u8]) -> Result<()> {
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
        iter.map(|kv| Ok(kv?)).collect()
    }

    fn apply(&self, ops: Vec<Op>) -> Result<()> {
        use sled::Transactional;
        use sled::transaction::{ConflictableTransactionError, TransactionError};
        let sled = self.sled()?;
        let trees: &[sled::Tree] = &sled.trees;
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
mod tests {
    use super::*;

    fn exercise(st: &dyn Storage) {
        st.put(Space::Meta, b"view/a", b"1").unwrap();
        st.put(Space::Meta, b"view/b", b"2").unwrap();
        st.put(Space::Meta, b"viewz", b"3").unwrap();
        st.put(Space::Chunks, b"view/a", b"other space").unwrap();
        let got = scan_prefix(st, Space::Meta, b"view/").unwrap();
        let got: Vec<(Vec<u8>, Vec<u8>)> = got
            .into_iter()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        assert_eq!(
            got,
            vec![
                (b"view/a".to_vec(), b"1".to_vec()),
                (b"view/b".to_vec(), b"2".to_vec())
            ]
        );
        st.apply(vec![
            Op::Delete(Space::Meta, b"view/a".to_vec()),
            Op::Put(Space::Totals, vec![0, 0, 0, 1], b"t".to_vec()),
        ])
        .unwrap();
        assert_eq!(st.get(Space::Meta, b"view/a").unwrap(), None);
        assert_eq!(
            st.get(Space::Totals, &[0, 0, 0, 1])
                .unwrap()
                .unwrap()
                .as_ref(),
            b"t"
        );
        st.delete(Space::Meta, b"view/b").unwrap();
        assert_eq!(st.scan(Space::Meta, b"", None).unwrap().len(), 1);
        st.flush().unwrap();
    }

    #[test]
    fn memory_and_sled_behave_alike() {
        exercise(&MemStorage::new());
        let dir = tempfile::tempdir().unwrap();
        exercise(&SledStorage::open(dir.path(), 8 << 20).unwrap());
    }

    #[test]
    fn prefix_end_carries_over_ff() {
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }
}
