//! A write transaction: copy-on-write inserts, deletes, range deletes and whole-tree frees,
//! over the pages of the last committed state. (Splitting and rebalancing are in
//! `reshape.rs`.)
//!
//! A committed page is never modified: changing a node writes a copy to a newly allocated page,
//! which changes the parent's reference, and so on up to the root. A page allocated by this
//! transaction (`fresh`) is private and is changed in place, so a transaction that touches the
//! same leaf many times copies the path to it only once, and a change that keeps a node's page
//! number stops propagating upwards.
//!
//! Dirty nodes stay in `dirty` (outside the shared pool) until commit; when they exceed
//! `dirty_limit` bytes they are written to their (fresh, unreferenced by any committed state)
//! pages early and handed to the pool, which keeps memory bounded for transactions far larger
//! than the pool.

use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};

use super::freelist::FreeList;
use super::node::{leaf_cell, sep_size, varint_len, EntryRef, Node, Sep, ValRef, REF_LEN};
use super::page::{encode_run, PageRef};
use super::pool::{PageMap, PageSet, Pager};
use super::tree::{below, Cursor, PageSource, Root};

/// One level of a path from the root: the node's reference, the node, the child taken.
pub(super) type Step = (PageRef, Arc<Node>, usize);

/// A transaction in progress.
pub struct Txn<'a> {
    /// The page file and pool.
    pub pager: &'a Pager,
    /// This transaction's id (the gen of every page it writes).
    pub id: u64,
    /// Pages in use (grows as pages are allocated past the end).
    pub page_count: u64,
    /// Free pages.
    pub fl: FreeList,
    dirty: PageMap<Arc<Node>>,
    dirty_bytes: usize,
    dirty_limit: usize,
    fresh: PageSet,
    /// Committed pages this transaction freed (reusable two transactions later at the earliest).
    pub freed: Vec<u32>,
    /// Reused buffer for encoding one cell.
    pub(super) scratch: Vec<u8>,
}

impl PageSource for Txn<'_> {
    fn node(&self, r: PageRef, level: u8) -> Result<Arc<Node>> {
        if let Some(n) = self.dirty.get(&r.page) {
            if n.gen() == r.gen && n.level() == level {
                return Ok(Arc::clone(n));
            }
            return Err(Error::InvalidArgument(format!(
                "internal error: dirty page {} does not match its reference",
                r.page
            )));
        }
        self.pager.load(r, level, self.page_count)
    }

    fn value(&self, v: ValRef<'_>) -> Result<Bytes> {
        match v {
            ValRef::Inline(b) => Ok(Bytes::copy_from_slice(b)),
            ValRef::Spilled { at, len } => self
                .pager
                .read_run(at, len, self.page_count)
                .map(Bytes::from),
        }
    }
}

/// The shortest key `s` with `a < s <= b` (requires `a < b`).
pub fn shortest_separator(a: &[u8], b: &[u8]) -> Bytes {
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    Bytes::copy_from_slice(&b[..(common + 1).min(b.len())])
}

impl<'a> Txn<'a> {
    /// Starts transaction `id` over a state with `page_count` pages and free list `fl`.
    pub fn new(
        pager: &'a Pager,
        id: u64,
        page_count: u64,
        fl: FreeList,
        dirty_limit: usize,
    ) -> Txn<'a> {
        Txn {
            pager,
            id,
            page_count,
            fl,
            dirty: PageMap::default(),
            dirty_bytes: 0,
            dirty_limit,
            fresh: PageSet::default(),
            freed: Vec::new(),
            scratch: Vec::with_capacity(256),
        }
    }

    pub(super) fn usable(&self) -> usize {
        self.pager.geo.usable()
    }

    fn grow(&mut self, n: u64) -> Result<u32> {
        let first = self.page_count;
        let end = first + n;
        if end > u64::from(u32::MAX) {
            return Err(Error::InvalidArgument(
                "the page file is full (2^32 pages)".into(),
            ));
        }
        self.page_count = end;
        Ok(first as u32)
    }

    /// Allocates one page.
    pub fn alloc(&mut self) -> Result<u32> {
        let p = match self.fl.alloc() {
            Some(p) => p,
            None => self.grow(1)?,
        };
        self.fresh.insert(p);
        self.pager.forget(p);
        Ok(p)
    }

    /// Allocates `n` consecutive pages.
    pub fn alloc_run(&mut self, n: u64) -> Result<u32> {
        let first = match self.fl.alloc_run(n) {
            Some(p) => p,
            None => self.grow(n)?,
        };
        for p in first..first + n as u32 {
            self.fresh.insert(p);
            self.pager.forget(p);
        }
        Ok(first)
    }

    /// Frees a page: at once if this transaction allocated it, else once nobody needs it.
    pub fn free_page(&mut self, p: u32) {
        if self.fresh.remove(&p) {
            if let Some(n) = self.dirty.remove(&p) {
                self.dirty_bytes -= n.mem_cost();
            }
            self.fl.free_now(p);
        } else {
            self.freed.push(p);
        }
    }

    fn free_run(&mut self, first: u32, len: u64) {
        for p in first..first + self.pager.geo.run_pages(len) as u32 {
            self.free_page(p);
        }
    }

    /// The overflow runs of an entry, to free once the entry is gone.
    fn entry_runs(e: &EntryRef<'_>) -> [Option<(PageRef, u64)>; 2] {
        let val = match e.val {
            ValRef::Spilled { at, len } => Some((at, len)),
            ValRef::Inline(_) => None,
        };
        [e.key_spill.map(|r| (r, e.key.len() as u64)), val]
    }

    fn free_runs(&mut self, runs: impl IntoIterator<Item = Option<(PageRef, u64)>>) {
        for (r, len) in runs.into_iter().flatten() {
            self.free_run(r.page, len);
        }
    }

    /// Frees the overflow run of a separator.
    pub(super) fn free_sep(&mut self, s: &Sep) {
        if let Some(r) = s.spill {
            self.free_run(r.page, s.key.len() as u64);
        }
    }

    /// Writes `data` to a new overflow run.
    pub fn write_run(&mut self, data: &[u8]) -> Result<PageRef> {
        let n = self.pager.geo.run_pages(data.len() as u64);
        let first = self.alloc_run(n)?;
        let raw = encode_run(data, first, self.id, self.pager.geo);
        self.pager.write_pages(first, &raw)?;
        Ok(PageRef {
            page: first,
            gen: self.id,
        })
    }

    /// The run for a value whose entry carries `key_part` bytes of key (flags included):
    /// `None` (inline) if the entry stays within a quarter page.
    fn make_val(&mut self, key_part: usize, v: &[u8]) -> Result<Option<PageRef>> {
        if key_part + varint_len(v.len() as u64) + v.len() <= self.pager.geo.max_entry() {
            Ok(None)
        } else {
            self.write_run(v).map(Some)
        }
    }

    /// Encodes a new leaf entry into `cell`, spilling what does not fit a quarter page; returns
    /// the key's run (with the key) if the key spilled.
    pub fn make_entry(
        &mut self,
        k: &[u8],
        v: &[u8],
        cell: &mut Vec<u8>,
    ) -> Result<Option<(PageRef, Bytes)>> {
        let max = self.pager.geo.max_entry();
        let inline_key = 1 + varint_len(k.len() as u64) + k.len();
        let spilled_val = varint_len(v.len() as u64) + REF_LEN;
        let key_spill = if inline_key + spilled_val <= max {
            None
        } else {
            Some(self.write_run(k)?)
        };
        let key_part = match key_spill {
            None => inline_key,
            Some(_) => 1 + varint_len(k.len() as u64) + REF_LEN,
        };
        let val = match self.make_val(key_part, v)? {
            None => ValRef::Inline(v),
            Some(at) => ValRef::Spilled {
                at,
                len: v.len() as u64,
            },
        };
        leaf_cell(cell, k, key_spill, val);
        Ok(key_spill.map(|r| (r, Bytes::copy_from_slice(k))))
    }

    /// A separator, spilled if long.
    pub fn make_sep(&mut self, key: Bytes) -> Result<Sep> {
        if sep_size(key.len(), false) <= self.pager.geo.max_entry() {
            return Ok(Sep { key, spill: None });
        }
        let spill = Some(self.write_run(&key)?);
        Ok(Sep { key, spill })
    }

    /// Stores a node at `page` as dirty.
    fn put(&mut self, page: u32, mut node: Node) -> Result<PageRef> {
        node.set_gen(self.id);
        let cost = node.mem_cost();
        if let Some(old) = self.dirty.insert(page, Arc::new(node)) {
            self.dirty_bytes -= old.mem_cost();
        }
        self.dirty_bytes += cost;
        if self.dirty_bytes > self.dirty_limit {
            self.write_dirty()?;
        }
        Ok(PageRef { page, gen: self.id })
    }

    /// True if this transaction wrote the page `r` names (and may change it in place).
    pub(super) fn owns(&self, r: PageRef) -> bool {
        r.gen == self.id && self.fresh.contains(&r.page)
    }

    /// Stores a node in place of `old` (same page if this transaction owns it).
    pub fn place(&mut self, old: Option<PageRef>, node: Node) -> Result<PageRef> {
        let page = match old {
            Some(r) if self.owns(r) => r.page,
            Some(r) => {
                self.free_page(r.page);
                self.alloc()?
            }
            None => self.alloc()?,
        };
        self.put(page, node)
    }

    /// Writes every dirty node to its page (contiguous pages with one write each) and hands
    /// them to the pool as clean. Returns the number of pages written.
    pub fn write_dirty(&mut self) -> Result<usize> {
        let mut pages: Vec<(u32, Arc<Node>)> = self.dirty.drain().collect();
        self.dirty_bytes = 0;
        pages.sort_unstable_by_key(|(p, _)| *p);
        let geo = self.pager.geo;
        let mut run: Vec<u8> = Vec::with_capacity(geo.page_size * pages.len().min(8));
        let mut start = 0u32;
        for i in 0..pages.len() {
            let p = pages[i].0;
            if run.is_empty() {
                start = p;
            }
            // Encoding builds the search index the pool's copy uses.
            Arc::make_mut(&mut pages[i].1).encode_into(p, geo, &mut run)?;
            let next_adjacent = pages.get(i + 1).is_some_and(|(q, _)| *q == p + 1);
            if !next_adjacent || run.len() >= 1 << 20 {
                self.pager.write_pages(start, &run)?;
                run.clear();
            }
        }
        let count = pages.len();
        for (p, n) in pages {
            self.pager.cache(p, n);
        }
        Ok(count)
    }

    /// Writes sorted `(page, image)` pairs, coalescing neighbours.
    pub fn write_images(&self, images: Vec<(u32, Vec<u8>)>) -> Result<()> {
        let mut run: Vec<u8> = Vec::new();
        let mut start = 0u32;
        let mut next = None;
        for (p, img) in images {
            if next != Some(p) && !run.is_empty() {
                self.pager.write_pages(start, &run)?;
                run.clear();
            }
            if run.is_empty() {
                start = p;
            }
            run.extend_from_slice(&img);
            next = Some(p + 1);
        }
        if !run.is_empty() {
            self.pager.write_pages(start, &run)?;
        }
        Ok(())
    }

    /// The path from the root to the leaf that holds (or would hold) `key`.
    fn path(&self, root: Root, key: &[u8]) -> Result<Vec<Step>> {
        let mut out = Vec::with_capacity(root.height as usize);
        let mut r = root.at;
        let mut level = root.height.saturating_sub(1);
        loop {
            let n = self.node(r, level)?;
            if n.is_leaf() {
                out.push((r, n, 0));
                return Ok(out);
            }
            let i = n.child_index(key);
            let next = n.child(i);
            out.push((r, n, i));
            r = next;
            level = below(level)?;
        }
    }

    /// The node at `r` (reached as `n`) for changing: taken out of the dirty set without a
    /// copy when this transaction owns it and nobody else holds it, else copied.
    pub(super) fn take_mut(&mut self, r: PageRef, n: Arc<Node>) -> Node {
        match self.dirty.remove(&r.page) {
            Some(d) if self.owns(r) => self.dirty_bytes -= d.mem_cost(),
            Some(d) => {
                self.dirty.insert(r.page, d);
            }
            // A committed (or early-written) page's node leaves the pool rather than being
            // copied: the copy would be dropped when the page is freed anyway.
            None => drop(self.pager.take(r)),
        }
        // Room for the node to outgrow its page before it is split, without reallocating.
        let cap = self.usable() + self.pager.geo.max_entry();
        match Arc::try_unwrap(n) {
            Ok(mut n) => {
                n.reserve(cap);
                n
            }
            Err(shared) => shared.copy_for_change(cap),
        }
    }

    /// Inserts or replaces; returns the new root and the replaced entry's logical size.
    pub fn insert(&mut self, root: Root, key: &[u8], val: &[u8]) -> Result<(Root, Option<u64>)> {
        let mut cell = std::mem::take(&mut self.scratch);
        let r = self.insert_with(root, key, val, &mut cell);
        self.scratch = cell;
        r
    }

    fn insert_with(
        &mut self,
        root: Root,
        key: &[u8],
        val: &[u8],
        cell: &mut Vec<u8>,
    ) -> Result<(Root, Option<u64>)> {
        if root.height == 0 {
            let spill = self.make_entry(key, val, cell)?;
            let mut leaf = Node::new_leaf(self.id);
            leaf.insert_cell(0, cell, spill);
            let at = self.place(None, leaf)?;
            return Ok((Root { at, height: 1 }, None));
        }
        let mut path = self.path(root, key)?;
        let rightmost = path
            .iter()
            .all(|(_, n, i)| *i + 1 == n.len() || n.is_leaf());
        let Some((lr, ln, _)) = path.pop() else {
            return Ok((root, None));
        };
        let found = ln.search(key);
        // Build the new cell before taking the leaf, so an error leaves it in place.
        let (replaced, spill, old_run) = match found {
            Ok(i) => {
                let old = ln.entry(i);
                let key_part = 1
                    + varint_len(old.key.len() as u64)
                    + if old.key_spill.is_some() {
                        REF_LEN
                    } else {
                        old.key.len()
                    };
                let replaced = Some(old.key.len() as u64 + old.val.len());
                let old_run = match old.val {
                    ValRef::Spilled { at, len } => Some((at, len)),
                    ValRef::Inline(_) => None,
                };
                let v = match self.make_val(key_part, val)? {
                    None => ValRef::Inline(val),
                    Some(at) => ValRef::Spilled {
                        at,
                        len: val.len() as u64,
                    },
                };
                leaf_cell(cell, old.key, old.key_spill, v);
                (replaced, None, old_run)
            }
            Err(_) => (None, self.make_entry(key, val, cell)?, None),
        };
        let mut leaf = self.take_mut(lr, ln);
        let mut bias = false;
        match found {
            Ok(i) => leaf.replace_cell(i, cell),
            Err(i) => {
                leaf.insert_cell(i, cell, spill);
                bias = rightmost && i + 1 == leaf.len();
            }
        }
        self.free_runs([old_run]);
        let root = self.fixup(path, lr, leaf, bias, false, root)?;
        Ok((root, replaced))
    }

    /// Deletes `key`; returns the new root and the removed entry's logical size.
    pub fn delete(&mut self, root: Root, key: &[u8]) -> Result<(Root, Option<u64>)> {
        if root.height == 0 {
            return Ok((root, None));
        }
        let mut path = self.path(root, key)?;
        let Some((lr, ln, _)) = path.pop() else {
            return Ok((root, None));
        };
        let Ok(i) = ln.search(key) else {
            return Ok((root, None));
        };
        let e = ln.entry(i);
        let removed = Some(e.key.len() as u64 + e.val.len());
        let runs = Self::entry_runs(&e);
        let mut leaf = self.take_mut(lr, ln);
        leaf.remove_cells(i, i + 1);
        self.free_runs(runs);
        let root = self.fixup(path, lr, leaf, false, true, root)?;
        Ok((root, removed))
    }

    /// Deletes every key in `[lo, hi)`; returns the new root, entries and bytes removed.
    pub fn delete_range(
        &mut self,
        mut root: Root,
        lo: &[u8],
        hi: &[u8],
    ) -> Result<(Root, u64, u64)> {
        let (mut count, mut bytes) = (0, 0);
        if lo >= hi {
            return Ok((root, 0, 0));
        }
        loop {
            let mut c = Cursor::new(root);
            c.seek_ge(self, lo)?;
            let Some(first) = c.entry().map(|e| e.key.to_vec()) else {
                break;
            };
            if first.as_slice() >= hi {
                break;
            }
            let mut path = self.path(root, &first)?;
            let Some((lr, ln, _)) = path.pop() else {
                break;
            };
            let a = ln.bound(&first, false);
            let b = ln.bound(hi, false);
            if a >= b {
                break;
            }
            let mut runs = Vec::new();
            for e in (a..b).map(|i| ln.entry(i)) {
                count += 1;
                bytes += e.key.len() as u64 + e.val.len();
                runs.extend(Self::entry_runs(&e));
            }
            let mut leaf = self.take_mut(lr, ln);
            leaf.remove_cells(a, b);
            self.free_runs(runs);
            root = self.fixup(path, lr, leaf, false, true, root)?;
        }
        Ok((root, count, bytes))
    }

    /// Frees every page of a tree (and its overflow runs).
    pub fn free_tree(&mut self, root: Root) -> Result<()> {
        if root.height == 0 {
            return Ok(());
        }
        let mut stack = vec![(root.at, root.height - 1)];
        while let Some((r, level)) = stack.pop() {
            let n = self.node(r, level)?;
            if n.is_leaf() {
                let runs: Vec<_> = n.entries().flat_map(|e| Self::entry_runs(&e)).collect();
                self.free_runs(runs);
            } else {
                for i in 0..n.keys() {
                    let s = n.sep(i);
                    self.free_sep(&s);
                }
                let l = below(level)?;
                stack.extend((0..n.len()).map(|i| (n.child(i), l)));
            }
            self.free_page(r.page);
        }
        Ok(())
    }
}
