//! Table properties: counts and bounds recorded in each table's properties block.
//!
//! ```text
//! properties block := a block (block_builder.rs grammar) of entries name -> value, names sorted
//!                     bytewise, each name exactly once:
//!   data_size            varint u64   on-disk bytes of all data blocks, trailers included
//!   filter_size          varint u64   on-disk bytes of the filter block (0 if none)
//!   format_version       varint u32   the table format version (equals the footer's)
//!   index_size           varint u64   on-disk bytes of the index block
//!   largest_key          bytes        largest internal key (see below), empty if no entries
//!   largest_seq          varint u64
//!   num_deletions        varint u64   point tombstones (ValueKind::Delete)
//!   num_entries          varint u64   point entries (data-block entries)
//!   num_range_deletions  varint u64
//!   raw_key_size         varint u64   sum of point internal-key lengths
//!   raw_value_size       varint u64   sum of point value lengths
//!   smallest_key         bytes        smallest internal key, empty if no entries
//!   smallest_seq         varint u64
//! ```
//!
//! Unknown names are ignored (a later version may add some); a missing or repeated known name is
//! corruption. `file_size` is not stored: it is the file's length.
//!
//! Key bounds cover range tombstones too: a tombstone `[start, end)` at `seq` counts as the
//! internal keys `(start, seq, RangeDelete)` and `(end, SeqNo::MAX, RangeDelete)`. The second
//! sorts before every real version of `end` (its end is exclusive), so two tables whose bounds
//! do not overlap in internal order never cover the same entries.

use std::path::Path;

use crate::error::{Error, Result};
use crate::types::SeqNo;
use crate::util::coding::{get_varint, put_varint};

use super::block::Block;
use super::block_builder::BlockBuilder;

/// What a table holds, recorded when it was built.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableProperties {
    /// Point entries.
    pub num_entries: u64,
    /// Point tombstones.
    pub num_deletions: u64,
    /// Range tombstones.
    pub num_range_deletions: u64,
    /// Sum of point internal-key lengths.
    pub raw_key_size: u64,
    /// Sum of point value lengths.
    pub raw_value_size: u64,
    /// On-disk bytes of the data blocks.
    pub data_size: u64,
    /// On-disk bytes of the index block.
    pub index_size: u64,
    /// On-disk bytes of the filter block.
    pub filter_size: u64,
    /// Length of the table file.
    pub file_size: u64,
    /// Smallest sequence number of any entry or range tombstone (0 if none).
    pub smallest_seq: SeqNo,
    /// Largest sequence number of any entry or range tombstone (0 if none).
    pub largest_seq: SeqNo,
    /// Smallest internal key, range tombstones included (module doc); empty if none.
    pub smallest_key: Vec<u8>,
    /// Largest internal key, range tombstones included (module doc); empty if none.
    pub largest_key: Vec<u8>,
}

const NAMES: [&str; 13] = [
    "data_size",
    "filter_size",
    "format_version",
    "index_size",
    "largest_key",
    "largest_seq",
    "num_deletions",
    "num_entries",
    "num_range_deletions",
    "raw_key_size",
    "raw_value_size",
    "smallest_key",
    "smallest_seq",
];

impl TableProperties {
    /// The properties block payload (uncompressed).
    pub fn encode(&self, format_version: u32) -> Vec<u8> {
        let mut b = BlockBuilder::new(16);
        let mut v = Vec::new();
        for name in NAMES {
            v.clear();
            match name {
                "largest_key" => v.extend_from_slice(&self.largest_key),
                "smallest_key" => v.extend_from_slice(&self.smallest_key),
                _ => put_varint(&mut v, self.number(name, format_version)),
            }
            b.add(name.as_bytes(), &v);
        }
        b.finish().to_vec()
    }

    fn number(&self, name: &str, format_version: u32) -> u64 {
        match name {
            "data_size" => self.data_size,
            "filter_size" => self.filter_size,
            "format_version" => format_version as u64,
            "index_size" => self.index_size,
            "largest_seq" => self.largest_seq.0,
            "num_deletions" => self.num_deletions,
            "num_entries" => self.num_entries,
            "num_range_deletions" => self.num_range_deletions,
            "raw_key_size" => self.raw_key_size,
            "raw_value_size" => self.raw_value_size,
            "smallest_seq" => self.smallest_seq.0,
            _ => 0,
        }
    }

    /// Decodes a properties block read from `file` at `offset`; returns the properties and the
    /// format version they record. `file_size` is left 0 for the caller to fill.
    pub fn decode_at(block: &Block, file: &Path, offset: u64) -> Result<(TableProperties, u32)> {
        let bad = |reason: String| Error::corruption(file, offset, reason);
        let mut p = TableProperties::default();
        let mut version = 0u32;
        let mut seen = [false; NAMES.len()];
        let mut it = block.iter();
        it.seek_to_first();
        while it.valid() {
            let key = it.key();
            if let Some(i) = NAMES.iter().position(|n| n.as_bytes() == key) {
                if std::mem::replace(&mut seen[i], true) {
                    return Err(bad(format!("property {} appears twice", NAMES[i])));
                }
                let value = it.value();
                match NAMES[i] {
                    "largest_key" => p.largest_key = value.to_vec(),
                    "smallest_key" => p.smallest_key = value.to_vec(),
                    name => {
                        let mut cur = value;
                        let n = get_varint(&mut cur)
                            .filter(|_| cur.is_empty())
                            .ok_or_else(|| bad(format!("property {name} is not a varint")))?;
                        match name {
                            "data_size" => p.data_size = n,
                            "filter_size" => p.filter_size = n,
                            "format_version" => {
                                version = u32::try_from(n)
                                    .map_err(|_| bad("format_version out of range".into()))?
                            }
                            "index_size" => p.index_size = n,
                            "largest_seq" => p.largest_seq = SeqNo(n),
                            "num_deletions" => p.num_deletions = n,
                            "num_entries" => p.num_entries = n,
                            "num_range_deletions" => p.num_range_deletions = n,
                            "raw_key_size" => p.raw_key_size = n,
                            "raw_value_size" => p.raw_value_size = n,
                            _ => p.smallest_seq = SeqNo(n),
                        }
                    }
                }
            }
            it.next();
        }
        if it.is_corrupt() {
            return Err(bad("malformed properties block".into()));
        }
        if let Some(i) = seen.iter().position(|s| !s) {
            return Err(bad(format!("property {} is missing", NAMES[i])));
        }
        Ok((p, version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn sample() -> TableProperties {
        TableProperties {
            num_entries: 10,
            num_deletions: 2,
            num_range_deletions: 1,
            raw_key_size: 300,
            raw_value_size: u64::MAX,
            data_size: 4096,
            index_size: 40,
            filter_size: 13,
            file_size: 0,
            smallest_seq: SeqNo(3),
            largest_seq: SeqNo::MAX,
            smallest_key: b"aaa\x01\x03\0\0\0\0\0\0".to_vec(),
            largest_key: Vec::new(),
        }
    }

    #[test]
    fn round_trip() {
        let p = sample();
        let block = Block::decode(Bytes::from(p.encode(1))).unwrap();
        let (q, v) = TableProperties::decode_at(&block, Path::new("t"), 9).unwrap();
        assert_eq!((q, v), (p, 1));
    }

    #[test]
    fn names_are_sorted() {
        assert!(NAMES.windows(2).all(|w| w[0] < w[1]));
    }

    fn rebuild(f: impl Fn(&str, &[u8]) -> Option<Vec<u8>>, extra: &[(&str, &[u8])]) -> Block {
        let src = Block::decode(Bytes::from(sample().encode(1))).unwrap();
        let mut it = src.iter();
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        it.seek_to_first();
        while it.valid() {
            let name = std::str::from_utf8(it.key()).unwrap().to_string();
            if let Some(v) = f(&name, it.value()) {
                entries.push((name.into_bytes(), v));
            }
            it.next();
        }
        for (k, v) in extra {
            entries.push((k.as_bytes().to_vec(), v.to_vec()));
        }
        entries.sort();
        let mut b = BlockBuilder::new(16);
        for (k, v) in &entries {
            b.add(k, v);
        }
        Block::decode(Bytes::copy_from_slice(b.finish())).unwrap()
    }

    #[test]
    fn unknown_names_ignored_missing_or_bad_rejected() {
        let ok = rebuild(|_, v| Some(v.to_vec()), &[("zz_future", b"\xff\xff")]);
        assert_eq!(
            TableProperties::decode_at(&ok, Path::new("t"), 0)
                .unwrap()
                .0,
            sample()
        );
        let missing = rebuild(|n, v| (n != "num_entries").then(|| v.to_vec()), &[]);
        let e = TableProperties::decode_at(&missing, Path::new("t"), 7).unwrap_err();
        assert!(matches!(e, Error::Corruption { offset: 7, .. }));
        let dup = rebuild(|_, v| Some(v.to_vec()), &[("num_entries", b"\x01")]);
        assert!(TableProperties::decode_at(&dup, Path::new("t"), 0)
            .unwrap_err()
            .is_corruption());
        let bad = rebuild(
            |n, v| {
                Some(if n == "data_size" {
                    vec![0x80]
                } else {
                    v.to_vec()
                })
            },
            &[],
        );
        assert!(TableProperties::decode_at(&bad, Path::new("t"), 0)
            .unwrap_err()
            .is_corruption());
        let trailing = rebuild(
            |n, v| {
                Some(if n == "data_size" {
                    vec![1, 2]
                } else {
                    v.to_vec()
                })
            },
            &[],
        );
        assert!(TableProperties::decode_at(&trailing, Path::new("t"), 0)
            .unwrap_err()
            .is_corruption());
    }
}
