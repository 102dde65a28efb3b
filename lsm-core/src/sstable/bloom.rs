//! The per-table bloom filter over user keys.
//!
//! ```text
//! filter := bits: [u8; m / 8]   bit i is (bits[i / 8] >> (i % 8)) & 1
//!           k: u8               number of probes, 1..=30
//! probe j of key (j = 0..k):  h = xxh3_64(user_key)   delta = h.rotate_left(32)
//!                             bit = (h + j * delta, wrapping u64) mod m
//! ```
//!
//! `m = max(64, n * bits_per_key)` rounded up to a whole byte, `n` the number of distinct user
//! keys (consecutive equal user keys, i.e. versions of one key, count once) and
//! `k = round(bits_per_key * ln 2)` clamped to `1..=30`. At 10 bits per key this gives k = 7
//! and about 1% false positives.
//!
//! Why not the `bloomfilter` crate: it hashes every probe with SipHash (k hashes per key where
//! this needs one xxh3 and double hashing), and its serialized form carries the random SipHash
//! keys of the process that built it, so the bytes are neither stable nor documented. A table
//! is read back by other builds and other processes, so the filter's on-disk form must be a
//! fixed, seed-free function of the keys, as written above.

use std::path::Path;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::util::checksum::xxh3;

/// Hash used by the filter; the table builder computes it once per distinct user key.
#[inline]
pub fn bloom_hash(user_key: &[u8]) -> u64 {
    xxh3(user_key)
}

/// Probes for `bits_per_key`.
fn num_probes(bits_per_key: u32) -> u8 {
    let k = (bits_per_key as f64 * std::f64::consts::LN_2).round();
    k.clamp(1.0, 30.0) as u8
}

/// Collects key hashes while a table is built.
#[derive(Debug)]
pub struct BloomBuilder {
    bits_per_key: u32,
    hashes: Vec<u64>,
}

impl BloomBuilder {
    /// A builder for `bits_per_key` bits per distinct key (must be > 0).
    pub fn new(bits_per_key: u32) -> Self {
        BloomBuilder {
            bits_per_key: bits_per_key.max(1),
            hashes: Vec::new(),
        }
    }

    /// Adds a user key; a key equal to the previous one is skipped by its hash.
    pub fn add_key(&mut self, user_key: &[u8]) {
        let h = bloom_hash(user_key);
        if self.hashes.last() != Some(&h) {
            self.hashes.push(h);
        }
    }

    /// Distinct keys added.
    pub fn num_keys(&self) -> usize {
        self.hashes.len()
    }

    fn num_bits(&self) -> u64 {
        let bits = (self.hashes.len() as u64)
            .saturating_mul(self.bits_per_key as u64)
            .max(64);
        bits.div_ceil(8) * 8
    }

    /// Size the finished filter will have.
    pub fn estimated_size(&self) -> usize {
        (self.num_bits() / 8) as usize + 1
    }

    /// Builds the filter bytes.
    pub fn finish(&self) -> Vec<u8> {
        let m = self.num_bits();
        let k = num_probes(self.bits_per_key);
        let mut out = vec![0u8; (m / 8) as usize + 1];
        for &h in &self.hashes {
            let delta = h.rotate_left(32);
            let mut x = h;
            for _ in 0..k {
                let bit = x % m;
                out[(bit / 8) as usize] |= 1 << (bit % 8);
                x = x.wrapping_add(delta);
            }
        }
        let last = out.len() - 1;
        out[last] = k;
        out
    }
}

/// A decoded filter, kept in memory by its table.
#[derive(Clone, Debug)]
pub struct BloomFilter {
    data: Bytes,
    num_bits: u64,
    k: u8,
}

impl BloomFilter {
    /// Decodes a filter payload (fuzz entry point; errors name no file).
    pub fn decode(data: Bytes) -> Result<BloomFilter> {
        BloomFilter::decode_at(data, Path::new(""), 0)
    }

    /// Decodes the filter payload read from the block at `offset` of `file`.
    pub fn decode_at(data: Bytes, file: &Path, offset: u64) -> Result<BloomFilter> {
        if data.len() < 2 {
            return Err(Error::corruption(file, offset, "bloom filter too short"));
        }
        let k = data[data.len() - 1];
        if !(1..=30).contains(&k) {
            return Err(Error::corruption(
                file,
                offset,
                format!("bloom filter has {k} probes"),
            ));
        }
        let num_bits = (data.len() as u64 - 1) * 8;
        Ok(BloomFilter { data, num_bits, k })
    }

    /// False only if `user_key` was certainly not added.
    #[inline]
    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        self.may_contain_hash(bloom_hash(user_key))
    }

    /// [`may_contain`](Self::may_contain) for a precomputed [`bloom_hash`].
    #[inline]
    pub fn may_contain_hash(&self, h: u64) -> bool {
        let delta = h.rotate_left(32);
        let mut x = h;
        for _ in 0..self.k {
            let bit = x % self.num_bits;
            // `bit / 8 < data.len() - 1` because num_bits = (len - 1) * 8.
            match self.data.get((bit / 8) as usize) {
                Some(b) if b & (1 << (bit % 8)) != 0 => {}
                _ => return false,
            }
            x = x.wrapping_add(delta);
        }
        true
    }

    /// Bytes of the filter.
    pub fn size(&self) -> usize {
        self.data.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(keys: impl Iterator<Item = Vec<u8>>, bits: u32) -> BloomFilter {
        let mut b = BloomBuilder::new(bits);
        for k in keys {
            b.add_key(&k);
        }
        let est = b.estimated_size();
        let out = b.finish();
        assert_eq!(out.len(), est);
        BloomFilter::decode(Bytes::from(out)).unwrap()
    }

    #[test]
    fn probes_follow_bits_per_key() {
        assert_eq!(num_probes(1), 1);
        assert_eq!(num_probes(10), 7);
        assert_eq!(num_probes(20), 14);
        assert_eq!(num_probes(1000), 30);
    }

    #[test]
    fn no_false_negatives_and_fp_rate_under_two_percent() {
        let key = |i: u32| format!("user-key-{i:08}").into_bytes();
        let f = build((0..10_000).map(key), 10);
        for i in 0..10_000 {
            assert!(f.may_contain(&key(i)), "false negative for {i}");
        }
        let fp = (10_000..110_000)
            .filter(|&i| f.may_contain(&key(i)))
            .count();
        let rate = fp as f64 / 100_000.0;
        assert!(rate < 0.02, "false-positive rate {rate}");
    }

    #[test]
    fn consecutive_duplicates_count_once() {
        let mut b = BloomBuilder::new(10);
        for k in [b"a", b"a", b"b", b"b", b"a"] {
            b.add_key(k);
        }
        assert_eq!(b.num_keys(), 3);
    }

    #[test]
    fn format_is_stable() {
        // Pins the on-disk form: a change here breaks every table ever written.
        let f = BloomBuilder::new(10);
        let mut f = f;
        f.add_key(b"hello");
        let out = f.finish();
        assert_eq!(out.len(), 9);
        assert_eq!(out[8], 7);
        let h = xxh3(b"hello");
        let mut expect = [0u8; 8];
        for j in 0..7u64 {
            let bit = h.wrapping_add(j.wrapping_mul(h.rotate_left(32))) % 64;
            expect[(bit / 8) as usize] |= 1 << (bit % 8);
        }
        assert_eq!(&out[..8], &expect);
    }

    #[test]
    fn empty_filter_matches_nothing() {
        let f = build(std::iter::empty(), 10);
        assert!(!f.may_contain(b"x"));
        assert_eq!(f.size(), 9);
    }

    #[test]
    fn bad_filters_are_corruption() {
        assert!(BloomFilter::decode(Bytes::new())
            .unwrap_err()
            .is_corruption());
        assert!(BloomFilter::decode(Bytes::from_static(&[7]))
            .unwrap_err()
            .is_corruption());
        assert!(BloomFilter::decode(Bytes::from_static(&[0xff, 0]))
            .unwrap_err()
            .is_corruption());
        assert!(BloomFilter::decode(Bytes::from_static(&[0xff, 31]))
            .unwrap_err()
            .is_corruption());
        // Any well-formed filter answers without panicking.
        let f = BloomFilter::decode(Bytes::from_static(&[0xff, 30])).unwrap();
        assert!(f.may_contain(b"anything"));
    }
}
