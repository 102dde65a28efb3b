//! Checksums: xxh3-64 truncated to 32 bits where a format stores a `u32`.

/// xxh3-64 of `data`.
#[inline]
pub fn xxh3(data: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(data)
}

/// xxh3-64 of the concatenation of `parts`, truncated to 32 bits.
#[inline]
pub fn checksum32(parts: &[&[u8]]) -> u32 {
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    for p in parts {
        h.update(p);
    }
    h.digest() as u32
}
