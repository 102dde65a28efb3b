//! Options of the LSM engine, built with [`Options::builder`]-style setters.

use std::sync::Arc;

use crate::compaction::CompactionOptions;
pub use crate::compaction::LastLevelFilters;
use crate::fs::{FileSystem, OsFs, ReadMode};
use crate::sstable::{Compression, TableOptions};

/// When a write is made durable before it is acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncMode {
    /// Every batch is written and fsynced on its own before `write` returns.
    Always,
    /// Writers waiting at the same moment share one WAL append and one fsync (group commit);
    /// each is acknowledged only after that fsync.
    #[default]
    Group,
    /// The WAL is written to the OS page cache, never fsynced by the write path: survives a
    /// process crash, not a power loss.
    Never,
}

/// What recovery does when a WAL is damaged before its end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WalRecovery {
    /// A torn tail of the newest WAL is expected after a crash and dropped; damage anywhere
    /// else is an error naming file and offset, and the database does not open.
    #[default]
    TolerateTornTail,
    /// Recover everything up to the first damage, drop the rest, and report what was dropped
    /// (see `LsmDb::recovery_report`).
    PointInTime,
}

/// Engine options. `Options::default()` is a sensible configuration; setters chain.
#[derive(Clone)]
pub struct Options {
    pub(crate) fs: Arc<dyn FileSystem>,
    pub(crate) sync_mode: SyncMode,
    pub(crate) wal_recovery: WalRecovery,
    pub(crate) memtable_size: usize,
    pub(crate) max_immutable_memtables: usize,
    pub(crate) max_key_size: usize,
    pub(crate) max_value_size: usize,
    pub(crate) table: TableOptions,
    pub(crate) block_cache_bytes: usize,
    pub(crate) max_open_files: usize,
    pub(crate) read_mode: ReadMode,
    pub(crate) create_if_missing: bool,
    pub(crate) max_write_group_bytes: usize,
    pub(crate) background_threads: usize,
    pub(crate) compaction: CompactionOptions,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("sync_mode", &self.sync_mode)
            .field("wal_recovery", &self.wal_recovery)
            .field("memtable_size", &self.memtable_size)
            .field("max_key_size", &self.max_key_size)
            .field("max_value_size", &self.max_value_size)
            .field("block_cache_bytes", &self.block_cache_bytes)
            .field("read_mode", &self.read_mode)
            .finish_non_exhaustive()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fs: Arc::new(OsFs::new()),
            sync_mode: SyncMode::default(),
            wal_recovery: WalRecovery::default(),
            memtable_size: 64 << 20,
            max_immutable_memtables: 2,
            max_key_size: 64 << 10,
            max_value_size: 256 << 20,
            table: TableOptions::default(),
            block_cache_bytes: 64 << 20,
            max_open_files: 1000,
            read_mode: ReadMode::Pread,
            create_if_missing: true,
            max_write_group_bytes: 1 << 20,
            background_threads: 2,
            compaction: CompactionOptions::default(),
        }
    }
}

impl Options {
    /// Default options (same as `Options::default()`).
    pub fn new() -> Options {
        Options::default()
    }
    /// The file system all I/O goes through (default: the OS).
    pub fn fs(mut self, fs: Arc<dyn FileSystem>) -> Self {
        self.fs = fs;
        self
    }
    /// When writes are fsynced (default [`SyncMode::Group`]).
    pub fn sync_mode(mut self, m: SyncMode) -> Self {
        self.sync_mode = m;
        self
    }
    /// What recovery does with a damaged WAL (default [`WalRecovery::TolerateTornTail`]).
    pub fn wal_recovery(mut self, r: WalRecovery) -> Self {
        self.wal_recovery = r;
        self
    }
    /// Bytes a memtable holds before it is switched and flushed (default 64 MiB).
    pub fn memtable_size(mut self, bytes: usize) -> Self {
        self.memtable_size = bytes.max(1024);
        self
    }
    /// Immutable memtables waiting for flush before writers stall (default 2).
    pub fn max_immutable_memtables(mut self, n: usize) -> Self {
        self.max_immutable_memtables = n.max(1);
        self
    }
    /// Longest key accepted (default 64 KiB).
    pub fn max_key_size(mut self, bytes: usize) -> Self {
        self.max_key_size = bytes;
        self
    }
    /// Longest value accepted (default 256 MiB).
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = bytes;
        self
    }
    /// Compression of SST data blocks at every level (see `compression_per_level`).
    pub fn compression(mut self, c: Compression) -> Self {
        self.table.compression = c;
        self.compaction.compression_per_level = vec![c];
        self
    }
    /// Bloom filter bits per key; 0 disables filters (default 10).
    pub fn bloom_bits_per_key(mut self, bits: u32) -> Self {
        self.table.bloom_bits_per_key = bits;
        self
    }
    /// Target size of an SST data block before compression (default 4 KiB).
    pub fn block_size(mut self, bytes: usize) -> Self {
        self.table.block_size = bytes.max(64);
        self
    }
    /// Block cache capacity in bytes; 0 disables it (default 64 MiB).
    pub fn block_cache_bytes(mut self, bytes: usize) -> Self {
        self.block_cache_bytes = bytes;
        self
    }
    /// Most SST readers kept open at once (default 1000).
    pub fn max_open_files(mut self, n: usize) -> Self {
        self.max_open_files = n.max(8);
        self
    }
    /// `pread` (default) or `mmap` for SST reads.
    pub fn read_mode(mut self, m: ReadMode) -> Self {
        self.read_mode = m;
        self
    }
    /// Threads for background work: one flushes memtables, the rest compact (default 2, which
    /// fits a 2-core machine; at least 1 — with 1, the flush thread also compacts).
    pub fn background_threads(mut self, n: usize) -> Self {
        self.background_threads = n.max(1);
        self
    }
    /// L0 files that trigger an L0 compaction (default 4).
    pub fn l0_compaction_trigger(mut self, n: usize) -> Self {
        self.compaction.l0_trigger = n.max(1);
        self
    }
    /// L0 files at which writes are slowed down (default 20) and stopped (default 36) until
    /// compaction catches up.
    pub fn l0_stall_triggers(mut self, slowdown: usize, stop: usize) -> Self {
        self.compaction.l0_slowdown = slowdown.max(1);
        self.compaction.l0_stop = stop.max(self.compaction.l0_slowdown);
        self
    }
    /// Size at which compaction cuts an output table (default 64 MiB).
    pub fn target_file_size(mut self, bytes: u64) -> Self {
        self.compaction.target_file_size = bytes.max(1);
        self
    }
    /// Target size of the base level; deeper levels grow by `level_multiplier` (default
    /// 256 MiB, sized dynamically from the last level as RocksDB's
    /// `level_compaction_dynamic_level_bytes` does).
    pub fn max_bytes_for_level_base(mut self, bytes: u64) -> Self {
        self.compaction.base_bytes = bytes.max(1);
        self
    }
    /// Size ratio between adjacent levels (default 10).
    pub fn level_multiplier(mut self, m: u64) -> Self {
        self.compaction.multiplier = m.max(2);
        self
    }
    /// Pending compaction bytes at which writes slow down and stop (defaults 64 GiB, 256 GiB).
    pub fn pending_compaction_limits(mut self, soft: u64, hard: u64) -> Self {
        self.compaction.pending_soft = soft;
        self.compaction.pending_hard = hard.max(soft);
        self
    }
    /// Compression per level, L0 first; levels past the end use the last entry (default:
    /// none for L0 and L1, zstd below). `compression()` sets every level.
    pub fn compression_per_level(mut self, per_level: Vec<Compression>) -> Self {
        if !per_level.is_empty() {
            self.compaction.compression_per_level = per_level;
        }
        self
    }
    /// Whether tables of the last level get bloom filters (default yes). Skipping them saves
    /// ~90% of filter memory when most reads are for keys that exist (RocksDB's
    /// `optimize_filters_for_hits`).
    pub fn last_level_filters(mut self, f: LastLevelFilters) -> Self {
        self.compaction.last_level_filters = f;
        self
    }
    /// Create the database if the directory holds none (default true).
    pub fn create_if_missing(mut self, yes: bool) -> Self {
        self.create_if_missing = yes;
        self
    }
}
