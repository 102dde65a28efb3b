//! Reading a table: [`Table`] (footer, index, filter, properties and range tombstones held in
//! memory) and [`TableIterator`], a two-level cursor (index entry → data block).
//!
//! Every block is checked against its checksum before use and every handle against the file's
//! bounds; anything that does not fit is `Error::Corruption` naming the table path and the
//! offset of the block. Data blocks go through the optional shared [`BlockCache`].

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::fs::RandomAccessFile;
use crate::iter::InternalIterator;
use crate::key::{compare_internal, lookup_key, parse_internal_key};
use crate::types::{FileNumber, SeqNo, ValueKind};

use super::block::{Block, BlockIter};
use super::bloom::BloomFilter;
use super::cache::BlockCache;
use super::format::{unwrap_block_at, BlockHandle, Footer, BLOCK_TRAILER_LEN, FOOTER_LEN};
use super::properties::TableProperties;

/// A range tombstone: `(start user key, end user key (exclusive), seq)`.
pub type RangeTombstone = (Vec<u8>, Vec<u8>, SeqNo);

/// An open table.
pub struct Table {
    file: Arc<dyn RandomAccessFile>,
    path: PathBuf,
    number: FileNumber,
    cache: Option<Arc<BlockCache>>,
    /// Where the first meta block starts: every data block must end at or before it.
    data_end: u64,
    footer: Footer,
    index: Block,
    filter: Option<BloomFilter>,
    props: TableProperties,
    range_dels: Vec<RangeTombstone>,
    /// The range-del block (kept for [`Table::range_del_iter`]).
    range_del_block: Option<Block>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("path", &self.path)
            .field("number", &self.number)
            .field("props", &self.props)
            .finish_non_exhaustive()
    }
}

impl Table {
    /// Opens a table: reads and verifies the footer, index, filter, properties and range
    /// tombstones. A bad magic number or damaged bytes are `Corruption`; a newer format
    /// version is `UnsupportedVersion`.
    pub fn open(
        file: Arc<dyn RandomAccessFile>,
        number: FileNumber,
        cache: Option<Arc<BlockCache>>,
    ) -> Result<Arc<Table>> {
        let path = file.path().to_path_buf();
        let len = file.len();
        let Some(footer_offset) = len.checked_sub(FOOTER_LEN as u64) else {
            return Err(Error::corruption(&path, 0, "file too short to be a table"));
        };
        let raw = file.read_at(footer_offset, FOOTER_LEN)?;
        let footer = Footer::decode_at(&raw, &path, footer_offset)?;

        let read = |h: BlockHandle| read_payload(&*file, &path, footer_offset, h);
        let index = Block::decode_at(read(footer.index)?, &path, footer.index.offset)?;
        // Data blocks come before every meta block.
        let data_end = [footer.filter, footer.range_del, Some(footer.properties)]
            .into_iter()
            .flatten()
            .fold(footer.index.offset, |m, h| m.min(h.offset));
        check_index(&index, &path, footer.index.offset, data_end)?;
        let filter = match footer.filter {
            Some(h) => Some(BloomFilter::decode_at(read(h)?, &path, h.offset)?),
            None => None,
        };
        let pblock = Block::decode_at(read(footer.properties)?, &path, footer.properties.offset)?;
        let (mut props, version) =
            TableProperties::decode_at(&pblock, &path, footer.properties.offset)?;
        if version != footer.format_version {
            return Err(Error::corruption(
                &path,
                footer.properties.offset,
                "properties and footer disagree on the format version",
            ));
        }
        props.file_size = len;
        let (range_dels, range_del_block) = match footer.range_del {
            Some(h) => {
                let block = Block::decode_at(read(h)?, &path, h.offset)?;
                (decode_range_dels(&block, &path, h)?, Some(block))
            }
            None => (Vec::new(), None),
        };
        Ok(Arc::new(Table {
            file,
            path,
            number,
            cache,
            data_end,
            footer,
            index,
            filter,
            props,
            range_dels,
            range_del_block,
        }))
    }

    /// The table's file number.
    pub fn number(&self) -> FileNumber {
        self.number
    }

    /// The table's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The properties recorded when the table was built (`file_size` is the file's length).
    pub fn properties(&self) -> &TableProperties {
        &self.props
    }

    /// The format version the table was written with.
    pub fn format_version(&self) -> u32 {
        self.footer.format_version
    }

    /// False only if no version of `user_key` is in the table (bloom filter); true without one.
    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        self.filter.as_ref().is_none_or(|f| f.may_contain(user_key))
    }

    /// The newest entry for `user_key` with `seq <= snapshot`, tombstones included. Range
    /// tombstones are not applied here (see [`range_tombstones`](Self::range_tombstones)).
    pub fn get(
        &self,
        user_key: &[u8],
        snapshot: SeqNo,
    ) -> Result<Option<(ValueKind, SeqNo, Bytes)>> {
        if !self.may_contain(user_key) {
            return Ok(None);
        }
        self.get_unfiltered(user_key, snapshot)
    }

    /// [`get`](Self::get) for a caller that already asked [`may_contain`](Self::may_contain)
    /// (so the key is hashed once).
    pub fn get_unfiltered(
        &self,
        user_key: &[u8],
        snapshot: SeqNo,
    ) -> Result<Option<(ValueKind, SeqNo, Bytes)>> {
        let target = lookup_key(user_key, snapshot.min(SeqNo::MAX));
        let mut idx = self.index.iter();
        idx.seek(&target);
        if !idx.valid() {
            return self.check_index(&idx).map(|_| None);
        }
        let handle = self.index_handle(&idx)?;
        let block = self.read_data_block(handle)?;
        let mut it = block.iter();
        it.seek(&target);
        if !it.valid() {
            if it.is_corrupt() {
                return Err(self.block_corruption(handle.offset));
            }
            return Ok(None);
        }
        let p = parse_internal_key(it.key()).ok_or_else(|| {
            Error::corruption(
                &self.path,
                handle.offset,
                "malformed internal key in data block",
            )
        })?;
        if p.user_key != user_key {
            return Ok(None);
        }
        Ok(Some((p.kind, p.seq, it.value_bytes())))
    }

    /// Every range tombstone in the table, sorted by (start, seq descending).
    pub fn range_tombstones(&self) -> Result<Vec<RangeTombstone>> {
        Ok(self.range_dels.clone())
    }

    /// [`range_tombstones`](Self::range_tombstones) without the copy.
    pub fn range_tombstone_slice(&self) -> &[RangeTombstone] {
        &self.range_dels
    }

    /// A cursor over the range tombstones as internal entries, the way a memtable holds them:
    /// key `(start, seq, RangeDelete)`, value the exclusive end key. Validated at open.
    pub fn range_del_iter(&self) -> RangeDelIterator {
        RangeDelIterator {
            iter: self.range_del_block.as_ref().map(|b| b.iter()),
            path: self.path.clone(),
            offset: self.footer.range_del.map_or(0, |h| h.offset),
        }
    }

    /// A cursor over every point entry.
    pub fn iter(self: &Arc<Self>) -> TableIterator {
        TableIterator {
            table: Arc::clone(self),
            index: self.index.iter(),
            data: None,
            data_offset: 0,
        }
    }

    fn check_index(&self, idx: &BlockIter) -> Result<()> {
        if idx.is_corrupt() {
            return Err(self.block_corruption(self.footer.index.offset));
        }
        Ok(())
    }

    fn index_handle(&self, idx: &BlockIter) -> Result<BlockHandle> {
        BlockHandle::decode(idx.value()).ok_or_else(|| {
            Error::corruption(
                &self.path,
                self.footer.index.offset,
                "bad block handle in index",
            )
        })
    }

    fn block_corruption(&self, offset: u64) -> Error {
        Error::corruption(&self.path, offset, "malformed block entry")
    }

    /// Reads a data block through the cache.
    fn read_data_block(&self, h: BlockHandle) -> Result<Block> {
        if let Some(c) = &self.cache {
            if let Some(b) = c.get(self.number, h.offset) {
                return Ok(b);
            }
        }
        let payload = read_payload(&*self.file, &self.path, self.data_end, h)?;
        let block = Block::decode_at(payload, &self.path, h.offset)?;
        if let Some(c) = &self.cache {
            c.insert(self.number, h.offset, block.clone());
        }
        Ok(block)
    }
}

/// Reads the block at `h`, verifies it and returns its uncompressed payload.
fn read_payload(
    file: &dyn RandomAccessFile,
    path: &Path,
    limit: u64,
    h: BlockHandle,
) -> Result<Bytes> {
    let total = h
        .end()
        .filter(|&end| end <= limit)
        .and_then(|_| usize::try_from(h.size + BLOCK_TRAILER_LEN as u64).ok())
        .ok_or_else(|| Error::corruption(path, h.offset, "block handle points outside the file"))?;
    let raw = file.read_at(h.offset, total)?;
    if raw.len() != total {
        return Err(Error::corruption(path, h.offset, "short block read"));
    }
    unwrap_block_at(raw, path, h.offset)
}

/// Checks once, at open, that the index is what iteration relies on: keys strictly increasing,
/// handles well formed, in file order, not overlapping, and before the first meta block.
fn check_index(index: &Block, path: &Path, offset: u64, limit: u64) -> Result<()> {
    let bad = |reason: &str| Error::corruption(path, offset, reason);
    let mut it = index.iter();
    let mut prev_key: Vec<u8> = Vec::new();
    let mut next_free = 0u64;
    let mut first = true;
    it.seek_to_first();
    while it.valid() {
        if !first && compare_internal(&prev_key, it.key()) != Ordering::Less {
            return Err(bad("index keys out of order"));
        }
        let h = BlockHandle::decode(it.value()).ok_or_else(|| bad("bad block handle in index"))?;
        match h.end() {
            Some(end) if h.offset >= next_free && end <= limit => next_free = end,
            _ => return Err(bad("index block handles overlap or leave the file")),
        }
        prev_key.clear();
        prev_key.extend_from_slice(it.key());
        first = false;
        it.next();
    }
    if it.is_corrupt() {
        return Err(bad("malformed index block"));
    }
    Ok(())
}

fn decode_range_dels(block: &Block, path: &Path, h: BlockHandle) -> Result<Vec<RangeTombstone>> {
    let bad = |reason: &str| Error::corruption(path, h.offset, reason);
    let mut out = Vec::new();
    let mut it = block.iter();
    it.seek_to_first();
    while it.valid() {
        let p = parse_internal_key(it.key())
            .filter(|p| p.kind == ValueKind::RangeDelete)
            .ok_or_else(|| bad("malformed range tombstone key"))?;
        if p.user_key >= it.value() {
            return Err(bad("range tombstone with start >= end"));
        }
        out.push((p.user_key.to_vec(), it.value().to_vec(), p.seq));
        it.next();
    }
    if it.is_corrupt() {
        return Err(bad("malformed range-del block"));
    }
    Ok(out)
}

/// A two-level cursor over a table's point entries.
pub struct TableIterator {
    table: Arc<Table>,
    index: BlockIter,
    data: Option<BlockIter>,
    /// Offset of the block `data` iterates.
    data_offset: u64,
}

impl TableIterator {
    /// Loads the block the index cursor is on (kept if it is already loaded). Leaves `data`
    /// unpositioned; `None` when the index cursor is exhausted.
    fn load_block(&mut self) -> Result<()> {
        if !self.index.valid() {
            self.data = None;
            return self.table.check_index(&self.index);
        }
        let h = self.table.index_handle(&self.index)?;
        if self.data.is_none() || self.data_offset != h.offset {
            self.data = None;
            let block = self.table.read_data_block(h)?;
            self.data = Some(block.iter());
            self.data_offset = h.offset;
        }
        Ok(())
    }

    /// Ok(true) if `data` is on an entry; error if it met a malformed entry.
    fn data_state(&self) -> Result<bool> {
        match &self.data {
            Some(d) if d.valid() => Ok(true),
            Some(d) if d.is_corrupt() => Err(self.table.block_corruption(self.data_offset)),
            _ => Ok(false),
        }
    }

    fn skip_forward(&mut self) -> Result<()> {
        while !self.data_state()? {
            if !self.index.valid() {
                self.data = None;
                return Ok(());
            }
            self.index.next();
            self.load_block()?;
            match &mut self.data {
                Some(d) => d.seek_to_first(),
                None => return Ok(()),
            }
        }
        Ok(())
    }

    fn skip_backward(&mut self) -> Result<()> {
        while !self.data_state()? {
            if !self.index.valid() {
                self.data = None;
                return Ok(());
            }
            self.index.prev();
            self.load_block()?;
            match &mut self.data {
                Some(d) => d.seek_to_last(),
                None => return Ok(()),
            }
        }
        Ok(())
    }

    /// Runs a positioning step; on error the cursor is left invalid.
    fn guard(&mut self, f: impl FnOnce(&mut Self) -> Result<()>) -> Result<()> {
        let r = f(self);
        if r.is_err() {
            self.data = None;
        }
        r
    }
}

impl InternalIterator for TableIterator {
    fn valid(&self) -> bool {
        self.data.as_ref().is_some_and(|d| d.valid())
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.guard(|s| {
            s.index.seek_to_first();
            s.load_block()?;
            if let Some(d) = &mut s.data {
                d.seek_to_first();
            }
            s.skip_forward()
        })
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.guard(|s| {
            s.index.seek_to_last();
            s.load_block()?;
            if let Some(d) = &mut s.data {
                d.seek_to_last();
            }
            s.skip_backward()
        })
    }

    fn seek(&mut self, ikey: &[u8]) -> Result<()> {
        self.guard(|s| {
            // The first block whose last key is >= ikey holds the answer, if any does.
            s.index.seek(ikey);
            s.load_block()?;
            if let Some(d) = &mut s.data {
                d.seek(ikey);
            }
            s.skip_forward()
        })
    }

    fn seek_for_prev(&mut self, ikey: &[u8]) -> Result<()> {
        self.guard(|s| {
            s.index.seek(ikey);
            if !s.index.valid() {
                s.table.check_index(&s.index)?;
                // Every key is < ikey: the answer is the last entry.
                s.index.seek_to_last();
            }
            s.load_block()?;
            if let Some(d) = &mut s.data {
                d.seek_for_prev(ikey);
            }
            s.skip_backward()
        })
    }

    fn next(&mut self) -> Result<()> {
        self.guard(|s| {
            if let Some(d) = &mut s.data {
                d.next();
            }
            s.skip_forward()
        })
    }

    fn prev(&mut self) -> Result<()> {
        self.guard(|s| {
            if let Some(d) = &mut s.data {
                d.prev();
            }
            s.skip_backward()
        })
    }

    fn key(&self) -> &[u8] {
        self.data.as_ref().map_or(&[], |d| d.key())
    }

    fn value(&self) -> &[u8] {
        self.data.as_ref().map_or(&[], |d| d.value())
    }
}

/// An [`InternalIterator`] over a table's range-del block (see [`Table::range_del_iter`]).
pub struct RangeDelIterator {
    iter: Option<BlockIter>,
    path: PathBuf,
    offset: u64,
}

impl RangeDelIterator {
    fn step(&mut self, f: impl FnOnce(&mut BlockIter)) -> Result<()> {
        let Some(it) = &mut self.iter else {
            return Ok(());
        };
        f(it);
        if it.is_corrupt() {
            return Err(Error::corruption(
                &self.path,
                self.offset,
                "malformed block entry",
            ));
        }
        Ok(())
    }
}

impl InternalIterator for RangeDelIterator {
    fn valid(&self) -> bool {
        self.iter.as_ref().is_some_and(|i| i.valid())
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.step(|i| i.seek_to_first())
    }
    fn seek_to_last(&mut self) -> Result<()> {
        self.step(|i| i.seek_to_last())
    }
    fn seek(&mut self, ikey: &[u8]) -> Result<()> {
        self.step(|i| i.seek(ikey))
    }
    fn seek_for_prev(&mut self, ikey: &[u8]) -> Result<()> {
        self.step(|i| i.seek_for_prev(ikey))
    }
    fn next(&mut self) -> Result<()> {
        self.step(|i| i.next())
    }
    fn prev(&mut self) -> Result<()> {
        self.step(|i| i.prev())
    }
    fn key(&self) -> &[u8] {
        self.iter.as_ref().map_or(&[], |i| i.key())
    }
    fn value(&self) -> &[u8] {
        self.iter.as_ref().map_or(&[], |i| i.value())
    }
}
