//! The trend store (DESIGN.md §7): history of every leaf in sled, with rollups,
//! compaction, restart without loss, and small metadata (saved views, tail
//! checkpoints).
//!
//! [`TrendStore`] is a cheap-clone handle over one `sled::Db` in the data directory.
//! The storage sits behind the [`Storage`] trait; sled is one implementation, a
//! `BTreeMap` the other.

mod config;
mod error;
mod storage;

use std::path::Path;
use std::sync::Arc;

pub use config::{Archive, MAX_ARCHIVES, Retention, TrendConfig};
pub use error::{Result, TrendError, TrendErrorKind};
pub use storage::{MemStorage, Op, SledStorage, Space, Storage, scan_prefix};

/// Longest metadata key in bytes.
pub const MAX_META_KEY: usize = 1024;

struct Inner {
    storage: Arc<dyn Storage>,
    cfg: TrendConfig,
}

/// The trend store: a cheap-clone handle (`Arc` inside), `Send + Sync`.
#[derive(Clone)]
pub struct TrendStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TrendStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrendStore")
            .field("retention", &self.inner.cfg.retention.to_string())
            .finish_non_exhaustive()
    }
}

impl TrendStore {
    /// Opens (or creates) the store in the data directory `dir` (one per process:
    /// sled locks the directory).
    ///
    /// # Errors
    /// `Config` for invalid settings; `Storage` when sled cannot open the directory.
    pub fn open(dir: &Path, cfg: &TrendConfig) -> Result<TrendStore> {
        cfg.validate()?;
        std::fs::create_dir_all(dir)?;
        let storage = SledStorage::open(dir, cfg.cache_bytes)?;
        TrendStore::with_storage(Arc::new(storage), cfg)
    }

    /// A store over any [`Storage`] (tests use [`MemStorage`]).
    ///
    /// # Errors
    /// `Config` for invalid settings; `Corrupt` when stored data does not decode.
    pub fn with_storage(storage: Arc<dyn Storage>, cfg: &TrendConfig) -> Result<TrendStore> {
        cfg.validate()?;
        Ok(TrendStore {
            inner: Arc::new(Inner {
                storage,
                cfg: cfg.clone(),
            }),
        })
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &TrendConfig {
        &self.inner.cfg
    }

    /// The value stored under a metadata key.
    ///
    /// # Errors
    /// `Storage`; `BadQuery` for an empty or over-long key.
    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        check_meta_key(key)?;
        self.inner.storage.get(Space::Meta, key.as_bytes())
    }

    /// Stores a metadata value (durable once this returns).
    ///
    /// # Errors
    /// `Storage`; `BadQuery` for an empty or over-long key.
    pub fn meta_put(&self, key: &str, value: &[u8]) -> Result<()> {
        check_meta_key(key)?;
        self.inner.storage.put(Space::Meta, key.as_bytes(), value)?;
        self.inner.storage.flush()
    }

    /// Removes a metadata key (no error if absent).
    ///
    /// # Errors
    /// `Storage`; `BadQuery` for an empty or over-long key.
    pub fn meta_delete(&self, key: &str) -> Result<()> {
        check_meta_key(key)?;
        self.inner.storage.delete(Space::Meta, key.as_bytes())?;
        self.inner.storage.flush()
    }

    /// Every metadata pair whose key starts with `prefix`, in key order.
    ///
    /// # Errors
    /// `Storage`; `Corrupt` if a stored key is not UTF-8.
    pub fn meta_list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        scan_prefix(&*self.inner.storage, Space::Meta, prefix.as_bytes())?
            .into_iter()
            .map(|(k, v)| {
                String::from_utf8(k)
                    .map(|k| (k, v))
                    .map_err(|_| TrendError::corrupt("metadata key is not UTF-8"))
            })
            .collect()
    }

    /// Makes everything written so far durable.
    ///
    /// # Errors
    /// `Storage`.
    pub fn flush(&self) -> Result<()> {
        self.inner.storage.flush()
    }
}

fn check_meta_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_META_KEY {
        return Err(TrendError::bad_query(format!(
            "metadata key must be 1..={MAX_META_KEY} bytes"
        )));
    }
    Ok(())
}
