//! A decoded block and its bidirectional iterator.
//!
//! The payload grammar is in [`block_builder`](super::block_builder). [`Block::decode`] walks
//! every entry once and checks the whole structure (restart array in bounds, every restart point
//! on an entry boundary with `shared = 0`, every varint well formed, `shared` never longer than
//! the previous key, every key and value inside the entry area). Decoding happens once per
//! block read (the block cache keeps decoded blocks), and in exchange iteration cannot meet a
//! malformed entry: [`BlockIter`] has no error path in practice. It still re-checks each field
//! it decodes and reports [`BlockIter::is_corrupt`] rather than trusting the validation blindly.
//!
//! Seeks compare with [`compare_internal`]: every block that is ever searched (data, index,
//! range-del) holds internal keys. The properties block is only scanned.

use std::cmp::Ordering;
use std::path::Path;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::key::compare_internal;
use crate::util::coding::get_varint32;

/// An immutable, validated block payload (uncompressed). Cloning is a reference-count bump.
#[derive(Clone, Debug)]
pub struct Block {
    data: Bytes,
    /// End of the entry area = start of the restart array.
    restarts_offset: usize,
    num_restarts: usize,
}

/// One decoded entry header: `(shared, non_shared, value_len, offset of key_delta)`.
#[inline]
fn decode_header(area: &[u8], pos: usize) -> Option<(usize, usize, usize, usize)> {
    let rest = area.get(pos..)?;
    // Fast path: all three varints are single bytes (short keys and values).
    if rest.len() >= 3 && (rest[0] | rest[1] | rest[2]) < 0x80 {
        return Some((
            rest[0] as usize,
            rest[1] as usize,
            rest[2] as usize,
            pos + 3,
        ));
    }
    let mut cur = rest;
    let shared = get_varint32(&mut cur)? as usize;
    let non_shared = get_varint32(&mut cur)? as usize;
    let value_len = get_varint32(&mut cur)? as usize;
    Some((
        shared,
        non_shared,
        value_len,
        pos + (rest.len() - cur.len()),
    ))
}

impl Block {
    /// Decodes and validates a block payload (fuzz entry point; errors name no file).
    pub fn decode(data: Bytes) -> Result<Block> {
        Block::decode_at(data, Path::new(""), 0)
    }

    /// Decodes and validates a payload read from the block at `offset` of `file`.
    pub fn decode_at(data: Bytes, file: &Path, offset: u64) -> Result<Block> {
        let bad = |reason: &str| Error::corruption(file, offset, reason);
        let len = data.len();
        let Some(count_at) = len.checked_sub(4) else {
            return Err(bad("block shorter than its restart count"));
        };
        let n = u32::from_le_bytes([
            data[count_at],
            data[count_at + 1],
            data[count_at + 2],
            data[count_at + 3],
        ]) as usize;
        let restarts_offset = n
            .checked_mul(4)
            .and_then(|r| count_at.checked_sub(r))
            .ok_or_else(|| bad("block restart array out of bounds"))?;
        let block = Block {
            data,
            restarts_offset,
            num_restarts: n,
        };
        block.validate().map_err(bad)?;
        Ok(block)
    }

    fn validate(&self) -> std::result::Result<(), &'static str> {
        let area = &self.data[..self.restarts_offset];
        let mut next_restart = 0;
        let mut pos = 0;
        let mut prev_key_len = 0usize;
        while pos < area.len() {
            let is_restart = next_restart < self.num_restarts && self.restart(next_restart) == pos;
            if is_restart {
                next_restart += 1;
            } else if pos == 0 {
                return Err("block's first entry is not a restart point");
            }
            let (shared, non_shared, value_len, kstart) =
                decode_header(area, pos).ok_or("bad varint in block entry")?;
            if is_restart && shared != 0 {
                return Err("block restart entry shares a prefix");
            }
            if shared > prev_key_len {
                return Err("block entry shares more than the previous key");
            }
            let end = kstart
                .checked_add(non_shared)
                .and_then(|e| e.checked_add(value_len))
                .filter(|&e| e <= area.len())
                .ok_or("block entry runs past the entry area")?;
            prev_key_len = shared + non_shared;
            pos = end;
        }
        if next_restart != self.num_restarts {
            return Err("block restart point not on an entry boundary");
        }
        Ok(())
    }

    /// Offset of restart point `i`. REQUIRES `i < num_restarts`.
    #[inline]
    fn restart(&self, i: usize) -> usize {
        let p = self.restarts_offset + 4 * i;
        match self.data.get(p..p + 4) {
            Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize,
            // Unreachable for i < num_restarts; an offset past the area makes callers stop.
            None => usize::MAX,
        }
    }

    /// The payload, including the restart array.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// Bytes of the payload.
    pub fn size(&self) -> usize {
        self.data.len()
    }

    /// True when the block has no entries.
    pub fn is_empty(&self) -> bool {
        self.restarts_offset == 0
    }

    /// An unpositioned iterator over the block.
    pub fn iter(&self) -> BlockIter {
        BlockIter {
            block: self.clone(),
            cur: 0,
            next: 0,
            key: KeyLoc::Block(0, 0),
            key_buf: Vec::new(),
            val: (0, 0),
            valid: false,
            corrupt: false,
        }
    }
}

/// Where the current key lives: restart entries (all of them in an index block) are read in
/// place; delta-encoded keys are rebuilt in `key_buf`.
#[derive(Clone, Copy, Debug)]
enum KeyLoc {
    Block(usize, usize),
    Buf,
}

/// A cursor over one block, in both directions.
#[derive(Debug)]
pub struct BlockIter {
    block: Block,
    /// Offset of the current entry.
    cur: usize,
    /// Offset of the entry after the current one.
    next: usize,
    key: KeyLoc,
    key_buf: Vec<u8>,
    val: (usize, usize),
    valid: bool,
    corrupt: bool,
}

impl BlockIter {
    /// True when positioned on an entry.
    #[inline]
    pub fn valid(&self) -> bool {
        self.valid
    }

    /// True if the last move met a malformed entry (the iterator is then invalid).
    pub fn is_corrupt(&self) -> bool {
        self.corrupt
    }

    /// The block being iterated.
    pub fn block(&self) -> &Block {
        &self.block
    }

    /// The current key. REQUIRES `valid()`.
    #[inline]
    pub fn key(&self) -> &[u8] {
        match self.key {
            KeyLoc::Block(s, e) => self.block.data.get(s..e).unwrap_or_default(),
            KeyLoc::Buf => &self.key_buf,
        }
    }

    /// The current value. REQUIRES `valid()`.
    #[inline]
    pub fn value(&self) -> &[u8] {
        self.block
            .data
            .get(self.val.0..self.val.1)
            .unwrap_or_default()
    }

    /// The current value as a zero-copy slice of the block. REQUIRES `valid()`.
    pub fn value_bytes(&self) -> Bytes {
        if self.val.0 <= self.val.1 && self.val.1 <= self.block.data.len() {
            self.block.data.slice(self.val.0..self.val.1)
        } else {
            Bytes::new()
        }
    }

    fn invalidate(&mut self) {
        self.valid = false;
    }

    fn mark_corrupt(&mut self) {
        self.valid = false;
        self.corrupt = true;
    }

    /// Decodes the entry at `pos`. When `shared > 0` the current key must be the previous
    /// entry's key; callers only move to `self.next` or to a restart point.
    fn parse_at(&mut self, pos: usize) {
        let area = &self.block.data[..self.block.restarts_offset.min(self.block.data.len())];
        let Some((shared, non_shared, value_len, kstart)) = decode_header(area, pos) else {
            return self.mark_corrupt();
        };
        let Some(vend) = kstart
            .checked_add(non_shared)
            .and_then(|e| e.checked_add(value_len))
            .filter(|&e| e <= area.len())
        else {
            return self.mark_corrupt();
        };
        let kend = kstart + non_shared;
        if shared == 0 {
            self.key = KeyLoc::Block(kstart, kend);
        } else {
            match self.key {
                KeyLoc::Block(s, e) => {
                    if !self.valid || shared > e.saturating_sub(s) {
                        return self.mark_corrupt();
                    }
                    self.key_buf.clear();
                    self.key_buf.extend_from_slice(&area[s..s + shared]);
                }
                KeyLoc::Buf => {
                    if !self.valid || shared > self.key_buf.len() {
                        return self.mark_corrupt();
                    }
                    self.key_buf.truncate(shared);
                }
            }
            self.key_buf.extend_from_slice(&area[kstart..kend]);
            self.key = KeyLoc::Buf;
        }
        self.cur = pos;
        self.next = vend;
        self.val = (kend, vend);
        self.valid = true;
    }

    /// The key of restart point `i`, read in place (restart entries have `shared = 0`).
    fn restart_key(&self, i: usize) -> Option<&[u8]> {
        let area = &self.block.data[..self.block.restarts_offset];
        let (shared, non_shared, _, kstart) = decode_header(area, self.block.restart(i))?;
        if shared != 0 {
            return None;
        }
        area.get(kstart..kstart.checked_add(non_shared)?)
    }

    fn seek_to_restart(&mut self, i: usize) {
        self.valid = false;
        self.parse_at(self.block.restart(i));
    }

    /// Positions on the first entry.
    pub fn seek_to_first(&mut self) {
        self.corrupt = false;
        if self.block.num_restarts == 0 {
            return self.invalidate();
        }
        self.seek_to_restart(0);
    }

    /// Positions on the last entry.
    pub fn seek_to_last(&mut self) {
        self.corrupt = false;
        if self.block.num_restarts == 0 {
            return self.invalidate();
        }
        self.seek_to_restart(self.block.num_restarts - 1);
        while self.valid && self.next < self.block.restarts_offset {
            self.parse_at(self.next);
        }
    }

    /// Positions on the first entry `>= target` (internal-key order), or invalid.
    pub fn seek(&mut self, target: &[u8]) {
        self.corrupt = false;
        let n = self.block.num_restarts;
        if n == 0 {
            return self.invalidate();
        }
        // Largest restart point whose key is < target; entries before it are all < target.
        let (mut lo, mut hi) = (0, n - 1);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            match self.restart_key(mid) {
                Some(k) if compare_internal(k, target) == Ordering::Less => lo = mid,
                Some(_) => hi = mid - 1,
                None => return self.mark_corrupt(),
            }
        }
        self.seek_to_restart(lo);
        while self.valid && compare_internal(self.key(), target) == Ordering::Less {
            self.next();
        }
    }

    /// Positions on the last entry `<= target` (internal-key order), or invalid.
    pub fn seek_for_prev(&mut self, target: &[u8]) {
        self.seek(target);
        if self.valid {
            if compare_internal(self.key(), target) == Ordering::Greater {
                self.prev();
            }
        } else if !self.corrupt {
            self.seek_to_last();
        }
    }

    /// Moves to the next entry (invalid after the last). REQUIRES `valid()`.
    pub fn next(&mut self) {
        if !self.valid {
            return;
        }
        if self.next >= self.block.restarts_offset {
            return self.invalidate();
        }
        self.parse_at(self.next);
    }

    /// Moves to the previous entry (invalid before the first): re-decodes forward from the
    /// restart point before the current entry. REQUIRES `valid()`.
    pub fn prev(&mut self) {
        if !self.valid {
            return;
        }
        let original = self.cur;
        if original == 0 {
            return self.invalidate();
        }
        // Number of restart points strictly before `original`; at least 1 (restart 0 is 0).
        let (mut lo, mut hi) = (0, self.block.num_restarts);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.block.restart(mid) < original {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if lo == 0 {
            return self.mark_corrupt();
        }
        self.seek_to_restart(lo - 1);
        while self.valid && self.next < original {
            self.parse_at(self.next);
        }
        if self.valid && self.next != original {
            self.mark_corrupt();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::internal_key;
    use crate::sstable::block_builder::BlockBuilder;
    use crate::types::{SeqNo, ValueKind};

    fn entries(n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        // Keys with shared prefixes, two versions of every third key.
        let mut v = Vec::new();
        for i in 0..n {
            let uk = format!("key{:05}", i * 2);
            v.push((
                internal_key(uk.as_bytes(), SeqNo(100), ValueKind::Put),
                format!("v{i}").into_bytes(),
            ));
            if i % 3 == 0 {
                v.push((
                    internal_key(uk.as_bytes(), SeqNo(50), ValueKind::Delete),
                    Vec::new(),
                ));
            }
        }
        v
    }

    fn build(es: &[(Vec<u8>, Vec<u8>)], interval: usize) -> Block {
        let mut b = BlockBuilder::new(interval);
        for (k, v) in es {
            b.add(k, v);
        }
        Block::decode(Bytes::copy_from_slice(b.finish())).unwrap()
    }

    fn collect_fwd(it: &mut BlockIter) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        it.seek_to_first();
        while it.valid() {
            out.push((it.key().to_vec(), it.value().to_vec()));
            it.next();
        }
        assert!(!it.is_corrupt());
        out
    }

    fn collect_back(it: &mut BlockIter) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        it.seek_to_last();
        while it.valid() {
            out.push((it.key().to_vec(), it.value().to_vec()));
            it.prev();
        }
        assert!(!it.is_corrupt());
        out.reverse();
        out
    }

    #[test]
    fn round_trip_both_directions_all_intervals() {
        for n in [0, 1, 2, 15, 16, 17, 100] {
            let es = entries(n);
            for interval in [1, 2, 3, 16, 1000] {
                let block = build(&es, interval);
                let mut it = block.iter();
                assert_eq!(collect_fwd(&mut it), es, "n={n} interval={interval}");
                assert_eq!(collect_back(&mut it), es, "n={n} interval={interval}");
            }
        }
    }

    #[test]
    fn seeks_at_every_key_and_between() {
        let es = entries(60);
        for interval in [1, 4, 16] {
            let block = build(&es, interval);
            let mut it = block.iter();
            for (i, (k, v)) in es.iter().enumerate() {
                it.seek(k);
                assert!(it.valid());
                assert_eq!((it.key(), it.value()), (&k[..], &v[..]));
                it.seek_for_prev(k);
                assert_eq!(it.key(), &k[..]);
                // A lookup key for the same user key at a higher snapshot lands on the newest
                // version; between user keys a seek lands on the next one.
                let uk = crate::key::user_key(k);
                let between = internal_key(&[uk, b"x"].concat(), SeqNo(1), ValueKind::Put);
                it.seek(&between);
                match es
                    .iter()
                    .position(|(k2, _)| compare_internal(k2, &between).is_gt())
                {
                    Some(j) => assert_eq!(it.key(), &es[j].0[..]),
                    None => assert!(!it.valid()),
                }
                it.seek_for_prev(&between);
                let j = es
                    .iter()
                    .rposition(|(k2, _)| compare_internal(k2, &between).is_le())
                    .unwrap();
                assert!(j >= i);
                assert_eq!(it.key(), &es[j].0[..]);
            }
            let before = internal_key(b"a", SeqNo(1), ValueKind::Put);
            let after = internal_key(b"z", SeqNo(1), ValueKind::Put);
            it.seek(&before);
            assert_eq!(it.key(), &es[0].0[..]);
            it.seek_for_prev(&before);
            assert!(!it.valid());
            it.seek(&after);
            assert!(!it.valid());
            it.seek_for_prev(&after);
            assert_eq!(it.key(), &es.last().unwrap().0[..]);
            // Walk back from a seek into the middle of a restart interval.
            it.seek(&es[37].0);
            it.prev();
            assert_eq!(it.key(), &es[36].0[..]);
            it.next();
            it.next();
            assert_eq!(it.key(), &es[38].0[..]);
            assert!(!it.is_corrupt());
        }
    }

    #[test]
    fn empty_block_iterates_nothing() {
        let block = build(&[], 16);
        assert!(block.is_empty());
        let mut it = block.iter();
        it.seek_to_first();
        assert!(!it.valid());
        it.seek_to_last();
        assert!(!it.valid());
        it.seek(b"anything");
        assert!(!it.valid());
        it.seek_for_prev(b"anything");
        assert!(!it.valid());
        assert!(!it.is_corrupt());
    }

    #[test]
    fn values_are_zero_copy_slices() {
        let es = entries(5);
        let block = build(&es, 16);
        let mut it = block.iter();
        it.seek(&es[2].0);
        let v = it.value_bytes();
        assert_eq!(&v[..], &es[2].1[..]);
        let base = block.data().as_ptr() as usize;
        let p = v.as_ptr() as usize;
        assert!(p >= base && p < base + block.size());
    }

    fn corrupt(bytes: Vec<u8>) -> bool {
        Block::decode(Bytes::from(bytes))
            .map(|_| ())
            .unwrap_err()
            .is_corruption()
    }

    #[test]
    fn malformed_blocks_are_rejected() {
        assert!(corrupt(vec![]));
        assert!(corrupt(vec![1, 0, 0]));
        // Restart count larger than the block.
        assert!(corrupt(vec![0, 0, 0, 0, 5, 0, 0, 0]));
        assert!(corrupt(vec![0xff, 0xff, 0xff, 0xff]));
        // Entries but no restart points.
        assert!(corrupt(vec![0, 1, 0, b'a', 0, 0, 0, 0]));
        // Restart point in the middle of an entry.
        assert!(corrupt(vec![
            0, 1, 0, b'a', 0, 1, 0, b'b', 0, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0
        ]));
        // Restart entry with shared != 0.
        assert!(corrupt(vec![1, 1, 0, b'a', 0, 0, 0, 0, 1, 0, 0, 0]));
        // Shared longer than the previous key (interval 2: second entry is not a restart).
        assert!(corrupt(vec![
            0, 1, 0, b'a', 5, 1, 0, b'b', 0, 0, 0, 0, 1, 0, 0, 0
        ]));
        // Value runs past the entry area.
        assert!(corrupt(vec![0, 1, 9, b'a', 0, 0, 0, 0, 1, 0, 0, 0]));
        // Truncated varint.
        assert!(corrupt(vec![0x80, 0, 0, 0, 0, 1, 0, 0, 0]));
        // Restart offsets out of order.
        let mut b = BlockBuilder::new(1);
        b.add(b"a", b"");
        b.add(b"b", b"");
        let mut v = b.finish().to_vec();
        let n = v.len();
        v.swap(n - 12, n - 8);
        assert!(corrupt(v));
    }

    #[test]
    fn any_single_byte_damage_never_panics() {
        let es = entries(20);
        let mut b = BlockBuilder::new(4);
        for (k, v) in &es {
            b.add(k, v);
        }
        let good = b.finish().to_vec();
        for i in 0..good.len() {
            for x in [0x01u8, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[i] ^= x;
                let Ok(block) = Block::decode(Bytes::from(bad)) else {
                    continue;
                };
                // Structure is valid (only a key or value byte changed): both walks agree.
                let mut it = block.iter();
                let f = collect_fwd(&mut it);
                let mut it = block.iter();
                it.seek_to_last();
                let mut back = 0;
                while it.valid() {
                    back += 1;
                    it.prev();
                }
                assert_eq!(back, f.len());
                for (k, _) in &es {
                    it.seek(k);
                    it.seek_for_prev(k);
                }
            }
        }
    }
}
