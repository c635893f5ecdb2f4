//! Small metadata values beside the series (the pages' dashboards and views, the tails'
//! checkpoints): get, put, delete and list by prefix, each durable once it returns.

use super::MAX_META_KEY;
use super::TrendStore;
use super::error::{Result, TrendError};
use super::storage::{Space, scan_prefix};

impl TrendStore {
    /// The value stored under a metadata key.
    ///
    /// # Errors
    /// `Storage`; `BadQuery` for an empty or over-long key.
    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        check_meta_key(key)?;
        Ok(self
            .core()
            .storage
            .get(Space::Meta, key.as_bytes())?
            .map(|v| v.to_vec()))
    }

    /// Stores a metadata value (durable once this returns).
    ///
    /// # Errors
    /// `Storage`; `BadQuery` for an empty or over-long key.
    pub fn meta_put(&self, key: &str, value: &[u8]) -> Result<()> {
        check_meta_key(key)?;
        self.core()
            .storage
            .put(Space::Meta, key.as_bytes(), value)?;
        self.core().storage.flush()
    }

    /// Removes a metadata key (no error if absent; durable once this returns).
    ///
    /// # Errors
    /// `Storage`; `BadQuery` for an empty or over-long key.
    pub fn meta_delete(&self, key: &str) -> Result<()> {
        check_meta_key(key)?;
        self.core().storage.delete(Space::Meta, key.as_bytes())?;
        self.core().storage.flush()
    }

    /// Every metadata pair whose key starts with `prefix`, in key order.
    ///
    /// # Errors
    /// `Storage`; `Corrupt` if a stored key is not UTF-8.
    pub fn meta_list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        scan_prefix(&*self.core().storage, Space::Meta, prefix.as_bytes())?
            .into_iter()
            .map(|(k, v)| {
                String::from_utf8(k.to_vec())
                    .map(|k| (k, v.to_vec()))
                    .map_err(|_| TrendError::corrupt("metadata key is not UTF-8"))
            })
            .collect()
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
