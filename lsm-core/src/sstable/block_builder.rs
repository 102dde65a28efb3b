//! Builds one block payload (uncompressed): prefix-compressed entries and a restart array.
//!
//! ```text
//! block payload := entry* restart: u32 LE * n  n: u32 LE
//! entry         := shared: varint  non_shared: varint  value_len: varint
//!                  key_delta: [u8; non_shared]  value: [u8; value_len]
//! ```
//!
//! `shared` is the length of the prefix the key has in common with the previous key; it is 0 at
//! every restart point, so a reader can binary-search the restart points and decode from there.
//! A restart point starts every `restart_interval` entries (the first entry is always one). An
//! empty block is the four bytes `n = 0`.
//!
//! The builder does not check key order: the table builder does.

use crate::util::coding::put_varint;

/// Accumulates entries into one block payload.
#[derive(Debug)]
pub struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    restart_interval: usize,
    counter: usize,
    last_key: Vec<u8>,
}

impl BlockBuilder {
    /// A builder that starts a restart point every `restart_interval` entries (0 acts as 1).
    pub fn new(restart_interval: usize) -> Self {
        BlockBuilder {
            buf: Vec::new(),
            restarts: Vec::new(),
            restart_interval: restart_interval.max(1),
            counter: 0,
            last_key: Vec::new(),
        }
    }

    /// Bytes the payload would take if finished now.
    pub fn estimated_size(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    /// Upper bound on what adding `(key, value)` would grow the payload by.
    pub fn entry_size_bound(key: &[u8], value: &[u8]) -> usize {
        // Three varints of at most 10 bytes, and possibly a new restart slot.
        key.len() + value.len() + 3 * 10 + 4
    }

    /// True when no entry has been added since the last reset.
    pub fn is_empty(&self) -> bool {
        self.counter == 0
    }

    /// Number of entries added since the last reset.
    pub fn len(&self) -> usize {
        self.counter
    }

    /// The last key added.
    pub fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// Appends an entry. The caller keeps the payload under 4 GiB (restart offsets are u32);
    /// the table builder cuts blocks long before that.
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        let shared = if self.counter.is_multiple_of(self.restart_interval) {
            self.restarts.push(self.buf.len() as u32);
            0
        } else {
            self.last_key
                .iter()
                .zip(key)
                .take_while(|(a, b)| a == b)
                .count()
        };
        put_varint(&mut self.buf, shared as u64);
        put_varint(&mut self.buf, (key.len() - shared) as u64);
        put_varint(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(&key[shared..]);
        self.buf.extend_from_slice(value);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(&key[shared..]);
        self.counter += 1;
    }

    /// Appends the restart array and returns the finished payload; call [`reset`](Self::reset)
    /// before reusing the builder.
    pub fn finish(&mut self) -> &[u8] {
        for r in &self.restarts {
            self.buf.extend_from_slice(&r.to_le_bytes());
        }
        self.buf
            .extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        &self.buf
    }

    /// Empties the builder, keeping its allocations.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.restarts.clear();
        self.counter = 0;
        self.last_key.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_block_is_just_a_zero_count() {
        let mut b = BlockBuilder::new(16);
        assert!(b.is_empty());
        assert_eq!(b.estimated_size(), 4);
        assert_eq!(b.finish(), &[0, 0, 0, 0]);
    }

    #[test]
    fn prefix_compression_and_restarts() {
        let mut b = BlockBuilder::new(2);
        b.add(b"apple", b"1");
        b.add(b"apricot", b"2");
        b.add(b"banana", b"3");
        assert_eq!(b.len(), 3);
        assert_eq!(b.last_key(), b"banana");
        let est = b.estimated_size();
        let out = b.finish().to_vec();
        assert_eq!(out.len(), est);
        // entry 0: restart, full key
        assert_eq!(&out[..3], &[0, 5, 1]);
        assert_eq!(&out[3..9], b"apple1");
        // entry 1: shares "ap"
        assert_eq!(&out[9..12], &[2, 5, 1]);
        assert_eq!(&out[12..18], b"ricot2");
        // entry 2: restart again
        assert_eq!(&out[18..21], &[0, 6, 1]);
        let n = out.len();
        assert_eq!(&out[n - 4..], &2u32.to_le_bytes());
        assert_eq!(&out[n - 8..n - 4], &18u32.to_le_bytes());
        assert_eq!(&out[n - 12..n - 8], &0u32.to_le_bytes());
        b.reset();
        assert!(b.is_empty());
        assert_eq!(b.finish(), &[0, 0, 0, 0]);
    }
}
