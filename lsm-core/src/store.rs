//! The engine-neutral seam: the [`Store`] trait that kv-api talks to and that both engines (the
//! LSM in [`crate::db`] and the B+ tree mode) implement, plus [`MemStore`], a `BTreeMap`
//! reference implementation used as the oracle in tests.
//!
//! ## Durability contract
//! * [`Store::write`] applies a [`WriteBatch`] atomically: after any crash, either every
//!   operation of the batch is visible or none is.
//! * When `write` returns `Ok` under a syncing mode (`SyncMode::Always` or `SyncMode::Group`),
//!   the batch is on stable storage and survives a process kill or power loss. Under
//!   `SyncMode::Never` it survives a process kill (it is in the OS page cache) but a power loss
//!   may drop a suffix of the most recent writes — never a middle part: recovery yields a prefix
//!   of the acknowledged history.
//! * Writes are totally ordered by sequence number; a read (or a [`Snapshot`]) at sequence `s`
//!   sees exactly the batches numbered `<= s`.
//! * After an I/O error on the write path the store refuses further writes
//!   (`Error::ReadOnly`, naming the cause) instead of acknowledging data it may have lost.

use std::any::Any;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;

use crate::error::{Error, Result};
use crate::types::{KeyspaceId, SeqNo, ValueKind};
use crate::wal::WriteBatch;

/// A consistent point-in-time view. Reads through it see exactly the writes with sequence
/// numbers `<=` [`Snapshot::seq`]. The engine keeps what the snapshot needs until it is dropped.
#[derive(Clone)]
pub struct Snapshot {
    seq: SeqNo,
    /// Engine-specific state that keeps the view alive (released on drop).
    pin: Arc<dyn Any + Send + Sync>,
}

impl Snapshot {
    /// Makes a snapshot at `seq`, kept alive by `pin`.
    pub fn new(seq: SeqNo, pin: Arc<dyn Any + Send + Sync>) -> Snapshot {
        Snapshot { seq, pin }
    }

    /// The sequence number the snapshot reads at.
    pub fn seq(&self) -> SeqNo {
        self.seq
    }

    /// The engine's pin object (engines downcast their own).
    pub fn pin(&self) -> &(dyn Any + Send + Sync) {
        &*self.pin
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("seq", &self.seq).finish()
    }
}

/// Where a read looks.
#[derive(Clone, Copy, Debug, Default)]
pub enum ReadAt<'a> {
    /// The newest visible state.
    #[default]
    Latest,
    /// A snapshot's state.
    Snapshot(&'a Snapshot),
}

/// Bounds of an iteration over user keys.
#[derive(Clone, Debug)]
pub struct KeyRange {
    /// Lower bound.
    pub lower: Bound<Vec<u8>>,
    /// Upper bound.
    pub upper: Bound<Vec<u8>>,
}

impl KeyRange {
    /// Every key.
    pub fn all() -> KeyRange {
        KeyRange {
            lower: Bound::Unbounded,
            upper: Bound::Unbounded,
        }
    }

    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: &[u8]) -> KeyRange {
        KeyRange {
            lower: Bound::Included(prefix.to_vec()),
            upper: match prefix_successor(prefix) {
                Some(s) => Bound::Excluded(s),
                None => Bound::Unbounded,
            },
        }
    }

    /// True if `key` lies within the bounds.
    pub fn contains(&self, key: &[u8]) -> bool {
        let lower_ok = match &self.lower {
            Bound::Included(l) => key >= l.as_slice(),
            Bound::Excluded(l) => key > l.as_slice(),
            Bound::Unbounded => true,
        };
        lower_ok && !self.is_above(key)
    }

    /// True if `key` lies above the upper bound.
    pub fn is_above(&self, key: &[u8]) -> bool {
        match &self.upper {
            Bound::Included(u) => key > u.as_slice(),
            Bound::Excluded(u) => key >= u.as_slice(),
            Bound::Unbounded => false,
        }
    }

    /// True if `key` lies below the lower bound.
    pub fn is_below(&self, key: &[u8]) -> bool {
        match &self.lower {
            Bound::Included(l) => key < l.as_slice(),
            Bound::Excluded(l) => key <= l.as_slice(),
            Bound::Unbounded => false,
        }
    }
}

/// The smallest key greater than every key starting with `prefix` (`None` if there is none,
/// i.e. the prefix is empty or all `0xff`).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut s = prefix.to_vec();
    while let Some(last) = s.pop() {
        if last < 0xff {
            s.push(last + 1);
            return Some(s);
        }
    }
    None
}

/// A bidirectional cursor over the visible user keys of one keyspace, within bounds, at one
/// sequence number. Same contract as [`crate::iter::InternalIterator`], over user keys.
pub trait StoreIter: Send {
    /// True when positioned on an entry.
    fn valid(&self) -> bool;
    /// Positions on the first key in bounds.
    fn seek_to_first(&mut self) -> Result<()>;
    /// Positions on the last key in bounds.
    fn seek_to_last(&mut self) -> Result<()>;
    /// Positions on the first key `>= key` (and in bounds).
    fn seek(&mut self, key: &[u8]) -> Result<()>;
    /// Positions on the last key `<= key` (and in bounds).
    fn seek_for_prev(&mut self, key: &[u8]) -> Result<()>;
    /// Moves to the next key. REQUIRES `valid()`.
    fn next(&mut self) -> Result<()>;
    /// Moves to the previous key. REQUIRES `valid()`.
    fn prev(&mut self) -> Result<()>;
    /// The current key. REQUIRES `valid()`.
    fn key(&self) -> &[u8];
    /// The current value. REQUIRES `valid()`.
    fn value(&self) -> &[u8];
}

/// Counters every engine reports; engine-specific detail goes in `report`.
#[derive(Clone, Debug, Default)]
pub struct StoreStats {
    /// Highest sequence number visible to readers.
    pub last_seq: u64,
    /// Bytes of keys and values written by users (WAL payload).
    pub user_bytes_written: u64,
    /// Bytes written to the WAL.
    pub wal_bytes_written: u64,
    /// Bytes written to table or page files (flushes, compactions, page write-back).
    pub table_bytes_written: u64,
    /// Number of WAL fsyncs.
    pub wal_syncs: u64,
    /// Write groups committed (one WAL append each).
    pub write_groups: u64,
    /// Batches committed.
    pub batches: u64,
    /// Memtable flushes finished.
    pub flushes: u64,
    /// Live table/page files and their total size.
    pub live_files: u64,
    /// Total size of live files.
    pub live_bytes: u64,
    /// Per-level file count and bytes (LSM); empty for other engines.
    pub levels: Vec<(u64, u64)>,
    /// Bloom filter checks that ruled a table out.
    pub bloom_useful: u64,
    /// Block cache hits.
    pub cache_hits: u64,
    /// Block cache misses.
    pub cache_misses: u64,
    /// Time writers spent stalled waiting for flushes, in microseconds.
    pub stall_micros: u64,
    /// Bytes written by memtable flushes.
    pub flush_bytes_written: u64,
    /// Compactions run (trivial moves included).
    pub compactions: u64,
    /// Compactions that moved a file down without rewriting it.
    pub trivial_moves: u64,
    /// Time spent compacting, in microseconds.
    pub compaction_micros: u64,
    /// Bytes read by compactions.
    pub compaction_bytes_read: u64,
    /// Bytes written by compactions.
    pub compaction_bytes_written: u64,
}

impl StoreStats {
    /// Bytes written to table files per byte the user wrote (flushes + compactions, or page
    /// write-back), 0 before anything was written.
    pub fn write_amplification(&self) -> f64 {
        if self.user_bytes_written == 0 {
            0.0
        } else {
            self.table_bytes_written as f64 / self.user_bytes_written as f64
        }
    }

    /// A human-readable report, in the spirit of RocksDB's `rocksdb.stats`.
    pub fn report(&self) -> String {
        use std::fmt::Write as _;
        let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
        let mut r = String::new();
        let _ = writeln!(r, "** Level summary **");
        let _ = writeln!(r, "Level  Files     Size(MB)");
        for (i, (files, bytes)) in self.levels.iter().enumerate() {
            let _ = writeln!(r, "L{i:<5} {files:<9} {:>9.2}", mb(*bytes));
        }
        let _ = writeln!(
            r,
            "Sum    {:<9} {:>9.2}",
            self.live_files,
            mb(self.live_bytes)
        );
        let _ = writeln!(r, "** Writes **");
        let _ = writeln!(
            r,
            "user {:.2} MB, WAL {:.2} MB in {} groups ({} batches, {} syncs)",
            mb(self.user_bytes_written),
            mb(self.wal_bytes_written),
            self.write_groups,
            self.batches,
            self.wal_syncs
        );
        let _ = writeln!(
            r,
            "flush {:.2} MB ({} flushes), compaction write {:.2} MB read {:.2} MB ({} compactions, {} trivial moves, {:.2} s)",
            mb(self.flush_bytes_written),
            self.flushes,
            mb(self.compaction_bytes_written),
            mb(self.compaction_bytes_read),
            self.compactions,
            self.trivial_moves,
            self.compaction_micros as f64 / 1e6
        );
        let _ = writeln!(
            r,
            "write amplification {:.2}, stalls {:.3} s",
            self.write_amplification(),
            self.stall_micros as f64 / 1e6
        );
        let _ = writeln!(r, "** Reads **");
        let _ = writeln!(
            r,
            "block cache {} hits / {} misses, bloom filters ruled out {} table probes",
            self.cache_hits, self.cache_misses, self.bloom_useful
        );
        r
    }
}

/// The engine-neutral storage interface. See the module doc for the durability contract.
pub trait Store: Send + Sync {
    /// Applies `batch` atomically and returns the sequence number of its last operation.
    fn write(&self, batch: WriteBatch) -> Result<SeqNo>;
    /// Reads the value of `key` in keyspace `ks`.
    fn get(&self, ks: KeyspaceId, key: &[u8], at: ReadAt<'_>) -> Result<Option<Bytes>>;
    /// A cursor over the keys of `ks` within `range`.
    fn iter(&self, ks: KeyspaceId, range: KeyRange, at: ReadAt<'_>) -> Result<Box<dyn StoreIter>>;
    /// Pins the current state.
    fn snapshot(&self) -> Snapshot;
    /// Creates a keyspace, or returns the id of the existing one of that name.
    fn create_keyspace(&self, name: &str) -> Result<KeyspaceId>;
    /// Drops a keyspace and (eventually) frees its data. The default keyspace cannot be dropped.
    fn drop_keyspace(&self, ks: KeyspaceId) -> Result<()>;
    /// Live keyspaces, the default (`"default"`, id 0) first.
    fn keyspaces(&self) -> Vec<(KeyspaceId, String)>;
    /// Makes everything written so far durable in table/page files (not just the WAL).
    fn flush(&self) -> Result<()>;
    /// Counters.
    fn stats(&self) -> StoreStats;
    /// Registers the merge operator of keyspace `ks` (needed before merge operands are written
    /// or read; re-register after every open).
    fn set_merge_operator(&self, ks: KeyspaceId, op: Arc<dyn MergeOperator>) -> Result<()>;
    /// Sets (or clears) the compaction filter of keyspace `ks`.
    fn set_compaction_filter(
        &self,
        ks: KeyspaceId,
        filter: Option<Arc<dyn CompactionFilter>>,
    ) -> Result<()>;
    /// Rewrites the data of `ks` within `range` now: the LSM compacts it down to the last
    /// level, dropping obsolete versions and tombstones and applying the compaction filter.
    fn compact_range(&self, ks: KeyspaceId, range: KeyRange) -> Result<()>;
    /// Writes a consistent, openable copy of the database into the new directory `dir` (hard
    /// links where the file system allows) while writes continue.
    fn checkpoint(&self, dir: &Path) -> Result<()>;
    /// Flushes nothing extra, stops background work and releases the directory lock. Later calls
    /// on the store return `Error::Closed`.
    fn close(&self) -> Result<()>;
}

/// Folds merge operands into a value (RocksDB's merge operator), registered per keyspace.
///
/// A `merge(key, operand)` write records the operand without reading; reads (and compaction)
/// fold the operands onto the newest put below them.
pub trait MergeOperator: Send + Sync {
    /// A stable name (recorded nowhere yet; for diagnostics).
    fn name(&self) -> &str;
    /// Folds `operands` (oldest first) onto `existing` (the value below them, `None` if the key
    /// was absent or deleted). An `Err` is reported to the reader as [`Error::MergeFailed`].
    fn full_merge(
        &self,
        key: &[u8],
        existing: Option<&[u8]>,
        operands: &[&[u8]],
    ) -> std::result::Result<Vec<u8>, String>;
}

/// What a [`CompactionFilter`] decides for one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterDecision {
    /// Keep the entry as it is.
    Keep,
    /// Drop the entry (the key reads as absent unless an older version is visible... which the
    /// engine also drops: a removed key is removed in every version the rewrite holds).
    Remove,
    /// Keep the key with this value instead.
    ChangeValue(Vec<u8>),
}

/// Inspects entries when the engine rewrites them (LSM compaction; `compact_range` on every
/// engine) and may drop or rewrite them. Used for TTL expiry. Must be deterministic for a given
/// entry and never resurrect data: it sees only the newest visible value of each key.
pub trait CompactionFilter: Send + Sync {
    /// A stable name for diagnostics.
    fn name(&self) -> &str;
    /// Decides for one `(key, value)` (the newest version of the key).
    fn filter(&self, key: &[u8], value: &[u8]) -> FilterDecision;
}

/// Name of the keyspace with id 0.
pub const DEFAULT_KEYSPACE: &str = "default";

/// One key's version chain in [`MemStore`]: `(seq, value)` oldest first, `None` = deleted.
type Versions = Vec<(SeqNo, Option<Bytes>)>;

#[derive(Default)]
struct MemState {
    data: BTreeMap<(KeyspaceId, Vec<u8>), Versions>,
    last_seq: SeqNo,
    keyspaces: BTreeMap<KeyspaceId, String>,
    next_keyspace: u32,
    closed: bool,
    merge: BTreeMap<KeyspaceId, Arc<dyn MergeOperator>>,
    filters: BTreeMap<KeyspaceId, Arc<dyn CompactionFilter>>,
}

/// The reference [`Store`]: a `BTreeMap` with full version history, so snapshots work. Not
/// persistent; meant as the oracle that the real engines are compared with.
#[derive(Clone)]
pub struct MemStore {
    state: Arc<RwLock<MemState>>,
}

impl Default for MemStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemStore {
    /// An empty store with the default keyspace.
    pub fn new() -> MemStore {
        let mut st = MemState {
            next_keyspace: 1,
            ..MemState::default()
        };
        st.keyspaces
            .insert(KeyspaceId::DEFAULT, DEFAULT_KEYSPACE.to_string());
        MemStore {
            state: Arc::new(RwLock::new(st)),
        }
    }

    fn seq_of(at: ReadAt<'_>, st: &MemState) -> SeqNo {
        match at {
            ReadAt::Latest => st.last_seq,
            ReadAt::Snapshot(s) => s.seq(),
        }
    }

    fn visible(v: &Versions, seq: SeqNo) -> Option<&Bytes> {
        v.iter()
            .rev()
            .find(|(s, _)| *s <= seq)
            .and_then(|(_, val)| val.as_ref())
    }
}

impl Store for MemStore {
    fn write(&self, batch: WriteBatch) -> Result<SeqNo> {
        let mut st = self.state.write();
        if st.closed {
            return Err(Error::Closed);
        }
        for op in batch.iter() {
            let op = op?;
            if !st.keyspaces.contains_key(&op.keyspace) {
                return Err(Error::UnknownKeyspace(op.keyspace.to_string()));
            }
        }
        let mut seq = st.last_seq;
        for op in batch.iter() {
            let op = op?;
            seq = seq.next();
            match op.kind {
                ValueKind::Put => st
                    .data
                    .entry((op.keyspace, op.key.to_vec()))
                    .or_default()
                    .push((seq, Some(Bytes::copy_from_slice(op.value)))),
                ValueKind::Delete => st
                    .data
                    .entry((op.keyspace, op.key.to_vec()))
                    .or_default()
                    .push((seq, None)),
                ValueKind::RangeDelete => {
                    let lo = (op.keyspace, op.key.to_vec());
                    let hi = (op.keyspace, op.value.to_vec());
                    if lo < hi {
                        for (_, v) in st.data.range_mut(lo..hi) {
                            v.push((seq, None));
                        }
                    }
                }
                ValueKind::Merge => {
                    let mop = st.merge.get(&op.keyspace).cloned().ok_or_else(|| {
                        Error::InvalidArgument(format!(
                            "no merge operator registered for keyspace {}",
                            op.keyspace
                        ))
                    })?;
                    let entry = st.data.entry((op.keyspace, op.key.to_vec())).or_default();
                    let existing = entry.last().and_then(|(_, v)| v.clone());
                    let merged = mop
                        .full_merge(op.key, existing.as_deref(), &[op.value])
                        .map_err(Error::MergeFailed)?;
                    entry.push((seq, Some(Bytes::from(merged))));
                }
            }
        }
        st.last_seq = seq;
        Ok(seq)
    }

    fn get(&self, ks: KeyspaceId, key: &[u8], at: ReadAt<'_>) -> Result<Option<Bytes>> {
        let st = self.state.read();
        let seq = Self::seq_of(at, &st);
        Ok(st
            .data
            .get(&(ks, key.to_vec()))
            .and_then(|v| Self::visible(v, seq).cloned()))
    }

    fn iter(&self, ks: KeyspaceId, range: KeyRange, at: ReadAt<'_>) -> Result<Box<dyn StoreIter>> {
        let st = self.state.read();
        let seq = Self::seq_of(at, &st);
        let entries: Vec<(Vec<u8>, Bytes)> = st
            .data
            .range((ks, Vec::new())..)
            .take_while(|((k, _), _)| *k == ks)
            .filter(|((_, key), _)| range.contains(key))
            .filter_map(|((_, key), v)| Self::visible(v, seq).map(|val| (key.clone(), val.clone())))
            .collect();
        Ok(Box::new(VecIter { entries, pos: None }))
    }

    fn snapshot(&self) -> Snapshot {
        let seq = self.state.read().last_seq;
        Snapshot::new(seq, Arc::new(()))
    }

    fn create_keyspace(&self, name: &str) -> Result<KeyspaceId> {
        let mut st = self.state.write();
        if let Some((id, _)) = st.keyspaces.iter().find(|(_, n)| n.as_str() == name) {
            return Ok(*id);
        }
        let id = KeyspaceId(st.next_keyspace);
        st.next_keyspace += 1;
        st.keyspaces.insert(id, name.to_string());
        Ok(id)
    }

    fn drop_keyspace(&self, ks: KeyspaceId) -> Result<()> {
        let mut st = self.state.write();
        if ks == KeyspaceId::DEFAULT {
            return Err(Error::InvalidArgument(
                "the default keyspace cannot be dropped".into(),
            ));
        }
        if st.keyspaces.remove(&ks).is_none() {
            return Err(Error::UnknownKeyspace(ks.to_string()));
        }
        st.data.retain(|(k, _), _| *k != ks);
        Ok(())
    }

    fn keyspaces(&self) -> Vec<(KeyspaceId, String)> {
        let st = self.state.read();
        st.keyspaces.iter().map(|(k, v)| (*k, v.clone())).collect()
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            last_seq: self.state.read().last_seq.0,
            ..StoreStats::default()
        }
    }

    fn set_merge_operator(&self, ks: KeyspaceId, op: Arc<dyn MergeOperator>) -> Result<()> {
        let mut st = self.state.write();
        if !st.keyspaces.contains_key(&ks) {
            return Err(Error::UnknownKeyspace(ks.to_string()));
        }
        st.merge.insert(ks, op);
        Ok(())
    }

    fn set_compaction_filter(
        &self,
        ks: KeyspaceId,
        filter: Option<Arc<dyn CompactionFilter>>,
    ) -> Result<()> {
        let mut st = self.state.write();
        if !st.keyspaces.contains_key(&ks) {
            return Err(Error::UnknownKeyspace(ks.to_string()));
        }
        match filter {
            Some(f) => st.filters.insert(ks, f),
            None => st.filters.remove(&ks),
        };
        Ok(())
    }

    fn compact_range(&self, ks: KeyspaceId, range: KeyRange) -> Result<()> {
        let mut st = self.state.write();
        let Some(filter) = st.filters.get(&ks).cloned() else {
            return Ok(());
        };
        let seq = st.last_seq.next();
        let mut changed = false;
        for ((k, key), versions) in st.data.iter_mut() {
            if *k != ks || !range.contains(key) {
                continue;
            }
            let Some(Some(v)) = versions.last().map(|(_, v)| v.clone()) else {
                continue;
            };
            match filter.filter(key, &v) {
                FilterDecision::Keep => {}
                FilterDecision::Remove => {
                    versions.push((seq, None));
                    changed = true;
                }
                FilterDecision::ChangeValue(nv) => {
                    versions.push((seq, Some(Bytes::from(nv))));
                    changed = true;
                }
            }
        }
        if changed {
            st.last_seq = seq;
        }
        Ok(())
    }

    fn checkpoint(&self, _dir: &Path) -> Result<()> {
        Err(Error::InvalidArgument(
            "MemStore is not persistent and has no checkpoints".into(),
        ))
    }

    fn close(&self) -> Result<()> {
        self.state.write().closed = true;
        Ok(())
    }
}

/// A [`StoreIter`] over a materialized, sorted vector (used by [`MemStore`]).
pub struct VecIter {
    entries: Vec<(Vec<u8>, Bytes)>,
    pos: Option<usize>,
}

impl VecIter {
    /// Wraps entries that are already sorted by key and filtered to the bounds.
    pub fn new(entries: Vec<(Vec<u8>, Bytes)>) -> VecIter {
        VecIter { entries, pos: None }
    }
}

impl StoreIter for VecIter {
    fn valid(&self) -> bool {
        self.pos.is_some()
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.pos = if self.entries.is_empty() {
            None
        } else {
            Some(0)
        };
        Ok(())
    }
    fn seek_to_last(&mut self) -> Result<()> {
        self.pos = self.entries.len().checked_sub(1);
        Ok(())
    }
    fn seek(&mut self, key: &[u8]) -> Result<()> {
        let i = self.entries.partition_point(|(k, _)| k.as_slice() < key);
        self.pos = (i < self.entries.len()).then_some(i);
        Ok(())
    }
    fn seek_for_prev(&mut self, key: &[u8]) -> Result<()> {
        let i = self.entries.partition_point(|(k, _)| k.as_slice() <= key);
        self.pos = i.checked_sub(1);
        Ok(())
    }
    fn next(&mut self) -> Result<()> {
        self.pos = self.pos.map(|p| p + 1).filter(|p| *p < self.entries.len());
        Ok(())
    }
    fn prev(&mut self) -> Result<()> {
        self.pos = self.pos.and_then(|p| p.checked_sub(1));
        Ok(())
    }
    fn key(&self) -> &[u8] {
        self.pos
            .map(|p| self.entries[p].0.as_slice())
            .unwrap_or(&[])
    }
    fn value(&self) -> &[u8] {
        self.pos.map(|p| &self.entries[p].1[..]).unwrap_or(&[])
    }
}
