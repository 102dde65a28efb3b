//! `CURRENT` + `MANIFEST-n`: the durable record of which files and keyspaces make up the
//! database.
//!
//! A manifest is a log in the [`crate::wal::format`] framing whose records are
//! [`VersionEdit`]s (grammar in [`edit`]). Its first edit carries `format_version` and
//! describes the whole state at the time the manifest was created; every later edit is a
//! change. `CURRENT` ([`current`]) names the live manifest.
//!
//! The manifest is the truth: [`ManifestWriter::append`] returns only once its edit is synced,
//! and the engine acts on an edit (deletes an obsolete WAL or SST, exposes a new table) only
//! after that. A crash during an append leaves a torn tail, which [`read_manifest`] drops: that
//! edit never returned, so nothing depended on it.
//!
//! A manifest is never reopened for appending. After reading one, the engine writes a fresh
//! manifest whose first edit is a snapshot of the recovered state and then switches `CURRENT`
//! to it, so a torn tail is never followed by new edits (which would turn it into damage in the
//! middle). Creation order, so a crash at any point leaves a usable database:
//!
//! 1. [`ManifestWriter::create`]: create `MANIFEST-n`, append the snapshot, sync the file,
//!    sync the directory (the new name is durable);
//! 2. [`set_current`]: write `CURRENT.tmp`, sync it, rename it over `CURRENT`, sync the
//!    directory;
//! 3. only then remove the previous manifest (and sync the directory again).
//!
//! A crash before step 2 completes leaves `CURRENT` naming the old, intact manifest; the new
//! one is an orphan that the next open removes.

pub mod current;
pub mod edit;

use std::path::Path;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::fs::FileSystem;
use crate::types::FileNumber;
use crate::util::filename::manifest_path;
use crate::wal::{LogReader, LogWriter, TailPolicy};

pub use current::{read_current, set_current};
pub use edit::{FileMeta, VersionEdit, FORMAT_VERSION};

/// Appends version edits to one manifest file.
pub struct ManifestWriter {
    log: LogWriter,
    number: FileNumber,
    buf: Vec<u8>,
}

impl ManifestWriter {
    /// Creates `MANIFEST-<number>` in `dir` holding `snapshot` (a full description of the
    /// current state with `format_version` set), and makes both the bytes and the file name
    /// durable before returning. Does not touch `CURRENT`.
    pub fn create(
        fs: &dyn FileSystem,
        dir: &Path,
        number: FileNumber,
        snapshot: &VersionEdit,
    ) -> Result<ManifestWriter> {
        match snapshot.format_version {
            Some(v) if v <= FORMAT_VERSION => {}
            other => {
                return Err(Error::InvalidArgument(format!(
                "a manifest's first edit needs format version <= {FORMAT_VERSION}, got {other:?}"
            )))
            }
        }
        let file = fs.create(&manifest_path(dir, number))?;
        let mut writer = ManifestWriter {
            log: LogWriter::new(file),
            number,
            buf: Vec::new(),
        };
        writer.append(snapshot)?;
        fs.sync_dir(dir)?;
        Ok(writer)
    }

    /// Appends `edit` and syncs it: when this returns `Ok`, the edit survives a crash. After an
    /// error the writer refuses further edits; the engine must switch to a new manifest.
    pub fn append(&mut self, edit: &VersionEdit) -> Result<()> {
        self.buf.clear();
        edit.encode(&mut self.buf);
        self.log.add_record(&self.buf)?;
        self.log.sync()
    }

    /// Bytes written to the manifest so far (the engine rolls to a new one past a size limit).
    pub fn len(&self) -> u64 {
        self.log.len()
    }

    /// True when nothing has been written (never the case after `create` returns).
    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }

    /// The manifest's file number.
    pub fn number(&self) -> FileNumber {
        self.number
    }
}

/// Reads every edit of `MANIFEST-<number>` in `dir`, dropping a torn tail. Damage before the
/// last intact edit, an empty manifest, or a first edit without `format_version` is
/// `Error::Corruption`; a format version newer than [`FORMAT_VERSION`] is
/// `Error::UnsupportedVersion`.
pub fn read_manifest(
    fs: &dyn FileSystem,
    dir: &Path,
    number: FileNumber,
) -> Result<Vec<VersionEdit>> {
    let path = manifest_path(dir, number);
    let data: Bytes = fs.read_all(&path)?;
    let mut reader = LogReader::new(data, path.clone(), TailPolicy::TolerateTornTail);
    let mut edits = Vec::new();
    while let Some((offset, record)) = reader.next_record()? {
        let edit = VersionEdit::decode(&record, &path, offset)?;
        match edit.format_version {
            Some(v) if v > FORMAT_VERSION => {
                return Err(Error::UnsupportedVersion {
                    file: path,
                    found: v,
                    supported: FORMAT_VERSION,
                })
            }
            None if edits.is_empty() => {
                return Err(Error::corruption(
                    &path,
                    offset,
                    "the first edit of the manifest has no format version",
                ))
            }
            _ => {}
        }
        edits.push(edit);
    }
    if edits.is_empty() {
        return Err(Error::corruption(
            &path,
            0,
            "manifest holds no complete edit",
        ));
    }
    Ok(edits)
}

#[cfg(test)]
mod tests;
