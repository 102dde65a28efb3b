//! Names of the files in a database directory.
//!
//! | name | what |
//! | --- | --- |
//! | `LOCK` | held exclusively by the process that has the database open |
//! | `CURRENT` | one line, `MANIFEST-nnnnnn\n`, naming the live manifest; replaced by rename |
//! | `MANIFEST-nnnnnn` | log of version edits |
//! | `nnnnnn.log` | write-ahead log |
//! | `nnnnnn.sst` | sorted table |
//! | `*.tmp` | a file being written before an atomic rename; removed on open |
//!
//! File numbers come from one counter recorded in the manifest, so no two files share a number.

use std::path::{Path, PathBuf};

use crate::types::FileNumber;

/// Name of the lock file.
pub const LOCK: &str = "LOCK";
/// Name of the file that names the live manifest.
pub const CURRENT: &str = "CURRENT";

/// What a file in the database directory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// `LOCK`.
    Lock,
    /// `CURRENT`.
    Current,
    /// `MANIFEST-n`.
    Manifest(FileNumber),
    /// `n.log`.
    Wal(FileNumber),
    /// `n.sst`.
    Table(FileNumber),
    /// `*.tmp`.
    Temp,
}

/// `nnnnnn.log`.
pub fn wal_name(n: FileNumber) -> String {
    format!("{n}.log")
}

/// `nnnnnn.sst`.
pub fn table_name(n: FileNumber) -> String {
    format!("{n}.sst")
}

/// `MANIFEST-nnnnnn`.
pub fn manifest_name(n: FileNumber) -> String {
    format!("MANIFEST-{n}")
}

/// Full path of the WAL numbered `n` in `dir`.
pub fn wal_path(dir: &Path, n: FileNumber) -> PathBuf {
    dir.join(wal_name(n))
}

/// Full path of the table numbered `n` in `dir`.
pub fn table_path(dir: &Path, n: FileNumber) -> PathBuf {
    dir.join(table_name(n))
}

/// Full path of the manifest numbered `n` in `dir`.
pub fn manifest_path(dir: &Path, n: FileNumber) -> PathBuf {
    dir.join(manifest_name(n))
}

/// Recognises a file name; `None` for files that are not the engine's.
pub fn parse(name: &str) -> Option<FileKind> {
    fn number(s: &str) -> Option<FileNumber> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok().map(FileNumber)
    }
    match name {
        LOCK => return Some(FileKind::Lock),
        CURRENT => return Some(FileKind::Current),
        _ => {}
    }
    if name.ends_with(".tmp") {
        return Some(FileKind::Temp);
    }
    if let Some(rest) = name.strip_prefix("MANIFEST-") {
        return number(rest).map(FileKind::Manifest);
    }
    if let Some(rest) = name.strip_suffix(".log") {
        return number(rest).map(FileKind::Wal);
    }
    if let Some(rest) = name.strip_suffix(".sst") {
        return number(rest).map(FileKind::Table);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let n = FileNumber(42);
        assert_eq!(wal_name(n), "000042.log");
        assert_eq!(parse(&wal_name(n)), Some(FileKind::Wal(n)));
        assert_eq!(parse(&table_name(n)), Some(FileKind::Table(n)));
        assert_eq!(parse(&manifest_name(n)), Some(FileKind::Manifest(n)));
        assert_eq!(parse("CURRENT"), Some(FileKind::Current));
        assert_eq!(parse("CURRENT.tmp"), Some(FileKind::Temp));
        assert_eq!(parse("notes.txt"), None);
        assert_eq!(parse(".log"), None);
        assert_eq!(parse("MANIFEST-x"), None);
    }
}
