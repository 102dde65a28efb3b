//! Internal keys: how a user key, a sequence number and a kind become one sortable byte string.
//!
//! ```text
//! internal_key := user_key: [u8; n]
//!                 trailer:  u64 LE    (seq << 8) | kind      seq < 2^56, kind a ValueKind byte
//! ```
//!
//! Order: user key ascending (bytewise), then trailer *descending*, so that for one user key
//! the newest version comes first and a seek to `(key, snapshot_seq, 0xff)` lands on the newest
//! version a snapshot may see. Plain `memcmp` on the encoding is **not** this order (a shorter
//! user key is a prefix of a longer one), so every sorted structure uses [`compare_internal`].

use std::cmp::Ordering;

use crate::types::{SeqNo, ValueKind};

/// Length of the trailer appended to every user key.
pub const TRAILER_LEN: usize = 8;

/// Kind byte used in lookup keys: sorts before (i.e. newer than) every real kind at the same
/// sequence number.
const SEEK_KIND: u8 = 0xff;

/// Packs a sequence number and kind into a trailer.
#[inline]
pub fn pack_trailer(seq: SeqNo, kind: u8) -> u64 {
    (seq.0 << 8) | kind as u64
}

/// Appends the internal key for `(user_key, seq, kind)` to `buf`.
#[inline]
pub fn encode_internal_key(buf: &mut Vec<u8>, user_key: &[u8], seq: SeqNo, kind: ValueKind) {
    buf.extend_from_slice(user_key);
    buf.extend_from_slice(&pack_trailer(seq, kind as u8).to_le_bytes());
}

/// Returns a fresh internal key.
pub fn internal_key(user_key: &[u8], seq: SeqNo, kind: ValueKind) -> Vec<u8> {
    let mut v = Vec::with_capacity(user_key.len() + TRAILER_LEN);
    encode_internal_key(&mut v, user_key, seq, kind);
    v
}

/// The key to seek to for the newest version of `user_key` visible at `snapshot`.
pub fn lookup_key(user_key: &[u8], snapshot: SeqNo) -> Vec<u8> {
    let mut v = Vec::with_capacity(user_key.len() + TRAILER_LEN);
    v.extend_from_slice(user_key);
    v.extend_from_slice(&pack_trailer(snapshot, SEEK_KIND).to_le_bytes());
    v
}

/// The key to seek backward to so that every version of `user_key` is at or before it.
pub fn lookup_key_last(user_key: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(user_key.len() + TRAILER_LEN);
    v.extend_from_slice(user_key);
    v.extend_from_slice(&0u64.to_le_bytes());
    v
}

/// An internal key split into its parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    /// The user's key.
    pub user_key: &'a [u8],
    /// Sequence number of the write.
    pub seq: SeqNo,
    /// What the entry means.
    pub kind: ValueKind,
}

/// Splits an internal key; `None` if it is shorter than a trailer or has an unknown kind.
#[inline]
pub fn parse_internal_key(ikey: &[u8]) -> Option<ParsedKey<'_>> {
    let n = ikey.len().checked_sub(TRAILER_LEN)?;
    let trailer = u64::from_le_bytes(ikey[n..].try_into().ok()?);
    let kind = ValueKind::from_u8((trailer & 0xff) as u8)?;
    Some(ParsedKey {
        user_key: &ikey[..n],
        seq: SeqNo(trailer >> 8),
        kind,
    })
}

/// The user-key part of an internal key (the whole slice if it is too short to hold a trailer).
#[inline]
pub fn user_key(ikey: &[u8]) -> &[u8] {
    &ikey[..ikey.len().saturating_sub(TRAILER_LEN)]
}

#[inline]
fn trailer(ikey: &[u8]) -> u64 {
    let n = ikey.len().saturating_sub(TRAILER_LEN);
    let mut t = [0u8; 8];
    let tail = &ikey[n..];
    t[..tail.len()].copy_from_slice(tail);
    u64::from_le_bytes(t)
}

/// The internal-key order: user key ascending, then trailer descending.
#[inline]
pub fn compare_internal(a: &[u8], b: &[u8]) -> Ordering {
    match user_key(a).cmp(user_key(b)) {
        Ordering::Equal => trailer(b).cmp(&trailer(a)),
        o => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let k = internal_key(b"apple", SeqNo(42), ValueKind::Put);
        let p = parse_internal_key(&k).unwrap();
        assert_eq!(p.user_key, b"apple");
        assert_eq!(p.seq, SeqNo(42));
        assert_eq!(p.kind, ValueKind::Put);
        assert_eq!(parse_internal_key(b"short"), None);
        let mut bad = k.clone();
        *bad.last_mut().unwrap() = 0; // top byte of the trailer: still valid
        assert!(parse_internal_key(&bad).is_some());
        let mut bad_kind = k;
        let n = bad_kind.len() - TRAILER_LEN;
        bad_kind[n] = 0x77;
        assert_eq!(parse_internal_key(&bad_kind), None);
    }

    #[test]
    fn order_is_user_key_then_newest_first() {
        let mut keys = [
            internal_key(b"b", SeqNo(1), ValueKind::Put),
            internal_key(b"a", SeqNo(1), ValueKind::Put),
            internal_key(b"a", SeqNo(9), ValueKind::Delete),
            internal_key(b"ab", SeqNo(5), ValueKind::Put),
            internal_key(b"", SeqNo(3), ValueKind::Put),
        ];
        keys.sort_by(|x, y| compare_internal(x, y));
        let parsed: Vec<_> = keys
            .iter()
            .map(|k| {
                let p = parse_internal_key(k).unwrap();
                (p.user_key.to_vec(), p.seq.0)
            })
            .collect();
        assert_eq!(
            parsed,
            vec![
                (b"".to_vec(), 3),
                (b"a".to_vec(), 9),
                (b"a".to_vec(), 1),
                (b"ab".to_vec(), 5),
                (b"b".to_vec(), 1)
            ]
        );
    }

    #[test]
    fn lookup_key_sorts_before_versions_it_may_see() {
        let lk = lookup_key(b"k", SeqNo(5));
        assert_eq!(
            compare_internal(&lk, &internal_key(b"k", SeqNo(5), ValueKind::Put)),
            Ordering::Less
        );
        assert_eq!(
            compare_internal(&lk, &internal_key(b"k", SeqNo(6), ValueKind::Put)),
            Ordering::Greater
        );
    }
}
