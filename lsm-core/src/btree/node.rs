//! Leaf and branch nodes in memory: the encoded page body itself plus the offset of every cell.
//!
//! A node is kept as the bytes it has on disk (see `page.rs` for the grammar), so reading one
//! from the file copies its body once and indexes the cells, writing one copies the body into
//! the page image, copying one for a change is one `memcpy`, and an insert or delete moves the
//! bytes after the cell within the body. Nothing is decoded into per-entry objects.
//!
//! ```text
//! leaf body   := cell{count}                               keys strictly ascending
//! leaf cell   := flags u8 ‖ key_len varint ‖ (key | spill_ref) ‖ val_len varint ‖ (value | spill_ref)
//! branch body := child0 ‖ { flags u8 ‖ key_len varint ‖ (key | spill_ref) ‖ child }{count}
//! child, spill_ref := page u32 ‖ gen u64
//! ```
//! In a branch, cell `i` is separator `i` followed by child `i + 1`, so child `i` (for `i > 0`)
//! is the last 12 bytes of cell `i - 1`.
//!
//! Keys that spilled to an overflow run are read when the node is decoded and kept beside the
//! body, found by their run reference. The search index (8 bytes of every key after the prefix
//! all of the node's keys share) is built only for nodes handed to the buffer pool; every method
//! that changes a node drops it, and the fields are private, so an index can never describe
//! other contents than its node's.

use std::fmt;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::util::coding::{get_u32, get_u64, get_u8, get_varint, put_varint};

use super::page::{check_page, put_header, seal, Geometry, Header, Loc, PageRef, HEADER_LEN};
use super::page::{KIND_BRANCH, KIND_LEAF};

/// Bytes of a child or spill reference.
pub const REF_LEN: usize = 12;

const FLAG_KEY_SPILLED: u8 = 1;
const FLAG_VAL_SPILLED: u8 = 2;

/// A value as a leaf holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValRef<'a> {
    /// Stored in the leaf.
    Inline(&'a [u8]),
    /// Stored in an overflow run of `len` bytes.
    Spilled {
        /// First page of the run.
        at: PageRef,
        /// Value length.
        len: u64,
    },
}

impl ValRef<'_> {
    /// Length of the value in bytes.
    pub fn len(&self) -> u64 {
        match self {
            ValRef::Inline(b) => b.len() as u64,
            ValRef::Spilled { len, .. } => *len,
        }
    }
}

/// A leaf entry, borrowed from its node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryRef<'a> {
    /// The full key (read back from its run when spilled).
    pub key: &'a [u8],
    /// The overflow run holding the key, if it is spilled.
    pub key_spill: Option<PageRef>,
    /// The value.
    pub val: ValRef<'a>,
}

/// A branch separator outside any node (moving between levels).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sep {
    /// The full separator.
    pub key: Bytes,
    /// The overflow run holding it, if spilled.
    pub spill: Option<PageRef>,
}

/// Bytes of a LEB128 varint.
pub fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Encodes a leaf cell into `out` (cleared first).
pub fn leaf_cell(out: &mut Vec<u8>, key: &[u8], key_spill: Option<PageRef>, val: ValRef<'_>) {
    out.clear();
    let mut flags = 0;
    if key_spill.is_some() {
        flags |= FLAG_KEY_SPILLED;
    }
    if matches!(val, ValRef::Spilled { .. }) {
        flags |= FLAG_VAL_SPILLED;
    }
    out.push(flags);
    put_varint(out, key.len() as u64);
    match key_spill {
        Some(r) => put_ref(out, r),
        None => out.extend_from_slice(key),
    }
    match val {
        ValRef::Inline(v) => {
            put_varint(out, v.len() as u64);
            out.extend_from_slice(v);
        }
        ValRef::Spilled { at, len } => {
            put_varint(out, len);
            put_ref(out, at);
        }
    }
}

/// Encoded size of a separator cell (its right child included).
pub fn sep_size(key_len: usize, spilled: bool) -> usize {
    1 + varint_len(key_len as u64) + if spilled { REF_LEN } else { key_len } + REF_LEN
}

fn sep_head(out: &mut Vec<u8>, s: &Sep) {
    out.push(if s.spill.is_some() {
        FLAG_KEY_SPILLED
    } else {
        0
    });
    put_varint(out, s.key.len() as u64);
    match s.spill {
        Some(r) => put_ref(out, r),
        None => out.extend_from_slice(&s.key),
    }
}

fn put_ref(out: &mut Vec<u8>, r: PageRef) {
    out.extend_from_slice(&r.page.to_le_bytes());
    out.extend_from_slice(&r.gen.to_le_bytes());
}

/// A varint in bytes this module wrote or checked; a short read yields what was there.
#[inline]
fn varint_at(b: &[u8], mut at: usize) -> (u64, usize) {
    let mut v = 0u64;
    let mut shift = 0;
    while let Some(&byte) = b.get(at) {
        at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 || shift >= 63 {
            break;
        }
        shift += 7;
    }
    (v, at)
}

#[inline]
fn ref_at(b: &[u8], at: usize) -> PageRef {
    let mut s = b.get(at..).unwrap_or(&[]);
    PageRef {
        page: get_u32(&mut s).unwrap_or(0),
        gen: get_u64(&mut s).unwrap_or(0),
    }
}

/// The search word of a key: its first 8 bytes, big-endian, zero-padded.
fn prefix(k: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = k.len().min(8);
    b[..n].copy_from_slice(&k[..n]);
    u64::from_be_bytes(b)
}

/// The search index of a cached node: the 8 bytes of every key that follow the prefix all of
/// the node's keys share. Indexing the first 8 bytes instead left the index useless for keys
/// that share them — db_bench's zero-padded decimals, `table/id` layouts — and every probe fell
/// back to decoding and comparing whole keys.
struct SearchIndex {
    /// Length of the prefix shared by every key of the node (the first key holds it).
    skip: usize,
    /// `prefix(&key[skip..])` for each key, ascending.
    words: Box<[u64]>,
}

impl SearchIndex {
    fn bytes(&self) -> usize {
        self.words.len() * 8
    }
}

/// A leaf or branch node.
pub struct Node {
    gen: u64,
    level: u8,
    /// The encoded body (may exceed a page while the tree code cuts it into pieces).
    body: Vec<u8>,
    /// Where each cell starts in `body`, ascending.
    offs: Vec<u32>,
    /// The full keys of spilled keys and separators, by run reference, sorted.
    spilled: Vec<(PageRef, Bytes)>,
    /// Search index of the keys, for cached (unchanging) nodes only.
    index: Option<SearchIndex>,
}

impl Clone for Node {
    fn clone(&self) -> Node {
        // A copy is made to be changed: it starts without a search index.
        Node {
            gen: self.gen,
            level: self.level,
            body: self.body.clone(),
            offs: self.offs.clone(),
            spilled: self.spilled.clone(),
            index: None,
        }
    }
}

impl PartialEq for Node {
    fn eq(&self, o: &Node) -> bool {
        self.gen == o.gen
            && self.level == o.level
            && self.body == o.body
            && self.offs == o.offs
            && self.spilled == o.spilled
    }
}

impl Eq for Node {}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("gen", &self.gen)
            .field("level", &self.level)
            .field("cells", &self.offs.len())
            .field("size", &self.body.len())
            .finish()
    }
}

impl Node {
    /// An empty leaf.
    pub fn new_leaf(gen: u64) -> Node {
        Node {
            gen,
            level: 0,
            body: Vec::new(),
            offs: Vec::new(),
            spilled: Vec::new(),
            index: None,
        }
    }

    /// A branch at `level` with one child.
    pub fn new_branch(gen: u64, level: u8, child0: PageRef) -> Node {
        let mut body = Vec::with_capacity(256);
        put_ref(&mut body, child0);
        Node {
            gen,
            level,
            body,
            offs: Vec::new(),
            spilled: Vec::new(),
            index: None,
        }
    }

    /// The transaction that wrote (or is writing) it.
    pub fn gen(&self) -> u64 {
        self.gen
    }

    /// Sets the writer.
    pub fn set_gen(&mut self, gen: u64) {
        self.gen = gen;
    }

    /// 0 for leaves.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// True for a leaf.
    pub fn is_leaf(&self) -> bool {
        self.level == 0
    }

    /// Encoded body size in bytes.
    pub fn size(&self) -> usize {
        self.body.len()
    }

    /// Entries (leaf) or separators (branch).
    pub fn keys(&self) -> usize {
        self.offs.len()
    }

    /// Entries (leaf) or children (branch).
    pub fn len(&self) -> usize {
        self.offs.len() + usize::from(!self.is_leaf())
    }

    /// True for a leaf without entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn start(&self, i: usize) -> usize {
        self.offs.get(i).map_or(self.body.len(), |o| *o as usize)
    }

    fn end(&self, i: usize) -> usize {
        self.start(i + 1)
    }

    /// Encoded size of cell `i` (a branch's includes its right child).
    pub fn cell_size(&self, i: usize) -> usize {
        self.end(i) - self.start(i)
    }

    /// Flags, key length, where the key (or its reference) starts, and where it ends.
    #[inline]
    fn key_part(&self, o: usize) -> (u8, usize, usize, usize) {
        let flags = self.body.get(o).copied().unwrap_or(0);
        let (klen, p) = varint_at(&self.body, o + 1);
        let klen = klen as usize;
        let end = p + if flags & FLAG_KEY_SPILLED != 0 {
            REF_LEN
        } else {
            klen
        };
        (flags, klen, p, end)
    }

    fn spilled_key(&self, r: PageRef) -> &[u8] {
        match self.spilled.binary_search_by_key(&r, |(s, _)| *s) {
            Ok(i) => &self.spilled[i].1,
            Err(_) => &[],
        }
    }

    /// Key (leaf) or separator (branch) `i`.
    #[inline]
    pub fn key(&self, i: usize) -> &[u8] {
        let (flags, _, p, end) = self.key_part(self.start(i));
        if flags & FLAG_KEY_SPILLED != 0 {
            self.spilled_key(ref_at(&self.body, p))
        } else {
            self.body.get(p..end).unwrap_or(&[])
        }
    }

    /// Leaf entry `i`.
    pub fn entry(&self, i: usize) -> EntryRef<'_> {
        let (flags, _, p, kend) = self.key_part(self.start(i));
        let key_spill = (flags & FLAG_KEY_SPILLED != 0).then(|| ref_at(&self.body, p));
        let key = match key_spill {
            Some(r) => self.spilled_key(r),
            None => self.body.get(p..kend).unwrap_or(&[]),
        };
        let (vlen, q) = varint_at(&self.body, kend);
        let val = if flags & FLAG_VAL_SPILLED != 0 {
            ValRef::Spilled {
                at: ref_at(&self.body, q),
                len: vlen,
            }
        } else {
            ValRef::Inline(self.body.get(q..q + vlen as usize).unwrap_or(&[]))
        };
        EntryRef {
            key,
            key_spill,
            val,
        }
    }

    /// The leaf's entries in order.
    pub fn entries(&self) -> impl Iterator<Item = EntryRef<'_>> + '_ {
        (0..self.offs.len()).map(|i| self.entry(i))
    }

    /// Branch separator `i`, copied out.
    pub fn sep(&self, i: usize) -> Sep {
        let (flags, _, p, _) = self.key_part(self.start(i));
        Sep {
            key: Bytes::copy_from_slice(self.key(i)),
            spill: (flags & FLAG_KEY_SPILLED != 0).then(|| ref_at(&self.body, p)),
        }
    }

    /// Where child `i` of a branch is stored.
    fn child_at(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.end(i - 1).saturating_sub(REF_LEN)
        }
    }

    /// Child `i` of a branch.
    #[inline]
    pub fn child(&self, i: usize) -> PageRef {
        ref_at(&self.body, self.child_at(i))
    }

    /// Replaces child `i` of a branch (the keys, and so the index, stay as they are).
    pub fn set_child(&mut self, i: usize, r: PageRef) {
        let at = self.child_at(i);
        if let Some(dst) = self.body.get_mut(at..at + REF_LEN) {
            dst[..4].copy_from_slice(&r.page.to_le_bytes());
            dst[4..].copy_from_slice(&r.gen.to_le_bytes());
        }
    }

    fn add_spill(&mut self, r: PageRef, key: Bytes) {
        if let Err(i) = self.spilled.binary_search_by_key(&r, |(s, _)| *s) {
            self.spilled.insert(i, (r, key));
        }
    }

    /// Inserts an encoded cell so that it becomes cell `i`; `spill` is its spilled key.
    pub fn insert_cell(&mut self, i: usize, cell: &[u8], spill: Option<(PageRef, Bytes)>) {
        self.index = None;
        let pos = self.start(i);
        let len = cell.len();
        let old = self.body.len();
        self.body.resize(old + len, 0);
        self.body.copy_within(pos..old, pos + len);
        self.body[pos..pos + len].copy_from_slice(cell);
        for o in &mut self.offs[i..] {
            *o += len as u32;
        }
        self.offs.insert(i, pos as u32);
        if let Some((r, k)) = spill {
            self.add_spill(r, k);
        }
    }

    /// Replaces cell `i` by `cell`, which must carry the same key (spilled or not).
    pub fn replace_cell(&mut self, i: usize, cell: &[u8]) {
        self.index = None;
        let (pos, end) = (self.start(i), self.end(i));
        self.body.splice(pos..end, cell.iter().copied());
        let delta = cell.len() as i64 - (end - pos) as i64;
        for o in &mut self.offs[i + 1..] {
            *o = (i64::from(*o) + delta) as u32;
        }
    }

    /// Removes cells `a..b` (a branch's cell includes its right child).
    pub fn remove_cells(&mut self, a: usize, b: usize) {
        if a >= b {
            return;
        }
        self.index = None;
        let gone: Vec<PageRef> = (a..b)
            .filter_map(|i| {
                let (flags, _, p, _) = self.key_part(self.start(i));
                (flags & FLAG_KEY_SPILLED != 0).then(|| ref_at(&self.body, p))
            })
            .collect();
        let (pos, end) = (self.start(a), self.start(b));
        self.body.drain(pos..end);
        self.offs.drain(a..b);
        for o in &mut self.offs[a..] {
            *o -= (end - pos) as u32;
        }
        self.spilled.retain(|(r, _)| !gone.contains(r));
    }

    /// Inserts separator `s` with right child `c` as separator `i` (so `c` becomes child `i + 1`).
    pub fn insert_sep(&mut self, i: usize, s: &Sep, c: PageRef, scratch: &mut Vec<u8>) {
        scratch.clear();
        sep_head(scratch, s);
        put_ref(scratch, c);
        let spill = s.spill.map(|r| (r, s.key.clone()));
        self.insert_cell(i, scratch, spill);
    }

    /// Keeps for this node the spilled keys among `from` that its cells refer to.
    fn adopt_spills(&mut self, from: &[(PageRef, Bytes)]) {
        if from.is_empty() {
            return;
        }
        for i in 0..self.offs.len() {
            let (flags, _, p, _) = self.key_part(self.start(i));
            if flags & FLAG_KEY_SPILLED != 0 {
                let r = ref_at(&self.body, p);
                if let Ok(j) = from.binary_search_by_key(&r, |(s, _)| *s) {
                    self.spilled.push(from[j].clone());
                }
            }
        }
        self.spilled.sort_unstable_by_key(|(r, _)| *r);
    }

    /// A node made of `body[from..]` with the cells `offs[m..]`.
    fn tail(&self, from: usize, m: usize) -> Node {
        let mut right = Node {
            gen: self.gen,
            level: self.level,
            body: self.body.get(from..).unwrap_or(&[]).to_vec(),
            offs: self.offs[m..].iter().map(|o| *o - from as u32).collect(),
            spilled: Vec::new(),
            index: None,
        };
        right.adopt_spills(&self.spilled);
        right
    }

    fn truncate(&mut self, len: usize, m: usize) {
        self.index = None;
        self.body.truncate(len);
        self.offs.truncate(m);
        let all = std::mem::take(&mut self.spilled);
        self.adopt_spills(&all);
    }

    /// Leaf: moves entries `m..` into a new node.
    pub fn split_leaf(&mut self, m: usize) -> Node {
        let pos = self.start(m);
        let right = self.tail(pos, m);
        self.truncate(pos, m);
        right
    }

    /// Branch: separator `m` moves up; the new right node starts with child `m + 1` and holds
    /// the separators after `m`.
    pub fn split_branch(&mut self, m: usize) -> (Sep, Node) {
        let up = self.sep(m);
        let child = self.end(m) - REF_LEN;
        let right = self.tail(child, m + 1);
        let pos = self.start(m);
        self.truncate(pos, m);
        (up, right)
    }

    /// Leaf: appends the entries of `other` (all above this node's).
    pub fn append_leaf(&mut self, other: Node) {
        self.append_body(other);
    }

    /// Branch: appends separator `s` and then `other` (whose child 0 becomes `s`'s child).
    pub fn append_branch(&mut self, s: &Sep, other: Node) {
        self.index = None;
        self.offs.push(self.body.len() as u32);
        let mut head = Vec::with_capacity(sep_size(s.key.len(), s.spill.is_some()));
        sep_head(&mut head, s);
        self.body.extend_from_slice(&head);
        if let Some(r) = s.spill {
            self.add_spill(r, s.key.clone());
        }
        // `other`'s body starts with its child 0: the new separator's child.
        let base = self.body.len() as u32;
        self.body.extend_from_slice(&other.body);
        self.offs.extend(other.offs.iter().map(|o| *o + base));
        for (r, k) in other.spilled {
            self.add_spill(r, k);
        }
    }

    fn append_body(&mut self, other: Node) {
        self.index = None;
        let base = self.body.len() as u32;
        self.body.extend_from_slice(&other.body);
        self.offs.extend(other.offs.iter().map(|o| *o + base));
        for (r, k) in other.spilled {
            self.add_spill(r, k);
        }
    }

    /// Makes room for the body to grow to `cap` bytes (and a few cells more).
    pub fn reserve(&mut self, cap: usize) {
        self.body.reserve(cap.saturating_sub(self.body.len()));
        self.offs.reserve(8);
    }

    /// A copy to change (without a search index), with room for the body to grow to `cap`.
    pub fn copy_for_change(&self, cap: usize) -> Node {
        let mut body = Vec::with_capacity(cap.max(self.body.len()));
        body.extend_from_slice(&self.body);
        Node {
            gen: self.gen,
            level: self.level,
            body,
            offs: {
                let mut o = Vec::with_capacity(self.offs.len() + 8);
                o.extend_from_slice(&self.offs);
                o
            },
            spilled: self.spilled.clone(),
            index: None,
        }
    }

    /// Builds the search index, checking first that the keys ascend.
    fn index_checked(&self) -> std::result::Result<SearchIndex, usize> {
        for i in 1..self.offs.len() {
            if self.key(i - 1) >= self.key(i) {
                return Err(i);
            }
        }
        Ok(self.make_index())
    }

    /// The search index of a node whose keys ascend: in sorted keys, the prefix the first and
    /// last share is shared by all.
    fn make_index(&self) -> SearchIndex {
        let n = self.offs.len();
        let skip = match n {
            0 => 0,
            _ => {
                let (a, b) = (self.key(0), self.key(n - 1));
                a.iter().zip(b).take_while(|(x, y)| x == y).count()
            }
        };
        let words = (0..n).map(|i| prefix(&self.key(i)[skip..])).collect();
        SearchIndex { skip, words }
    }

    /// Builds the search index, for a node whose keys were checked to ascend.
    pub(super) fn build_index(&mut self) {
        self.index = Some(self.make_index());
    }

    /// True if the node carries a search index.
    #[cfg(test)]
    pub fn has_index(&self) -> bool {
        self.index.is_some()
    }

    /// The first index whose key is `> key` (`upper`) or `>= key`.
    pub fn bound(&self, key: &[u8], upper: bool) -> usize {
        let (mut lo, mut hi) = (0, self.offs.len());
        if let Some(ix) = &self.index {
            if !self.offs.is_empty() && ix.skip > 0 {
                // Every key starts with the first key's `skip` bytes: a `key` that differs
                // from them there (or is a proper prefix of them) is below or above them all.
                let shared = &self.key(0)[..ix.skip];
                let head = &key[..key.len().min(ix.skip)];
                if head != shared {
                    return if head < shared { 0 } else { self.offs.len() };
                }
            }
            // Keys with a smaller word are smaller than `key`, larger ones larger: only the
            // run with an equal word needs comparing in full.
            let p = prefix(key.get(ix.skip..).unwrap_or(&[]));
            lo = ix.words.partition_point(|x| *x < p);
            hi = lo + ix.words[lo..].partition_point(|x| *x == p);
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let k = self.key(mid);
            if if upper { k <= key } else { k < key } {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Leaf: `Ok(i)` when entry `i` has `key`, else `Err(where it would go)`.
    pub fn search(&self, key: &[u8]) -> std::result::Result<usize, usize> {
        let i = self.bound(key, false);
        if i < self.offs.len() && self.key(i) == key {
            Ok(i)
        } else {
            Err(i)
        }
    }

    /// Branch: the child that holds `key`.
    pub fn child_index(&self, key: &[u8]) -> usize {
        self.bound(key, true)
    }

    /// Memory the node holds (for the buffer pool's and the dirty set's budgets).
    pub fn mem_cost(&self) -> usize {
        let spilled: usize = self.spilled.iter().map(|(_, k)| k.len() + 48).sum();
        let index = self.index.as_ref().map_or(0, SearchIndex::bytes);
        128 + self.body.capacity() + self.offs.capacity() * 4 + spilled + index
    }

    /// Appends the full page image for `page_no` (exactly `page_size` bytes, checksum
    /// included) to `out`, and builds the node's search index. Refuses a node that does not
    /// fit, or whose keys do not ascend: a page that could not be read back is never written.
    pub fn encode_into(&mut self, page_no: u32, geo: Geometry, out: &mut Vec<u8>) -> Result<()> {
        let internal = |why: String| Err(Error::InvalidArgument(format!("internal error: {why}")));
        if self.body.len() > geo.usable() || self.offs.len() > usize::from(u16::MAX) {
            return internal(format!(
                "node of {} bytes does not fit a page",
                self.body.len()
            ));
        }
        let start = out.len();
        out.resize(start + HEADER_LEN, 0);
        out.extend_from_slice(&self.body);
        out.resize(start + geo.page_size, 0);
        let page = &mut out[start..];
        put_header(
            page,
            &Header {
                kind: if self.is_leaf() {
                    KIND_LEAF
                } else {
                    KIND_BRANCH
                },
                level: self.level,
                count: self.offs.len() as u16,
                gen: self.gen,
                link: PageRef::default(),
                body_len: self.body.len(),
            },
        );
        seal(page, page_no);
        // The page is final from here on: the order check (after the copy, which brought the
        // body into the cache) builds the index the pool's copy searches with. A node that
        // still has its index has the keys it had when they were last checked (every change
        // to a key drops the index; a new child reference keeps it).
        if self.index.is_none() {
            match self.index_checked() {
                Ok(ix) => self.index = Some(ix),
                Err(i) => {
                    out.truncate(start);
                    return internal(format!(
                        "page {page_no}: key {i} is not above its predecessor"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Reads a spilled key of `len` bytes from the run at a reference (supplied by the pager).
pub type SpillLoader<'a> = dyn FnMut(PageRef, u64) -> Result<Bytes> + 'a;

/// Decodes and checks a node page that must carry `gen` at `level`: checksum, header, every
/// cell within the body, known flags, no reference to a meta page, keys within `max_key` and
/// strictly ascending, and nothing after the last cell.
pub fn decode_node(
    page: &[u8],
    loc: Loc<'_>,
    gen: u64,
    level: u8,
    max_key: usize,
    load: &mut SpillLoader<'_>,
) -> Result<Node> {
    let kind = if level == 0 { KIND_LEAF } else { KIND_BRANCH };
    let hdr = check_page(page, loc, kind, gen)?;
    if hdr.level != level {
        return Err(loc.err(5, format!("level {} where {level} was expected", hdr.level)));
    }
    let body = &page[HEADER_LEN..HEADER_LEN + hdr.body_len];
    let err = |at: usize, why: String| loc.err(HEADER_LEN + at, why);
    let count = usize::from(hdr.count);
    let mut node = Node {
        gen,
        level,
        body: body.to_vec(),
        offs: Vec::with_capacity(count),
        spilled: Vec::new(),
        index: None,
    };
    let mut input = body;
    let pos = |input: &[u8]| body.len() - input.len();
    let take_ref = |input: &mut &[u8]| -> Result<PageRef> {
        let at = pos(input);
        let r = (|| {
            Some(PageRef {
                page: get_u32(input)?,
                gen: get_u64(input)?,
            })
        })()
        .ok_or_else(|| err(at, "truncated reference".into()))?;
        if r.page < super::meta::META_PAGES {
            return Err(err(at, format!("reference to meta page {}", r.page)));
        }
        Ok(r)
    };
    let take_len = |input: &mut &[u8]| -> Result<usize> {
        let at = pos(input);
        get_varint(input)
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| err(at, "bad varint".into()))
    };
    let what = if level == 0 { "entry" } else { "separator" };
    let known = if level == 0 {
        FLAG_KEY_SPILLED | FLAG_VAL_SPILLED
    } else {
        FLAG_KEY_SPILLED
    };
    if level > 0 {
        take_ref(&mut input)?;
    }
    for i in 0..count {
        let at = pos(input);
        node.offs.push(at as u32);
        let flags = get_u8(&mut input).ok_or_else(|| err(at, "truncated entry".into()))?;
        if flags & !known != 0 {
            return Err(err(at, format!("{what} {i} has unknown flags {flags:#x}")));
        }
        let klen_at = pos(input);
        let klen = take_len(&mut input)?;
        if klen > max_key {
            return Err(err(
                klen_at,
                format!("key of {klen} bytes exceeds the limit"),
            ));
        }
        if flags & FLAG_KEY_SPILLED != 0 {
            let r = take_ref(&mut input)?;
            let key = load(r, klen as u64)?;
            node.add_spill(r, key);
        } else if input.len() < klen {
            return Err(err(pos(input), format!("length {klen} runs past the body")));
        } else {
            input = &input[klen..];
        }
        if level == 0 {
            let vlen = take_len(&mut input)?;
            if flags & FLAG_VAL_SPILLED != 0 {
                take_ref(&mut input)?;
            } else if input.len() < vlen {
                return Err(err(pos(input), format!("length {vlen} runs past the body")));
            } else {
                input = &input[vlen..];
            }
        } else {
            take_ref(&mut input)?;
        }
        if i > 0 && node.key(i - 1) >= node.key(i) {
            return Err(err(at, format!("{what} {i} is not above its predecessor")));
        }
    }
    if !input.is_empty() {
        return Err(err(pos(input), "bytes after the last entry".into()));
    }
    node.build_index();
    Ok(node)
}
