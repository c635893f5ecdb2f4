//! Checkpoints: where the tailer stopped in each file, so a restart neither loses nor
//! repeats a line. A small trait, so the server can keep them in its sled store; a
//! JSON file implementation serves the CLI and the tests.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// Where reading stopped in one file, and how to recognise that file again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Device of the file.
    pub dev: u64,
    /// Inode of the file.
    pub ino: u64,
    /// FNV-1a hash of the file's first `fp_len` bytes.
    pub fingerprint: u64,
    /// How many head bytes the fingerprint covers (up to 1024).
    pub fp_len: u32,
    /// Offset just past the last line handed on.
    pub offset: u64,
}

/// Keeps checkpoints by key (the followed path).
pub trait CheckpointStore: Send {
    /// The checkpoint saved under `key`, if any.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn load(&self, key: &str) -> io::Result<Option<Checkpoint>>;

    /// Saves every checkpoint of one tailer at once.
    ///
    /// # Errors
    /// When the store cannot be written.
    fn save(&mut self, entries: &[(String, Checkpoint)]) -> io::Result<()>;
}

/// Checkpoints in a JSON file, rewritten atomically (temporary file, then rename).
#[derive(Debug)]
pub struct FileCheckpoints {
    path: PathBuf,
    map: BTreeMap<String, Checkpoint>,
}

impl FileCheckpoints {
    /// Opens (or starts) the file at `path`.
    ///
    /// # Errors
    /// When the file exists but cannot be read or is not a checkpoint file.
    pub fn open(path: &Path) -> io::Result<FileCheckpoints> {
        let map = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not a checkpoint file: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        Ok(FileCheckpoints {
            path: path.to_path_buf(),
            map,
        })
    }
}

impl CheckpointStore for FileCheckpoints {
    fn load(&self, key: &str) -> io::Result<Option<Checkpoint>> {
        Ok(self.map.get(key).copied())
    }

    fn save(&mut self, entries: &[(String, Checkpoint)]) -> io::Result<()> {
        let mut changed = false;
        for (k, cp) in entries {
            if self.map.get(k) != Some(cp) {
                self.map.insert(k.clone(), *cp);
                changed = true;
            }
        }
        if !changed {
            return Ok(());
        }
        let text = serde_json::to_vec_pretty(&self.map).map_err(io::Error::other)?;
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &self.path)
    }
}

/// FNV-1a, 64 bits: a fast, stable hash for file heads (not for security).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_store_round_trips_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cp.json");
        let cp = Checkpoint {
            dev: 1,
            ino: 2,
            fingerprint: fnv1a(b"abc"),
            fp_len: 3,
            offset: 42,
        };
        let mut s = FileCheckpoints::open(&p).unwrap();
        assert_eq!(s.load("a").unwrap(), None);
        s.save(&[("a".into(), cp)]).unwrap();
        let s = FileCheckpoints::open(&p).unwrap();
        assert_eq!(s.load("a").unwrap(), Some(cp));
        std::fs::write(&p, "nonsense").unwrap();
        let e = FileCheckpoints::open(&p).unwrap_err();
        assert!(e.to_string().contains("not a checkpoint file"));
    }
}
