//! The flush thread: turns the oldest immutable memtable set into L0 tables.
//!
//! Order of effects, which recovery relies on: (1) write and fsync each table, (2) `sync_dir`
//! so their names are durable, (3) append the version edit (new files + the keyspaces' new log
//! number) to the manifest and fsync it, (4) swap the `SuperVersion` so readers find the data in
//! the tables instead of the memtable, (5) only then delete the WAL. A crash before (3) leaves
//! orphan tables that the next open removes; the WAL still holds the data.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use std::path::Path;

use crate::error::Result;
use crate::fs::FileSystem;
use crate::iter::InternalIterator;
use crate::manifest::{FileMeta, VersionEdit};
use crate::memtable::Memtable;
use crate::sstable::TableBuilder;
use crate::sstable::TableOptions;
use crate::types::{FileNumber, Level};
use crate::util::filename;

use super::version::{ImmutableSet, SuperVersion};
use super::Inner;

/// Body of the flush thread.
pub(super) fn run(inner: Arc<Inner>) {
    loop {
        let job = {
            let mut st = inner.state.lock();
            loop {
                if st.shutdown || st.bg_error.is_some() {
                    return;
                }
                if let Some(imm) = inner.current_sv().imms.last().cloned() {
                    break imm;
                }
                inner.state_cv.wait(&mut st);
            }
        };
        if let Err(e) = flush_one(&inner, &job) {
            inner.set_bg_error(&e);
            return;
        }
    }
}

/// Writes one memtable to the table file numbered `number`; `None` (and no file) if it is empty.
pub(super) fn build_table(
    fs: &dyn FileSystem,
    dir: &Path,
    opts: &TableOptions,
    number: FileNumber,
    mem: &Arc<Memtable>,
) -> Result<Option<FileMeta>> {
    if mem.is_empty() {
        return Ok(None);
    }
    let path = filename::table_path(dir, number);
    let file = fs.create(&path)?;
    let mut builder = TableBuilder::new(file, opts.clone());
    let mut it = mem.iter();
    it.seek_to_first()?;
    while it.valid() {
        builder.add(it.key(), it.value())?;
        it.next()?;
    }
    let props = builder.finish()?;
    Ok(Some(FileMeta {
        number,
        size: props.file_size,
        smallest: props.smallest_key,
        largest: props.largest_key,
        smallest_seq: props.smallest_seq,
        largest_seq: props.largest_seq,
        num_entries: props.num_entries,
    }))
}

fn flush_one(inner: &Inner, imm: &Arc<ImmutableSet>) -> Result<()> {
    let mut edit = VersionEdit::default();
    for (ks, mem) in &imm.mems {
        let number = inner.new_file_number();
        let table_opts = inner.opts.compaction.table_options(&inner.opts.table, 0);
        if let Some(meta) = build_table(&*inner.fs, &inner.dir, &table_opts, number, mem)? {
            inner
                .counters
                .table_bytes
                .fetch_add(meta.size, Ordering::Relaxed);
            inner
                .counters
                .flush_bytes
                .fetch_add(meta.size, Ordering::Relaxed);
            edit.new_files.push((*ks, Level(0), meta));
        }
        edit.log_numbers.push((*ks, imm.next_wal));
    }
    inner.fs.sync_dir(&inner.dir)?;
    {
        let mut st = inner.state.lock();
        let version = inner.log_edit(&mut st, &mut edit)?;
        let mut slot = inner.sv.write();
        let cur = Arc::clone(&slot);
        *slot = Arc::new(SuperVersion {
            mems: cur.mems.clone(),
            imms: cur
                .imms
                .iter()
                .filter(|i| !Arc::ptr_eq(i, imm))
                .cloned()
                .collect(),
            version,
        });
        drop(slot);
        st.flush_epoch += 1;
    }
    inner.counters.flushes.fetch_add(1, Ordering::Relaxed);
    inner.state_cv.notify_all();
    // The manifest now says no keyspace needs this WAL.
    remove_wal(inner, imm.wal);
    Ok(())
}

fn remove_wal(inner: &Inner, number: FileNumber) {
    // A failed unlink only leaves an obsolete file that the next open removes. The directory
    // sync makes the removal durable, so a WAL that is gone after a crash really was obsolete
    // (recovery relies on this to detect a lost manifest edit).
    if inner
        .fs
        .remove(&filename::wal_path(&inner.dir, number))
        .is_ok()
    {
        let _ = inner.fs.sync_dir(&inner.dir);
    }
}
