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

use crate::error::{Error, Result};
use crate::util::checksum::checksum32;
use crate::util::coding::{get_u32, get_u64, get_u8};

/// Bytes of the common page header.
pub const HEADER_LEN: usize = 32;
/// Smallest page size accepted.
pub const MIN_PAGE_SIZE: usize = 512;
/// Largest page size accepted.
pub const MAX_PAGE_SIZE: usize = 16 << 10;

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

/// A page number plus the generation its header must carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageRef {
    /// Page number (0 means "none" where a reference is optional: page 0 is a meta page).
    pub page: u32,
    /// Transaction id that wrote it.
    pub gen: u64,
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
