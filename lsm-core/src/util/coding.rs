//! Little-endian fixed-width integers and LEB128 varints, as used by every on-disk format.
//!
//! Decoders take a `&mut &[u8]` cursor and return `None` on truncated or overlong input, so the
//! caller can turn that into a corruption error naming its own file and offset.

/// Appends `v` as a LEB128 varint (1–10 bytes).
#[inline]
pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Reads a LEB128 varint, advancing the cursor.
///
/// Only the shortest encoding is accepted (a last byte of zero after a continuation byte is
/// refused, as is a value above `u64::MAX`), so every value has exactly one encoding and a
/// decoded record re-encodes to the same bytes. The fuzzer found batches that decoded from an
/// overlong length and re-encoded differently.
#[inline]
pub fn get_varint(input: &mut &[u8]) -> Option<u64> {
    let mut result: u64 = 0;
    for (i, &b) in input.iter().enumerate().take(10) {
        let part = (b & 0x7f) as u64;
        if i == 9 && part > 1 {
            return None;
        }
        result |= part << (7 * i);
        if b & 0x80 == 0 {
            if i > 0 && b == 0 {
                return None;
            }
            *input = &input[i + 1..];
            return Some(result);
        }
    }
    None
}

/// Reads a varint that must fit in `u32`.
#[inline]
pub fn get_varint32(input: &mut &[u8]) -> Option<u32> {
    get_varint(input).and_then(|v| u32::try_from(v).ok())
}

/// Appends a varint length followed by the bytes.
#[inline]
pub fn put_length_prefixed(buf: &mut Vec<u8>, data: &[u8]) {
    put_varint(buf, data.len() as u64);
    buf.extend_from_slice(data);
}

/// Reads a varint length and that many bytes.
#[inline]
pub fn get_length_prefixed<'a>(input: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = usize::try_from(get_varint(input)?).ok()?;
    if input.len() < len {
        return None;
    }
    let (head, tail) = input.split_at(len);
    *input = tail;
    Some(head)
}

/// Reads `n` raw bytes.
#[inline]
pub fn get_bytes<'a>(input: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if input.len() < n {
        return None;
    }
    let (head, tail) = input.split_at(n);
    *input = tail;
    Some(head)
}

/// Reads a little-endian `u32`.
#[inline]
pub fn get_u32(input: &mut &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(get_bytes(input, 4)?.try_into().ok()?))
}

/// Reads a little-endian `u64`.
#[inline]
pub fn get_u64(input: &mut &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(get_bytes(input, 8)?.try_into().ok()?))
}

/// Reads one byte.
#[inline]
pub fn get_u8(input: &mut &[u8]) -> Option<u8> {
    Some(get_bytes(input, 1)?[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut s = &b[..];
            assert_eq!(get_varint(&mut s), Some(v));
            assert!(s.is_empty());
        }
    }

    #[test]
    fn varint_rejects_truncated_and_overlong() {
        assert_eq!(get_varint(&mut &[0x80u8][..]), None);
        assert_eq!(get_varint(&mut &[0xffu8; 11][..]), None);
        let mut b = vec![0xff; 9];
        b.push(0x02); // 2^64 overflows
        assert_eq!(get_varint(&mut &b[..]), None);
        // Non-shortest encodings: 0 as two bytes, 2^21 - 1 with a zero fourth byte (the
        // fuzzer's write-batch input).
        assert_eq!(get_varint(&mut &[0x80u8, 0x00][..]), None);
        assert_eq!(get_varint(&mut &[0xffu8, 0xff, 0xff, 0x00][..]), None);
        assert_eq!(
            get_varint(&mut &[0xffu8, 0xff, 0x7f][..]),
            Some((1 << 21) - 1)
        );
        assert_eq!(get_varint(&mut &[0x80u8, 0x01][..]), Some(128));
    }

    #[test]
    fn length_prefixed_rejects_short_input() {
        let mut b = Vec::new();
        put_length_prefixed(&mut b, b"hello");
        b.truncate(4);
        assert_eq!(get_length_prefixed(&mut &b[..]), None);
    }
}
