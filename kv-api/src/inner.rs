//! The shared state behind every handle ([`DbInner`]), keyspace metadata, and the one write
//! pipeline all writes go through.
//!
//! ## The write rule (plain writes, batches, transaction commits)
//! 1. Take exclusive locks on every point key written, in key order. Plain writes, batches and
//!    optimistic commits *wait* for a lock held by someone else — a pessimistic transaction, or
//!    another write in flight — up to the lock timeout, with deadlock detection, like a
//!    one-statement pessimistic transaction. (Waiting, rather than failing at once, keeps an
//!    optimistic retry loop from spinning while the holder finishes; an optimistic commit that
//!    waited for a writer of its key then fails validation, and its retry sees the new value.)
//!    Range deletes take no locks. Pessimistic commits already hold their locks.
//! 2. Under the tracker mutex: validate (optimistic commits only) and register the footprint as
//!    pending. (Plain writes of point keys skip this step: see `write_blind`.)
//! 3. Write the batch to the store (outside every kv-api lock, so group commit works).
//! 4. Finalize the footprint with the sequence number the store returned, release the locks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use lsm_core::store::{ReadAt, Store};
use lsm_core::wal::WriteBatch as RawBatch;
use lsm_core::KeyspaceId;
use parking_lot::{Mutex, RwLock};

use crate::clock::Clock;
use crate::codec;
use crate::error::{Error, Result};
use crate::merge::MergeOperator;
use crate::options::Options;
use crate::txn::locks::{LockManager, LockMode, Owner};
use crate::txn::tracker::{Footprint, Tracker, Validation};

/// One keyspace as the handles see it.
pub(crate) struct KsMeta {
    pub id: KeyspaceId,
    pub name: String,
    pub dropped: AtomicBool,
    pub merge: Option<Arc<dyn MergeOperator>>,
}

/// Transaction outcome counters.
#[derive(Default)]
pub(crate) struct Counters {
    pub commits: AtomicU64,
    pub conflicts: AtomicU64,
    pub deadlocks: AtomicU64,
    pub lock_timeouts: AtomicU64,
    pub rollbacks: AtomicU64,
}

impl Counters {
    pub fn count_error(&self, e: &Error) {
        let c = match e {
            Error::Conflict => &self.conflicts,
            Error::Deadlock => &self.deadlocks,
            Error::LockTimeout => &self.lock_timeouts,
            _ => return,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// A batch ready for the store plus what it writes.
pub(crate) struct WriteSet {
    pub batch: RawBatch,
    pub footprint: Footprint,
}

impl WriteSet {
    pub fn new() -> WriteSet {
        WriteSet {
            batch: RawBatch::new(),
            footprint: Footprint::default(),
        }
    }
}

/// How a commit treats locks and validation.
pub(crate) enum CommitMode<'a> {
    /// Wait for locks; no validation.
    Plain,
    /// Wait for locks (up to the timeout), then validate.
    Optimistic(Owner, Validation<'a>, Duration),
    /// The owner already holds every lock; no validation; locks stay held.
    Pessimistic,
}

pub(crate) struct DbInner {
    /// Distinguishes databases, so a handle of one is never used with another.
    pub uid: u64,
    pub path: PathBuf,
    pub store: Arc<dyn Store>,
    pub opts: Options,
    pub clock: Arc<dyn Clock>,
    pub closed: AtomicBool,
    pub keyspaces: RwLock<BTreeMap<String, Arc<KsMeta>>>,
    pub tracker: Mutex<Tracker>,
    pub locks: LockManager,
    pub next_owner: AtomicU64,
    pub counters: Counters,
}

static NEXT_DB_UID: AtomicU64 = AtomicU64::new(1);

impl DbInner {
    pub fn new(path: PathBuf, store: Arc<dyn Store>, opts: Options) -> DbInner {
        DbInner {
            uid: NEXT_DB_UID.fetch_add(1, Ordering::Relaxed),
            path,
            store,
            clock: Arc::clone(&opts.clock),
            opts,
            closed: AtomicBool::new(false),
            keyspaces: RwLock::new(BTreeMap::new()),
            tracker: Mutex::new(Tracker::default()),
            locks: LockManager::default(),
            next_owner: AtomicU64::new(1),
            counters: Counters::default(),
        }
    }

    pub fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// Open database and live keyspace.
    pub fn check_ks(&self, meta: &KsMeta) -> Result<()> {
        self.check_open()?;
        if meta.dropped.load(Ordering::Acquire) {
            return Err(Error::KeyspaceDropped(meta.name.clone()));
        }
        Ok(())
    }

    /// Translates an engine error met while using `meta`.
    pub fn engine_err(&self, meta: &KsMeta, e: lsm_core::Error) -> Error {
        match e {
            lsm_core::Error::UnknownKeyspace(_) if meta.dropped.load(Ordering::Acquire) => {
                Error::KeyspaceDropped(meta.name.clone())
            }
            lsm_core::Error::InvalidArgument(m)
                if meta.merge.is_none() && m.contains("merge operator") =>
            {
                Error::NoMergeOperator(meta.name.clone())
            }
            other => other.into(),
        }
    }

    pub fn now(&self) -> u64 {
        self.clock.now_millis()
    }

    pub fn new_owner(&self) -> Owner {
        self.next_owner.fetch_add(1, Ordering::Relaxed)
    }

    pub fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.len() > self.opts.max_key_size {
            return Err(Error::KeyTooLarge {
                len: key.len(),
                max: self.opts.max_key_size,
            });
        }
        Ok(())
    }

    pub fn check_value(&self, value: &[u8]) -> Result<()> {
        if value.len() > self.opts.max_value_size {
            return Err(Error::ValueTooLarge {
                len: value.len(),
                max: self.opts.max_value_size,
            });
        }
        Ok(())
    }

    pub fn merge_op<'a>(&self, meta: &'a KsMeta) -> Result<&'a Arc<dyn MergeOperator>> {
        meta.merge
            .as_ref()
            .ok_or_else(|| Error::NoMergeOperator(meta.name.clone()))
    }

    /// Reads one stored value as the engine holds it (header included).
    pub fn get_raw(&self, meta: &KsMeta, key: &[u8], at: ReadAt<'_>) -> Result<Option<Bytes>> {
        self.check_ks(meta)?;
        self.store
            .get(meta.id, key, at)
            .map_err(|e| self.engine_err(meta, e))
    }

    /// Reads and decodes one value (expired = absent).
    pub fn get(&self, meta: &KsMeta, key: &[u8], at: ReadAt<'_>) -> Result<Option<Bytes>> {
        match self.get_raw(meta, key, at)? {
            None => Ok(None),
            Some(b) => codec::decode_bytes(b, self.now()),
        }
    }

    /// Runs the write pipeline (see the module doc). Returns the batch's sequence number (0 for
    /// an empty batch).
    pub fn commit(&self, ws: WriteSet, mode: CommitMode<'_>) -> Result<u64> {
        self.check_open()?;
        if ws.batch.is_empty() {
            if let CommitMode::Optimistic(_, v, _) = &mode {
                if !self.tracker.lock().validate(v) {
                    return Err(Error::Conflict);
                }
            }
            return Ok(0);
        }
        let mut footprint = ws.footprint;
        footprint.normalize();
        let (lock_owner, timeout) = match &mode {
            CommitMode::Plain => (Some(self.new_owner()), self.opts.lock_timeout),
            CommitMode::Optimistic(owner, _, timeout) => (Some(*owner), *timeout),
            CommitMode::Pessimistic => (None, self.opts.lock_timeout),
        };
        let footprint = Arc::new(footprint);
        let keys = || footprint.keys.iter().map(|(k, x)| (*k, x.as_slice()));
        if let Some(owner) = lock_owner {
            for (i, (ks, key)) in footprint.keys.iter().enumerate() {
                if let Err(e) = self
                    .locks
                    .lock(owner, *ks, key, LockMode::Exclusive, timeout)
                {
                    self.locks.unlock(owner, keys().take(i));
                    if matches!(mode, CommitMode::Plain) {
                        // Transactions count their own outcomes.
                        self.counters.count_error(&e);
                    }
                    return Err(e);
                }
            }
        }
        let result = if matches!(mode, CommitMode::Plain) && footprint.ranges.is_empty() {
            self.write_blind(ws.batch, Arc::clone(&footprint))
        } else {
            self.record_and_write(ws.batch, Arc::clone(&footprint), &mode)
        };
        if let Some(owner) = lock_owner {
            self.locks.unlock(owner, keys());
        }
        result
    }

    /// Steps 2-4 for a plain write of point keys, whose locks are held. Such a write reads
    /// nothing, so it never needs to be seen as pending: an optimistic commit that writes one
    /// of its keys waits for its locks, and one that only read a key it writes can be
    /// serialized before it. It is recorded only if a live optimistic transaction's snapshot
    /// predates it — with no transaction open, a plain write costs no table entry.
    fn write_blind(&self, batch: RawBatch, footprint: Arc<Footprint>) -> Result<u64> {
        let seq = self.store.write(batch)?.0;
        self.tracker.lock().record_finished(seq, footprint);
        Ok(seq)
    }

    fn record_and_write(
        &self,
        batch: RawBatch,
        footprint: Arc<Footprint>,
        mode: &CommitMode<'_>,
    ) -> Result<u64> {
        let ticket = {
            let mut t = self.tracker.lock();
            if let CommitMode::Optimistic(_, v, _) = mode {
                if !t.validate(v) {
                    return Err(Error::Conflict);
                }
            }
            t.start(footprint)
        };
        let r = self.store.write(batch);
        self.tracker
            .lock()
            .finish(ticket, r.as_ref().ok().map(|s| s.0));
        Ok(r?.0)
    }

    /// Registered keyspace `name`.
    pub fn keyspace_meta(&self, name: &str) -> Option<Arc<KsMeta>> {
        self.keyspaces.read().get(name).cloned()
    }
}

impl Drop for DbInner {
    fn drop(&mut self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            // Nobody is left to hear about a failure; `Db::close` reports it.
            let _ = self.store.close();
        }
    }
}
