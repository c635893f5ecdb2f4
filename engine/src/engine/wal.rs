//! The write-ahead log's side of the engine: encoding pushes for the log, attaching
//! it, waiting for `sync`, and merging its records again on start.

use std::sync::Arc;

use super::close::Close;
use super::{Engine, OpenInterval, WalStep};
use crate::ClosedInterval;
use crate::error::Error;
use crate::wal::Wal;
use crate::wal::codec::{Body, Record};

impl Engine {
    /// Encodes a push for the write-ahead log, when there is one with room.
    pub(super) fn wal_step(&self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<WalStep, Error> {
        let Some(wal) = self.shared.wal.get() else {
            return Ok(WalStep::Skip);
        };
        match wal.admit(encode) {
            Ok(true) => Ok(WalStep::Log),
            Ok(false) => Ok(WalStep::Skip),
            Err(e) => Err(self.reject(e)),
        }
    }

    /// Starts logging every accepted push to `wal`, numbering them after `last_seq`
    /// (the highest sequence number the log or the trend store has seen). The server
    /// calls it once, after [`crate::wal::replay`] and before any source starts.
    pub fn attach_wal(&self, wal: Wal, last_seq: u64) {
        {
            let mut st = self.shared.state.write();
            st.wal_seq = st.wal_seq.max(last_seq);
        }
        if self.shared.wal.set(wal).is_err() {
            tracing::warn!("a write-ahead log was already attached; keeping the first");
        }
    }

    /// The attached write-ahead log, if any.
    pub fn wal(&self) -> Option<&Wal> {
        self.shared.wal.get()
    }

    /// With `engine.wal = "sync"`, waits until every push merged so far (the
    /// caller's included) is fsynced to the log; at once otherwise. HTTP and TCP
    /// call it before they answer.
    pub async fn wal_synced(&self) {
        if let Some(w) = self.shared.wal.get() {
            w.synced().await;
        }
    }

    /// As [`Engine::wal_synced`], blocking the thread (for callers off the async
    /// runtime).
    pub fn wal_synced_blocking(&self) {
        if let Some(w) = self.shared.wal.get() {
            w.synced_blocking();
        }
    }

    /// Merges one record of the write-ahead log again, on start: into the interval
    /// it first went to (moving a fresh engine's open interval back to it, or
    /// closing the open interval to move on to it), at the time it was first merged,
    /// without logging it again. Returns the interval it closed on the way, if any.
    ///
    /// # Errors
    /// The record no longer validates or fits (a limit lowered since).
    pub(crate) fn replay_record(&self, rec: Record) -> Result<Option<Arc<ClosedInterval>>, Error> {
        let sh = &*self.shared;
        let open = sh.state.read().open.start;
        let mut closed = None;
        if rec.interval > open {
            closed = self.close_into(Close::Replay(rec.interval));
        } else if rec.interval < open {
            let mut st = sh.state.write();
            let o = &st.open;
            if o.points.is_empty() && o.late.is_empty() && o.markers.is_empty() {
                st.open = OpenInterval::new(rec.interval, sh.interval);
            }
        }
        let step = WalStep::Replayed(rec.seq);
        let depth = sh.config.limits.max_depth;
        match rec.body {
            Body::Doc(mut doc) => {
                doc.validate(depth)?;
                self.merge_doc(&doc, Some(rec.now), step)?;
            }
            Body::Batch(batch) => {
                batch.validate(depth)?;
                self.merge_batch(&batch, Some(rec.now), step)?;
            }
            Body::Delete(pattern) => self.replay_delete(&pattern, rec.seq)?,
        }
        Ok(closed)
    }
}
