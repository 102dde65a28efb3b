//! The log framing shared by [`LogWriter`](super::LogWriter) and
//! [`LogReader`](super::LogReader): the WAL and the manifest are both written in it.
//!
//! ```text
//! file     := block* (the last block may be partial)
//! block    := fragment* trailer?      BLOCK_SIZE = 32768 bytes
//! trailer  := 0x00{1..6}              written when fewer than HEADER_LEN bytes remain in a block
//! fragment := checksum: u32 LE        xxh3_64(type ‖ payload), truncated to its low 32 bits
//!             length:   u16 LE        payload bytes in this fragment
//!             type:     u8            FragmentType: 1 FULL, 2 FIRST, 3 MIDDLE, 4 LAST
//!             payload:  [u8; length]
//! ```
//!
//! A fragment never straddles a block boundary, so every block begins with a fragment header
//! (or is empty); a reader can resynchronise at any block boundary. A record that fits in the
//! rest of the current block is one `FULL` fragment; otherwise it is `FIRST`, zero or more
//! `MIDDLE`, then `LAST`. Zero-length records and zero-length fragments are legal.
//!
//! Type byte 0 is never written, so a run of zero bytes (trailer padding, or a zero-filled tail
//! left by a crash) can never be mistaken for a fragment.

use crate::util::checksum::checksum32;

/// Size of one block of the log. Fragments never cross a multiple of this offset.
pub const BLOCK_SIZE: usize = 32 * 1024;

/// Bytes of a fragment header: checksum (4) + length (2) + type (1).
pub const HEADER_LEN: usize = 7;

/// The largest payload one fragment can carry (a fragment alone in a block).
pub const MAX_FRAGMENT_PAYLOAD: usize = BLOCK_SIZE - HEADER_LEN;

/// Where a fragment sits in its record. The discriminants are written to disk: never renumber,
/// and never use 0 (zero bytes must stay distinguishable from a header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FragmentType {
    /// The whole record.
    Full = 1,
    /// The first piece of a record continued in later fragments.
    First = 2,
    /// A piece that is neither first nor last.
    Middle = 3,
    /// The final piece of a record.
    Last = 4,
}

impl FragmentType {
    /// Decodes a type byte; `None` for bytes no writer ever produced.
    pub fn from_u8(b: u8) -> Option<FragmentType> {
        match b {
            1 => Some(FragmentType::Full),
            2 => Some(FragmentType::First),
            3 => Some(FragmentType::Middle),
            4 => Some(FragmentType::Last),
            _ => None,
        }
    }
}

/// The checksum stored in a fragment header.
#[inline]
pub fn fragment_checksum(ty: u8, payload: &[u8]) -> u32 {
    checksum32(&[&[ty], payload])
}

/// Appends one fragment (header + payload) to `buf`. The caller guarantees the fragment fits
/// in the rest of its block, hence `payload.len() <= MAX_FRAGMENT_PAYLOAD`.
pub(crate) fn encode_fragment(buf: &mut Vec<u8>, ty: FragmentType, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_FRAGMENT_PAYLOAD);
    buf.extend_from_slice(&fragment_checksum(ty as u8, payload).to_le_bytes());
    buf.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    buf.push(ty as u8);
    buf.extend_from_slice(payload);
}

/// A decoded fragment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub checksum: u32,
    pub length: usize,
    pub ty: u8,
}

/// Decodes the header at the start of `bytes`; `None` if fewer than `HEADER_LEN` bytes remain.
#[inline]
pub(crate) fn decode_header(bytes: &[u8]) -> Option<Header> {
    let h = bytes.get(..HEADER_LEN)?;
    Some(Header {
        checksum: u32::from_le_bytes([h[0], h[1], h[2], h[3]]),
        length: u16::from_le_bytes([h[4], h[5]]) as usize,
        ty: h[6],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_encoding_matches_grammar() {
        let mut buf = Vec::new();
        encode_fragment(&mut buf, FragmentType::Middle, b"abc");
        assert_eq!(buf.len(), HEADER_LEN + 3);
        let h = decode_header(&buf).unwrap();
        assert_eq!(h.length, 3);
        assert_eq!(h.ty, 3);
        assert_eq!(h.checksum, fragment_checksum(3, b"abc"));
        assert_eq!(&buf[HEADER_LEN..], b"abc");
        assert_eq!(decode_header(&buf[..6]), None);
    }

    #[test]
    fn type_bytes_are_stable() {
        for (b, t) in [
            (1, FragmentType::Full),
            (2, FragmentType::First),
            (3, FragmentType::Middle),
            (4, FragmentType::Last),
        ] {
            assert_eq!(t as u8, b);
            assert_eq!(FragmentType::from_u8(b), Some(t));
        }
        assert_eq!(FragmentType::from_u8(0), None);
        assert_eq!(FragmentType::from_u8(5), None);
    }
}
