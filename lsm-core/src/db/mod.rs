//! The LSM engine: [`LsmDb`] implements [`Store`].
//!
//! | file | what |
//! | --- | --- |
//! | `options.rs` | [`Options`], [`SyncMode`], [`WalRecovery`] |
//! | `recovery.rs` | open: lock, manifest, WAL replay, new manifest, obsolete-file cleanup |
//! | `write.rs` | the write queue and group commit, memtable switch, write stalls |
//! | `flush.rs` | the background thread that turns immutable memtables into L0 tables |
//! | `read.rs` | point reads and iterators |
//! | `version.rs` | `Version` (live files) and `SuperVersion` (what readers consult) |
//! | `snapshots.rs` | registered snapshots |
//!
//! Locking order (never take an earlier one while holding a later one): `write queue` →
//! `state` → `wal` → `sv`. Readers only take `sv` (briefly, to clone an `Arc`).

mod checkpoint;
mod compact;
mod flush;
mod group;
mod options;
mod read;
mod recovery;
mod snapshots;
pub mod version;
mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use parking_lot::{Condvar, Mutex, RwLock};

pub use options::{LastLevelFilters, Options, SyncMode, WalRecovery};
pub use snapshots::{SnapshotGuard, SnapshotList};

use crate::error::{Error, Result};
use crate::fs::{FileLock, FileSystem};
use crate::manifest::{ManifestWriter, VersionEdit};
use crate::sstable::{BlockCache, TableCache};
use crate::store::{
    CompactionFilter, KeyRange, MergeOperator, ReadAt, Snapshot, Store, StoreIter, StoreStats,
};
use crate::types::{FileNumber, KeyspaceId, SeqNo};
use crate::wal::{LogWriter, WriteBatch};
use version::{SuperVersion, Version};
use write::WriteQueue;

/// What recovery found and did, for the caller to log.
#[derive(Clone, Debug, Default)]
pub struct RecoveryReport {
    /// WAL files replayed.
    pub wals_replayed: usize,
    /// Batches replayed from WALs.
    pub batches_replayed: u64,
    /// A torn tail that was dropped: file and offset where valid data ended.
    pub torn_tail: Option<(PathBuf, u64)>,
    /// Damage skipped under [`WalRecovery::PointInTime`]: file, offset, bytes dropped, reason.
    pub dropped: Option<(PathBuf, u64, u64, String)>,
    /// Files found in the directory that no version referenced, and removed.
    pub orphans_removed: Vec<String>,
}

#[derive(Default)]
struct Counters {
    user_bytes: AtomicU64,
    wal_bytes: AtomicU64,
    table_bytes: AtomicU64,
    wal_syncs: AtomicU64,
    write_groups: AtomicU64,
    batches: AtomicU64,
    flushes: AtomicU64,
    bloom_useful: AtomicU64,
    stall_micros: AtomicU64,
    compactions: AtomicU64,
    trivial_moves: AtomicU64,
    compaction_micros: AtomicU64,
    compaction_bytes_read: AtomicU64,
    compaction_bytes_written: AtomicU64,
    flush_bytes: AtomicU64,
}

/// The active WAL; only the write-group leader (and the memtable switch it performs) touch it.
struct WalState {
    writer: LogWriter,
    number: FileNumber,
}

/// State changed by switches, flushes and keyspace changes (not on the per-write path).
struct DbState {
    manifest: ManifestWriter,
    version: Arc<Version>,
    /// Set by the first write-path or background I/O error; writes are refused from then on.
    bg_error: Option<String>,
    /// The flush thread should exit once no immutable memtable is left.
    shutdown: bool,
    /// Bumped by every finished flush, so `flush()` can wait for "its" flush.
    flush_epoch: u64,
}

pub(crate) struct Inner {
    dir: PathBuf,
    opts: Options,
    fs: Arc<dyn FileSystem>,
    table_cache: TableCache,
    block_cache: Option<Arc<BlockCache>>,
    sv: RwLock<Arc<SuperVersion>>,
    /// Highest sequence number whose batch is fully applied (what readers see).
    visible_seq: AtomicU64,
    /// Highest sequence number handed out (only the write leader changes it).
    allocated_seq: AtomicU64,
    next_file: AtomicU64,
    queue: WriteQueue,
    wal: Mutex<WalState>,
    state: Mutex<DbState>,
    /// Signalled when an immutable memtable appears, a flush ends, or on shutdown.
    state_cv: Condvar,
    snapshots: Arc<SnapshotList>,
    counters: Counters,
    closed: AtomicBool,
    lock: Mutex<Option<Box<dyn FileLock>>>,
    report: RecoveryReport,
    merge_ops: RwLock<BTreeMap<KeyspaceId, Arc<dyn MergeOperator>>>,
    filters: RwLock<BTreeMap<KeyspaceId, Arc<dyn CompactionFilter>>>,
    /// Largest L0 file count of any keyspace in the current version (for write stalls).
    stall_l0: AtomicU64,
    /// Pending compaction bytes of the current version (for write stalls).
    stall_pending: AtomicU64,
    /// Set with `DbState::bg_error`, so the write path can check it without the state lock.
    has_bg_error: AtomicBool,
    /// One compaction at a time, background or manual.
    compaction_lock: Mutex<()>,
    /// Per (keyspace, level): the largest user key of the last compaction's inputs.
    compaction_cursors: Mutex<BTreeMap<(KeyspaceId, usize), Vec<u8>>>,
    /// Tables no longer in the current version, deleted once no reader's version holds them.
    obsolete: Mutex<Vec<Arc<crate::manifest::FileMeta>>>,
}

/// The LSM engine. Open with [`LsmDb::open`]; dropping it closes it.
pub struct LsmDb {
    inner: Arc<Inner>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl LsmDb {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<LsmDb> {
        let inner = Arc::new(recovery::open(dir.as_ref(), opts)?);
        let spawn = |name: &str, body: fn(Arc<Inner>)| {
            let worker = Arc::clone(&inner);
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || body(worker))
                .map_err(|e| Error::io("spawn background thread", dir.as_ref(), e))
        };
        let workers = vec![
            spawn("strata-flush", flush::run)?,
            spawn("strata-compact", compact::run)?,
        ];
        Ok(LsmDb {
            inner,
            workers: Mutex::new(workers),
        })
    }

    /// What recovery found when this database was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.inner.report
    }

    /// The directory of the database.
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// The registered snapshots (used by compaction).
    pub fn snapshot_list(&self) -> &Arc<SnapshotList> {
        &self.inner.snapshots
    }

    /// The current version (live files), for inspection and tests.
    pub fn current_version(&self) -> Arc<Version> {
        Arc::clone(&self.inner.sv.read().version)
    }
}

impl Inner {
    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    fn check_keyspace(&self, ks: KeyspaceId) -> Result<()> {
        self.check_open()?;
        if self.current_sv().mems.contains_key(&ks) {
            Ok(())
        } else {
            Err(Error::UnknownKeyspace(ks.to_string()))
        }
    }

    fn merge_operator(&self, ks: KeyspaceId) -> Option<Arc<dyn MergeOperator>> {
        self.merge_ops.read().get(&ks).cloned()
    }

    fn current_sv(&self) -> Arc<SuperVersion> {
        Arc::clone(&self.sv.read())
    }

    fn new_file_number(&self) -> FileNumber {
        FileNumber(self.next_file.fetch_add(1, Ordering::SeqCst))
    }

    /// Records a write-path or background failure: from now on writes are refused.
    fn set_bg_error(&self, e: &Error) {
        let mut st = self.state.lock();
        if st.bg_error.is_none() {
            st.bg_error = Some(e.to_string());
        }
        self.has_bg_error.store(true, Ordering::Release);
        drop(st);
        self.state_cv.notify_all();
    }

    /// Like [`Inner::set_bg_error`], for a caller that holds the state lock.
    fn set_bg_error_locked(&self, st: &mut DbState, e: &Error) {
        if st.bg_error.is_none() {
            st.bg_error = Some(e.to_string());
        }
        self.has_bg_error.store(true, Ordering::Release);
        self.state_cv.notify_all();
    }

    fn bg_error(&self) -> Option<Error> {
        if !self.has_bg_error.load(Ordering::Acquire) {
            return None;
        }
        self.state
            .lock()
            .bg_error
            .as_ref()
            .map(|c| Error::ReadOnly { cause: c.clone() })
    }

    /// Appends `edit` to the manifest. Caller holds the state lock.
    fn log_edit(&self, st: &mut DbState, edit: &mut VersionEdit) -> Result<Arc<Version>> {
        edit.next_file_number = Some(FileNumber(self.next_file.load(Ordering::SeqCst)));
        edit.last_seq = Some(SeqNo(self.visible_seq.load(Ordering::Acquire)));
        let v = st.version.apply(edit, &self.dir)?;
        st.manifest.append(edit)?;
        self.update_stall_inputs(&v);
        let v = Arc::new(v);
        st.version = Arc::clone(&v);
        Ok(v)
    }

    /// Recomputes what the write path's stall check reads, once per version rather than once
    /// per write.
    fn update_stall_inputs(&self, v: &Version) {
        let l0 = v
            .keyspaces
            .values()
            .map(|k| k.levels[0].len())
            .max()
            .unwrap_or(0);
        self.stall_l0.store(l0 as u64, Ordering::Release);
        self.stall_pending.store(
            crate::compaction::pending_bytes(v, &self.opts.compaction),
            Ordering::Release,
        );
    }

    fn shutdown(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        {
            let mut st = self.state.lock();
            st.shutdown = true;
        }
        self.state_cv.notify_all();
        // Make whatever the WAL holds durable even under SyncMode::Never: a clean close loses
        // nothing.
        let mut wal = self.wal.lock();
        let r = wal.writer.sync();
        drop(wal);
        r
    }
}

impl Store for LsmDb {
    fn write(&self, batch: WriteBatch) -> Result<SeqNo> {
        write::write(&self.inner, batch)
    }

    fn get(&self, ks: KeyspaceId, key: &[u8], at: ReadAt<'_>) -> Result<Option<Bytes>> {
        read::get(&self.inner, ks, key, at)
    }

    fn iter(&self, ks: KeyspaceId, range: KeyRange, at: ReadAt<'_>) -> Result<Box<dyn StoreIter>> {
        read::iter(&self.inner, ks, range, at)
    }

    fn snapshot(&self) -> Snapshot {
        let seq = SeqNo(self.inner.visible_seq.load(Ordering::Acquire));
        let guard = self.inner.snapshots.register(seq);
        Snapshot::new(seq, Arc::new(guard))
    }

    fn create_keyspace(&self, name: &str) -> Result<KeyspaceId> {
        write::create_keyspace(&self.inner, name)
    }

    fn drop_keyspace(&self, ks: KeyspaceId) -> Result<()> {
        write::drop_keyspace(&self.inner, ks)
    }

    fn keyspaces(&self) -> Vec<(KeyspaceId, String)> {
        let sv = self.inner.current_sv();
        sv.version
            .keyspaces
            .iter()
            .map(|(id, k)| (*id, k.name.clone()))
            .collect()
    }

    fn flush(&self) -> Result<()> {
        write::flush(&self.inner)
    }

    fn stats(&self) -> StoreStats {
        let i = &self.inner;
        let c = &i.counters;
        let sv = i.current_sv();
        let mut levels = vec![(0u64, 0u64); version::NUM_LEVELS];
        for ks in sv.version.keyspaces.values() {
            for (l, files) in ks.levels.iter().enumerate() {
                levels[l].0 += files.len() as u64;
                levels[l].1 += files.iter().map(|f| f.size).sum::<u64>();
            }
        }
        let (hits, misses) = i
            .block_cache
            .as_ref()
            .map(|b| (b.hits(), b.misses()))
            .unwrap_or((0, 0));
        StoreStats {
            last_seq: i.visible_seq.load(Ordering::Acquire),
            user_bytes_written: c.user_bytes.load(Ordering::Relaxed),
            wal_bytes_written: c.wal_bytes.load(Ordering::Relaxed),
            table_bytes_written: c.table_bytes.load(Ordering::Relaxed),
            wal_syncs: c.wal_syncs.load(Ordering::Relaxed),
            write_groups: c.write_groups.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            flushes: c.flushes.load(Ordering::Relaxed),
            live_files: levels.iter().map(|l| l.0).sum(),
            live_bytes: levels.iter().map(|l| l.1).sum(),
            levels,
            bloom_useful: c.bloom_useful.load(Ordering::Relaxed),
            cache_hits: hits,
            cache_misses: misses,
            stall_micros: c.stall_micros.load(Ordering::Relaxed),
            flush_bytes_written: c.flush_bytes.load(Ordering::Relaxed),
            compactions: c.compactions.load(Ordering::Relaxed),
            trivial_moves: c.trivial_moves.load(Ordering::Relaxed),
            compaction_micros: c.compaction_micros.load(Ordering::Relaxed),
            compaction_bytes_read: c.compaction_bytes_read.load(Ordering::Relaxed),
            compaction_bytes_written: c.compaction_bytes_written.load(Ordering::Relaxed),
        }
    }

    fn set_merge_operator(&self, ks: KeyspaceId, op: Arc<dyn MergeOperator>) -> Result<()> {
        self.inner.check_keyspace(ks)?;
        self.inner.merge_ops.write().insert(ks, op);
        Ok(())
    }

    fn set_compaction_filter(
        &self,
        ks: KeyspaceId,
        filter: Option<Arc<dyn CompactionFilter>>,
    ) -> Result<()> {
        self.inner.check_keyspace(ks)?;
        let mut f = self.inner.filters.write();
        match filter {
            Some(x) => f.insert(ks, x),
            None => f.remove(&ks),
        };
        Ok(())
    }

    fn compact_range(&self, ks: KeyspaceId, range: KeyRange) -> Result<()> {
        self.inner.check_keyspace(ks)?;
        compact::compact_range(&self.inner, ks, &range)
    }

    fn checkpoint(&self, dir: &Path) -> Result<()> {
        checkpoint::checkpoint(&self.inner, dir)
    }

    fn close(&self) -> Result<()> {
        let r = self.inner.shutdown();
        for h in self.workers.lock().drain(..) {
            let _ = h.join();
        }
        compact::purge_obsolete(&self.inner);
        self.inner.lock.lock().take();
        r
    }
}

impl Drop for LsmDb {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
