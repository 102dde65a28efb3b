//! The byte layout of a sorted table: block trailers, block handles, the footer, compression.
//!
//! ```text
//! table          := data_block* filter_block? range_del_block? properties_block index_block footer
//!
//! block on disk  := payload: [u8; size]        (maybe compressed, see below)
//!                   compression: u8            0 = None, 1 = Zstd (2 = Lz4 reserved); never renumber
//!                   checksum: u32 LE           xxh3_64(payload ‖ compression) truncated to 32 bits
//! zstd payload   := uncompressed_len: varint u64 (at most MAX_DECOMPRESSED_LEN)  zstd frame
//!
//! block payload  := entry* restart: u32 LE * n  n: u32 LE          (uncompressed; see block.rs)
//! entry          := shared: varint  non_shared: varint  value_len: varint
//!                   key_delta: [u8; non_shared]  value: [u8; value_len]
//!
//! index block    := one entry per data block: key = last internal key of the block,
//!                   value = BlockHandle (restart interval 1)
//! filter block   := payload is a bloom filter (bloom.rs), never compressed
//! range_del block:= entries (start user key, seq, RangeDelete) internal key -> end user key
//! properties     := entries name -> value, names sorted bytewise (builder.rs lists them)
//!
//! BlockHandle    := offset: varint u64  size: varint u64   (size excludes the 5-byte trailer)
//!
//! footer (64 B)  := index:      offset u64 LE ‖ size u32 LE
//!                   filter:     offset u64 LE ‖ size u32 LE   (size 0 = absent)
//!                   properties: offset u64 LE ‖ size u32 LE
//!                   range_del:  offset u64 LE ‖ size u32 LE   (size 0 = absent)
//!                   format_version: u32 LE
//!                   footer_checksum: u32 LE    checksum32 of the 52 bytes before it
//!                   magic: u64 LE              TABLE_MAGIC
//! ```
//!
//! Every future format version keeps the last 16 bytes of the footer (version, checksum covering
//! the 52 bytes before it, magic) where they are, so any reader can tell "not a table" (magic),
//! "damaged" (checksum) and "too new" (version) apart, in that order.
//!
//! Decoders here are plain functions over byte slices so that fuzz targets can reach them;
//! the `*_at` variants name the file and offset in their `Corruption` errors.

use std::path::Path;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::util::checksum::checksum32;
use crate::util::coding::{get_u32, get_u64, get_varint, put_varint};

/// `b"STRATAST"` read as a little-endian u64: the last 8 bytes of every table.
pub const TABLE_MAGIC: u64 = u64::from_le_bytes(*b"STRATAST");
/// The newest table format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes after each block payload: compression byte + checksum.
pub const BLOCK_TRAILER_LEN: usize = 5;
/// Fixed size of the footer.
pub const FOOTER_LEN: usize = 64;
/// Largest uncompressed length a zstd block may declare. Bigger blocks are always stored
/// uncompressed, so a corrupt length can never make a reader allocate more than this.
pub const MAX_DECOMPRESSED_LEN: usize = 64 << 20;
/// Largest on-disk payload of a meta block (the footer stores its size in a u32).
pub const MAX_META_BLOCK_LEN: u64 = u32::MAX as u64;

/// How a block payload is compressed. The discriminants are written to disk: never renumber
/// (2 is reserved for Lz4).
///
/// The default is [`Compression::Zstd`] at level 1: tables are typically a third smaller, and
/// the block cache holds decompressed blocks, so a hot block pays for decompression once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Compression {
    /// Stored as is.
    None = 0,
    /// `varint uncompressed_len ‖ zstd frame`.
    #[default]
    Zstd = 1,
}

impl Compression {
    /// Decodes a compression byte; `None` for bytes no format version wrote.
    pub fn from_u8(b: u8) -> Option<Compression> {
        match b {
            0 => Some(Compression::None),
            1 => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// Where a block lives in the file: `size` counts the payload only, not the trailer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockHandle {
    /// Offset of the block's first byte.
    pub offset: u64,
    /// Length of the (maybe compressed) payload.
    pub size: u64,
}

impl BlockHandle {
    /// Appends the varint encoding used in index entries.
    pub fn encode_to(&self, buf: &mut Vec<u8>) {
        put_varint(buf, self.offset);
        put_varint(buf, self.size);
    }

    /// Decodes an index-entry value; `None` if truncated, overlong or followed by extra bytes.
    pub fn decode(mut input: &[u8]) -> Option<BlockHandle> {
        let offset = get_varint(&mut input)?;
        let size = get_varint(&mut input)?;
        input.is_empty().then_some(BlockHandle { offset, size })
    }

    /// Offset one past the block's trailer, `None` on overflow.
    pub fn end(&self) -> Option<u64> {
        self.offset
            .checked_add(self.size)?
            .checked_add(BLOCK_TRAILER_LEN as u64)
    }
}

/// The decoded footer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footer {
    /// The index block.
    pub index: BlockHandle,
    /// The bloom filter block, if the table has one.
    pub filter: Option<BlockHandle>,
    /// The properties block.
    pub properties: BlockHandle,
    /// The range-deletion block, if the table has range tombstones.
    pub range_del: Option<BlockHandle>,
    /// Format version the table was written with.
    pub format_version: u32,
}

impl Footer {
    /// Encodes the footer. Fails if a meta block is too large for the footer's u32 size field.
    pub fn encode(&self) -> Result<[u8; FOOTER_LEN]> {
        let mut buf = Vec::with_capacity(FOOTER_LEN);
        let absent = BlockHandle::default();
        for h in [
            &self.index,
            self.filter.as_ref().unwrap_or(&absent),
            &self.properties,
            self.range_del.as_ref().unwrap_or(&absent),
        ] {
            let size = u32::try_from(h.size).map_err(|_| {
                Error::InvalidArgument(format!("meta block of {} bytes is too large", h.size))
            })?;
            buf.extend_from_slice(&h.offset.to_le_bytes());
            buf.extend_from_slice(&size.to_le_bytes());
        }
        buf.extend_from_slice(&self.format_version.to_le_bytes());
        let sum = checksum32(&[&buf]);
        buf.extend_from_slice(&sum.to_le_bytes());
        buf.extend_from_slice(&TABLE_MAGIC.to_le_bytes());
        let mut out = [0u8; FOOTER_LEN];
        out.copy_from_slice(&buf);
        Ok(out)
    }

    /// Decodes a footer from exactly [`FOOTER_LEN`] bytes (fuzz entry point).
    pub fn decode(buf: &[u8]) -> Result<Footer> {
        Footer::decode_at(buf, Path::new(""), 0)
    }

    /// Decodes a footer read from `file` at `offset`.
    pub fn decode_at(buf: &[u8], file: &Path, offset: u64) -> Result<Footer> {
        let bad = |reason: &str| Error::corruption(file, offset, reason);
        if buf.len() != FOOTER_LEN {
            return Err(bad("table footer has the wrong length"));
        }
        let mut tail = &buf[52..];
        let stored_sum = get_u32(&mut tail).ok_or_else(|| bad("footer truncated"))?;
        let magic = get_u64(&mut tail).ok_or_else(|| bad("footer truncated"))?;
        if magic != TABLE_MAGIC {
            return Err(bad("bad table magic number: not a table"));
        }
        if checksum32(&[&buf[..52]]) != stored_sum {
            return Err(bad("table footer checksum mismatch"));
        }
        let mut input = buf;
        let mut handles = [BlockHandle::default(); 4];
        for h in handles.iter_mut() {
            let off = get_u64(&mut input).ok_or_else(|| bad("footer truncated"))?;
            let size = get_u32(&mut input).ok_or_else(|| bad("footer truncated"))?;
            *h = BlockHandle {
                offset: off,
                size: size as u64,
            };
        }
        let format_version = get_u32(&mut input).ok_or_else(|| bad("footer truncated"))?;
        if format_version > FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                file: file.to_path_buf(),
                found: format_version,
                supported: FORMAT_VERSION,
            });
        }
        if format_version == 0 {
            return Err(bad("table format version 0 was never written"));
        }
        let [index, filter, properties, range_del] = handles;
        if index.size == 0 {
            return Err(bad("footer has no index block"));
        }
        if properties.size == 0 {
            return Err(bad("footer has no properties block"));
        }
        let opt = |h: BlockHandle| (h.size != 0).then_some(h);
        Ok(Footer {
            index,
            filter: opt(filter),
            properties,
            range_del: opt(range_del),
            format_version,
        })
    }
}

/// Builds the 5-byte trailer for `payload` stored with compression `c`.
pub fn block_trailer(payload: &[u8], c: Compression) -> [u8; BLOCK_TRAILER_LEN] {
    let tag = [c as u8];
    let sum = checksum32(&[payload, &tag]);
    let mut t = [0u8; BLOCK_TRAILER_LEN];
    t[0] = c as u8;
    t[1..].copy_from_slice(&sum.to_le_bytes());
    t
}

/// Compresses `raw` into `out` (cleared first) if that saves at least 1/8; returns the
/// compression actually used. `out` is untouched in meaning when `None` is returned.
pub fn compress_block(raw: &[u8], c: Compression, level: i32, out: &mut Vec<u8>) -> Compression {
    out.clear();
    match c {
        Compression::None => Compression::None,
        Compression::Zstd => {
            if raw.len() > MAX_DECOMPRESSED_LEN || raw.len() < 64 {
                return Compression::None;
            }
            let Ok(z) = zstd::bulk::compress(raw, level) else {
                return Compression::None;
            };
            put_varint(out, raw.len() as u64);
            out.extend_from_slice(&z);
            if out.len() > raw.len() - raw.len() / 8 {
                out.clear();
                return Compression::None;
            }
            Compression::Zstd
        }
    }
}

/// Verifies a block read from disk (payload ‖ trailer) and returns its uncompressed payload
/// (fuzz entry point; errors name no file).
pub fn unwrap_block(raw: Bytes) -> Result<Bytes> {
    unwrap_block_at(raw, Path::new(""), 0)
}

/// Verifies the checksum of `raw` (payload ‖ trailer, read from `file` at `offset`) and
/// decompresses the payload. An uncompressed payload is returned as a zero-copy slice.
pub fn unwrap_block_at(raw: Bytes, file: &Path, offset: u64) -> Result<Bytes> {
    let bad = |reason: String| Error::corruption(file, offset, reason);
    let Some(n) = raw.len().checked_sub(BLOCK_TRAILER_LEN) else {
        return Err(bad("block shorter than its trailer".into()));
    };
    let (payload, trailer) = raw.split_at(n);
    let tag = trailer[0];
    let stored = u32::from_le_bytes([trailer[1], trailer[2], trailer[3], trailer[4]]);
    if checksum32(&[payload, &[tag]]) != stored {
        return Err(bad("block checksum mismatch".into()));
    }
    match Compression::from_u8(tag) {
        Some(Compression::None) => Ok(raw.slice(..n)),
        Some(Compression::Zstd) => {
            let mut input = payload;
            let len = get_varint(&mut input)
                .ok_or_else(|| bad("bad uncompressed length in zstd block".into()))?;
            let len = usize::try_from(len)
                .ok()
                .filter(|&l| l <= MAX_DECOMPRESSED_LEN)
                .ok_or_else(|| bad(format!("zstd block declares {len} bytes, over the cap")))?;
            let out = zstd::bulk::decompress(input, len)
                .map_err(|e| bad(format!("zstd decompression failed: {e}")))?;
            if out.len() != len {
                return Err(bad(format!(
                    "zstd block decompressed to {} bytes, expected {len}",
                    out.len()
                )));
            }
            Ok(Bytes::from(out))
        }
        None => Err(bad(format!("unknown block compression type {tag}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn footer() -> Footer {
        Footer {
            index: BlockHandle {
                offset: 1000,
                size: 77,
            },
            filter: Some(BlockHandle {
                offset: 500,
                size: 100,
            }),
            properties: BlockHandle {
                offset: 900,
                size: 95,
            },
            range_del: None,
            format_version: FORMAT_VERSION,
        }
    }

    #[test]
    fn footer_round_trip_and_every_flip_detected() {
        let f = footer();
        let enc = f.encode().unwrap();
        assert_eq!(Footer::decode(&enc).unwrap(), f);
        for i in 0..FOOTER_LEN {
            for bit in 0..8 {
                let mut b = enc;
                b[i] ^= 1 << bit;
                let e = Footer::decode(&b).unwrap_err();
                assert!(e.is_corruption(), "byte {i}: {e}");
            }
        }
        assert!(Footer::decode(&enc[1..]).unwrap_err().is_corruption());
        assert!(Footer::decode(&[]).unwrap_err().is_corruption());
    }

    #[test]
    fn footer_newer_version_is_unsupported() {
        let mut f = footer();
        f.format_version = FORMAT_VERSION + 1;
        let enc = f.encode().unwrap();
        assert!(matches!(
            Footer::decode(&enc),
            Err(Error::UnsupportedVersion { found: 2, .. })
        ));
        f.format_version = 0;
        assert!(Footer::decode(&f.encode().unwrap())
            .unwrap_err()
            .is_corruption());
    }

    #[test]
    fn footer_requires_index_and_properties() {
        let mut f = footer();
        f.index.size = 0;
        assert!(Footer::decode(&f.encode().unwrap())
            .unwrap_err()
            .is_corruption());
        let mut f = footer();
        f.properties.size = 0;
        assert!(Footer::decode(&f.encode().unwrap())
            .unwrap_err()
            .is_corruption());
        let mut f = footer();
        f.index.size = u32::MAX as u64 + 1;
        assert!(f.encode().is_err());
    }

    #[test]
    fn handle_round_trip() {
        for h in [
            BlockHandle::default(),
            BlockHandle {
                offset: u64::MAX,
                size: 1 << 40,
            },
        ] {
            let mut b = Vec::new();
            h.encode_to(&mut b);
            assert_eq!(BlockHandle::decode(&b), Some(h));
            b.push(0);
            assert_eq!(BlockHandle::decode(&b), None);
        }
        assert_eq!(BlockHandle::decode(&[0x80]), None);
        assert_eq!(
            BlockHandle {
                offset: u64::MAX,
                size: 1
            }
            .end(),
            None
        );
    }

    fn wrap(payload: &[u8], c: Compression) -> Bytes {
        let mut v = payload.to_vec();
        v.extend_from_slice(&block_trailer(payload, c));
        Bytes::from(v)
    }

    #[test]
    fn block_wrap_round_trip_both_compressions() {
        let raw: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i % 100).to_le_bytes())
            .collect();
        let mut z = Vec::new();
        assert_eq!(
            compress_block(&raw, Compression::Zstd, 1, &mut z),
            Compression::Zstd
        );
        assert!(z.len() < raw.len() / 2);
        assert_eq!(unwrap_block(wrap(&z, Compression::Zstd)).unwrap(), raw);
        assert_eq!(unwrap_block(wrap(&raw, Compression::None)).unwrap(), raw);
        assert_eq!(
            compress_block(&raw, Compression::None, 1, &mut z),
            Compression::None
        );
    }

    #[test]
    fn incompressible_block_is_stored_raw() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let raw: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut z = Vec::new();
        assert_eq!(
            compress_block(&raw, Compression::Zstd, 1, &mut z),
            Compression::None
        );
    }

    #[test]
    fn block_wrap_rejects_damage() {
        let raw = vec![7u8; 1000];
        let mut z = Vec::new();
        compress_block(&raw, Compression::Zstd, 1, &mut z);
        let good = wrap(&z, Compression::Zstd);
        for i in 0..good.len() {
            let mut b = good.to_vec();
            b[i] ^= 0x10;
            assert!(unwrap_block(Bytes::from(b)).unwrap_err().is_corruption());
        }
        assert!(unwrap_block(Bytes::from_static(b"abcd"))
            .unwrap_err()
            .is_corruption());
        // Unknown compression byte with a valid checksum.
        assert!(unwrap_block(Bytes::from({
            let mut v = b"xyz".to_vec();
            let sum = checksum32(&[b"xyz", &[9]]);
            v.push(9);
            v.extend_from_slice(&sum.to_le_bytes());
            v
        }))
        .unwrap_err()
        .is_corruption());
        // A valid checksum over a lying length prefix or garbage frame.
        let mut lie = Vec::new();
        put_varint(&mut lie, 10);
        let mut frame = &z[..];
        get_varint(&mut frame).unwrap();
        lie.extend_from_slice(frame);
        assert!(unwrap_block(wrap(&lie, Compression::Zstd))
            .unwrap_err()
            .is_corruption());
        let mut huge = Vec::new();
        put_varint(&mut huge, u64::MAX);
        assert!(unwrap_block(wrap(&huge, Compression::Zstd))
            .unwrap_err()
            .is_corruption());
        assert!(unwrap_block(wrap(b"\x05garbage", Compression::Zstd))
            .unwrap_err()
            .is_corruption());
    }
}
