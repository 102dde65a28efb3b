//! [`VersionEdit`]: one change to the set of live files and keyspaces, one manifest record.
//!
//! An edit is a sequence of tagged fields, in any order, each tag a varint. The record framing
//! of the log gives the edit's exact length, so there is no terminator; a byte left over after
//! the last complete field starts an unknown or truncated field and is rejected.
//!
//! ```text
//! edit  := field*
//! field := tag: varint, then by tag (tags are on disk: never renumber, never reuse; 0 is
//!          reserved so that zero bytes never decode as a field):
//!   1 FORMAT_VERSION    version: varint u32                      at most once per edit
//!   2 NEXT_FILE_NUMBER  number: varint u64                       at most once per edit
//!   3 LAST_SEQ          seq: varint u64 (<= SeqNo::MAX)          at most once per edit
//!   4 LOG_NUMBER        keyspace: varint u32, number: varint u64
//!   5 KEYSPACE_ADDED    keyspace: varint u32, name: varint len ‖ UTF-8 bytes
//!   6 KEYSPACE_DROPPED  keyspace: varint u32
//!   7 NEW_FILE          keyspace: varint u32, level: varint (<= 255), number: varint u64,
//!                       size: varint u64, smallest: varint len ‖ internal key,
//!                       largest: varint len ‖ internal key, smallest_seq: varint u64,
//!                       largest_seq: varint u64, num_entries: varint u64
//!   8 DELETED_FILE      keyspace: varint u32, level: varint (<= 255), number: varint u64
//! ```
//!
//! Repeated fields (tags 4–8) keep their order. An unknown tag is an error rather than
//! something to skip: a newer writer that adds a field also raises [`FORMAT_VERSION`], and an
//! older reader must refuse it instead of building a wrong picture of the files.

use std::path::Path;

use crate::error::{Error, Result};
use crate::types::{FileNumber, KeyspaceId, Level, SeqNo};
use crate::util::coding::{
    get_length_prefixed, get_varint, get_varint32, put_length_prefixed, put_varint,
};

/// The newest manifest format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

const TAG_FORMAT_VERSION: u64 = 1;
const TAG_NEXT_FILE_NUMBER: u64 = 2;
const TAG_LAST_SEQ: u64 = 3;
const TAG_LOG_NUMBER: u64 = 4;
const TAG_KEYSPACE_ADDED: u64 = 5;
const TAG_KEYSPACE_DROPPED: u64 = 6;
const TAG_NEW_FILE: u64 = 7;
const TAG_DELETED_FILE: u64 = 8;

/// What the manifest records about one SST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// The table's file number (`nnnnnn.sst`).
    pub number: FileNumber,
    /// Size of the file in bytes.
    pub size: u64,
    /// Smallest internal key in the table.
    pub smallest: Vec<u8>,
    /// Largest internal key in the table.
    pub largest: Vec<u8>,
    /// Smallest sequence number of any entry.
    pub smallest_seq: SeqNo,
    /// Largest sequence number of any entry.
    pub largest_seq: SeqNo,
    /// Number of entries (tombstones included).
    pub num_entries: u64,
}

/// One change to the database's shape; the manifest is a log of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionEdit {
    /// Present in the first edit of every manifest.
    pub format_version: Option<u32>,
    /// The next unused file number.
    pub next_file_number: Option<FileNumber>,
    /// The last sequence number made durable in an SST or a WAL.
    pub last_seq: Option<SeqNo>,
    /// Per keyspace: WALs numbered below this hold nothing unflushed for it.
    pub log_numbers: Vec<(KeyspaceId, FileNumber)>,
    /// Keyspaces created, with their names.
    pub keyspaces_added: Vec<(KeyspaceId, String)>,
    /// Keyspaces dropped.
    pub keyspaces_dropped: Vec<KeyspaceId>,
    /// Tables added to a level.
    pub new_files: Vec<(KeyspaceId, Level, FileMeta)>,
    /// Tables removed from a level.
    pub deleted_files: Vec<(KeyspaceId, Level, FileNumber)>,
}

impl VersionEdit {
    /// Appends the encoding of this edit to `buf`.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        if let Some(v) = self.format_version {
            put_varint(buf, TAG_FORMAT_VERSION);
            put_varint(buf, u64::from(v));
        }
        if let Some(n) = self.next_file_number {
            put_varint(buf, TAG_NEXT_FILE_NUMBER);
            put_varint(buf, n.0);
        }
        if let Some(s) = self.last_seq {
            put_varint(buf, TAG_LAST_SEQ);
            put_varint(buf, s.0);
        }
        for (ks, n) in &self.log_numbers {
            put_varint(buf, TAG_LOG_NUMBER);
            put_varint(buf, u64::from(ks.0));
            put_varint(buf, n.0);
        }
        for (ks, name) in &self.keyspaces_added {
            put_varint(buf, TAG_KEYSPACE_ADDED);
            put_varint(buf, u64::from(ks.0));
            put_length_prefixed(buf, name.as_bytes());
        }
        for ks in &self.keyspaces_dropped {
            put_varint(buf, TAG_KEYSPACE_DROPPED);
            put_varint(buf, u64::from(ks.0));
        }
        for (ks, level, f) in &self.new_files {
            put_varint(buf, TAG_NEW_FILE);
            put_varint(buf, u64::from(ks.0));
            put_varint(buf, u64::from(level.0));
            put_varint(buf, f.number.0);
            put_varint(buf, f.size);
            put_length_prefixed(buf, &f.smallest);
            put_length_prefixed(buf, &f.largest);
            put_varint(buf, f.smallest_seq.0);
            put_varint(buf, f.largest_seq.0);
            put_varint(buf, f.num_entries);
        }
        for (ks, level, n) in &self.deleted_files {
            put_varint(buf, TAG_DELETED_FILE);
            put_varint(buf, u64::from(ks.0));
            put_varint(buf, u64::from(level.0));
            put_varint(buf, n.0);
        }
    }

    /// The encoding of this edit.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        self.encode(&mut buf);
        buf
    }

    /// Decodes the edit held by the record at `offset` of the manifest `file`. Errors name that
    /// file and offset and, in the reason, the position inside the record.
    pub fn decode(data: &[u8], file: &Path, offset: u64) -> Result<VersionEdit> {
        let mut d = Decoder {
            input: data,
            total: data.len(),
        };
        let mut edit = VersionEdit::default();
        while !d.input.is_empty() {
            let at = d.position();
            let corrupt = |what: String| {
                Error::corruption(
                    file,
                    offset,
                    format!("version edit: {what} at byte {at} of the record"),
                )
            };
            let tag = d.varint("tag").map_err(|e| corrupt(e.to_string()))?;
            d.field(tag, &mut edit)
                .map_err(|e| corrupt(format!("{e} in the field with tag {tag}")))?;
        }
        Ok(edit)
    }
}

/// Why a field failed to decode.
#[derive(Debug)]
enum FieldError {
    Static(&'static str),
    Truncated(&'static str),
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldError::Static(s) => f.write_str(s),
            FieldError::Truncated(what) => write!(f, "truncated or malformed {what}"),
        }
    }
}

impl From<&'static str> for FieldError {
    fn from(s: &'static str) -> Self {
        FieldError::Static(s)
    }
}

fn set_once<T>(slot: &mut Option<T>, v: T) -> std::result::Result<(), FieldError> {
    if slot.is_some() {
        return Err("field appears twice".into());
    }
    *slot = Some(v);
    Ok(())
}

/// A cursor over an edit's bytes whose reads name what was being read when they fail.
struct Decoder<'a> {
    input: &'a [u8],
    total: usize,
}

type FieldResult<T> = std::result::Result<T, FieldError>;

impl<'a> Decoder<'a> {
    fn position(&self) -> usize {
        self.total - self.input.len()
    }

    /// Decodes the body of the field `tag` into `edit`.
    fn field(&mut self, tag: u64, edit: &mut VersionEdit) -> FieldResult<()> {
        match tag {
            TAG_FORMAT_VERSION => {
                let v = self.varint32("format version")?;
                set_once(&mut edit.format_version, v)
            }
            TAG_NEXT_FILE_NUMBER => {
                let n = FileNumber(self.varint("next file number")?);
                set_once(&mut edit.next_file_number, n)
            }
            TAG_LAST_SEQ => {
                let s = self.seq("last sequence")?;
                set_once(&mut edit.last_seq, s)
            }
            TAG_LOG_NUMBER => {
                let ks = self.keyspace()?;
                let n = FileNumber(self.varint("log number")?);
                edit.log_numbers.push((ks, n));
                Ok(())
            }
            TAG_KEYSPACE_ADDED => {
                let ks = self.keyspace()?;
                let name = self.bytes("keyspace name")?;
                let name = std::str::from_utf8(name).map_err(|_| "keyspace name is not UTF-8")?;
                edit.keyspaces_added.push((ks, name.to_owned()));
                Ok(())
            }
            TAG_KEYSPACE_DROPPED => {
                let ks = self.keyspace()?;
                edit.keyspaces_dropped.push(ks);
                Ok(())
            }
            TAG_NEW_FILE => {
                let ks = self.keyspace()?;
                let level = self.level()?;
                let meta = FileMeta {
                    number: FileNumber(self.varint("file number")?),
                    size: self.varint("file size")?,
                    smallest: self.bytes("smallest key")?.to_vec(),
                    largest: self.bytes("largest key")?.to_vec(),
                    smallest_seq: self.seq("smallest sequence")?,
                    largest_seq: self.seq("largest sequence")?,
                    num_entries: self.varint("entry count")?,
                };
                edit.new_files.push((ks, level, meta));
                Ok(())
            }
            TAG_DELETED_FILE => {
                let ks = self.keyspace()?;
                let level = self.level()?;
                let n = FileNumber(self.varint("file number")?);
                edit.deleted_files.push((ks, level, n));
                Ok(())
            }
            _ => Err("unknown field tag".into()),
        }
    }

    fn varint(&mut self, what: &'static str) -> FieldResult<u64> {
        get_varint(&mut self.input).ok_or(FieldError::Truncated(what))
    }

    fn varint32(&mut self, what: &'static str) -> FieldResult<u32> {
        get_varint32(&mut self.input).ok_or(FieldError::Truncated(what))
    }

    fn bytes(&mut self, what: &'static str) -> FieldResult<&'a [u8]> {
        get_length_prefixed(&mut self.input).ok_or(FieldError::Truncated(what))
    }

    fn keyspace(&mut self) -> FieldResult<KeyspaceId> {
        self.varint32("keyspace id").map(KeyspaceId)
    }

    fn level(&mut self) -> FieldResult<Level> {
        let v = self.varint("level")?;
        u8::try_from(v)
            .map(Level)
            .map_err(|_| "level above 255".into())
    }

    fn seq(&mut self, what: &'static str) -> FieldResult<SeqNo> {
        let s = SeqNo(self.varint(what)?);
        if s > SeqNo::MAX {
            return Err("sequence number above SeqNo::MAX".into());
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_edit() -> VersionEdit {
        VersionEdit {
            format_version: Some(FORMAT_VERSION),
            next_file_number: Some(FileNumber(1 << 40)),
            last_seq: Some(SeqNo::MAX),
            log_numbers: vec![
                (KeyspaceId(0), FileNumber(7)),
                (KeyspaceId(3), FileNumber(9)),
            ],
            keyspaces_added: vec![(KeyspaceId(3), "users".into()), (KeyspaceId(4), "".into())],
            keyspaces_dropped: vec![KeyspaceId(2), KeyspaceId(u32::MAX)],
            new_files: vec![
                (
                    KeyspaceId(0),
                    Level(0),
                    FileMeta {
                        number: FileNumber(12),
                        size: 4096,
                        smallest: b"a\x01\0\0\0\0\0\0\0".to_vec(),
                        largest: b"zz\x01\0\0\0\0\0\0\0".to_vec(),
                        smallest_seq: SeqNo(1),
                        largest_seq: SeqNo(99),
                        num_entries: 50,
                    },
                ),
                (
                    KeyspaceId(3),
                    Level(255),
                    FileMeta {
                        number: FileNumber(13),
                        size: 0,
                        smallest: vec![],
                        largest: vec![],
                        smallest_seq: SeqNo::ZERO,
                        largest_seq: SeqNo::MAX,
                        num_entries: u64::MAX,
                    },
                ),
            ],
            deleted_files: vec![(KeyspaceId(0), Level(1), FileNumber(5))],
        }
    }

    #[test]
    fn round_trip_every_field() {
        for edit in [full_edit(), VersionEdit::default()] {
            let bytes = edit.encode_to_vec();
            assert_eq!(
                VersionEdit::decode(&bytes, Path::new("M"), 0).unwrap(),
                edit
            );
        }
        let only_seq = VersionEdit {
            last_seq: Some(SeqNo(300)),
            ..VersionEdit::default()
        };
        assert_eq!(only_seq.encode_to_vec(), vec![3, 0xac, 0x02]);
    }

    #[test]
    fn truncation_inside_a_field_is_corruption() {
        let bytes = full_edit().encode_to_vec();
        let mut boundaries = 0;
        for cut in 0..bytes.len() {
            match VersionEdit::decode(&bytes[..cut], Path::new("MANIFEST-000001"), 64) {
                // Cutting between fields leaves a shorter, well-formed edit; the log's checksum is
                // what catches that. It must still never equal the whole edit.
                Ok(e) => {
                    boundaries += 1;
                    assert_ne!(e, full_edit());
                }
                Err(Error::Corruption { file, offset, .. }) => {
                    assert_eq!(file, Path::new("MANIFEST-000001"));
                    assert_eq!(offset, 64);
                }
                Err(e) => panic!("unexpected {e}"),
            }
        }
        // The empty prefix, and the end of every field but the last.
        let fields = 3 + 2 + 2 + 2 + 2 + 1;
        assert_eq!(boundaries, fields);
    }

    #[test]
    fn rejects_unknown_tags_duplicates_and_bad_values() {
        let file = Path::new("M");
        let cases: Vec<Vec<u8>> = vec![
            vec![0],                                                       // reserved tag
            vec![9, 1],                                                    // unknown tag
            vec![0x80, 0x01],                                              // unknown multi-byte tag
            vec![1, 1, 1, 1],                                              // format version twice
            vec![2, 5, 2, 6],                                              // next file number twice
            vec![1, 0xff, 0xff, 0xff, 0xff, 0x10],                         // version above u32
            vec![3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // seq above MAX
            vec![8, 0, 0x80, 0x02, 1],                                     // level 256
            vec![5, 0, 2, 0xff, 0xfe],                                     // name not UTF-8
            vec![4, 0],                                                    // log number missing
        ];
        for bytes in cases {
            let e = VersionEdit::decode(&bytes, file, 3).unwrap_err();
            assert!(e.is_corruption(), "{bytes:?}: {e}");
        }
        let mut trailing = full_edit().encode_to_vec();
        trailing.push(0x7f);
        assert!(VersionEdit::decode(&trailing, file, 0)
            .unwrap_err()
            .is_corruption());
    }

    #[test]
    fn tags_are_stable() {
        let e = VersionEdit {
            format_version: Some(1),
            next_file_number: Some(FileNumber(2)),
            keyspaces_dropped: vec![KeyspaceId(5)],
            ..VersionEdit::default()
        };
        assert_eq!(e.encode_to_vec(), vec![1, 1, 2, 2, 6, 5]);
    }
}
