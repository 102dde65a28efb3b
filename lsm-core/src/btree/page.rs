//! Page formats of the B+ tree file: the common header, leaf and branch nodes, overflow runs and
//! free-list pages. (Meta pages are in `meta.rs`.)
//!
//! Every page is `page_size` bytes at offset `page_no * page_size`. All integers little-endian.
//!
//! ```text
//! header (32 bytes, every page but the two meta pages):
//!   0  checksum  u32   low 32 bits of xxh3-64(page_no: u64 LE ‖ page[4..page_size])
//!   4  kind      u8    2 Leaf | 3 Branch | 4 Overflow | 5 FreeList   (1 is Meta; never renumber)
//!   5  level     u8    0 for leaves, height above the leaves for branches, 0 otherwise
//!   6  count     u16   leaf: entries; branch: separators; other kinds: 0
//!   8  gen       u64   id of the transaction that wrote the page
//!   16 link      u32   free-list page: next page of the chain (0 = last); otherwise 0
//!   20 body_len  u32   bytes of body used, from offset 32; the rest of the page is zero
//!   24 link_gen  u64   free-list page: gen of the next page; otherwise 0
//!
//! leaf body   := entry{count}                      keys strictly ascending
//! entry       := flags: u8                         bit 0 key spilled, bit 1 value spilled,
//!                                                  other bits zero
//!                key_len: varint ‖ (key bytes | spill_ref)
//!                val_len: varint ‖ (value bytes | spill_ref)
//! branch body := child0: child_ref ‖ (sep ‖ child_ref){count}   separators strictly ascending
//! sep         := flags: u8 (bit 0 spilled) ‖ key_len: varint ‖ (key bytes | spill_ref)
//! child_ref   := page: u32 ‖ gen: u64              the child's header must carry this gen
//! spill_ref   := page: u32 ‖ gen: u64              first page of an overflow run
//! ```
//!
//! Child `i` of a branch holds the keys `k` with `sep[i-1] <= k < sep[i]`.
//!
//! An overflow run holding `len` bytes is `ceil(len / (page_size - 32))` consecutive pages, each
//! with its own header (kind 4, the run's gen, body_len = bytes in that page) and checksum, so a
//! run is read with one `pread` and verified page by page. Leaf keys and values, and branch
//! separators, spill to a run when they would make the entry larger than a quarter of the usable
//! page, which guarantees at least four entries per page and so a legal split.
//!
//! A free-list page (kind 5) holds a slice of the free-list blob (see `freelist.rs`); pages chain
//! through `link`/`link_gen`.

use std::path::Path;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::util::checksum::checksum32;
use crate::util::coding::{get_u32, get_u64, get_u8, get_varint, put_varint};

/// Bytes of the common page header.
pub const HEADER_LEN: usize = 32;
/// Smallest page size accepted.
pub const MIN_PAGE_SIZE: usize = 512;
/// Largest page size accepted.
pub const MAX_PAGE_SIZE: usize = 16 << 10;
/// Bytes of a child or spill reference.
pub const REF_LEN: usize = 12;

/// Page kinds (written to disk: never renumber).
pub const KIND_META: u8 = 1;
/// A leaf node.
pub const KIND_LEAF: u8 = 2;
/// A branch node.
pub const KIND_BRANCH: u8 = 3;
/// A page of an overflow run.
pub const KIND_OVERFLOW: u8 = 4;
/// A page of the free-list chain.
pub const KIND_FREELIST: u8 = 5;

const FLAG_KEY_SPILLED: u8 = 1;
const FLAG_VAL_SPILLED: u8 = 2;

/// A page number plus the generation its header must carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PageRef {
    /// Page number (0 means "none" where a reference is optional: page 0 is a meta page).
    pub page: u32,
    /// Transaction id that wrote it.
    pub gen: u64,
}

/// A value: inline bytes or an overflow run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Val {
    /// Stored in the leaf.
    Inline(Bytes),
    /// Stored in an overflow run of `len` bytes.
    Spilled {
        /// First page of the run.
        at: PageRef,
        /// Value length.
        len: u64,
    },
}

impl Val {
    /// Length of the value in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Val::Inline(b) => b.len() as u64,
            Val::Spilled { len, .. } => *len,
        }
    }
}

/// One leaf entry. Spilled keys are materialized in `key` when the page is decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The full key.
    pub key: Bytes,
    /// The overflow run holding the key, if it is spilled.
    pub key_spill: Option<PageRef>,
    /// The value.
    pub val: Val,
}

/// A branch separator. Spilled separators are materialized in `key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sep {
    /// The full separator.
    pub key: Bytes,
    /// The overflow run holding it, if spilled.
    pub spill: Option<PageRef>,
}

/// A node's contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// Sorted entries.
    Leaf(Vec<Entry>),
    /// `seps.len() + 1` children.
    Branch {
        /// Separators, ascending.
        seps: Vec<Sep>,
        /// Children.
        children: Vec<PageRef>,
    },
}

/// A decoded leaf or branch page.
#[derive(Debug)]
pub struct Node {
    /// Transaction id that wrote (or is writing) the page.
    pub gen: u64,
    /// 0 for leaves.
    pub level: u8,
    /// Contents.
    pub body: Body,
    /// Encoded body size in bytes, kept up to date by the mutators.
    pub size: usize,
    /// The first 8 bytes (big-endian, zero-padded) of every key or separator: a compact array
    /// that binary search walks instead of chasing each key. Built for cached (immutable)
    /// nodes only; a copy made for changing starts without one.
    pub index: Option<Box<[u64]>>,
}

impl Clone for Node {
    fn clone(&self) -> Node {
        Node {
            gen: self.gen,
            level: self.level,
            body: self.body.clone(),
            size: self.size,
            index: None,
        }
    }
}

impl PartialEq for Node {
    fn eq(&self, o: &Node) -> bool {
        self.gen == o.gen && self.level == o.level && self.body == o.body && self.size == o.size
    }
}

impl Eq for Node {}

/// The search prefix of a key.
fn prefix(k: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = k.len().min(8);
    b[..n].copy_from_slice(&k[..n]);
    u64::from_be_bytes(b)
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

/// Encoded size of a leaf entry.
pub fn entry_size(e: &Entry) -> usize {
    let k = varint_len(e.key.len() as u64)
        + if e.key_spill.is_some() {
            REF_LEN
        } else {
            e.key.len()
        };
    let v = match &e.val {
        Val::Inline(b) => varint_len(b.len() as u64) + b.len(),
        Val::Spilled { len, .. } => varint_len(*len) + REF_LEN,
    };
    1 + k + v
}

/// Encoded size of a separator with its right child reference.
pub fn sep_size(s: &Sep) -> usize {
    let k = if s.spill.is_some() {
        REF_LEN
    } else {
        s.key.len()
    };
    1 + varint_len(s.key.len() as u64) + k + REF_LEN
}

/// Page geometry shared by encoder, decoder and tree code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Page size in bytes.
    pub page_size: usize,
}

impl Geometry {
    /// Body bytes available in a node page.
    pub fn usable(&self) -> usize {
        self.page_size - HEADER_LEN
    }
    /// Largest encoded entry (or separator) a node accepts: a quarter of the body.
    pub fn max_entry(&self) -> usize {
        self.usable() / 4
    }
    /// Pages of an overflow run holding `len` bytes (at least one).
    pub fn run_pages(&self, len: u64) -> u64 {
        len.div_ceil(self.usable() as u64).max(1)
    }
    /// Byte offset of a page.
    pub fn offset(&self, page: u32) -> u64 {
        u64::from(page) * self.page_size as u64
    }
}

impl Node {
    /// An empty leaf written by `gen`.
    pub fn empty_leaf(gen: u64) -> Node {
        Node::new(gen, 0, Body::Leaf(Vec::new()))
    }

    /// A node with its size computed.
    pub fn new(gen: u64, level: u8, body: Body) -> Node {
        let mut n = Node {
            gen,
            level,
            body,
            size: 0,
            index: None,
        };
        n.recompute_size();
        n
    }

    /// Builds the search index (for a node about to be cached).
    pub fn build_index(&mut self) {
        self.index = Some(match &self.body {
            Body::Leaf(e) => e.iter().map(|x| prefix(&x.key)).collect(),
            Body::Branch { seps, .. } => seps.iter().map(|s| prefix(&s.key)).collect(),
        });
    }

    fn key_at(&self, i: usize) -> &[u8] {
        match &self.body {
            Body::Leaf(e) => &e[i].key,
            Body::Branch { seps, .. } => &seps[i].key,
        }
    }

    fn key_count(&self) -> usize {
        match &self.body {
            Body::Leaf(e) => e.len(),
            Body::Branch { seps, .. } => seps.len(),
        }
    }

    /// The first index whose key is `> key` (`upper`) or `>= key`.
    pub fn bound(&self, key: &[u8], upper: bool) -> usize {
        let (mut lo, mut hi) = (0, self.key_count());
        if let Some(ix) = self.index.as_deref().filter(|ix| ix.len() == hi) {
            // Keys with a smaller prefix are smaller than `key`, larger ones larger: only the
            // run with an equal prefix needs comparing in full.
            let p = prefix(key);
            lo = ix.partition_point(|x| *x < p);
            hi = lo + ix[lo..].partition_point(|x| *x == p);
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let k = self.key_at(mid);
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
        if i < self.key_count() && self.key_at(i) == key {
            Ok(i)
        } else {
            Err(i)
        }
    }

    /// Branch: the child that holds `key`.
    pub fn child_index(&self, key: &[u8]) -> usize {
        self.bound(key, true)
    }

    /// Number of entries (leaf) or children (branch).
    pub fn len(&self) -> usize {
        match &self.body {
            Body::Leaf(e) => e.len(),
            Body::Branch { children, .. } => children.len(),
        }
    }

    /// True for a leaf without entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Recomputes `size` from the contents (after a change, which also voids the index).
    pub fn recompute_size(&mut self) {
        self.index = None;
        self.size = match &self.body {
            Body::Leaf(e) => e.iter().map(entry_size).sum(),
            Body::Branch { seps, .. } => REF_LEN + seps.iter().map(sep_size).sum::<usize>(),
        };
    }

    /// Approximate memory the decoded node holds (for the buffer pool's budget).
    pub fn mem_cost(&self, page_size: usize) -> usize {
        let spilled: usize = match &self.body {
            Body::Leaf(e) => e
                .iter()
                .filter(|x| x.key_spill.is_some())
                .map(|x| x.key.len())
                .sum(),
            Body::Branch { seps, .. } => seps
                .iter()
                .filter(|s| s.spill.is_some())
                .map(|s| s.key.len())
                .sum(),
        };
        page_size + self.len() * 72 + spilled + 96
    }
}

/// Writes the checksum of a full page image for `page_no`.
pub fn seal(page: &mut [u8], page_no: u32) {
    let sum = checksum32(&[&u64::from(page_no).to_le_bytes(), &page[4..]]);
    page[..4].copy_from_slice(&sum.to_le_bytes());
}

/// The parsed common header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Page kind.
    pub kind: u8,
    /// Node level.
    pub level: u8,
    /// Entry count.
    pub count: u16,
    /// Writer's transaction id.
    pub gen: u64,
    /// Chain link (free-list pages).
    pub link: PageRef,
    /// Body bytes used.
    pub body_len: usize,
}

/// Writes a header into the first 32 bytes of `page`.
pub fn put_header(page: &mut [u8], h: &Header) {
    page[4] = h.kind;
    page[5] = h.level;
    page[6..8].copy_from_slice(&h.count.to_le_bytes());
    page[8..16].copy_from_slice(&h.gen.to_le_bytes());
    page[16..20].copy_from_slice(&h.link.page.to_le_bytes());
    page[20..24].copy_from_slice(&(h.body_len as u32).to_le_bytes());
    page[24..32].copy_from_slice(&h.link.gen.to_le_bytes());
}

/// Where an error points: the file and the page's byte offset.
#[derive(Clone, Copy)]
pub struct Loc<'a> {
    /// The page file.
    pub path: &'a Path,
    /// The page number.
    pub page: u32,
    /// Its byte offset.
    pub offset: u64,
}

impl Loc<'_> {
    /// A corruption error at `at` bytes into this page.
    pub fn err(&self, at: usize, reason: impl std::fmt::Display) -> Error {
        Error::corruption(
            self.path,
            self.offset + at as u64,
            format!("page {}: {reason}", self.page),
        )
    }
}

/// Verifies the checksum of a full page and parses its header, checking the kind and the gen
/// the referrer expects.
pub fn check_page(page: &[u8], loc: Loc<'_>, kind: u8, gen: u64) -> Result<Header> {
    if page.len() < HEADER_LEN {
        return Err(loc.err(0, "short page"));
    }
    let stored = u32::from_le_bytes([page[0], page[1], page[2], page[3]]);
    let sum = checksum32(&[&u64::from(loc.page).to_le_bytes(), &page[4..]]);
    if stored != sum {
        return Err(loc.err(0, format!("checksum mismatch ({stored:#x} != {sum:#x})")));
    }
    let mut h = &page[4..HEADER_LEN];
    let parse = |h: &mut &[u8]| -> Option<Header> {
        let kind = get_u8(h)?;
        let level = get_u8(h)?;
        let count = u16::from_le_bytes([get_u8(h)?, get_u8(h)?]);
        let gen = get_u64(h)?;
        let link_page = get_u32(h)?;
        let body_len = get_u32(h)? as usize;
        let link_gen = get_u64(h)?;
        Some(Header {
            kind,
            level,
            count,
            gen,
            link: PageRef {
                page: link_page,
                gen: link_gen,
            },
            body_len,
        })
    };
    let Some(hdr) = parse(&mut h) else {
        return Err(loc.err(4, "truncated header"));
    };
    if hdr.kind != kind {
        return Err(loc.err(4, format!("kind {} where {kind} was expected", hdr.kind)));
    }
    if hdr.gen != gen {
        return Err(loc.err(
            8,
            format!(
                "written by transaction {} but its referrer expects {gen} (stale or misplaced page)",
                hdr.gen
            ),
        ));
    }
    if hdr.body_len > page.len() - HEADER_LEN {
        return Err(loc.err(20, format!("body length {} exceeds the page", hdr.body_len)));
    }
    Ok(hdr)
}

fn put_ref(buf: &mut Appender<'_>, r: PageRef) {
    buf.extend_from_slice(&r.page.to_le_bytes());
    buf.extend_from_slice(&r.gen.to_le_bytes());
}

/// Encodes a node into a full page image for `page_no` (checksum included).
#[cfg(test)]
pub fn encode_node(node: &Node, page_no: u32, geo: Geometry) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(geo.page_size);
    encode_node_into(node, page_no, geo, &mut buf)?;
    Ok(buf)
}

/// Appends the full page image of a node for `page_no` to `out` (exactly `page_size` bytes).
pub fn encode_node_into(node: &Node, page_no: u32, geo: Geometry, out: &mut Vec<u8>) -> Result<()> {
    if node.size > geo.usable() {
        return Err(Error::InvalidArgument(format!(
            "internal error: node of {} bytes does not fit a page",
            node.size
        )));
    }
    let start = out.len();
    out.resize(start + HEADER_LEN, 0);
    let mut buf = Appender { out, start };
    let (kind, count) = match &node.body {
        Body::Leaf(entries) => {
            for e in entries {
                let mut flags = 0;
                if e.key_spill.is_some() {
                    flags |= FLAG_KEY_SPILLED;
                }
                if matches!(e.val, Val::Spilled { .. }) {
                    flags |= FLAG_VAL_SPILLED;
                }
                buf.push(flags);
                put_varint(buf.out, e.key.len() as u64);
                match e.key_spill {
                    Some(r) => put_ref(&mut buf, r),
                    None => buf.extend_from_slice(&e.key),
                }
                match &e.val {
                    Val::Inline(v) => {
                        put_varint(buf.out, v.len() as u64);
                        buf.extend_from_slice(v);
                    }
                    Val::Spilled { at, len } => {
                        put_varint(buf.out, *len);
                        put_ref(&mut buf, *at);
                    }
                }
            }
            (KIND_LEAF, entries.len())
        }
        Body::Branch { seps, children } => {
            if children.len() != seps.len() + 1 {
                return Err(Error::InvalidArgument(
                    "internal error: branch children do not match separators".into(),
                ));
            }
            put_ref(&mut buf, children[0]);
            for (s, c) in seps.iter().zip(&children[1..]) {
                buf.push(if s.spill.is_some() {
                    FLAG_KEY_SPILLED
                } else {
                    0
                });
                put_varint(buf.out, s.key.len() as u64);
                match s.spill {
                    Some(r) => put_ref(&mut buf, r),
                    None => buf.extend_from_slice(&s.key),
                }
                put_ref(&mut buf, *c);
            }
            (KIND_BRANCH, seps.len())
        }
    };
    let body_len = buf.len() - HEADER_LEN;
    if body_len != node.size || count > usize::from(u16::MAX) {
        buf.out.truncate(start);
        return Err(Error::InvalidArgument(format!(
            "internal error: node size {} but {body_len} bytes encoded",
            node.size
        )));
    }
    buf.out.resize(start + geo.page_size, 0);
    let page = &mut buf.out[start..];
    put_header(
        page,
        &Header {
            kind,
            level: node.level,
            count: count as u16,
            gen: node.gen,
            link: PageRef::default(),
            body_len,
        },
    );
    seal(page, page_no);
    Ok(())
}

/// Appends to the tail of a shared buffer; `len` counts from the page's start.
struct Appender<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
}

impl Appender<'_> {
    fn len(&self) -> usize {
        self.out.len() - self.start
    }
    fn push(&mut self, b: u8) {
        self.out.push(b);
    }
    fn extend_from_slice(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }
}

/// Reads a spilled key of `len` bytes from the run at a reference (supplied by the pager).
pub type SpillLoader<'a> = dyn FnMut(PageRef, u64) -> Result<Bytes> + 'a;

/// Decodes a node page that must be `expect` (page and gen) at `level`. `page` is the full page
/// image; inline keys and values are zero-copy slices of it.
pub fn decode_node(
    page: &Bytes,
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
    let body = page.slice(HEADER_LEN..HEADER_LEN + hdr.body_len);
    let mut d = Decoder {
        body: &body,
        pos: 0,
        loc,
        max_key,
    };
    let count = usize::from(hdr.count);
    let node_body = if level == 0 {
        let mut entries: Vec<Entry> = Vec::with_capacity(count);
        for i in 0..count {
            let at = d.pos;
            let flags = d.u8()?;
            if flags & !(FLAG_KEY_SPILLED | FLAG_VAL_SPILLED) != 0 {
                return Err(d.err(at, format!("entry {i} has unknown flags {flags:#x}")));
            }
            let (key, key_spill) = d.key(flags & FLAG_KEY_SPILLED != 0, load)?;
            let vlen = d.varint()?;
            let val = if flags & FLAG_VAL_SPILLED != 0 {
                Val::Spilled {
                    at: d.page_ref()?,
                    len: vlen,
                }
            } else {
                Val::Inline(d.bytes(vlen)?)
            };
            if let Some(prev) = entries.last() {
                if prev.key >= key {
                    return Err(d.err(at, format!("entry {i} is not above its predecessor")));
                }
            }
            entries.push(Entry {
                key,
                key_spill,
                val,
            });
        }
        Body::Leaf(entries)
    } else {
        let mut children = Vec::with_capacity(count + 1);
        let mut seps: Vec<Sep> = Vec::with_capacity(count);
        children.push(d.page_ref()?);
        for i in 0..count {
            let at = d.pos;
            let flags = d.u8()?;
            if flags & !FLAG_KEY_SPILLED != 0 {
                return Err(d.err(at, format!("separator {i} has unknown flags {flags:#x}")));
            }
            let (key, spill) = d.key(flags & FLAG_KEY_SPILLED != 0, load)?;
            if let Some(prev) = seps.last() {
                if prev.key >= key {
                    return Err(d.err(at, format!("separator {i} is not above its predecessor")));
                }
            }
            seps.push(Sep { key, spill });
            children.push(d.page_ref()?);
        }
        Body::Branch { seps, children }
    };
    if d.pos != body.len() {
        return Err(d.err(d.pos, "bytes after the last entry"));
    }
    let mut node = Node {
        gen,
        level,
        body: node_body,
        size: hdr.body_len,
        index: None,
    };
    node.build_index();
    Ok(node)
}

struct Decoder<'a> {
    body: &'a Bytes,
    pos: usize,
    loc: Loc<'a>,
    max_key: usize,
}

impl Decoder<'_> {
    fn err(&self, at: usize, reason: impl std::fmt::Display) -> Error {
        self.loc.err(HEADER_LEN + at, reason)
    }
    fn rest(&self) -> &[u8] {
        &self.body[self.pos..]
    }
    fn u8(&mut self) -> Result<u8> {
        let b = *self
            .rest()
            .first()
            .ok_or_else(|| self.err(self.pos, "truncated entry"))?;
        self.pos += 1;
        Ok(b)
    }
    fn varint(&mut self) -> Result<u64> {
        let mut r = self.rest();
        let before = r.len();
        let v = get_varint(&mut r).ok_or_else(|| self.err(self.pos, "bad varint"))?;
        self.pos += before - r.len();
        Ok(v)
    }
    fn bytes(&mut self, n: u64) -> Result<Bytes> {
        let n = usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.rest().len())
            .ok_or_else(|| self.err(self.pos, format!("length {n} runs past the body")))?;
        let b = self.body.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(b)
    }
    fn page_ref(&mut self) -> Result<PageRef> {
        let mut r = self.rest();
        let page = get_u32(&mut r).ok_or_else(|| self.err(self.pos, "truncated reference"))?;
        let gen = get_u64(&mut r).ok_or_else(|| self.err(self.pos, "truncated reference"))?;
        if page < super::meta::META_PAGES {
            return Err(self.err(self.pos, format!("reference to meta page {page}")));
        }
        self.pos += REF_LEN;
        Ok(PageRef { page, gen })
    }
    fn key(
        &mut self,
        spilled: bool,
        load: &mut SpillLoader<'_>,
    ) -> Result<(Bytes, Option<PageRef>)> {
        let at = self.pos;
        let len = self.varint()?;
        if len > self.max_key as u64 {
            return Err(self.err(at, format!("key of {len} bytes exceeds the limit")));
        }
        if spilled {
            let r = self.page_ref()?;
            Ok((load(r, len)?, Some(r)))
        } else {
            Ok((self.bytes(len)?, None))
        }
    }
}

/// Encodes an overflow run for `data` starting at page `first`, written by `gen`.
pub fn encode_run(data: &[u8], first: u32, gen: u64, geo: Geometry) -> Vec<u8> {
    let n = geo.run_pages(data.len() as u64) as usize;
    let mut out = vec![0u8; n * geo.page_size];
    let mut chunks = data.chunks(geo.usable());
    for (i, page) in out.chunks_mut(geo.page_size).enumerate() {
        let chunk = chunks.next().unwrap_or(&[]);
        page[HEADER_LEN..HEADER_LEN + chunk.len()].copy_from_slice(chunk);
        put_header(
            page,
            &Header {
                kind: KIND_OVERFLOW,
                level: 0,
                count: 0,
                gen,
                link: PageRef::default(),
                body_len: chunk.len(),
            },
        );
        seal(page, first + i as u32);
    }
    out
}

/// Checks an overflow run read from disk and returns its `len` payload bytes.
pub fn decode_run(
    raw: &[u8],
    at: PageRef,
    len: u64,
    geo: Geometry,
    path: &Path,
) -> Result<Vec<u8>> {
    let n = geo.run_pages(len) as usize;
    if raw.len() != n * geo.page_size {
        return Err(Error::corruption(
            path,
            geo.offset(at.page),
            format!("overflow run at page {} is short", at.page),
        ));
    }
    let mut out = Vec::with_capacity(len as usize);
    for (i, page) in raw.chunks(geo.page_size).enumerate() {
        let page_no = at.page + i as u32;
        let loc = Loc {
            path,
            page: page_no,
            offset: geo.offset(page_no),
        };
        let h = check_page(page, loc, KIND_OVERFLOW, at.gen)?;
        let want = (len as usize - out.len()).min(geo.usable());
        if h.body_len != want {
            return Err(loc.err(
                20,
                format!("overflow page holds {} bytes, expected {want}", h.body_len),
            ));
        }
        out.extend_from_slice(&page[HEADER_LEN..HEADER_LEN + want]);
    }
    Ok(out)
}
