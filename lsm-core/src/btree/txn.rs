//! A write transaction: copy-on-write inserts, deletes with merge/redistribution, range deletes
//! and whole-tree frees, over the pages of the last committed state.
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
//!
//! Rebalancing: a node that an insert makes too large for its page, or that a delete leaves
//! under a quarter full, is combined with a neighbour (left if it has one) and the pair is cut
//! into as few even pieces as fit: one (merge), two (redistribute) or three (a B*-style split of
//! two full nodes into three two-thirds-full ones). Only the root, an only child, and a
//! right-edge append (which fills the left node) split on their own. A root branch with one
//! child is replaced by the child; an empty root leaf makes the tree empty.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};

use super::freelist::FreeList;
use super::page::{
    encode_node_into, encode_run, entry_size, sep_size, varint_len, Body, Entry, Node, PageRef,
    Sep, Val, REF_LEN,
};
use super::pool::Pager;
use super::tree::{below, Cursor, PageSource, Root};

/// One level of a path from the root: the node's reference, the node, the child taken.
type Step = (PageRef, Arc<Node>, usize);

/// What rewriting a node did, for its parent.
struct Change {
    /// The replacement nodes, left to right; all but the first come with their separator.
    pieces: Vec<(Option<Sep>, PageRef)>,
    /// The node kept its page number and gen: the parent needs no change.
    unchanged: bool,
    /// The node is under the minimum fill.
    under: bool,
    /// The node is too large for a page and was not placed: the parent shares it with a
    /// neighbour (or splits two into three), B*-tree style, which keeps pages fuller than
    /// splitting one node into two halves.
    over: Option<Node>,
}

/// Where to split a run of entries.
#[derive(Clone, Copy)]
enum Cut {
    /// The fullest left part that fits a page (appends at the right edge).
    Fill,
    /// A left part as close as possible to this many bytes.
    Near(usize),
}

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
    dirty: HashMap<u32, Arc<Node>>,
    dirty_bytes: usize,
    dirty_limit: usize,
    fresh: HashSet<u32>,
    /// Committed pages this transaction freed (reusable two transactions later at the earliest).
    pub freed: Vec<u32>,
}

impl PageSource for Txn<'_> {
    fn node(&self, r: PageRef, level: u8) -> Result<Arc<Node>> {
        if let Some(n) = self.dirty.get(&r.page) {
            if n.gen == r.gen && n.level == level {
                return Ok(Arc::clone(n));
            }
            return Err(Error::InvalidArgument(format!(
                "internal error: dirty page {} does not match its reference",
                r.page
            )));
        }
        self.pager.load(r, level, self.page_count)
    }

    fn value(&self, v: &Val) -> Result<Bytes> {
        match v {
            Val::Inline(b) => Ok(b.clone()),
            Val::Spilled { at, len } => self
                .pager
                .read_run(*at, *len, self.page_count)
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
            dirty: HashMap::new(),
            dirty_bytes: 0,
            dirty_limit,
            fresh: HashSet::new(),
            freed: Vec::new(),
        }
    }

    fn usable(&self) -> usize {
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
                self.dirty_bytes -= n.mem_cost(self.pager.geo.page_size);
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

    /// Frees the overflow runs of an entry.
    pub fn free_entry(&mut self, e: &Entry) {
        if let Some(r) = e.key_spill {
            self.free_run(r.page, e.key.len() as u64);
        }
        if let Val::Spilled { at, len } = e.val {
            self.free_run(at.page, len);
        }
    }

    fn free_sep(&mut self, s: &Sep) {
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

    /// A value whose entry carries `key_part` bytes of key (flags included): inline if the
    /// entry stays within a quarter page, else spilled.
    fn make_val(&mut self, key_part: usize, v: &[u8]) -> Result<Val> {
        if key_part + varint_len(v.len() as u64) + v.len() <= self.pager.geo.max_entry() {
            Ok(Val::Inline(Bytes::copy_from_slice(v)))
        } else {
            Ok(Val::Spilled {
                at: self.write_run(v)?,
                len: v.len() as u64,
            })
        }
    }

    /// A new leaf entry, spilling what does not fit a quarter page.
    pub fn make_entry(&mut self, k: &[u8], v: &[u8]) -> Result<Entry> {
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
        let val = self.make_val(key_part, v)?;
        Ok(Entry {
            key: Bytes::copy_from_slice(k),
            key_spill,
            val,
        })
    }

    /// A separator, spilled if long.
    pub fn make_sep(&mut self, key: Bytes) -> Result<Sep> {
        let s = Sep { key, spill: None };
        if sep_size(&s) <= self.pager.geo.max_entry() {
            return Ok(s);
        }
        let spill = Some(self.write_run(&s.key)?);
        Ok(Sep { key: s.key, spill })
    }

    /// Stores a node at `page` as dirty.
    fn put(&mut self, page: u32, mut node: Node) -> Result<PageRef> {
        node.gen = self.id;
        let cost = node.mem_cost(self.pager.geo.page_size);
        if let Some(old) = self.dirty.insert(page, Arc::new(node)) {
            self.dirty_bytes -= old.mem_cost(self.pager.geo.page_size);
        }
        self.dirty_bytes += cost;
        if self.dirty_bytes > self.dirty_limit {
            self.write_dirty()?;
        }
        Ok(PageRef { page, gen: self.id })
    }

    /// Stores a node in place of `old` (same page if this transaction owns it).
    pub fn place(&mut self, old: Option<PageRef>, node: Node) -> Result<PageRef> {
        let page = match old {
            Some(r) if r.gen == self.id && self.fresh.contains(&r.page) => r.page,
            Some(r) => {
                self.free_page(r.page);
                self.alloc()?
            }
            None => self.alloc()?,
        };
        self.put(page, node)
    }

    /// Writes every dirty node to its page (contiguous pages with one write each, encoded
    /// straight into the write buffer) and hands them to the pool as clean. Returns the
    /// number of pages written.
    pub fn write_dirty(&mut self) -> Result<usize> {
        let mut pages: Vec<(u32, Arc<Node>)> = self.dirty.drain().collect();
        self.dirty_bytes = 0;
        pages.sort_unstable_by_key(|(p, _)| *p);
        let geo = self.pager.geo;
        let mut run: Vec<u8> = Vec::with_capacity(geo.page_size * pages.len().min(256));
        let mut start = 0u32;
        for (i, (p, n)) in pages.iter().enumerate() {
            if run.is_empty() {
                start = *p;
            }
            encode_node_into(n, *p, geo, &mut run)?;
            let next_adjacent = pages.get(i + 1).is_some_and(|(q, _)| *q == p + 1);
            if !next_adjacent || run.len() >= 1 << 20 {
                self.pager.write_pages(start, &run)?;
                run.clear();
            }
        }
        let count = pages.len();
        for (p, n) in pages {
            let mut n = Arc::try_unwrap(n).unwrap_or_else(|a| (*a).clone());
            n.build_index();
            self.pager.cache(p, Arc::new(n));
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
            match &n.body {
                Body::Branch { children, .. } => {
                    let i = n.child_index(key);
                    let next = children[i];
                    out.push((r, n, i));
                    r = next;
                    level = below(level)?;
                }
                Body::Leaf(_) => {
                    out.push((r, n, 0));
                    return Ok(out);
                }
            }
        }
    }

    /// The node at `r` (reached as `n`) for changing: taken out of the dirty set without a
    /// copy when this transaction owns it and nobody else holds it, else copied.
    fn take_mut(&mut self, r: PageRef, n: Arc<Node>) -> Node {
        if r.gen == self.id && self.fresh.contains(&r.page) {
            if let Some(d) = self.dirty.remove(&r.page) {
                self.dirty_bytes -= d.mem_cost(self.pager.geo.page_size);
            }
        }
        let mut n = Arc::try_unwrap(n).unwrap_or_else(|a| (*a).clone());
        // The search index describes the node as it was; it is about to change.
        n.index = None;
        n
    }

    /// Inserts or replaces; returns the new root and the replaced entry's logical size.
    pub fn insert(&mut self, root: Root, key: &[u8], val: &[u8]) -> Result<(Root, Option<u64>)> {
        if root.height == 0 {
            let e = self.make_entry(key, val)?;
            let leaf = Node::new(self.id, 0, Body::Leaf(vec![e]));
            let at = self.place(None, leaf)?;
            return Ok((Root { at, height: 1 }, None));
        }
        let mut path = self.path(root, key)?;
        let rightmost = path
            .iter()
            .all(|(_, n, i)| *i + 1 == n.len() || n.level == 0);
        let Some((lr, ln, _)) = path.pop() else {
            return Ok((root, None));
        };
        let found = ln.search(key);
        // Build the new entry (or value) before taking the leaf, so an error leaves it in place.
        let (new_entry, new_val, replaced) = match found {
            Ok(i) => {
                let Body::Leaf(entries) = &ln.body else {
                    return Ok((root, None));
                };
                let old = &entries[i];
                let key_part = 1
                    + varint_len(old.key.len() as u64)
                    + if old.key_spill.is_some() {
                        REF_LEN
                    } else {
                        old.key.len()
                    };
                let replaced = Some(old.key.len() as u64 + old.val.len());
                let old_val = old.val.clone();
                let v = self.make_val(key_part, val)?;
                if let Val::Spilled { at, len } = old_val {
                    self.free_run(at.page, len);
                }
                (None, Some(v), replaced)
            }
            Err(_) => (Some(self.make_entry(key, val)?), None, None),
        };
        let mut leaf = self.take_mut(lr, ln);
        let mut bias = false;
        if let Body::Leaf(entries) = &mut leaf.body {
            match (found, new_entry, new_val) {
                (Ok(i), _, Some(v)) => entries[i].val = v,
                (Err(i), Some(e), _) => {
                    entries.insert(i, e);
                    bias = rightmost && i + 1 == entries.len();
                }
                _ => {}
            }
        }
        leaf.recompute_size();
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
        let mut leaf = self.take_mut(lr, ln);
        let mut removed = None;
        if let Body::Leaf(entries) = &mut leaf.body {
            let e = entries.remove(i);
            removed = Some(e.key.len() as u64 + e.val.len());
            self.free_entry(&e);
        }
        leaf.recompute_size();
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
            let Some(first) = c.entry().map(|e| e.key.clone()) else {
                break;
            };
            if first.as_ref() >= hi {
                break;
            }
            let mut path = self.path(root, &first)?;
            let Some((lr, ln, _)) = path.pop() else {
                break;
            };
            let mut leaf = self.take_mut(lr, ln);
            if let Body::Leaf(entries) = &mut leaf.body {
                let a = entries.partition_point(|e| e.key.as_ref() < first.as_ref());
                let b = entries.partition_point(|e| e.key.as_ref() < hi);
                let gone: Vec<Entry> = entries.drain(a..b).collect();
                if gone.is_empty() {
                    break;
                }
                for e in &gone {
                    count += 1;
                    bytes += e.key.len() as u64 + e.val.len();
                    self.free_entry(e);
                }
            }
            leaf.recompute_size();
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
            match &n.body {
                Body::Leaf(entries) => {
                    for e in entries {
                        self.free_entry(e);
                    }
                }
                Body::Branch { seps, children } => {
                    for s in seps {
                        self.free_sep(s);
                    }
                    let l = below(level)?;
                    stack.extend(children.iter().map(|c| (*c, l)));
                }
            }
            self.free_page(r.page);
        }
        Ok(())
    }

    /// Writes a modified node and propagates the change up the path; returns the new root.
    /// `rebalance` (after deletes) combines underfull nodes with a neighbour.
    fn fixup(
        &mut self,
        mut path: Vec<Step>,
        r: PageRef,
        node: Node,
        bias: bool,
        rebalance: bool,
        root: Root,
    ) -> Result<Root> {
        let mut change = self.write_node(Some(r), node, !path.is_empty(), rebalance, bias)?;
        while let Some((pr, pn, idx)) = path.pop() {
            if change.unchanged && !change.under && change.over.is_none() {
                return Ok(root);
            }
            let mut p = self.take_mut(pr, pn);
            if let Body::Branch { seps, children } = &mut p.body {
                let mut pieces = change.pieces.into_iter();
                if let Some((_, first)) = pieces.next() {
                    children[idx] = first;
                }
                for (k, (s, c)) in pieces.enumerate() {
                    let s = s.ok_or_else(|| {
                        Error::InvalidArgument("internal error: piece without separator".into())
                    })?;
                    seps.insert(idx + k, s);
                    children.insert(idx + k + 1, c);
                }
            }
            if change.under || change.over.is_some() {
                self.rebalance(&mut p, idx, change.over.take())?;
            }
            p.recompute_size();
            change = self.write_node(Some(pr), p, !path.is_empty(), rebalance, bias)?;
        }
        // The root level.
        let mut height = root.height;
        let mut pieces = change.pieces;
        while pieces.len() > 1 {
            let mut it = pieces.into_iter();
            let first = it.next().map(|(_, r)| r).unwrap_or_default();
            let mut seps = Vec::new();
            let mut children = vec![first];
            for (s, c) in it {
                seps.push(s.ok_or_else(|| {
                    Error::InvalidArgument("internal error: piece without separator".into())
                })?);
                children.push(c);
            }
            let n = Node::new(self.id, height, Body::Branch { seps, children });
            height += 1;
            pieces = self.write_node(None, n, false, false, false)?.pieces;
        }
        let mut root = Root {
            at: pieces.first().map(|(_, r)| *r).unwrap_or_default(),
            height,
        };
        // Collapse a root branch with one child, and an empty root leaf.
        while root.height > 0 {
            let n = self.node(root.at, root.height - 1)?;
            match &n.body {
                Body::Branch { children, .. } if children.len() == 1 => {
                    self.free_page(root.at.page);
                    root = Root {
                        at: children[0],
                        height: root.height - 1,
                    };
                }
                Body::Leaf(e) if e.is_empty() => {
                    self.free_page(root.at.page);
                    root = Root::default();
                }
                _ => break,
            }
        }
        Ok(root)
    }

    /// Places a node. A node too large for a page is split here when it has no parent (or
    /// `bias` asks for a right-edge split), else handed to the parent (`Change::over`). A node
    /// with a parent reports itself underfull when `rebalance` (deletes) asks.
    fn write_node(
        &mut self,
        old: Option<PageRef>,
        node: Node,
        has_parent: bool,
        rebalance: bool,
        bias: bool,
    ) -> Result<Change> {
        if node.size <= self.usable() {
            let under = has_parent && rebalance && node.size < self.usable() / 4;
            let r = self.place(old, node)?;
            return Ok(Change {
                pieces: vec![(None, r)],
                unchanged: old == Some(r),
                under,
                over: None,
            });
        }
        if let (true, false, Some(r)) = (has_parent, bias, old) {
            return Ok(Change {
                pieces: vec![(None, r)],
                unchanged: false,
                under: false,
                over: Some(node),
            });
        }
        let parts = self.split_node(node, bias)?;
        let mut pieces = Vec::with_capacity(parts.len());
        let mut old = old;
        for (s, n) in parts {
            pieces.push((s, self.place(old.take(), n)?));
        }
        Ok(Change {
            pieces,
            unchanged: false,
            under: false,
            over: None,
        })
    }

    /// Cuts a node in two; returns `(left, separator, right)`.
    fn split_two(&mut self, node: Node, cut: Cut) -> Result<(Node, Sep, Node)> {
        let usable = self.usable();
        let (level, gen) = (node.level, node.gen);
        let mk = |body: Body| Node::new(gen, level, body);
        match node.body {
            Body::Leaf(mut entries) => {
                let sizes: Vec<usize> = entries.iter().map(entry_size).collect();
                let m = pick_split(&sizes, 0, usable, cut)
                    .clamp(1, entries.len().saturating_sub(1).max(1));
                let right = entries.split_off(m);
                let (Some(a), Some(b)) = (entries.last(), right.first()) else {
                    return Err(Error::InvalidArgument(
                        "internal error: cannot split a leaf".into(),
                    ));
                };
                let sep = self.make_sep(shortest_separator(&a.key, &b.key))?;
                Ok((mk(Body::Leaf(entries)), sep, mk(Body::Leaf(right))))
            }
            Body::Branch {
                mut seps,
                mut children,
            } => {
                // Separator m moves up: left keeps seps[..m], right seps[m+1..].
                let sizes: Vec<usize> = seps.iter().map(sep_size).collect();
                let m = pick_split(&sizes, REF_LEN, usable, cut).min(sizes.len().saturating_sub(1));
                let right_seps = seps.split_off(m + 1);
                let up = seps.pop().ok_or_else(|| {
                    Error::InvalidArgument("internal error: cannot split a branch".into())
                })?;
                let right_children = children.split_off(m + 1);
                Ok((
                    mk(Body::Branch { seps, children }),
                    up,
                    mk(Body::Branch {
                        seps: right_seps,
                        children: right_children,
                    }),
                ))
            }
        }
    }

    /// Cuts a node into `k` pieces of about equal size (splitting further any piece that
    /// still does not fit).
    fn split_even(&mut self, node: Node, k: usize) -> Result<Vec<(Option<Sep>, Node)>> {
        let mut out = Vec::with_capacity(k);
        let mut rest = node;
        let mut sep_before = None;
        for j in (2..=k).rev() {
            if rest.len() < 2 {
                break;
            }
            let (left, sep, right) = self.split_two(rest.clone(), Cut::Near(rest.size / j))?;
            out.push((sep_before.take(), left));
            sep_before = Some(sep);
            rest = right;
        }
        out.push((sep_before, rest));
        let mut fitted = Vec::with_capacity(out.len());
        for (s, n) in out {
            let mut sub = self.split_node(n, false)?.into_iter();
            if let Some((_, first)) = sub.next() {
                fitted.push((s, first));
            }
            fitted.extend(sub);
        }
        Ok(fitted)
    }

    /// Splits an oversized node into pieces that fit; `bias` (an append at the right edge of
    /// the tree) fills the left piece instead of halving.
    fn split_node(&mut self, node: Node, bias: bool) -> Result<Vec<(Option<Sep>, Node)>> {
        if node.size <= self.usable() || node.len() < 2 {
            return Ok(vec![(None, node)]);
        }
        let cut = if bias {
            Cut::Fill
        } else {
            Cut::Near(node.size / 2)
        };
        let (left, sep, right) = self.split_two(node, cut)?;
        let mut out = self.split_node(left, false)?;
        let mut rest = self.split_node(right, bias)?.into_iter();
        if let Some((_, first)) = rest.next() {
            out.push((Some(sep), first));
        }
        out.extend(rest);
        Ok(out)
    }

    /// Combines child `idx` of branch `p` — underfull, or `over` (its new contents, too large
    /// for a page) — with a neighbour, and cuts the pair into as few even pieces as fit: one
    /// (merge), two (redistribute) or three (a two-into-three split).
    fn rebalance(&mut self, p: &mut Node, idx: usize, over: Option<Node>) -> Result<()> {
        let level = below(p.level)?;
        let usable = self.usable();
        let max_entry = self.pager.geo.max_entry();
        let Body::Branch { seps, children } = &mut p.body else {
            return Ok(());
        };
        if children.len() < 2 {
            // An only child: nobody to share with.
            if let Some(node) = over {
                let parts = self.split_node(node, false)?;
                let (new_children, new_seps) = self.place_parts(parts, vec![children[idx]])?;
                children.splice(idx..=idx, new_children);
                seps.splice(idx..idx, new_seps);
            }
            return Ok(());
        }
        let li = if idx > 0 { idx - 1 } else { idx };
        let ri = li + 1;
        let mut over = over;
        let load = |t: &Self, i: usize, over: &mut Option<Node>| -> Result<Node> {
            match over.take() {
                Some(n) if i == idx => Ok(n),
                o => {
                    *over = o;
                    Ok((*t.node(children[i], level)?).clone())
                }
            }
        };
        let mut combined = load(self, li, &mut over)?;
        let right = load(self, ri, &mut over)?;
        match (&mut combined.body, right.body) {
            (Body::Leaf(a), Body::Leaf(b)) => a.extend(b),
            (
                Body::Branch {
                    seps: sa,
                    children: ca,
                },
                Body::Branch {
                    seps: sb,
                    children: cb,
                },
            ) => {
                sa.push(seps[li].clone());
                sa.extend(sb);
                ca.extend(cb);
            }
            _ => {
                return Err(Error::InvalidArgument(
                    "internal error: siblings of different kinds".into(),
                ))
            }
        }
        combined.recompute_size();
        let total = combined.size;
        let parts = if total <= usable {
            vec![(None, combined)]
        } else if total + max_entry <= 2 * usable {
            self.split_even(combined, 2)?
        } else {
            self.split_even(combined, 3)?
        };
        let (new_children, new_seps) = self.place_parts(parts, vec![children[li], children[ri]])?;
        children.splice(li..=ri, new_children);
        let old_sep = seps.remove(li);
        seps.splice(li..li, new_seps);
        if level == 0 {
            // A leaf-level separator is dropped (a branch-level one moved into `combined`).
            self.free_sep(&old_sep);
        }
        Ok(())
    }

    /// Places pieces, reusing the pages of `olds` first and freeing those left over.
    fn place_parts(
        &mut self,
        parts: Vec<(Option<Sep>, Node)>,
        olds: Vec<PageRef>,
    ) -> Result<(Vec<PageRef>, Vec<Sep>)> {
        let mut olds = olds.into_iter();
        let mut new_children = Vec::with_capacity(parts.len());
        let mut new_seps = Vec::new();
        for (s, n) in parts {
            new_children.push(self.place(olds.next(), n)?);
            new_seps.extend(s);
        }
        for r in olds {
            self.free_page(r.page);
        }
        Ok((new_children, new_seps))
    }
}

/// Where to cut `sizes` (entry sizes of a leaf, or separator sizes of a branch, whose pieces
/// carry `base` bytes of their own): returns `m`, the first element of the right part for a
/// leaf, or the separator that moves up for a branch.
fn pick_split(sizes: &[usize], base: usize, usable: usize, cut: Cut) -> usize {
    // A leaf (base 0) cuts before element m >= 1; a branch lifts separator m >= 0.
    let first = usize::from(base == 0);
    let mut best = (usize::MAX, first);
    let mut left = base;
    for m in first..sizes.len() {
        if m > 0 {
            left += sizes[m - 1];
        }
        match cut {
            Cut::Fill => {
                if left <= usable {
                    best = (0, m);
                }
            }
            Cut::Near(target) => {
                let diff = left.abs_diff(target);
                if diff < best.0 {
                    best = (diff, m);
                }
            }
        }
    }
    best.1
}
