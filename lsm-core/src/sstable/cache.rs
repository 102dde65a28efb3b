//! Caches: decoded data blocks ([`BlockCache`], bounded by bytes) and open tables
//! ([`TableCache`], bounded by count). Both are sharded `quick_cache` caches, so lookups from
//! many reader threads do not contend on one lock.
//!
//! Blocks are cached decoded and decompressed: a hit costs a hash lookup and a reference-count
//! bump. The key is `(file number, block offset)`; file numbers are never reused, so an entry
//! of a deleted table can only age out, never be returned for another file.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::Weighter;

use crate::error::Result;
use crate::fs::{FileSystem, ReadMode};
use crate::types::FileNumber;
use crate::util::filename::table_path;

use super::block::Block;
use super::reader::Table;

/// Bookkeeping charged per cached block on top of its payload.
const BLOCK_OVERHEAD: u64 = 64;

#[derive(Clone, Copy, Debug)]
struct BlockWeighter;

impl Weighter<(FileNumber, u64), Block> for BlockWeighter {
    fn weight(&self, _key: &(FileNumber, u64), block: &Block) -> u64 {
        block.size() as u64 + BLOCK_OVERHEAD
    }
}

/// A byte-bounded cache of decoded data blocks, shared by all tables.
pub struct BlockCache {
    cache: Cache<(FileNumber, u64), Block, BlockWeighter>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache")
            .field("capacity", &self.capacity)
            .field("usage", &self.usage())
            .field("hits", &self.hits())
            .field("misses", &self.misses())
            .finish()
    }
}

impl BlockCache {
    /// A cache holding up to about `capacity_bytes` of blocks. A block larger than one shard's
    /// share is simply not cached.
    pub fn new(capacity_bytes: usize) -> Self {
        let estimated_items = (capacity_bytes / 4096).max(1);
        BlockCache {
            cache: Cache::with_weighter(estimated_items, capacity_bytes as u64, BlockWeighter),
            capacity: capacity_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The cached block at `offset` of table `number`, counting a hit or a miss.
    pub fn get(&self, number: FileNumber, offset: u64) -> Option<Block> {
        let r = self.cache.get(&(number, offset));
        let counter = if r.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        r
    }

    /// Caches a block.
    pub fn insert(&self, number: FileNumber, offset: u64, block: Block) {
        self.cache.insert((number, offset), block);
    }

    /// Lookups that found their block.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups that did not.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Bytes currently charged to cached blocks.
    pub fn usage(&self) -> u64 {
        self.cache.weight()
    }

    /// The configured capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of cached blocks.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }
}

/// A count-bounded cache of open tables, keyed by file number.
pub struct TableCache {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    read_mode: ReadMode,
    block_cache: Option<Arc<BlockCache>>,
    tables: Cache<FileNumber, Arc<Table>>,
}

impl std::fmt::Debug for TableCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableCache")
            .field("dir", &self.dir)
            .field("open", &self.tables.len())
            .finish_non_exhaustive()
    }
}

impl TableCache {
    /// A cache keeping at most about `max_open` tables of `dir` open (at least one).
    pub fn new(
        fs: Arc<dyn FileSystem>,
        dir: PathBuf,
        read_mode: ReadMode,
        block_cache: Option<Arc<BlockCache>>,
        max_open: usize,
    ) -> Self {
        TableCache {
            fs,
            dir,
            read_mode,
            block_cache,
            tables: Cache::new(max_open.max(1)),
        }
    }

    /// The open table numbered `number`, opening it if needed. Concurrent callers asking for
    /// the same table wait for one open instead of each opening it.
    pub fn get(&self, number: FileNumber) -> Result<Arc<Table>> {
        self.tables.get_or_insert_with(&number, || {
            let path = table_path(&self.dir, number);
            let file = self.fs.open(&path, self.read_mode)?;
            Table::open(file, number, self.block_cache.clone())
        })
    }

    /// Forgets table `number` (its file is being deleted). Holders of its `Arc` keep using it.
    pub fn evict(&self, number: FileNumber) {
        self.tables.remove(&number);
    }

    /// Number of tables currently open through the cache.
    pub fn len(&self) -> usize {
        self.tables.len()
    }

    /// True when no table is open through the cache.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// The shared block cache, if any.
    pub fn block_cache(&self) -> Option<&Arc<BlockCache>> {
        self.block_cache.as_ref()
    }
}
