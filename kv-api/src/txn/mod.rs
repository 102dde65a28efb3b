//! Transactions: optimistic ([`crate::Db::transaction`]) and pessimistic
//! ([`crate::Db::transaction_pessimistic`]), one [`Transaction`] type for both.
//!
//! * **Optimistic**: reads at a snapshot taken at begin, buffers writes, and at commit is
//!   validated against kv-api's table of recent commits: it fails with [`Error::Conflict`] if a
//!   key it wrote — and under [`IsolationLevel::Serializable`], a key or range it read — was
//!   committed by someone else after its snapshot. Keys read with `get_for_update` are
//!   validated under either level (a targeted way to prevent write skew). Keys only *merged*
//!   into are not validated: blind merges commute. The commit takes the locks of the keys it
//!   writes, so it waits for a pessimistic transaction holding one (up to the lock timeout).
//! * **Pessimistic**: reads the latest committed data; `get_for_update` / `put` / `delete` /
//!   `merge` take exclusive key locks, `get_for_share` shared ones, held until commit or
//!   rollback. A lock wait ends at the lock timeout ([`Error::LockTimeout`], the transaction
//!   stays usable) or at once when waiting would close a cycle in the wait-for graph
//!   ([`Error::Deadlock`]: this transaction is the victim and is rolled back). Plain `get`s
//!   take no lock (read committed).
//!
//! Both see their own writes, in point reads and in iterators. Savepoints restore the write
//! buffer only (locks taken and reads recorded since are kept). Dropping an unfinished
//! transaction rolls it back.

pub(crate) mod buffer;
pub(crate) mod iter;
mod locking;
pub(crate) mod locks;
pub(crate) mod tracker;

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::RangeBounds;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use lsm_core::store::{KeyRange, ReadAt, Snapshot};
use lsm_core::KeyspaceId;

use crate::codec;
use crate::error::{Error, Result};
use crate::inner::{CommitMode, DbInner, KsMeta};
use crate::iter::{key_range, prefix_range, Iter};
use crate::keyspace::Keyspace;
use crate::options::{IsolationLevel, TransactionOptions};
use crate::slice::{Slice, Value};
use buffer::{BufOp, Lookup, WriteBuffer};
use locks::{LockMode, Owner};
use tracker::Validation;

pub use iter::TxnIter;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Optimistic(IsolationLevel),
    Pessimistic,
}

#[derive(Default)]
struct ReadSet {
    keys: Vec<(KeyspaceId, Vec<u8>)>,
    ranges: Vec<(KeyspaceId, KeyRange)>,
}

/// A transaction. See the [module docs](crate::txn) for the semantics of both kinds.
///
/// Every method names the keyspace it works on (`&db` for the default keyspace). Reads take
/// `&self`; writes and locking reads take `&mut self`. After `commit` or `rollback` (and after a
/// [`Error::Deadlock`], which rolls the transaction back) every method returns
/// [`Error::TransactionFinished`].
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let db = kv_api::Db::open(dir.path())?;
/// db.put("balance", 10u64.to_le_bytes())?;
/// let mut tx = db.transaction();
/// let b = u64::from_le_bytes(tx.get(&db, "balance")?.unwrap()[..].try_into().unwrap());
/// tx.put(&db, "balance", (b + 5).to_le_bytes())?;
/// assert_eq!(tx.get(&db, "balance")?.unwrap(), 15u64.to_le_bytes(), "reads its own writes");
/// assert_eq!(db.get("balance")?.unwrap(), 10u64.to_le_bytes(), "invisible until commit");
/// tx.commit()?;
/// assert_eq!(db.get("balance")?.unwrap(), 15u64.to_le_bytes());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Transaction {
    db: Arc<DbInner>,
    kind: Kind,
    owner: Owner,
    snapshot: Option<Snapshot>,
    lock_timeout: Duration,
    active: bool,
    buf: WriteBuffer,
    savepoints: Vec<WriteBuffer>,
    reads: RefCell<ReadSet>,
    held: HashMap<KeyspaceId, HashMap<Vec<u8>, LockMode>>,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("kind", &self.kind)
            .field("active", &self.active)
            .field("snapshot", &self.snapshot.as_ref().map(|s| s.seq().0))
            .finish_non_exhaustive()
    }
}

impl Transaction {
    pub(crate) fn begin(db: Arc<DbInner>, pessimistic: bool, opts: TransactionOptions) -> Self {
        let snapshot = (!pessimistic).then(|| {
            // Taken under the tracker lock so pruning never passes a snapshot being registered.
            let mut t = db.tracker.lock();
            let s = db.store.snapshot();
            t.begin(s.seq().0);
            s
        });
        Transaction {
            kind: if pessimistic {
                Kind::Pessimistic
            } else {
                Kind::Optimistic(opts.isolation)
            },
            owner: db.new_owner(),
            snapshot,
            lock_timeout: opts.lock_timeout.unwrap_or(db.opts.lock_timeout),
            active: true,
            buf: WriteBuffer::default(),
            savepoints: Vec::new(),
            reads: RefCell::new(ReadSet::default()),
            held: HashMap::new(),
            db,
        }
    }

    /// True for transactions from [`crate::Db::transaction_pessimistic`].
    pub fn is_pessimistic(&self) -> bool {
        self.kind == Kind::Pessimistic
    }

    /// True until the transaction commits or rolls back.
    pub fn is_active(&self) -> bool {
        self.active
    }

    fn check<'k>(&self, ks: &'k Keyspace) -> Result<&'k Arc<KsMeta>> {
        if !self.active {
            return Err(Error::TransactionFinished);
        }
        if ks.db.uid != self.db.uid {
            return Err(Error::InvalidArgument(format!(
                "keyspace {:?} belongs to another database",
                ks.meta.name
            )));
        }
        self.db.check_ks(&ks.meta)?;
        Ok(&ks.meta)
    }

    fn records_reads(&self) -> bool {
        self.kind == Kind::Optimistic(IsolationLevel::Serializable)
    }

    fn at(&self) -> ReadAt<'_> {
        match &self.snapshot {
            Some(s) => ReadAt::Snapshot(s),
            None => ReadAt::Latest,
        }
    }

    /// Reads the committed stored value (header included), recording the read for validation
    /// if asked.
    fn store_get(&self, meta: &KsMeta, key: &[u8], record: bool) -> Result<Option<Bytes>> {
        if record {
            self.reads.borrow_mut().keys.push((meta.id, key.to_vec()));
        }
        self.db.get_raw(meta, key, self.at())
    }

    fn read(&self, meta: &KsMeta, key: &[u8], record: bool) -> Result<Option<Value>> {
        let stored = match self.buf.lookup(meta.id, key) {
            Lookup::Op(BufOp::Put(stored)) => Some(stored.clone()),
            Lookup::Op(BufOp::Delete) | Lookup::RangeDeleted => None,
            Lookup::Op(BufOp::Merge(ops)) => {
                let op = self.db.merge_op(meta)?;
                let base = self.store_get(meta, key, record)?;
                let refs: Vec<&[u8]> = ops.iter().map(Vec::as_slice).collect();
                let merged = codec::merge_stored(&**op, key, base.as_deref(), &refs)
                    .map_err(Error::MergeFailed)?;
                Some(Bytes::from(merged))
            }
            Lookup::Miss => self.store_get(meta, key, record)?,
        };
        match stored {
            Some(s) => Ok(codec::decode_bytes(s, self.db.now())?.map(Slice::new)),
            None => Ok(None),
        }
    }

    /// The value of `key` as this transaction sees it.
    pub fn get(&self, ks: &impl AsRef<Keyspace>, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        let meta = self.check(ks.as_ref())?;
        self.read(meta, key.as_ref(), self.records_reads())
    }

    /// True if `key` has a value as this transaction sees it.
    pub fn contains_key(&self, ks: &impl AsRef<Keyspace>, key: impl AsRef<[u8]>) -> Result<bool> {
        Ok(self.get(ks, key)?.is_some())
    }

    /// The values of several keys, in the order asked.
    pub fn multi_get<K: AsRef<[u8]>>(
        &self,
        ks: &impl AsRef<Keyspace>,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Vec<Option<Value>>> {
        keys.into_iter().map(|k| self.get(ks, k)).collect()
    }

    /// A double-ended iterator over every entry of `ks` as this transaction sees it.
    pub fn iter<'t>(&'t self, ks: &impl AsRef<Keyspace>) -> TxnIter<'t> {
        self.scan(ks.as_ref(), KeyRange::all())
    }

    /// A double-ended iterator over the entries of `ks` in `range` as this transaction sees
    /// them (its own writes included).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let db = kv_api::Db::open(dir.path())?;
    /// db.put("a", "1")?;
    /// db.put("b", "2")?;
    /// let mut tx = db.transaction();
    /// tx.delete(&db, "a")?;
    /// tx.put(&db, "c", "3")?;
    /// let keys: Vec<_> = tx.range(&db, "a"..).map(|r| r.unwrap().0).collect();
    /// assert_eq!(keys, ["b", "c"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn range<'t, K: AsRef<[u8]>, R: RangeBounds<K>>(
        &'t self,
        ks: &impl AsRef<Keyspace>,
        range: R,
    ) -> TxnIter<'t> {
        self.scan(ks.as_ref(), key_range(&range))
    }

    /// A double-ended iterator over the entries of `ks` whose keys start with `prefix`.
    pub fn prefix<'t>(
        &'t self,
        ks: &impl AsRef<Keyspace>,
        prefix: impl AsRef<[u8]>,
    ) -> TxnIter<'t> {
        self.scan(ks.as_ref(), prefix_range(prefix.as_ref()))
    }

    fn scan<'t>(&'t self, ks: &Keyspace, range: KeyRange) -> TxnIter<'t> {
        let checked = self.check(ks);
        if checked.is_ok() && self.records_reads() {
            self.reads
                .borrow_mut()
                .ranges
                .push((ks.meta.id, range.clone()));
        }
        let mut store = Iter::new(
            Arc::clone(&self.db),
            Arc::clone(&ks.meta),
            range.clone(),
            self.snapshot.clone(),
        )
        .raw();
        if let Err(e) = checked {
            store.fail(e);
        }
        TxnIter::new(
            self.buf.keyspace(ks.meta.id),
            &range,
            store,
            ks.meta.merge.clone(),
            ks.meta.name.clone(),
            self.db.now(),
        )
    }

    /// Sets `key` to `value` (pessimistic: after taking its exclusive lock).
    pub fn put(
        &mut self,
        ks: &impl AsRef<Keyspace>,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<()> {
        self.put_inner(ks.as_ref(), key.as_ref(), value.as_ref(), None)
    }

    /// Sets `key` to `value` for `ttl`, counted from now.
    pub fn put_with_ttl(
        &mut self,
        ks: &impl AsRef<Keyspace>,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<()> {
        self.put_inner(ks.as_ref(), key.as_ref(), value.as_ref(), Some(ttl))
    }

    fn put_inner(
        &mut self,
        ks: &Keyspace,
        key: &[u8],
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<()> {
        let meta = Arc::clone(self.check(ks)?);
        self.db.check_key(key)?;
        self.db.check_value(value)?;
        if self.kind == Kind::Pessimistic {
            self.lock(meta.id, key, LockMode::Exclusive)?;
        }
        let expires = ttl.map(|t| codec::expiry(self.db.now(), t));
        self.buf.put(&meta, key, codec::encode(value, expires));
        Ok(())
    }

    /// Removes `key`.
    pub fn delete(&mut self, ks: &impl AsRef<Keyspace>, key: impl AsRef<[u8]>) -> Result<()> {
        let key = key.as_ref();
        let meta = Arc::clone(self.check(ks.as_ref())?);
        self.db.check_key(key)?;
        if self.kind == Kind::Pessimistic {
            self.lock(meta.id, key, LockMode::Exclusive)?;
        }
        self.buf.delete(&meta, key);
        Ok(())
    }

    /// Removes every key in `[start, end)`. Pessimistic: locks the keys that exist in the range
    /// now (keys inserted into it later by others are not locked out).
    pub fn delete_range(
        &mut self,
        ks: &impl AsRef<Keyspace>,
        start: impl AsRef<[u8]>,
        end: impl AsRef<[u8]>,
    ) -> Result<()> {
        let (ks, start, end) = (ks.as_ref(), start.as_ref(), end.as_ref());
        let meta = Arc::clone(self.check(ks)?);
        self.db.check_key(start)?;
        self.db.check_key(end)?;
        if start >= end {
            return Ok(());
        }
        if self.kind == Kind::Pessimistic {
            let existing = Iter::new(
                Arc::clone(&self.db),
                Arc::clone(&meta),
                key_range(&(start..end)),
                None,
            );
            for item in existing {
                let (k, _) = item?;
                self.lock(meta.id, &k, LockMode::Exclusive)?;
            }
        }
        self.buf.delete_range(&meta, start, end);
        Ok(())
    }

    /// Adds a merge operand for `key` (folded over the committed value on read and at commit).
    pub fn merge(
        &mut self,
        ks: &impl AsRef<Keyspace>,
        key: impl AsRef<[u8]>,
        operand: impl AsRef<[u8]>,
    ) -> Result<()> {
        let (key, operand) = (key.as_ref(), operand.as_ref());
        let meta = Arc::clone(self.check(ks.as_ref())?);
        self.db.merge_op(&meta)?;
        self.db.check_key(key)?;
        self.db.check_value(operand)?;
        if self.kind == Kind::Pessimistic {
            self.lock(meta.id, key, LockMode::Exclusive)?;
        }
        self.buf.merge(&meta, key, operand, self.db.now())
    }

    /// Marks a point that [`Transaction::rollback_to_savepoint`] returns the writes to.
    /// Savepoints nest.
    pub fn set_savepoint(&mut self) -> Result<()> {
        if !self.active {
            return Err(Error::TransactionFinished);
        }
        self.savepoints.push(self.buf.clone());
        Ok(())
    }

    /// Undoes the writes made since the most recent savepoint and removes it
    /// ([`Error::NoSavepoint`] if there is none). Locks taken since are kept.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let db = kv_api::Db::open(dir.path())?;
    /// let mut tx = db.transaction();
    /// tx.put(&db, "a", "1")?;
    /// tx.set_savepoint()?;
    /// tx.put(&db, "b", "2")?;
    /// tx.rollback_to_savepoint()?;
    /// tx.commit()?;
    /// assert!(db.contains_key("a")?);
    /// assert!(!db.contains_key("b")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rollback_to_savepoint(&mut self) -> Result<()> {
        if !self.active {
            return Err(Error::TransactionFinished);
        }
        self.buf = self.savepoints.pop().ok_or(Error::NoSavepoint)?;
        Ok(())
    }

    /// Applies the writes atomically. Optimistic: fails with [`Error::Conflict`] (and rolls
    /// back) if validation fails. Either way the transaction is finished afterwards.
    pub fn commit(&mut self) -> Result<()> {
        if !self.active {
            return Err(Error::TransactionFinished);
        }
        let r = self.commit_inner();
        match &r {
            Ok(()) => {
                self.db.counters.commits.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => self.db.counters.count_error(e),
        }
        self.finish(r.is_err());
        r
    }

    fn commit_inner(&self) -> Result<()> {
        self.db.check_open()?;
        let plan = self.buf.plan();
        match (self.kind, &self.snapshot) {
            (Kind::Optimistic(_), Some(snap)) => {
                if plan.write.batch.is_empty() {
                    // Read-only: its reads all come from one snapshot, a serializable view.
                    return Ok(());
                }
                let reads = self.reads.borrow();
                let mut keys = plan.validate_keys;
                keys.extend(reads.keys.iter().cloned());
                let mut ranges = plan.validate_ranges;
                ranges.extend(reads.ranges.iter().cloned());
                let v = Validation {
                    snapshot: snap.seq().0,
                    keys: &keys,
                    ranges: &ranges,
                };
                self.db
                    .commit(
                        plan.write,
                        CommitMode::Optimistic(self.owner, v, self.lock_timeout),
                    )
                    .map(drop)
            }
            _ => self
                .db
                .commit(plan.write, CommitMode::Pessimistic)
                .map(drop),
        }
    }

    /// Discards the writes and releases the locks. Idempotent: rolling back a finished
    /// transaction does nothing.
    pub fn rollback(&mut self) -> Result<()> {
        if self.active {
            self.finish(true);
        }
        Ok(())
    }

    /// Ends the transaction: releases locks, unregisters the snapshot, drops the buffer.
    fn finish(&mut self, rolled_back: bool) {
        if !self.active {
            return;
        }
        self.active = false;
        if rolled_back {
            self.db.counters.rollbacks.fetch_add(1, Ordering::Relaxed);
        }
        let held = std::mem::take(&mut self.held);
        if !held.is_empty() {
            self.db.locks.unlock(
                self.owner,
                held.iter()
                    .flat_map(|(id, m)| m.keys().map(move |k| (*id, k.as_slice()))),
            );
        }
        if let Some(s) = self.snapshot.take() {
            self.db.tracker.lock().end(s.seq().0);
        }
        self.buf = WriteBuffer::default();
        self.savepoints.clear();
        *self.reads.borrow_mut() = ReadSet::default();
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        self.finish(true);
    }
}
