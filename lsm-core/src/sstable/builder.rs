//! Writes a table, front to back, in one pass (grammar in [`format`](super::format)).
//!
//! Data blocks are cut once their estimated size reaches `block_size`; an entry at least
//! `block_size` long is given a block of its own, so one huge value never drags its neighbours
//! into a giant block. After the last data block come the filter, the range tombstones
//! (sorted at `finish`, since callers may add them in any order), the properties, the index and
//! the footer; then the file is synced. The index block is compressed *before* the properties
//! are written because the properties record its on-disk size.
//!
//! After any error the builder's file is in an unknown state: the caller abandons it.

use std::cmp::Ordering;

use crate::error::{Error, Result};
use crate::fs::WritableFile;
use crate::key::{compare_internal, internal_key, parse_internal_key, user_key};
use crate::types::{SeqNo, ValueKind};

use super::block_builder::BlockBuilder;
use super::bloom::BloomBuilder;
use super::format::{
    block_trailer, compress_block, BlockHandle, Compression, Footer, BLOCK_TRAILER_LEN,
    FORMAT_VERSION,
};
use super::properties::TableProperties;

/// Largest entry (key + value) accepted: restart offsets inside a block are u32.
const MAX_ENTRY_LEN: usize = (u32::MAX as usize) / 2;

/// How tables are built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableOptions {
    /// Target uncompressed size of a data block (default 4096).
    pub block_size: usize,
    /// Entries between restart points in data blocks (default 16).
    pub restart_interval: usize,
    /// Compression of data, index, range-del and properties blocks (default Zstd).
    pub compression: Compression,
    /// Zstd level (default 1).
    pub zstd_level: i32,
    /// Bloom filter bits per distinct user key (default 10; 0 = no filter).
    pub bloom_bits_per_key: u32,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            block_size: 4096,
            restart_interval: 16,
            compression: Compression::default(),
            zstd_level: 1,
            bloom_bits_per_key: 10,
        }
    }
}

/// The file and where the next block goes.
struct BlockWriter {
    file: Box<dyn WritableFile>,
    offset: u64,
    compressed: Vec<u8>,
}

impl BlockWriter {
    /// Writes `payload` as already chosen (compressed or not) with its trailer.
    fn write_raw(&mut self, payload: &[u8], c: Compression) -> Result<BlockHandle> {
        let trailer = block_trailer(payload, c);
        self.file.append(payload)?;
        self.file.append(&trailer)?;
        let handle = BlockHandle {
            offset: self.offset,
            size: payload.len() as u64,
        };
        self.offset += (payload.len() + BLOCK_TRAILER_LEN) as u64;
        Ok(handle)
    }

    /// Compresses `raw` if worthwhile and writes it.
    fn write_block(&mut self, raw: &[u8], c: Compression, level: i32) -> Result<BlockHandle> {
        let mut buf = std::mem::take(&mut self.compressed);
        let used = compress_block(raw, c, level, &mut buf);
        let r = match used {
            Compression::None => self.write_raw(raw, used),
            Compression::Zstd => self.write_raw(&buf, used),
        };
        self.compressed = buf;
        r
    }
}

/// Builds one table file. Keys must arrive in strictly increasing internal-key order.
pub struct TableBuilder {
    w: BlockWriter,
    opts: TableOptions,
    data_block: BlockBuilder,
    index_block: BlockBuilder,
    bloom: Option<BloomBuilder>,
    /// `(internal key (start, seq, RangeDelete), end user key)`.
    range_dels: Vec<(Vec<u8>, Vec<u8>)>,
    last_key: Vec<u8>,
    props: TableProperties,
    handle_buf: Vec<u8>,
}

impl TableBuilder {
    /// Starts a table in `file` (normally freshly created and empty).
    pub fn new(file: Box<dyn WritableFile>, opts: TableOptions) -> Self {
        let offset = file.len();
        TableBuilder {
            w: BlockWriter {
                file,
                offset,
                compressed: Vec::new(),
            },
            data_block: BlockBuilder::new(opts.restart_interval),
            index_block: BlockBuilder::new(1),
            bloom: (opts.bloom_bits_per_key > 0)
                .then(|| BloomBuilder::new(opts.bloom_bits_per_key)),
            opts,
            range_dels: Vec::new(),
            last_key: Vec::new(),
            props: TableProperties::default(),
            handle_buf: Vec::new(),
        }
    }

    fn note_seq(&mut self, seq: SeqNo) {
        let first = self.props.num_entries + self.props.num_range_deletions == 0;
        if first || seq < self.props.smallest_seq {
            self.props.smallest_seq = seq;
        }
        if first || seq > self.props.largest_seq {
            self.props.largest_seq = seq;
        }
    }

    /// Adds a point entry. `ikey` must be a well-formed internal key greater than the previous
    /// point key. An entry of kind `RangeDelete` (as a memtable holds them: start key → end key)
    /// is passed to [`add_range_tombstone`](Self::add_range_tombstone) instead, so a flush can
    /// feed a memtable's entries straight in; it takes no part in the order check.
    pub fn add(&mut self, ikey: &[u8], value: &[u8]) -> Result<()> {
        let parsed = parse_internal_key(ikey)
            .ok_or_else(|| Error::InvalidArgument("malformed internal key".into()))?;
        if parsed.kind == ValueKind::RangeDelete {
            return self.add_range_tombstone(parsed.user_key, value, parsed.seq);
        }
        if self.props.num_entries > 0 && compare_internal(&self.last_key, ikey) != Ordering::Less {
            return Err(Error::InvalidArgument(
                "table keys must be added in strictly increasing order".into(),
            ));
        }
        let bound = BlockBuilder::entry_size_bound(ikey, value);
        if bound > MAX_ENTRY_LEN {
            return Err(Error::InvalidArgument(format!(
                "table entry of {bound} bytes is too large"
            )));
        }
        if !self.data_block.is_empty()
            && (bound >= self.opts.block_size
                || self.data_block.estimated_size() + bound > MAX_ENTRY_LEN)
        {
            self.flush_data_block()?;
        }

        if let Some(bloom) = &mut self.bloom {
            if self.props.num_entries == 0 || user_key(&self.last_key) != parsed.user_key {
                bloom.add_key(parsed.user_key);
            }
        }
        self.note_seq(parsed.seq);
        let p = &mut self.props;
        if p.num_entries == 0 {
            p.smallest_key = ikey.to_vec();
        }
        p.num_entries += 1;
        if parsed.kind == ValueKind::Delete {
            p.num_deletions += 1;
        }
        p.raw_key_size += ikey.len() as u64;
        p.raw_value_size += value.len() as u64;
        self.last_key.clear();
        self.last_key.extend_from_slice(ikey);

        self.data_block.add(ikey, value);
        if self.data_block.estimated_size() >= self.opts.block_size {
            self.flush_data_block()?;
        }
        Ok(())
    }

    /// Records the range tombstone `[start, end)` at `seq`. Any order; `start < end` required.
    pub fn add_range_tombstone(&mut self, start: &[u8], end: &[u8], seq: SeqNo) -> Result<()> {
        if start >= end {
            return Err(Error::InvalidArgument(
                "range tombstone needs start < end".into(),
            ));
        }
        if seq > SeqNo::MAX {
            return Err(Error::InvalidArgument(format!(
                "sequence number {seq} too large"
            )));
        }
        self.note_seq(seq);
        self.props.num_range_deletions += 1;
        self.range_dels.push((
            internal_key(start, seq, ValueKind::RangeDelete),
            end.to_vec(),
        ));
        Ok(())
    }

    fn flush_data_block(&mut self) -> Result<()> {
        if self.data_block.is_empty() {
            return Ok(());
        }
        let handle = self.w.write_block(
            self.data_block.finish(),
            self.opts.compression,
            self.opts.zstd_level,
        )?;
        self.props.data_size += handle.size + BLOCK_TRAILER_LEN as u64;
        self.handle_buf.clear();
        handle.encode_to(&mut self.handle_buf);
        self.index_block
            .add(self.data_block.last_key(), &self.handle_buf);
        self.data_block.reset();
        Ok(())
    }

    /// Point entries added so far.
    pub fn num_entries(&self) -> u64 {
        self.props.num_entries
    }

    /// Roughly the file size if finished now.
    pub fn estimated_size(&self) -> u64 {
        let filter = self.bloom.as_ref().map_or(0, |b| b.estimated_size());
        let dels: usize = self.range_dels.iter().map(|(k, v)| k.len() + v.len()).sum();
        self.w.offset
            + (self.data_block.estimated_size() + self.index_block.estimated_size() + filter + dels)
                as u64
    }

    /// Writes the meta blocks and the footer, syncs the file, and returns the properties.
    pub fn finish(mut self) -> Result<TableProperties> {
        self.flush_data_block()?;
        let (c, level) = (self.opts.compression, self.opts.zstd_level);

        let mut filter = None;
        if let Some(bloom) = self.bloom.as_ref().filter(|b| b.num_keys() > 0) {
            // Bloom bits do not compress.
            let h = self.w.write_raw(&bloom.finish(), Compression::None)?;
            self.props.filter_size = h.size + BLOCK_TRAILER_LEN as u64;
            filter = Some(h);
        }

        let mut range_del = None;
        if !self.range_dels.is_empty() {
            self.range_dels
                .sort_by(|a, b| compare_internal(&a.0, &b.0).then_with(|| a.1.cmp(&b.1)));
            let mut b = BlockBuilder::new(self.opts.restart_interval);
            for (k, end) in &self.range_dels {
                b.add(k, end);
            }
            range_del = Some(self.w.write_block(b.finish(), c, level)?);
        }

        self.widen_bounds_for_range_tombstones();

        // The properties record the index's on-disk size, so compress the index first.
        let index_raw = self.index_block.finish();
        let mut index_buf = Vec::new();
        let index_c = compress_block(index_raw, c, level, &mut index_buf);
        let index_payload: &[u8] = match index_c {
            Compression::None => index_raw,
            Compression::Zstd => &index_buf,
        };
        self.props.index_size = (index_payload.len() + BLOCK_TRAILER_LEN) as u64;

        let props_raw = self.props.encode(FORMAT_VERSION);
        let properties = self.w.write_block(&props_raw, c, level)?;
        let index = self.w.write_raw(index_payload, index_c)?;

        let footer = Footer {
            index,
            filter,
            properties,
            range_del,
            format_version: FORMAT_VERSION,
        };
        self.w.file.append(&footer.encode()?)?;
        self.w.offset += super::format::FOOTER_LEN as u64;
        self.w.file.sync()?;
        self.props.file_size = self.w.offset;
        Ok(self.props)
    }

    fn widen_bounds_for_range_tombstones(&mut self) {
        let mut smallest = std::mem::take(&mut self.props.smallest_key);
        let mut largest = if self.props.num_entries > 0 {
            self.last_key.clone()
        } else {
            Vec::new()
        };
        for (start_ikey, end) in &self.range_dels {
            if smallest.is_empty() || compare_internal(start_ikey, &smallest) == Ordering::Less {
                smallest = start_ikey.clone();
            }
            let end_ikey = internal_key(end, SeqNo::MAX, ValueKind::RangeDelete);
            if largest.is_empty() || compare_internal(&end_ikey, &largest) == Ordering::Greater {
                largest = end_ikey;
            }
        }
        self.props.smallest_key = smallest;
        self.props.largest_key = largest;
    }

    /// Drops the builder without writing the meta blocks; the caller removes the file.
    pub fn abandon(self) {}
}
