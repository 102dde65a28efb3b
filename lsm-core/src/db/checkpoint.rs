//! Checkpoints: a consistent, openable copy of the database in a new directory.
//!
//! The memtables are flushed first, so the copy needs no WAL. Then, under the state lock (which
//! flushes and compactions take to install versions and delete files), every live table is
//! hard-linked (copied where linking is impossible) into the target, and a fresh manifest
//! describing exactly that version is written there with its own `CURRENT`. Writes continue
//! throughout; the checkpoint holds every write acknowledged before `checkpoint` was called.

use std::sync::atomic::Ordering;

use crate::error::{Error, Result};
use crate::manifest::{self, ManifestWriter, FORMAT_VERSION};
use crate::types::{FileNumber, SeqNo};
use crate::util::filename;

use super::{write, Inner};

pub(super) fn checkpoint(inner: &Inner, dir: &std::path::Path) -> Result<()> {
    inner.check_open()?;
    let fs = &inner.fs;
    if fs.exists(dir) && !fs.list(dir)?.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "checkpoint directory {} exists and is not empty",
            dir.display()
        )));
    }
    fs.create_dir_all(dir)?;
    write::flush(inner)?;
    let st = inner.state.lock();
    let mut version = (*st.version).clone();
    for f in version.live_files() {
        fs.link(
            &filename::table_path(&inner.dir, f),
            &filename::table_path(dir, f),
        )?;
    }
    let next = inner.next_file.load(Ordering::SeqCst);
    // Numbers above every file of the source, so the copy never collides with its own tables.
    let wal = FileNumber(next);
    let manifest_number = FileNumber(next + 1);
    for ks in version.keyspaces.values_mut() {
        ks.log_number = wal;
    }
    let mut edit = version.snapshot_edit();
    edit.format_version = Some(FORMAT_VERSION);
    edit.next_file_number = Some(FileNumber(next + 2));
    edit.last_seq = Some(SeqNo(inner.visible_seq.load(Ordering::Acquire)));
    drop(st);
    // The WAL the manifest names must exist (recovery checks it); it is empty.
    let mut w = fs.create(&filename::wal_path(dir, wal))?;
    w.sync()?;
    fs.sync_dir(dir)?;
    ManifestWriter::create(&**fs, dir, manifest_number, &edit)?;
    manifest::set_current(&**fs, dir, manifest_number)?;
    Ok(())
}
