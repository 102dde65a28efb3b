//! The locking half of [`Transaction`]: lock acquisition, locking reads and the skip-locked
//! scan (pessimistic transactions; `get_for_update` also serves optimistic ones).

use std::ops::RangeBounds;
use std::sync::Arc;

use lsm_core::KeyspaceId;

use super::buffer::{BufOp, Lookup};
use super::locks::LockMode;
use super::{Kind, Transaction};
use crate::error::{Error, Result};
use crate::iter::{key_range, Iter};
use crate::keyspace::Keyspace;
use crate::slice::{Key, Value};

impl Transaction {
    pub(super) fn lock(&mut self, id: KeyspaceId, key: &[u8], mode: LockMode) -> Result<()> {
        if self
            .held
            .get(&id)
            .and_then(|m| m.get(key))
            .is_some_and(|&m| m >= mode)
        {
            return Ok(());
        }
        match self
            .db
            .locks
            .lock(self.owner, id, key, mode, self.lock_timeout)
        {
            Ok(()) => {
                let m = self.held.entry(id).or_default();
                let e = m.entry(key.to_vec()).or_insert(mode);
                *e = (*e).max(mode);
                Ok(())
            }
            Err(e) => {
                self.db.counters.count_error(&e);
                if matches!(e, Error::Deadlock) {
                    self.finish(true);
                }
                Err(e)
            }
        }
    }

    /// Reads `key` with the intent to write it. Pessimistic: takes an exclusive lock first and
    /// reads the latest committed value. Optimistic: the key is validated at commit even under
    /// snapshot isolation (commit fails if someone else changed it after the snapshot).
    pub fn get_for_update(
        &mut self,
        ks: &impl AsRef<Keyspace>,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<Value>> {
        self.locking_read(ks.as_ref(), key.as_ref(), LockMode::Exclusive)
    }

    /// Reads `key` and keeps others from changing it until this transaction ends.
    /// Pessimistic: takes a shared lock (other readers may share it; writers wait).
    /// Optimistic: same as [`Transaction::get_for_update`].
    pub fn get_for_share(
        &mut self,
        ks: &impl AsRef<Keyspace>,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<Value>> {
        self.locking_read(ks.as_ref(), key.as_ref(), LockMode::Shared)
    }

    fn locking_read(&mut self, ks: &Keyspace, key: &[u8], mode: LockMode) -> Result<Option<Value>> {
        let meta = Arc::clone(self.check(ks)?);
        if self.kind == Kind::Pessimistic {
            self.lock(meta.id, key, mode)?;
        }
        self.read(&meta, key, self.snapshot.is_some())
    }

    /// Queue-worker scan (`SELECT ... FOR UPDATE SKIP LOCKED`): walks `range` of `ks` in key
    /// order and locks up to `limit` entries that nobody else has locked, skipping the locked
    /// ones without waiting. Returns the locked entries with their latest values. Pessimistic
    /// transactions only. Sees committed entries (minus those this transaction deleted).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let db = kv_api::Db::open(dir.path())?;
    /// for i in 0..4 { db.put(format!("job:{i}"), "todo")?; }
    /// let mut w1 = db.transaction_pessimistic();
    /// let mut w2 = db.transaction_pessimistic();
    /// let a = w1.scan_for_update_skip_locked(&db, "job:".."job;", 2)?;
    /// let b = w2.scan_for_update_skip_locked(&db, "job:".."job;", 2)?;
    /// assert_eq!(a.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), ["job:0", "job:1"]);
    /// assert_eq!(b.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), ["job:2", "job:3"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn scan_for_update_skip_locked<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &mut self,
        ks: &impl AsRef<Keyspace>,
        range: R,
        limit: usize,
    ) -> Result<Vec<(Key, Value)>> {
        let ks = ks.as_ref();
        let meta = Arc::clone(self.check(ks)?);
        if self.kind != Kind::Pessimistic {
            return Err(Error::InvalidArgument(
                "skip-locked scans need a pessimistic transaction".into(),
            ));
        }
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let candidates = Iter::new(
            Arc::clone(&self.db),
            Arc::clone(&meta),
            key_range(&range),
            None,
        );
        for item in candidates {
            let (k, _) = item?;
            if matches!(
                self.buf.lookup(meta.id, &k),
                Lookup::Op(BufOp::Delete) | Lookup::RangeDeleted
            ) {
                continue;
            }
            let already = self
                .held
                .get(&meta.id)
                .and_then(|m| m.get(&k[..]))
                .is_some_and(|&m| m == LockMode::Exclusive);
            if !already {
                if !self
                    .db
                    .locks
                    .try_lock(self.owner, meta.id, &k, LockMode::Exclusive)
                {
                    continue;
                }
                self.held
                    .entry(meta.id)
                    .or_default()
                    .insert(k.to_vec(), LockMode::Exclusive);
            }
            // The candidate came from a snapshot; now that it is locked, read it again.
            match self.read(&meta, &k, false)? {
                Some(v) => out.push((k, v)),
                None if !already => {
                    self.db.locks.unlock(self.owner, [(meta.id, &k[..])]);
                    if let Some(m) = self.held.get_mut(&meta.id) {
                        m.remove(&k[..]);
                    }
                }
                None => {}
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}
