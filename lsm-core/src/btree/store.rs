//! [`BTreeStore`]: open, the group-commit write path, reads, keyspaces, merges, compaction
//! filters, bulk load, checkpoints and statistics.
//!
//! Write path: `write` validates the batch and queues it; the writer at the front of the queue
//! (when no group is in flight) leads: it takes a group of batches (one under
//! `SyncMode::Always`, up to `max_write_group_bytes` otherwise), applies them to one
//! transaction, commits it with one fsync sequence (none under `Never`), publishes the new
//! version and answers every member. A batch is first *resolved* — merges are folded onto the
//! value the transaction sees (read-modify-write), keyspaces checked — without touching the
//! tree, so a batch that fails (unknown keyspace, failing merge operator) is refused on its own
//! and the rest of the group commits. A failure while changing pages or committing fails the
//! whole group and makes the store refuse writes (`Error::ReadOnly`).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Condvar, Mutex, RwLock};

use crate::db::SyncMode;
use crate::error::{Error, Result};
use crate::fs::FileLock;
use crate::store::{
    CompactionFilter, FilterDecision, KeyRange, MergeOperator, ReadAt, Snapshot, Store, StoreIter,
    StoreStats,
};
use crate::types::{KeyspaceId, SeqNo, ValueKind};
use crate::util::filename::{self, FileKind};
use crate::wal::WriteBatch;

use super::bulk::Builder;
use super::catalog::KsInfo;
use super::iter::{BTreeIter, ReadSrc};
use super::meta;
use super::options::BTreeOptions;
use super::page::{Geometry, MIN_PAGE_SIZE};
use super::pool::Pager;
use super::tree::{self, Cursor, PageSource};
use super::txn::Txn;
use super::writer::{self, Writer};
use super::{Version, PAGE_FILE};

/// What open found.
#[derive(Clone, Debug, Default)]
pub struct OpenReport {
    /// The transaction the database opened at.
    pub txn: u64,
    /// A meta slot that failed its checks (the other one was used): normally the torn meta
    /// page of a commit cut short by a crash.
    pub damaged_meta: Option<(u32, String)>,
}

/// B+ tree counters beyond [`StoreStats`].
#[derive(Clone, Debug, Default)]
pub struct BTreeStats {
    /// Page size.
    pub page_size: usize,
    /// Pages in use (file high-water mark, meta pages included).
    pub page_count: u64,
    /// `page_count * page_size`.
    pub file_bytes: u64,
    /// Pages free for reuse now.
    pub free_pages: u64,
    /// Pages freed but still needed by a reader or the previous meta page.
    pub pending_pages: u64,
    /// Live keys over all keyspaces.
    pub entries: u64,
    /// Sum of key and value lengths of live keys.
    pub logical_bytes: u64,
    /// Height of the tallest keyspace tree (1 = a single leaf).
    pub tree_height: u8,
    /// Per keyspace: id, height, entries.
    pub keyspaces: Vec<(KeyspaceId, u8, u64)>,
    /// Node pages read from the file.
    pub pages_read: u64,
    /// Overflow pages read.
    pub overflow_pages_read: u64,
    /// Pages written.
    pub pages_written: u64,
    /// Buffer-pool hits.
    pub pool_hits: u64,
    /// Buffer-pool misses.
    pub pool_misses: u64,
    /// `hits / (hits + misses)`, 0 when idle.
    pub pool_hit_rate: f64,
    /// Bytes the pool holds.
    pub pool_bytes: u64,
    /// Pages the pool holds.
    pub pool_pages: u64,
    /// The pool's budget.
    pub pool_capacity: u64,
    /// Committed transactions (since open).
    pub txns: u64,
    /// fsyncs of the page file.
    pub syncs: u64,
}

enum Request {
    Write(WriteBatch),
    Sync,
}

struct Pending {
    id: u64,
    req: Request,
}

#[derive(Default)]
struct Queue {
    pending: VecDeque<Pending>,
    done: HashMap<u64, Result<SeqNo>>,
    next_id: u64,
    leader_active: bool,
}

#[derive(Default)]
struct Counters {
    user_bytes: AtomicU64,
    batches: AtomicU64,
    groups: AtomicU64,
}

static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

/// What a snapshot of this engine holds: the version (and so its pages).
struct Pin {
    store: u64,
    version: Arc<Version>,
}

pub(super) struct Inner {
    dir: PathBuf,
    opts: BTreeOptions,
    pub(super) pager: Pager,
    current: RwLock<Arc<Version>>,
    writer: Mutex<Writer>,
    queue: Mutex<Queue>,
    queue_cv: Condvar,
    merge_ops: RwLock<BTreeMap<KeyspaceId, Arc<dyn MergeOperator>>>,
    filters: RwLock<BTreeMap<KeyspaceId, Arc<dyn CompactionFilter>>>,
    closed: AtomicBool,
    lock: Mutex<Option<Box<dyn FileLock>>>,
    counters: Counters,
    id: u64,
    report: OpenReport,
}

/// The B+ tree engine. Open with [`BTreeStore::open`]; dropping it closes it.
pub struct BTreeStore {
    inner: Arc<Inner>,
}

/// Refuses directories that hold an LSM database or foreign files.
fn check_directory(dir: &Path, names: &[String]) -> Result<()> {
    let tmp = format!("{PAGE_FILE}.tmp");
    if names.iter().any(|n| {
        matches!(
            filename::parse(n),
            Some(FileKind::Current | FileKind::Manifest(_) | FileKind::Wal(_) | FileKind::Table(_))
        )
    }) {
        return Err(Error::NotADatabase {
            path: dir.to_path_buf(),
            reason:
                "it holds an LSM database (CURRENT, MANIFEST, WAL or table files), not a B+ tree"
                    .into(),
        });
    }
    if let Some(f) = names.iter().find(|n| *n != filename::LOCK && **n != tmp) {
        return Err(Error::NotADatabase {
            path: dir.to_path_buf(),
            reason: format!("no {PAGE_FILE}, and it holds files that are not Strata's (e.g. {f})"),
        });
    }
    Ok(())
}

impl BTreeStore {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: impl AsRef<Path>, opts: BTreeOptions) -> Result<BTreeStore> {
        let dir = dir.as_ref();
        let fs = Arc::clone(&opts.fs);
        fs.create_dir_all(dir)?;
        let lock = fs.lock(&dir.join(filename::LOCK))?;
        let path = dir.join(PAGE_FILE);
        let tmp = dir.join(format!("{PAGE_FILE}.tmp"));
        let max_key = opts.max_key_size.max(64 << 10);
        if !fs.exists(&path) {
            check_directory(dir, &fs.list(dir)?)?;
            if !opts.create_if_missing {
                return Err(Error::InvalidArgument(format!(
                    "no database at {} and create_if_missing is off",
                    dir.display()
                )));
            }
            // Built under a temporary name and renamed, so the page file exists only complete.
            if fs.exists(&tmp) {
                fs.remove(&tmp)?;
            }
            let geo = Geometry {
                page_size: opts.page_size,
            };
            let pager = Pager::new(fs.open_rw(&tmp)?, &tmp, geo, 16 * geo.page_size, max_key);
            writer::create(&pager, 64 * geo.page_size)?;
            drop(pager);
            fs.rename(&tmp, &path)?;
            fs.sync_dir(dir)?;
        } else if fs.exists(&tmp) {
            fs.remove(&tmp)?;
        }
        let file = fs.open_rw(&path)?;
        let found = meta::read_metas(&*file, &path)?;
        let geo = Geometry {
            page_size: found.meta.page_size as usize,
        };
        let pool = opts.buffer_pool_bytes.max(8 * MIN_PAGE_SIZE);
        let pager = Pager::new(file, &path, geo, pool, max_key);
        let dirty_limit = (pool / 4).max(64 * geo.page_size);
        let mut w = writer::load(&pager, &found.meta, dirty_limit)?;
        let version = Arc::new(w.version());
        w.versions.push(Arc::downgrade(&version));
        let inner = Inner {
            dir: dir.to_path_buf(),
            opts,
            pager,
            current: RwLock::new(version),
            writer: Mutex::new(w),
            queue: Mutex::new(Queue::default()),
            queue_cv: Condvar::new(),
            merge_ops: RwLock::new(BTreeMap::new()),
            filters: RwLock::new(BTreeMap::new()),
            closed: AtomicBool::new(false),
            lock: Mutex::new(Some(lock)),
            counters: Counters::default(),
            id: NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed),
            report: OpenReport {
                txn: found.meta.txn,
                damaged_meta: found.damaged_slot,
            },
        };
        Ok(BTreeStore {
            inner: Arc::new(inner),
        })
    }

    /// The store's internals and the writer lock, for `verify`.
    pub(super) fn writer_for_verify(
        &self,
    ) -> Result<(&Inner, parking_lot::MutexGuard<'_, Writer>)> {
        self.inner.check_open()?;
        Ok((&self.inner, self.inner.writer.lock()))
    }

    /// What open found.
    pub fn open_report(&self) -> &OpenReport {
        &self.inner.report
    }

    /// The directory of the database.
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// B+ tree statistics.
    pub fn btree_stats(&self) -> BTreeStats {
        let i = &self.inner;
        let v = i.current_version();
        let (free, pending) = {
            let w = i.writer.lock();
            (w.fl.free_count() as u64, w.fl.pending_count() as u64)
        };
        let io = &i.pager.io;
        let hits = io.hits.load(Ordering::Relaxed);
        let misses = io.misses.load(Ordering::Relaxed);
        let ps = i.pager.geo.page_size;
        BTreeStats {
            page_size: ps,
            page_count: v.page_count,
            file_bytes: v.page_count * ps as u64,
            free_pages: free,
            pending_pages: pending,
            entries: v.keyspaces.values().map(|k| k.entries).sum(),
            logical_bytes: v.keyspaces.values().map(|k| k.logical_bytes).sum(),
            tree_height: v
                .keyspaces
                .values()
                .map(|k| k.root.height)
                .max()
                .unwrap_or(0),
            keyspaces: v
                .keyspaces
                .iter()
                .map(|(id, k)| (*id, k.root.height, k.entries))
                .collect(),
            pages_read: io.pages_read.load(Ordering::Relaxed),
            overflow_pages_read: io.overflow_read.load(Ordering::Relaxed),
            pages_written: io.pages_written.load(Ordering::Relaxed),
            pool_hits: hits,
            pool_misses: misses,
            pool_hit_rate: if hits + misses == 0 {
                0.0
            } else {
                hits as f64 / (hits + misses) as f64
            },
            pool_bytes: i.pager.pool_bytes() as u64,
            pool_pages: i.pager.pool_pages() as u64,
            pool_capacity: i.pager.capacity() as u64,
            txns: i.counters.groups.load(Ordering::Relaxed),
            syncs: io.syncs.load(Ordering::Relaxed),
        }
    }

    /// Loads sorted `entries` into the empty keyspace `ks` in one transaction, building the
    /// tree bottom-up with full pages. Keys must be strictly ascending. Returns the sequence
    /// number of the last entry.
    pub fn bulk_load<K, V>(
        &self,
        ks: KeyspaceId,
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Result<SeqNo>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let i = &self.inner;
        i.check_open()?;
        let mut w = i.writer.lock();
        i.check_writable(&w)?;
        let Some(info) = w.keyspaces.get(&ks) else {
            return Err(Error::UnknownKeyspace(ks.to_string()));
        };
        if info.root.height != 0 {
            return Err(Error::InvalidArgument(format!(
                "bulk load needs an empty keyspace; {ks} holds {} keys",
                info.entries
            )));
        }
        let saved = w.fl.clone();
        let mut txn = w.begin(&i.pager);
        let built = (|| {
            let mut b = Builder::new(&mut txn);
            for (k, v) in entries {
                let (k, v) = (k.as_ref(), v.as_ref());
                i.check_sizes(k, v.len(), i.opts.max_value_size)?;
                b.add(k, v)?;
            }
            b.finish_all()
        })();
        let (root, n, bytes) = match built {
            Ok(x) => x,
            Err(e) => {
                // Nothing committed references what the transaction wrote: drop it.
                drop(txn);
                w.fl = saved;
                return Err(e);
            }
        };
        if let Some(info) = w.keyspaces.get_mut(&ks) {
            info.root = root;
            info.entries = n;
            info.logical_bytes = bytes;
        }
        w.last_seq += n;
        i.commit_and_publish(&mut w, txn, &[ks], &[])?;
        i.counters.batches.fetch_add(1, Ordering::Relaxed);
        i.counters.user_bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(SeqNo(w.last_seq))
    }
}

impl Inner {
    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    fn check_writable(&self, w: &Writer) -> Result<()> {
        self.check_open()?;
        match &w.failed {
            Some(c) => Err(Error::ReadOnly { cause: c.clone() }),
            None => Ok(()),
        }
    }

    fn check_sizes(&self, key: &[u8], vlen: usize, vmax: usize) -> Result<()> {
        if key.len() > self.opts.max_key_size {
            return Err(Error::KeyTooLarge {
                len: key.len(),
                max: self.opts.max_key_size,
            });
        }
        if vlen > vmax {
            return Err(Error::ValueTooLarge {
                len: vlen,
                max: vmax,
            });
        }
        Ok(())
    }

    pub(super) fn current_version(&self) -> Arc<Version> {
        Arc::clone(&self.current.read())
    }

    fn version_at(&self, at: ReadAt<'_>) -> Result<Arc<Version>> {
        match at {
            ReadAt::Latest => Ok(self.current_version()),
            ReadAt::Snapshot(s) => match s.pin().downcast_ref::<Pin>() {
                Some(p) if p.store == self.id => Ok(Arc::clone(&p.version)),
                _ => Err(Error::InvalidArgument(
                    "the snapshot belongs to another store".into(),
                )),
            },
        }
    }

    /// The root of `ks` in `v`. A keyspace created after `v` (a snapshot) reads as empty.
    fn root_at(&self, v: &Version, ks: KeyspaceId) -> Result<super::tree::Root> {
        if let Some(info) = v.keyspaces.get(&ks) {
            return Ok(info.root);
        }
        if self.current_version().keyspaces.contains_key(&ks) {
            return Ok(super::tree::Root::default());
        }
        Err(Error::UnknownKeyspace(ks.to_string()))
    }

    fn publish(&self, w: &mut Writer) {
        let v = Arc::new(w.version());
        w.versions.push(Arc::downgrade(&v));
        *self.current.write() = v;
    }

    /// Commits and publishes; a failure poisons the writer.
    fn commit_and_publish(
        &self,
        w: &mut Writer,
        txn: Txn<'_>,
        changed: &[KeyspaceId],
        dropped: &[KeyspaceId],
    ) -> Result<()> {
        let sync = self.opts.sync_mode != SyncMode::Never;
        if let Err(e) = w.commit(txn, changed, dropped, sync) {
            w.failed.get_or_insert_with(|| e.to_string());
            return Err(e);
        }
        self.counters.groups.fetch_add(1, Ordering::Relaxed);
        self.publish(w);
        Ok(())
    }

    fn validate(&self, batch: &WriteBatch) -> Result<()> {
        let v = self.current_version();
        for op in batch.iter() {
            let op = op?;
            let vmax = match op.kind {
                ValueKind::RangeDelete => self.opts.max_key_size,
                _ => self.opts.max_value_size,
            };
            self.check_sizes(op.key, op.value.len(), vmax)?;
            if op.kind == ValueKind::Merge && !self.merge_ops.read().contains_key(&op.keyspace) {
                return Err(Error::InvalidArgument(format!(
                    "merge into keyspace {} without a registered merge operator",
                    op.keyspace
                )));
            }
            if !v.keyspaces.contains_key(&op.keyspace) {
                return Err(Error::UnknownKeyspace(op.keyspace.to_string()));
            }
        }
        Ok(())
    }

    fn run_queued(&self, req: Request) -> Result<SeqNo> {
        let mut q = self.queue.lock();
        let id = q.next_id;
        q.next_id += 1;
        q.pending.push_back(Pending { id, req });
        loop {
            if let Some(r) = q.done.remove(&id) {
                return r;
            }
            if !q.leader_active && q.pending.front().map(|p| p.id) == Some(id) {
                break;
            }
            self.queue_cv.wait(&mut q);
        }
        q.leader_active = true;
        let mut group: Vec<Pending> = Vec::new();
        let mut bytes = 0;
        while let Some(front) = q.pending.front() {
            let size = match &front.req {
                Request::Write(b) => b.size_bytes(),
                Request::Sync => 0,
            };
            if let Some(first) = group.first() {
                let lone = self.opts.sync_mode == SyncMode::Always
                    || matches!(first.req, Request::Sync)
                    || matches!(front.req, Request::Sync);
                if lone || bytes + size > self.opts.max_write_group_bytes {
                    break;
                }
            }
            bytes += size;
            match q.pending.pop_front() {
                Some(p) => group.push(p),
                None => break,
            }
        }
        drop(q);
        let results = self.lead(&group);
        let mut q = self.queue.lock();
        let mut mine = None;
        for (p, r) in group.into_iter().zip(results) {
            if p.id == id {
                mine = Some(r);
            } else {
                q.done.insert(p.id, r);
            }
        }
        q.leader_active = false;
        drop(q);
        self.queue_cv.notify_all();
        mine.unwrap_or(Err(Error::InvalidArgument(
            "write group lost its leader's request".into(),
        )))
    }

    /// Executes a group as its leader; one result per member.
    fn lead(&self, group: &[Pending]) -> Vec<Result<SeqNo>> {
        let n = group.len();
        let fail_all = |e: &Error| (0..n).map(|_| Err(e.duplicate())).collect::<Vec<_>>();
        let mut w = self.writer.lock();
        if let Err(e) = self.check_writable(&w) {
            return fail_all(&e);
        }
        if let [Pending {
            req: Request::Sync, ..
        }] = group
        {
            let r = self.pager.sync().map(|()| SeqNo(w.last_seq));
            if let Err(e) = &r {
                w.failed.get_or_insert_with(|| e.to_string());
            }
            return vec![r];
        }
        let mut txn = w.begin(&self.pager);
        let mut changed = BTreeSet::new();
        let mut out = Vec::with_capacity(n);
        let mut applied = 0u64;
        let mut user_bytes = 0u64;
        for p in group {
            let Request::Write(b) = &p.req else {
                out.push(Err(Error::InvalidArgument(
                    "internal error: sync in a write group".into(),
                )));
                continue;
            };
            match self.apply_batch(&mut w, &mut txn, b, &mut changed) {
                Ok(Ok(seq)) => {
                    applied += 1;
                    user_bytes += b.size_bytes() as u64;
                    out.push(Ok(seq));
                }
                Ok(Err(e)) => out.push(Err(e)),
                Err(e) => {
                    w.failed.get_or_insert_with(|| e.to_string());
                    return fail_all(&e);
                }
            }
        }
        if applied == 0 {
            w.abort(txn);
            return out;
        }
        let changed: Vec<KeyspaceId> = changed.into_iter().collect();
        if let Err(e) = self.commit_and_publish(&mut w, txn, &changed, &[]) {
            return fail_all(&e);
        }
        self.counters.batches.fetch_add(applied, Ordering::Relaxed);
        self.counters
            .user_bytes
            .fetch_add(user_bytes, Ordering::Relaxed);
        out
    }

    /// Resolves and applies one batch. The outer error is fatal (pages may be half-changed);
    /// the inner one refuses just this batch, before anything changed.
    fn apply_batch(
        &self,
        w: &mut Writer,
        txn: &mut Txn<'_>,
        b: &WriteBatch,
        changed: &mut BTreeSet<KeyspaceId>,
    ) -> Result<Result<SeqNo>> {
        // Without merge operands nothing needs resolving: once every operation decodes and
        // names a known keyspace, the batch is applied straight from its bytes.
        let mut has_merge = false;
        for op in b.iter() {
            let op = match op {
                Ok(op) => op,
                Err(e) => return Ok(Err(e)),
            };
            if !w.keyspaces.contains_key(&op.keyspace) {
                return Ok(Err(Error::UnknownKeyspace(op.keyspace.to_string())));
            }
            has_merge |= op.kind == ValueKind::Merge;
        }
        if !has_merge {
            for op in b.iter().flatten() {
                let (ks, k, v) = (op.keyspace, op.key, op.value);
                match op.kind {
                    ValueKind::Put => apply_op(w, txn, changed, ks, Op::Put(k, v))?,
                    ValueKind::Delete => apply_op(w, txn, changed, ks, Op::Del(k))?,
                    ValueKind::RangeDelete => apply_op(w, txn, changed, ks, Op::Range(k, v))?,
                    ValueKind::Merge => {}
                }
            }
            w.last_seq += u64::from(b.count());
            return Ok(Ok(SeqNo(w.last_seq)));
        }
        enum Owned {
            Put(KeyspaceId, Vec<u8>, Vec<u8>),
            Del(KeyspaceId, Vec<u8>),
            Range(KeyspaceId, Vec<u8>, Vec<u8>),
        }
        let mut ops = Vec::with_capacity(b.count() as usize);
        // The batch's own effect so far, so that a merge sees earlier operations of its batch.
        let mut overlay: HashMap<(KeyspaceId, Vec<u8>), Option<Vec<u8>>> = HashMap::new();
        let mut ranges: Vec<(KeyspaceId, Vec<u8>, Vec<u8>)> = Vec::new();
        for op in b.iter() {
            let op = match op {
                Ok(op) => op,
                Err(e) => return Ok(Err(e)),
            };
            let ks = op.keyspace;
            let Some(info) = w.keyspaces.get(&ks) else {
                return Ok(Err(Error::UnknownKeyspace(ks.to_string())));
            };
            match op.kind {
                ValueKind::Put => {
                    overlay.insert((ks, op.key.to_vec()), Some(op.value.to_vec()));
                    ops.push(Owned::Put(ks, op.key.to_vec(), op.value.to_vec()));
                }
                ValueKind::Delete => {
                    overlay.insert((ks, op.key.to_vec()), None);
                    ops.push(Owned::Del(ks, op.key.to_vec()));
                }
                ValueKind::RangeDelete => {
                    for ((k, key), v) in overlay.iter_mut() {
                        if *k == ks && key.as_slice() >= op.key && key.as_slice() < op.value {
                            *v = None;
                        }
                    }
                    ranges.push((ks, op.key.to_vec(), op.value.to_vec()));
                    ops.push(Owned::Range(ks, op.key.to_vec(), op.value.to_vec()));
                }
                ValueKind::Merge => {
                    let Some(mop) = self.merge_ops.read().get(&ks).cloned() else {
                        return Ok(Err(Error::InvalidArgument(format!(
                            "merge into keyspace {ks} without a registered merge operator"
                        ))));
                    };
                    let existing = match overlay.get(&(ks, op.key.to_vec())) {
                        Some(v) => v.clone(),
                        None if ranges.iter().any(|(k, lo, hi)| {
                            *k == ks && op.key >= lo.as_slice() && op.key < hi.as_slice()
                        }) =>
                        {
                            None
                        }
                        None => {
                            let found = tree::get(&*txn, info.root, op.key);
                            match found {
                                Ok(v) => v.map(|b| b.to_vec()),
                                Err(e) => return Ok(Err(e)),
                            }
                        }
                    };
                    let merged = match mop.full_merge(op.key, existing.as_deref(), &[op.value]) {
                        Ok(m) => m,
                        Err(e) => return Ok(Err(Error::MergeFailed(e))),
                    };
                    if merged.len() > self.opts.max_value_size {
                        return Ok(Err(Error::ValueTooLarge {
                            len: merged.len(),
                            max: self.opts.max_value_size,
                        }));
                    }
                    overlay.insert((ks, op.key.to_vec()), Some(merged.clone()));
                    ops.push(Owned::Put(ks, op.key.to_vec(), merged));
                }
            }
        }
        for op in ops {
            match op {
                Owned::Put(ks, k, v) => apply_op(w, txn, changed, ks, Op::Put(&k, &v))?,
                Owned::Del(ks, k) => apply_op(w, txn, changed, ks, Op::Del(&k))?,
                Owned::Range(ks, lo, hi) => apply_op(w, txn, changed, ks, Op::Range(&lo, &hi))?,
            }
        }
        w.last_seq += u64::from(b.count());
        Ok(Ok(SeqNo(w.last_seq)))
    }

    /// Copies the state of `v` (read through `src`) into this (new, empty) store.
    fn restore_from(&self, src: &Inner, v: &Version) -> Result<()> {
        let mut w = self.writer.lock();
        self.check_writable(&w)?;
        let mut txn = w.begin(&self.pager);
        let read = ReadSrc {
            pager: &src.pager,
            page_count: v.page_count,
        };
        for (id, info) in v.keyspaces.iter() {
            let mut b = Builder::new(&mut txn);
            let mut c = Cursor::new(info.root);
            c.seek_first(&read)?;
            while let Some(e) = c.entry() {
                let val = read.value(e.val)?;
                b.add(e.key, &val)?;
                c.next(&read)?;
            }
            let (root, entries, logical_bytes) = b.finish_all()?;
            w.keyspaces.insert(
                *id,
                KsInfo {
                    name: info.name.clone(),
                    root,
                    entries,
                    logical_bytes,
                },
            );
        }
        w.next_keyspace = w.next_keyspace.max(v.next_keyspace);
        w.last_seq = v.last_seq;
        let ids: Vec<KeyspaceId> = v.keyspaces.keys().copied().collect();
        self.commit_and_publish(&mut w, txn, &ids, &[])
    }

    /// Applies the compaction filter to up to `limit` keys of `ks` from `from` within `range`
    /// in one transaction; returns where to continue, or `None` when the range is done.
    fn compact_chunk(
        &self,
        ks: KeyspaceId,
        filter: &dyn CompactionFilter,
        from: Bound<Vec<u8>>,
        range: &KeyRange,
        limit: usize,
    ) -> Result<Option<Bound<Vec<u8>>>> {
        let mut w = self.writer.lock();
        self.check_writable(&w)?;
        let Some(root) = w.keyspaces.get(&ks).map(|k| k.root) else {
            return Err(Error::UnknownKeyspace(ks.to_string()));
        };
        let txn = w.begin(&self.pager);
        let mut c = Cursor::new(root);
        type Scan = (Vec<(Vec<u8>, FilterDecision)>, Option<Vec<u8>>);
        let scanned: Result<Scan> = (|| {
            match &from {
                Bound::Unbounded => c.seek_first(&txn)?,
                Bound::Included(k) | Bound::Excluded(k) => c.seek_ge(&txn, k)?,
            }
            if let (Bound::Excluded(k), Some(e)) = (&from, c.entry()) {
                if e.key == k.as_slice() {
                    c.next(&txn)?;
                }
            }
            let mut decisions = Vec::new();
            let mut last = None;
            let mut seen = 0;
            while let Some(e) = c.entry() {
                if range.is_above(e.key) || seen == limit {
                    break;
                }
                seen += 1;
                last = Some(e.key.to_vec());
                let val = txn.value(e.val)?;
                match filter.filter(e.key, &val) {
                    FilterDecision::Keep => {}
                    d => decisions.push((e.key.to_vec(), d)),
                }
                c.next(&txn)?;
            }
            let more = c.entry().is_some_and(|e| !range.is_above(e.key));
            Ok((decisions, if more { last } else { None }))
        })();
        let (decisions, next) = match scanned {
            Ok(x) => x,
            Err(e) => {
                w.abort(txn);
                return Err(e);
            }
        };
        if decisions.is_empty() {
            w.abort(txn);
            return Ok(next.map(Bound::Excluded));
        }
        let mut txn = txn;
        let applied: Result<()> = (|| {
            for (k, d) in &decisions {
                let Some(info) = w.keyspaces.get_mut(&ks) else {
                    break;
                };
                match d {
                    FilterDecision::Remove => {
                        let (root, removed) = txn.delete(info.root, k)?;
                        info.root = root;
                        if let Some(sz) = removed {
                            info.entries = info.entries.saturating_sub(1);
                            info.logical_bytes = info.logical_bytes.saturating_sub(sz);
                        }
                    }
                    FilterDecision::ChangeValue(v) => {
                        let (root, replaced) = txn.insert(info.root, k, v)?;
                        info.root = root;
                        if let Some(old) = replaced {
                            info.logical_bytes = info.logical_bytes.saturating_sub(old);
                        }
                        info.logical_bytes += (k.len() + v.len()) as u64;
                    }
                    FilterDecision::Keep => {}
                }
            }
            Ok(())
        })();
        if let Err(e) = applied {
            w.failed.get_or_insert_with(|| e.to_string());
            return Err(e);
        }
        w.last_seq += decisions.len() as u64;
        self.commit_and_publish(&mut w, txn, &[ks], &[])?;
        Ok(next.map(Bound::Excluded))
    }
}

/// One change to apply.
enum Op<'a> {
    Put(&'a [u8], &'a [u8]),
    Del(&'a [u8]),
    Range(&'a [u8], &'a [u8]),
}

/// Applies one change to keyspace `ks` and keeps its catalog counters. An error is fatal (the
/// transaction's pages may be half-changed).
fn apply_op(
    w: &mut Writer,
    txn: &mut Txn<'_>,
    changed: &mut BTreeSet<KeyspaceId>,
    ks: KeyspaceId,
    op: Op<'_>,
) -> Result<()> {
    let Some(info) = w.keyspaces.get_mut(&ks) else {
        return Ok(());
    };
    match op {
        Op::Put(k, v) => {
            let (root, replaced) = txn.insert(info.root, k, v)?;
            info.root = root;
            match replaced {
                Some(old) => info.logical_bytes -= old.min(info.logical_bytes),
                None => info.entries += 1,
            }
            info.logical_bytes += (k.len() + v.len()) as u64;
        }
        Op::Del(k) => {
            let (root, removed) = txn.delete(info.root, k)?;
            info.root = root;
            if let Some(sz) = removed {
                info.entries = info.entries.saturating_sub(1);
                info.logical_bytes = info.logical_bytes.saturating_sub(sz);
            }
        }
        Op::Range(lo, hi) => {
            let (root, n, sz) = txn.delete_range(info.root, lo, hi)?;
            info.root = root;
            info.entries = info.entries.saturating_sub(n);
            info.logical_bytes = info.logical_bytes.saturating_sub(sz);
        }
    }
    changed.insert(ks);
    Ok(())
}

impl Store for BTreeStore {
    fn write(&self, batch: WriteBatch) -> Result<SeqNo> {
        let i = &self.inner;
        i.check_open()?;
        i.validate(&batch)?;
        if batch.is_empty() {
            return Ok(SeqNo(i.current_version().last_seq));
        }
        i.run_queued(Request::Write(batch))
    }

    fn get(&self, ks: KeyspaceId, key: &[u8], at: ReadAt<'_>) -> Result<Option<Bytes>> {
        let i = &self.inner;
        i.check_open()?;
        let v = i.version_at(at)?;
        let root = i.root_at(&v, ks)?;
        let src = ReadSrc {
            pager: &i.pager,
            page_count: v.page_count,
        };
        tree::get(&src, root, key)
    }

    fn iter(&self, ks: KeyspaceId, range: KeyRange, at: ReadAt<'_>) -> Result<Box<dyn StoreIter>> {
        let i = &self.inner;
        i.check_open()?;
        let v = i.version_at(at)?;
        let root = i.root_at(&v, ks)?;
        Ok(Box::new(BTreeIter::new(
            Arc::clone(&self.inner),
            v,
            root,
            range,
        )))
    }

    fn snapshot(&self) -> Snapshot {
        let v = self.inner.current_version();
        let seq = SeqNo(v.last_seq);
        Snapshot::new(
            seq,
            Arc::new(Pin {
                store: self.inner.id,
                version: v,
            }),
        )
    }

    fn create_keyspace(&self, name: &str) -> Result<KeyspaceId> {
        let i = &self.inner;
        i.check_open()?;
        if name.is_empty() || name.len() > 255 {
            return Err(Error::InvalidArgument(
                "keyspace names are 1 to 255 bytes".into(),
            ));
        }
        let mut w = i.writer.lock();
        i.check_writable(&w)?;
        if let Some((id, _)) = w.keyspaces.iter().find(|(_, k)| k.name == name) {
            return Ok(*id);
        }
        let id = KeyspaceId(w.next_keyspace.max(1));
        w.next_keyspace = id.0 + 1;
        w.keyspaces.insert(id, KsInfo::new(name));
        let txn = w.begin(&i.pager);
        i.commit_and_publish(&mut w, txn, &[id], &[])?;
        Ok(id)
    }

    fn drop_keyspace(&self, ks: KeyspaceId) -> Result<()> {
        let i = &self.inner;
        i.check_open()?;
        if ks == KeyspaceId::DEFAULT {
            return Err(Error::InvalidArgument(
                "the default keyspace cannot be dropped".into(),
            ));
        }
        let mut w = i.writer.lock();
        i.check_writable(&w)?;
        let Some(info) = w.keyspaces.get(&ks).cloned() else {
            return Err(Error::UnknownKeyspace(ks.to_string()));
        };
        let mut txn = w.begin(&i.pager);
        if let Err(e) = txn.free_tree(info.root) {
            w.failed.get_or_insert_with(|| e.to_string());
            return Err(e);
        }
        w.keyspaces.remove(&ks);
        i.merge_ops.write().remove(&ks);
        i.filters.write().remove(&ks);
        i.commit_and_publish(&mut w, txn, &[], &[ks])
    }

    fn keyspaces(&self) -> Vec<(KeyspaceId, String)> {
        self.inner
            .current_version()
            .keyspaces
            .iter()
            .map(|(id, k)| (*id, k.name.clone()))
            .collect()
    }

    fn flush(&self) -> Result<()> {
        self.inner.check_open()?;
        self.inner.run_queued(Request::Sync).map(drop)
    }

    fn stats(&self) -> StoreStats {
        let i = &self.inner;
        let v = i.current_version();
        let io = &i.pager.io;
        let ps = i.pager.geo.page_size as u64;
        StoreStats {
            last_seq: v.last_seq,
            user_bytes_written: i.counters.user_bytes.load(Ordering::Relaxed),
            table_bytes_written: io.pages_written.load(Ordering::Relaxed) * ps,
            wal_syncs: io.syncs.load(Ordering::Relaxed),
            write_groups: i.counters.groups.load(Ordering::Relaxed),
            batches: i.counters.batches.load(Ordering::Relaxed),
            live_files: 1,
            live_bytes: v.page_count * ps,
            cache_hits: io.hits.load(Ordering::Relaxed),
            cache_misses: io.misses.load(Ordering::Relaxed),
            ..StoreStats::default()
        }
    }

    fn set_merge_operator(&self, ks: KeyspaceId, op: Arc<dyn MergeOperator>) -> Result<()> {
        let i = &self.inner;
        i.check_open()?;
        if !i.current_version().keyspaces.contains_key(&ks) {
            return Err(Error::UnknownKeyspace(ks.to_string()));
        }
        i.merge_ops.write().insert(ks, op);
        Ok(())
    }

    fn set_compaction_filter(
        &self,
        ks: KeyspaceId,
        filter: Option<Arc<dyn CompactionFilter>>,
    ) -> Result<()> {
        let i = &self.inner;
        i.check_open()?;
        if !i.current_version().keyspaces.contains_key(&ks) {
            return Err(Error::UnknownKeyspace(ks.to_string()));
        }
        let mut f = i.filters.write();
        match filter {
            Some(x) => f.insert(ks, x),
            None => f.remove(&ks),
        };
        Ok(())
    }

    /// Applies the keyspace's compaction filter to every key in `range`, in transactions of up
    /// to 1024 keys (writers run between them). Without a filter there is nothing to do: the
    /// tree holds no obsolete versions or tombstones.
    fn compact_range(&self, ks: KeyspaceId, range: KeyRange) -> Result<()> {
        let i = &self.inner;
        i.check_open()?;
        if !i.current_version().keyspaces.contains_key(&ks) {
            return Err(Error::UnknownKeyspace(ks.to_string()));
        }
        let Some(filter) = i.filters.read().get(&ks).cloned() else {
            return Ok(());
        };
        let mut from = range.lower.clone();
        while let Some(next) = i.compact_chunk(ks, &*filter, from, &range, 1024)? {
            from = next;
        }
        Ok(())
    }

    /// Writes a compact copy of the current state (bulk-loaded, full pages) into `dir` while
    /// writes continue: the copy reads a pinned version.
    fn checkpoint(&self, dir: &Path) -> Result<()> {
        let i = &self.inner;
        i.check_open()?;
        let fs = &i.opts.fs;
        if fs.exists(dir) && !fs.list(dir)?.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "checkpoint directory {} exists and is not empty",
                dir.display()
            )));
        }
        let v = i.current_version();
        let opts = i
            .opts
            .clone()
            .sync_mode(SyncMode::Always)
            .create_if_missing(true)
            .page_size(i.pager.geo.page_size);
        let target = BTreeStore::open(dir, opts)?;
        target.inner.restore_from(i, &v)?;
        target.close()
    }

    fn close(&self) -> Result<()> {
        let i = &self.inner;
        if i.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let w = i.writer.lock();
        // Under SyncMode::Never, make every commit durable: a clean close loses nothing.
        let r = if w.failed.is_none() {
            i.pager.sync()
        } else {
            Ok(())
        };
        drop(w);
        i.lock.lock().take();
        r
    }
}

impl Drop for BTreeStore {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
