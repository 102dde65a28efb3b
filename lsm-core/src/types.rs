//! Identity newtypes shared by every module: sequence numbers, file numbers, keyspace ids and
//! the kind of an entry. Each wraps a bare integer so that one can never be passed as another.

use std::fmt;

/// A write's position in the total order of all writes. Every batch takes `count` consecutive
/// numbers; the highest number that is fully applied is the "visible" sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeqNo(pub u64);

impl SeqNo {
    /// The largest sequence number an internal key can hold (56 bits).
    pub const MAX: SeqNo = SeqNo((1 << 56) - 1);
    /// Sequence number zero: nothing has been written.
    pub const ZERO: SeqNo = SeqNo(0);

    /// The next sequence number.
    pub fn next(self) -> SeqNo {
        SeqNo(self.0 + 1)
    }
}

impl fmt::Display for SeqNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Number of a file in the database directory (`000007.log`, `000008.sst`, `MANIFEST-000009`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileNumber(pub u64);

impl fmt::Display for FileNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06}", self.0)
    }
}

/// Identity of a keyspace (RocksDB's column family). Id 0 is the default keyspace; ids are never
/// reused after a drop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyspaceId(pub u32);

impl KeyspaceId {
    /// The default keyspace, which always exists.
    pub const DEFAULT: KeyspaceId = KeyspaceId(0);
}

impl fmt::Display for KeyspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A level of the LSM tree (0 = freshly flushed, overlapping files).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Level(pub u8);

/// What an entry means. The discriminants are written to disk: never renumber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ValueKind {
    /// A tombstone: the key is absent at this sequence.
    Delete = 0,
    /// A value.
    Put = 1,
    /// A merge operand, folded with older values on read (issue: kv-api merge operators).
    Merge = 2,
    /// A range tombstone `[key, value)`.
    RangeDelete = 3,
}

impl ValueKind {
    /// Decodes a kind byte; `None` for bytes no version of the format ever wrote.
    pub fn from_u8(b: u8) -> Option<ValueKind> {
        match b {
            0 => Some(ValueKind::Delete),
            1 => Some(ValueKind::Put),
            2 => Some(ValueKind::Merge),
            3 => Some(ValueKind::RangeDelete),
            _ => None,
        }
    }
}
