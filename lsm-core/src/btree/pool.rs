//! The buffer pool and the page file.
//!
//! The pool caches decoded, verified node pages (`Arc<Node>`) of committed states, bounded in
//! bytes (each node costs its page size plus its decoded overhead). It is split into shards by
//! page number, each a clock: a hit sets the frame's reference bit; to make room the hand clears
//! set bits and evicts the first frame whose bit is clear. The pool only ever holds clean
//! pages: a transaction keeps its dirty pages privately (`txn.rs`) and hands them over once they
//! are on disk, so eviction never writes.
//!
//! Pages are immutable once committed (copy-on-write) until they are freed and reused, and a
//! reused page is dropped from the pool when it is allocated, so a cached node is always the
//! node its page number and gen name.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::fs::RandomRwFile;

use super::node::{decode_node, Node};
use super::page::{decode_run, Geometry, Loc, PageRef};

/// Hashes page numbers with one multiplication (they need no protection against collisions
/// chosen by an attacker, and SipHash showed up in profiles).
#[derive(Clone, Copy, Default)]
pub struct PageHasher(u64);

impl Hasher for PageHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by page number.
pub type PageMap<V> = HashMap<u32, V, BuildHasherDefault<PageHasher>>;
/// A set of page numbers.
pub type PageSet = HashSet<u32, BuildHasherDefault<PageHasher>>;

struct Frame {
    page: u32,
    node: Arc<Node>,
    referenced: bool,
    cost: usize,
}

#[derive(Default)]
struct Shard {
    map: PageMap<usize>,
    frames: Vec<Option<Frame>>,
    spare: Vec<usize>,
    hand: usize,
    used: usize,
    cap: usize,
}

impl Shard {
    fn get(&mut self, r: PageRef) -> Option<Arc<Node>> {
        let i = *self.map.get(&r.page)?;
        let f = self.frames[i].as_mut()?;
        if f.node.gen() != r.gen {
            return None;
        }
        f.referenced = true;
        Some(Arc::clone(&f.node))
    }

    fn remove(&mut self, page: u32) -> Option<Frame> {
        let i = self.map.remove(&page)?;
        self.spare.push(i);
        let f = self.frames[i].take()?;
        self.used -= f.cost;
        Some(f)
    }

    fn insert(&mut self, page: u32, node: Arc<Node>, cost: usize) {
        drop(self.remove(page));
        if cost > self.cap {
            return;
        }
        while self.used + cost > self.cap && self.evict_one() {}
        let frame = Frame {
            page,
            node,
            referenced: false,
            cost,
        };
        let i = match self.spare.pop() {
            Some(i) => {
                self.frames[i] = Some(frame);
                i
            }
            None => {
                self.frames.push(Some(frame));
                self.frames.len() - 1
            }
        };
        self.used += cost;
        self.map.insert(page, i);
    }

    /// Advances the clock hand until a frame is evicted; false if the shard is empty.
    fn evict_one(&mut self) -> bool {
        if self.map.is_empty() {
            return false;
        }
        let n = self.frames.len();
        // Two sweeps clear every reference bit, so a victim is always found.
        for _ in 0..2 * n + 1 {
            self.hand = (self.hand + 1) % n;
            if let Some(f) = &mut self.frames[self.hand] {
                if f.referenced {
                    f.referenced = false;
                } else {
                    let page = f.page;
                    drop(self.remove(page));
                    return true;
                }
            }
        }
        false
    }
}

/// Counters of page traffic.
#[derive(Default)]
pub struct IoCounters {
    /// Node pages read from the file.
    pub pages_read: AtomicU64,
    /// Pages written (nodes, overflow, free-list and meta pages).
    pub pages_written: AtomicU64,
    /// Overflow pages read.
    pub overflow_read: AtomicU64,
    /// Pool hits.
    pub hits: AtomicU64,
    /// Pool misses.
    pub misses: AtomicU64,
    /// fsyncs of the page file.
    pub syncs: AtomicU64,
}

/// The page file, its geometry, the pool and the counters, shared by readers and the writer.
pub struct Pager {
    /// The page file.
    pub file: Arc<dyn RandomRwFile>,
    /// Its path.
    pub path: PathBuf,
    /// Page geometry.
    pub geo: Geometry,
    /// Longest key accepted (decoding rejects longer).
    pub max_key: usize,
    shards: Vec<Mutex<Shard>>,
    /// Traffic counters.
    pub io: IoCounters,
    capacity: usize,
}

impl Pager {
    /// A pager over `file` with a pool of `pool_bytes`.
    pub fn new(
        file: Arc<dyn RandomRwFile>,
        path: &Path,
        geo: Geometry,
        pool_bytes: usize,
        max_key: usize,
    ) -> Pager {
        let pages = pool_bytes / geo.page_size;
        let n = (pages / 64).clamp(1, 16);
        let shards = (0..n)
            .map(|_| {
                Mutex::new(Shard {
                    cap: pool_bytes / n,
                    ..Shard::default()
                })
            })
            .collect();
        Pager {
            file,
            path: path.to_path_buf(),
            geo,
            max_key,
            shards,
            io: IoCounters::default(),
            capacity: pool_bytes,
        }
    }

    fn shard(&self, page: u32) -> &Mutex<Shard> {
        &self.shards[page as usize % self.shards.len()]
    }

    /// The pool's byte budget.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes the pool holds now.
    pub fn pool_bytes(&self) -> usize {
        self.shards.iter().map(|s| s.lock().used).sum()
    }

    /// Pages the pool holds now.
    pub fn pool_pages(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map.len()).sum()
    }

    /// Caches a clean node.
    pub fn cache(&self, page: u32, node: Arc<Node>) {
        let cost = node.mem_cost();
        self.shard(page).lock().insert(page, node, cost);
    }

    /// Drops a page from the pool (it is being reused).
    pub fn forget(&self, page: u32) {
        // The node is dropped outside the shard's lock.
        let gone = self.shard(page).lock().remove(page);
        drop(gone);
    }

    /// Takes the node `r` names out of the pool, if it is there: the writer is about to change
    /// it (under a new page number), and the committed page it leaves is only read again by
    /// older states, from the file, where it stays unchanged until it is reused.
    pub fn take(&self, r: PageRef) -> Option<Arc<Node>> {
        let mut s = self.shard(r.page).lock();
        let i = *s.map.get(&r.page)?;
        if s.frames[i].as_ref()?.node.gen() != r.gen {
            return None;
        }
        s.remove(r.page).map(|f| f.node)
    }

    /// Fails with corruption unless `pages` pages from `page` lie below `page_count`.
    pub fn check_range(&self, page: u32, pages: u64, page_count: u64) -> Result<()> {
        let end = u64::from(page).checked_add(pages);
        if end.is_none_or(|e| e > page_count) {
            return Err(Error::corruption(
                &self.path,
                self.geo.offset(page),
                format!("page {page} (+{pages}) lies beyond the {page_count} pages in use"),
            ));
        }
        Ok(())
    }

    /// Reads raw pages, mapping a short file to corruption.
    pub fn read_raw(&self, page: u32, pages: u64) -> Result<Bytes> {
        let off = self.geo.offset(page);
        let len = usize::try_from(pages * self.geo.page_size as u64)
            .map_err(|_| Error::corruption(&self.path, off, "overflow run too large"))?;
        self.file.read_at(off, len).map_err(|e| match e {
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::UnexpectedEof => {
                Error::corruption(
                    &self.path,
                    off,
                    format!("page {page} lies past the end of the file"),
                )
            }
            e => e,
        })
    }

    /// The node at `r`, which must be at `level`; from the pool or the file. `page_count`
    /// bounds the pages the caller's state uses.
    pub fn load(&self, r: PageRef, level: u8, page_count: u64) -> Result<Arc<Node>> {
        if let Some(n) = self.shard(r.page).lock().get(r) {
            if n.level() == level {
                self.io.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(n);
            }
        }
        self.io.misses.fetch_add(1, Ordering::Relaxed);
        let node = Arc::new(self.read_node(r, level, page_count)?);
        self.cache(r.page, Arc::clone(&node));
        Ok(node)
    }

    /// Reads and decodes a node from the file, bypassing the pool.
    pub fn read_node(&self, r: PageRef, level: u8, page_count: u64) -> Result<Node> {
        self.check_range(r.page, 1, page_count)?;
        let raw = self.read_raw(r.page, 1)?;
        self.io.pages_read.fetch_add(1, Ordering::Relaxed);
        let loc = Loc {
            path: &self.path,
            page: r.page,
            offset: self.geo.offset(r.page),
        };
        let mut spill = |at: PageRef, len: u64| self.read_run(at, len, page_count).map(Bytes::from);
        decode_node(&raw, loc, r.gen, level, self.max_key, &mut spill)
    }

    /// Reads an overflow run of `len` bytes.
    pub fn read_run(&self, at: PageRef, len: u64, page_count: u64) -> Result<Vec<u8>> {
        let pages = self.geo.run_pages(len);
        self.check_range(at.page, pages, page_count)?;
        let raw = self.read_raw(at.page, pages)?;
        self.io.overflow_read.fetch_add(pages, Ordering::Relaxed);
        decode_run(&raw, at, len, self.geo, &self.path)
    }

    /// Writes whole pages starting at `page`.
    pub fn write_pages(&self, page: u32, data: &[u8]) -> Result<()> {
        self.file.write_at(self.geo.offset(page), data)?;
        self.io
            .pages_written
            .fetch_add((data.len() / self.geo.page_size) as u64, Ordering::Relaxed);
        Ok(())
    }

    /// fsyncs the page file.
    pub fn sync(&self) -> Result<()> {
        self.file.sync()?;
        self.io.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
