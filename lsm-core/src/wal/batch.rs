//! [`WriteBatch`]: an ordered list of writes applied atomically; its encoding is also the WAL
//! record payload, so the write path logs a batch without re-encoding it.
//!
//! ```text
//! batch := seq:   u64 LE          sequence number of the first op (set by the write path)
//!          count: u32 LE          number of ops that follow
//!          op{count}
//! op    := kind:     u8           ValueKind: 0 Delete, 1 Put, 2 Merge, 3 RangeDelete
//!                                 (shared with internal keys: never renumber)
//!          keyspace: varint u32   KeyspaceId
//!          key:      varint len ‖ bytes
//!          value:    varint len ‖ bytes   only for Put, Merge and RangeDelete; for
//!                                         RangeDelete it is the exclusive end key
//! ```
//!
//! Op `i` (counting from 0) gets sequence number `seq + i`. Nothing may follow the last op.
//! [`WriteBatch::from_bytes`] checks all of this, so a batch built from disk bytes iterates
//! without errors; the iterator still reports malformed bytes rather than trusting them.

use std::path::Path;

use crate::error::{Error, Result};
use crate::types::{KeyspaceId, SeqNo, ValueKind};
use crate::util::coding::{
    get_length_prefixed, get_u8, get_varint32, put_length_prefixed, put_varint,
};

/// Bytes of the batch header: `seq` (8) + `count` (4).
pub const BATCH_HEADER_LEN: usize = 12;

/// The record that opens a WAL whose predecessor was closed without an fsync (under
/// `SyncMode::Never`): a batch header with sequence 0 and no operations (no write produces
/// sequence 0), followed by the predecessor's length in bytes as `u64` little-endian. Recovery
/// reads it as "the WAL before this one should be this long; if it is shorter or damaged, the
/// history ends there" (see `docs/format.md`). It is never decoded as a batch.
pub fn unsynced_predecessor_marker(predecessor_len: u64) -> [u8; BATCH_HEADER_LEN + 8] {
    let mut m = [0u8; BATCH_HEADER_LEN + 8];
    m[BATCH_HEADER_LEN..].copy_from_slice(&predecessor_len.to_le_bytes());
    m
}

/// The predecessor length a marker record carries, or `None` for any other record.
pub fn parse_unsynced_predecessor_marker(record: &[u8]) -> Option<u64> {
    if record.len() != BATCH_HEADER_LEN + 8 || record[..BATCH_HEADER_LEN].iter().any(|b| *b != 0) {
        return None;
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&record[BATCH_HEADER_LEN..]);
    Some(u64::from_le_bytes(len))
}

/// Path named by errors from a batch that did not come from a file.
const IN_MEMORY: &str = "<write batch>";

/// One operation of a batch, borrowing from its encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchOp<'a> {
    /// What the op does.
    pub kind: ValueKind,
    /// The keyspace it writes to.
    pub keyspace: KeyspaceId,
    /// The user key (for `RangeDelete`, the inclusive start).
    pub key: &'a [u8],
    /// The value, merge operand or (for `RangeDelete`) exclusive end key; empty for `Delete`.
    pub value: &'a [u8],
}

/// An ordered list of writes applied atomically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteBatch {
    /// The encoding; always at least `BATCH_HEADER_LEN` bytes with a `count` that matches.
    data: Vec<u8>,
}

impl Default for WriteBatch {
    fn default() -> Self {
        WriteBatch::new()
    }
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        // Room for the header and one small operation, so the common one-put batch does not
        // reallocate (`realloc` showed in single-put write profiles).
        let mut data = Vec::with_capacity(128);
        data.resize(BATCH_HEADER_LEN, 0);
        WriteBatch { data }
    }

    /// Sets `key` to `value`.
    ///
    /// # Panics
    /// If the batch already holds `u32::MAX` ops (as do the other adding methods).
    pub fn put(&mut self, ks: KeyspaceId, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.push(ValueKind::Put, ks, key.as_ref(), Some(value.as_ref()));
    }

    /// Removes `key`.
    pub fn delete(&mut self, ks: KeyspaceId, key: impl AsRef<[u8]>) {
        self.push(ValueKind::Delete, ks, key.as_ref(), None);
    }

    /// Removes every key in `[start, end)`.
    pub fn delete_range(&mut self, ks: KeyspaceId, start: impl AsRef<[u8]>, end: impl AsRef<[u8]>) {
        self.push(
            ValueKind::RangeDelete,
            ks,
            start.as_ref(),
            Some(end.as_ref()),
        );
    }

    /// Adds a merge operand for `key`.
    pub fn merge(&mut self, ks: KeyspaceId, key: impl AsRef<[u8]>, operand: impl AsRef<[u8]>) {
        self.push(ValueKind::Merge, ks, key.as_ref(), Some(operand.as_ref()));
    }

    fn push(&mut self, kind: ValueKind, ks: KeyspaceId, key: &[u8], value: Option<&[u8]>) {
        self.set_count(add_counts(self.count(), 1));
        self.data.push(kind as u8);
        put_varint(&mut self.data, u64::from(ks.0));
        put_length_prefixed(&mut self.data, key);
        if let Some(v) = value {
            put_length_prefixed(&mut self.data, v);
        }
    }

    /// Number of ops.
    pub fn count(&self) -> u32 {
        let h = &self.data[8..BATCH_HEADER_LEN];
        u32::from_le_bytes([h[0], h[1], h[2], h[3]])
    }

    fn set_count(&mut self, n: u32) {
        self.data[8..BATCH_HEADER_LEN].copy_from_slice(&n.to_le_bytes());
    }

    /// True when the batch has no ops.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// Removes every op and resets the sequence number, keeping the allocation.
    pub fn clear(&mut self) {
        self.data.clear();
        self.data.resize(BATCH_HEADER_LEN, 0);
    }

    /// Size of the encoding in bytes (what the batch costs in the WAL, before framing).
    pub fn size_bytes(&self) -> usize {
        self.data.len()
    }

    /// Sequence number of the first op.
    pub fn seq(&self) -> SeqNo {
        let h = &self.data[..8];
        SeqNo(u64::from_le_bytes([
            h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7],
        ]))
    }

    /// Sets the sequence number of the first op (the write path does this).
    pub fn set_seq(&mut self, seq: SeqNo) {
        self.data[..8].copy_from_slice(&seq.0.to_le_bytes());
    }

    /// The encoding, as written to the WAL.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Appends every op of `other` after this batch's ops; this batch's `seq` is kept.
    pub fn append(&mut self, other: &WriteBatch) {
        self.set_count(add_counts(self.count(), other.count()));
        self.data.extend_from_slice(&other.data[BATCH_HEADER_LEN..]);
    }

    /// The ops, in order.
    pub fn iter(&self) -> BatchIter<'_> {
        BatchIter {
            rest: &self.data[BATCH_HEADER_LEN..],
            remaining: self.count(),
            failed: false,
        }
    }

    /// Decodes and fully validates a batch read from `file` (a WAL) where its record starts at
    /// `offset`. Errors name that file and offset and, in the reason, the position inside the
    /// record.
    pub fn from_bytes(data: Vec<u8>, file: &Path, offset: u64) -> Result<WriteBatch> {
        if data.len() < BATCH_HEADER_LEN {
            return Err(Error::corruption(
                file,
                offset,
                format!(
                    "write batch of {} bytes is shorter than its header",
                    data.len()
                ),
            ));
        }
        let batch = WriteBatch { data };
        let mut ops = batch.iter();
        for op in ops.by_ref() {
            if let Err(e) = op {
                return Err(relocate(e, file, offset));
            }
        }
        if !ops.rest.is_empty() {
            let at = batch.data.len() - ops.rest.len();
            return Err(Error::corruption(
                file,
                offset,
                format!(
                    "write batch has {} bytes after its {} ops (at byte {at} of the record)",
                    ops.rest.len(),
                    batch.count()
                ),
            ));
        }
        Ok(batch)
    }
}

/// `a + b` ops; a batch can never hold more than `u32::MAX`.
fn add_counts(a: u32, b: u32) -> u32 {
    match a.checked_add(b) {
        Some(n) => n,
        None => panic!("a WriteBatch cannot hold more than {} ops", u32::MAX),
    }
}

/// Moves an in-memory batch error onto the file and record it came from.
fn relocate(e: Error, file: &Path, offset: u64) -> Error {
    match e {
        Error::Corruption { reason, .. } => Error::corruption(file, offset, reason),
        other => other,
    }
}

impl<'a> IntoIterator for &'a WriteBatch {
    type Item = Result<BatchOp<'a>>;
    type IntoIter = BatchIter<'a>;

    fn into_iter(self) -> BatchIter<'a> {
        self.iter()
    }
}

/// Iterator over the ops of a [`WriteBatch`]; yields an error (once, then ends) on bad bytes.
pub struct BatchIter<'a> {
    rest: &'a [u8],
    remaining: u32,
    failed: bool,
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<BatchOp<'a>>;

    fn next(&mut self) -> Option<Result<BatchOp<'a>>> {
        if self.remaining == 0 || self.failed {
            return None;
        }
        let op_index = self.remaining;
        let result = decode_op(&mut self.rest);
        match result {
            Ok(op) => {
                self.remaining -= 1;
                Some(Ok(op))
            }
            Err(reason) => {
                self.failed = true;
                Some(Err(Error::corruption(
                    IN_MEMORY,
                    0,
                    format!("{reason} ({op_index} ops still expected)"),
                )))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.failed {
            (0, Some(0))
        } else {
            (0, Some(self.remaining as usize))
        }
    }
}

fn decode_op<'a>(input: &mut &'a [u8]) -> std::result::Result<BatchOp<'a>, &'static str> {
    let kind_byte = get_u8(input).ok_or("write batch ends before an op's kind byte")?;
    let kind = ValueKind::from_u8(kind_byte).ok_or("write batch op has an unknown kind byte")?;
    let keyspace = KeyspaceId(get_varint32(input).ok_or("write batch op has a bad keyspace id")?);
    let key = get_length_prefixed(input).ok_or("write batch op has a truncated key")?;
    let value = match kind {
        ValueKind::Delete => &[][..],
        ValueKind::Put | ValueKind::Merge | ValueKind::RangeDelete => {
            get_length_prefixed(input).ok_or("write batch op has a truncated value")?
        }
    };
    Ok(BatchOp {
        kind,
        keyspace,
        key,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsynced_predecessor_marker_round_trips_and_is_no_batch_record() {
        for len in [0u64, 1, 32_768, u64::MAX] {
            let m = unsynced_predecessor_marker(len);
            assert_eq!(parse_unsynced_predecessor_marker(&m), Some(len));
        }
        // Real batches never parse as the marker: their sequence is at least 1, and an empty
        // batch is 12 bytes, not 20.
        let mut b = WriteBatch::new();
        b.set_seq(SeqNo(1));
        assert_eq!(parse_unsynced_predecessor_marker(b.data()), None);
        let mut b = WriteBatch::new();
        b.put(KeyspaceId::DEFAULT, b"k", b"v");
        b.set_seq(SeqNo(1));
        assert_eq!(parse_unsynced_predecessor_marker(b.data()), None);
        assert_eq!(parse_unsynced_predecessor_marker(&[0u8; 12]), None);
        let mut near = unsynced_predecessor_marker(5);
        near[3] = 1;
        assert_eq!(parse_unsynced_predecessor_marker(&near), None);
        // Decoded as a batch it would be refused (trailing bytes), so an older reader errs
        // instead of replaying it.
        let m = unsynced_predecessor_marker(7).to_vec();
        assert!(WriteBatch::from_bytes(m, std::path::Path::new("w.log"), 0).is_err());
    }

    fn sample() -> WriteBatch {
        let mut b = WriteBatch::new();
        b.put(KeyspaceId(0), b"alpha", b"1");
        b.delete(KeyspaceId(7), "beta");
        b.delete_range(KeyspaceId(300), b"c", b"d");
        b.merge(KeyspaceId(u32::MAX), b"", vec![9u8; 200]);
        b.put(KeyspaceId(1), b"", b"");
        b.set_seq(SeqNo(0x0102_0304_0506));
        b
    }

    fn ops(b: &WriteBatch) -> Vec<(ValueKind, u32, Vec<u8>, Vec<u8>)> {
        b.iter()
            .map(|op| {
                let op = op.unwrap();
                (op.kind, op.keyspace.0, op.key.to_vec(), op.value.to_vec())
            })
            .collect()
    }

    #[test]
    fn round_trip() {
        let b = sample();
        assert_eq!(b.count(), 5);
        assert!(!b.is_empty());
        assert_eq!(b.seq(), SeqNo(0x0102_0304_0506));
        assert_eq!(b.size_bytes(), b.data().len());
        let expected = vec![
            (ValueKind::Put, 0, b"alpha".to_vec(), b"1".to_vec()),
            (ValueKind::Delete, 7, b"beta".to_vec(), vec![]),
            (ValueKind::RangeDelete, 300, b"c".to_vec(), b"d".to_vec()),
            (ValueKind::Merge, u32::MAX, vec![], vec![9u8; 200]),
            (ValueKind::Put, 1, vec![], vec![]),
        ];
        assert_eq!(ops(&b), expected);
        let back = WriteBatch::from_bytes(b.data().to_vec(), Path::new("x.log"), 5).unwrap();
        assert_eq!(back, b);
        assert_eq!(ops(&back), expected);
    }

    #[test]
    fn encoding_matches_grammar() {
        let mut b = WriteBatch::new();
        b.put(KeyspaceId(2), b"k", b"vv");
        b.delete(KeyspaceId(0), b"z");
        b.set_seq(SeqNo(9));
        let mut want = Vec::new();
        want.extend_from_slice(&9u64.to_le_bytes());
        want.extend_from_slice(&2u32.to_le_bytes());
        want.extend_from_slice(&[1, 2, 1, b'k', 2, b'v', b'v']);
        want.extend_from_slice(&[0, 0, 1, b'z']);
        assert_eq!(b.data(), &want[..]);
    }

    #[test]
    fn empty_clear_and_append() {
        let mut b = WriteBatch::default();
        assert!(b.is_empty());
        assert_eq!(b.size_bytes(), BATCH_HEADER_LEN);
        assert_eq!(b.iter().count(), 0);
        let empty = WriteBatch::from_bytes(b.data().to_vec(), Path::new("x"), 0).unwrap();
        assert!(empty.is_empty());

        b.put(KeyspaceId(0), b"a", b"1");
        b.set_seq(SeqNo(4));
        let other = sample();
        b.append(&other);
        assert_eq!(b.count(), 6);
        assert_eq!(b.seq(), SeqNo(4));
        assert_eq!(ops(&b)[1..], ops(&other)[..]);
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b, WriteBatch::new());
    }

    #[test]
    fn from_bytes_rejects_every_truncation() {
        let data = sample().data().to_vec();
        for cut in 0..data.len() {
            let err = WriteBatch::from_bytes(data[..cut].to_vec(), Path::new("w.log"), 77)
                .expect_err("truncated batch accepted");
            match err {
                Error::Corruption { file, offset, .. } => {
                    assert_eq!(file, Path::new("w.log"));
                    assert_eq!(offset, 77);
                }
                other => panic!("unexpected error {other:?}"),
            }
        }
    }

    #[test]
    fn from_bytes_rejects_bad_kinds_counts_and_trailing_bytes() {
        let mut b = WriteBatch::new();
        b.put(KeyspaceId(0), b"k", b"v");
        let good = b.data().to_vec();
        for bad_kind in [4u8, 0x7f, 0xff] {
            let mut d = good.clone();
            d[BATCH_HEADER_LEN] = bad_kind;
            let e = WriteBatch::from_bytes(d, Path::new("w"), 1).unwrap_err();
            assert!(e.is_corruption(), "{e}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(WriteBatch::from_bytes(trailing, Path::new("w"), 1)
            .unwrap_err()
            .is_corruption());
        let mut more_ops_claimed = good.clone();
        more_ops_claimed[8] = 2;
        assert!(WriteBatch::from_bytes(more_ops_claimed, Path::new("w"), 1)
            .unwrap_err()
            .is_corruption());
        let mut fewer_ops_claimed = good.clone();
        fewer_ops_claimed[8] = 0;
        assert!(WriteBatch::from_bytes(fewer_ops_claimed, Path::new("w"), 1)
            .unwrap_err()
            .is_corruption());
        let mut huge_count = good.clone();
        huge_count[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(WriteBatch::from_bytes(huge_count, Path::new("w"), 1)
            .unwrap_err()
            .is_corruption());
        // A keyspace id that does not fit in u32.
        let mut d = good[..BATCH_HEADER_LEN].to_vec();
        d.extend_from_slice(&[1, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, b'k', 1, b'v']);
        assert!(WriteBatch::from_bytes(d, Path::new("w"), 1)
            .unwrap_err()
            .is_corruption());
    }

    #[test]
    fn iterator_reports_errors_once() {
        let mut d = sample().data().to_vec();
        d.truncate(d.len() - 1);
        let b = WriteBatch { data: d };
        let results: Vec<_> = b.iter().collect();
        assert_eq!(results.len(), 5);
        assert!(results[..4].iter().all(|r| r.is_ok()));
        assert!(results[4].as_ref().unwrap_err().is_corruption());
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        // A cheap deterministic fuzz: mutate a valid encoding byte by byte.
        let base = sample().data().to_vec();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut d = base.clone();
            let i = (state as usize) % d.len();
            d[i] ^= (state >> 32) as u8 | 1;
            let cut = ((state >> 40) as usize) % (d.len() + 1);
            d.truncate(cut.max(i));
            if let Ok(b) = WriteBatch::from_bytes(d, Path::new("f"), 0) {
                assert!(b.iter().all(|op| op.is_ok()));
            }
        }
    }
}
