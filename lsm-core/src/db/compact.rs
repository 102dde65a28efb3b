//! Running compactions: the background thread, manual `compact_range`, installing results and
//! deleting files no reader needs any more.
//!
//! One compaction runs at a time (`compaction_lock`), background or manual, so tasks never
//! compete for files. A finished compaction appends one edit (inputs deleted, outputs added) to
//! the manifest and swaps the `SuperVersion`; its input files go to the obsolete list and are
//! unlinked once no `Version` still held by a reader references them.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::compaction::{self, job, CompactionTask};
use crate::error::Result;
use crate::key::user_key;
use crate::manifest::VersionEdit;
use crate::store::KeyRange;
use crate::types::{KeyspaceId, Level};
use crate::util::filename;

use super::version::{SuperVersion, NUM_LEVELS};
use super::{DbState, Inner};

/// Body of the compaction thread.
pub(super) fn run(inner: Arc<Inner>) {
    loop {
        let task = {
            let mut st = inner.state.lock();
            loop {
                if st.shutdown || st.bg_error.is_some() {
                    return;
                }
                if let Some(t) = pick(&inner, &st) {
                    break t;
                }
                inner.state_cv.wait(&mut st);
            }
        };
        if let Err(e) = execute_owned(&inner, task) {
            inner.set_bg_error(&e);
            return;
        }
    }
}

/// Runs `task`, then drops it and purges: a task holds its input files, and when its keyspace
/// was dropped meanwhile (or a reader let go during the run) those references were the last
/// thing keeping obsolete files on disk. Without this purge they stayed until the next flush or
/// compaction, which an idle database never runs.
fn execute_owned(inner: &Inner, task: CompactionTask) -> Result<()> {
    let r = execute(inner, &task);
    drop(task);
    purge_obsolete(inner);
    r
}

fn pick(inner: &Inner, st: &DbState) -> Option<CompactionTask> {
    let cursors = inner.compaction_cursors.lock();
    compaction::pick(&st.version, &inner.opts.compaction, &|ks, level| {
        cursors.get(&(ks, level)).cloned()
    })
}

/// Runs one task and installs its result. Skips a task whose inputs are no longer live (another
/// compaction got there first).
pub(super) fn execute(inner: &Inner, task: &CompactionTask) -> Result<()> {
    let _one_at_a_time = inner.compaction_lock.lock();
    {
        let st = inner.state.lock();
        let Some(ks) = st.version.keyspaces.get(&task.ks) else {
            return Ok(());
        };
        let live = |level: usize, n| ks.levels[level].iter().any(|f| f.number == n);
        let all_live = task.inputs.iter().all(|f| live(task.level, f.number))
            && task
                .overlaps
                .iter()
                .all(|f| live(task.output_level, f.number));
        if !all_live {
            return Ok(());
        }
    }
    let start = Instant::now();
    let mut edit = VersionEdit::default();
    for f in &task.inputs {
        edit.deleted_files
            .push((task.ks, Level(task.level as u8), f.number));
    }
    for f in &task.overlaps {
        edit.deleted_files
            .push((task.ks, Level(task.output_level as u8), f.number));
    }
    let c = &inner.counters;
    if task.trivial_move {
        for f in &task.inputs {
            edit.new_files
                .push((task.ks, Level(task.output_level as u8), (**f).clone()));
        }
        c.trivial_moves.fetch_add(1, Ordering::Relaxed);
    } else {
        let mut tables = Vec::new();
        for f in task.inputs.iter().chain(&task.overlaps) {
            tables.push(inner.table_cache.get(f.number)?);
        }
        let next = || inner.new_file_number();
        let ctx = job::JobContext {
            fs: &*inner.fs,
            dir: &inner.dir,
            table: inner
                .opts
                .compaction
                .table_options(&inner.opts.table, task.output_level),
            target_file_size: inner.opts.compaction.target_file_size,
            snapshots: inner.snapshots.all(),
            bottommost: task.bottommost,
            merge: inner.merge_operator(task.ks),
            filter: inner.filters.read().get(&task.ks).cloned(),
            new_file_number: &next,
        };
        let out = job::run(&tables, &ctx)?;
        inner.fs.sync_dir(&inner.dir)?;
        for meta in out.files {
            edit.new_files
                .push((task.ks, Level(task.output_level as u8), meta));
        }
        c.compaction_bytes_read
            .fetch_add(out.bytes_read, Ordering::Relaxed);
        c.compaction_bytes_written
            .fetch_add(out.bytes_written, Ordering::Relaxed);
        c.table_bytes
            .fetch_add(out.bytes_written, Ordering::Relaxed);
    }
    if !install(inner, &mut edit)? {
        // The keyspace was dropped while we compacted: its files, ours included, are garbage.
        for (_, _, meta) in &edit.new_files {
            if !task.trivial_move {
                let _ = inner
                    .fs
                    .remove(&filename::table_path(&inner.dir, meta.number));
            }
        }
        return Ok(());
    }
    if !task.trivial_move {
        let mut obsolete = inner.obsolete.lock();
        obsolete.extend(task.inputs.iter().cloned());
        obsolete.extend(task.overlaps.iter().cloned());
    }
    if let Some(last) = task.inputs.iter().map(|f| user_key(&f.largest)).max() {
        inner
            .compaction_cursors
            .lock()
            .insert((task.ks, task.level), last.to_vec());
    }
    c.compactions.fetch_add(1, Ordering::Relaxed);
    c.compaction_micros
        .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
    purge_obsolete(inner);
    Ok(())
}

/// Logs `edit` and makes the new version current; `false` (and nothing logged) if the
/// keyspace it is about no longer exists.
fn install(inner: &Inner, edit: &mut VersionEdit) -> Result<bool> {
    let mut st = inner.state.lock();
    let dropped = edit
        .deleted_files
        .iter()
        .map(|(k, _, _)| k)
        .chain(edit.new_files.iter().map(|(k, _, _)| k))
        .any(|k| !st.version.keyspaces.contains_key(k));
    if dropped {
        return Ok(false);
    }
    let version = inner.log_edit(&mut st, edit)?;
    {
        let mut slot = inner.sv.write();
        let cur = Arc::clone(&slot);
        *slot = Arc::new(SuperVersion {
            mems: cur.mems.clone(),
            imms: cur.imms.clone(),
            version,
        });
    }
    drop(st);
    inner.state_cv.notify_all();
    Ok(true)
}

/// Unlinks obsolete tables that no live version references any more.
pub(super) fn purge_obsolete(inner: &Inner) {
    // Under the state lock, so a checkpoint (which links files under it) never races an unlink.
    let _st = inner.state.lock();
    let mut obsolete = inner.obsolete.lock();
    let mut removed = false;
    obsolete.retain(|f| {
        if Arc::strong_count(f) > 1 {
            return true;
        }
        inner.table_cache.evict(f.number);
        // A failed unlink leaves an orphan that the next open removes.
        let _ = inner.fs.remove(&filename::table_path(&inner.dir, f.number));
        removed = true;
        false
    });
    if removed {
        let _ = inner.fs.sync_dir(&inner.dir);
    }
}

/// Manual compaction of `range` in keyspace `ks`: flush, then push every overlapping file down
/// level by level into the last level, rewriting the last level's overlapping files too, so
/// obsolete versions and tombstones in the range are gone and the compaction filter has seen
/// every entry.
pub(super) fn compact_range(inner: &Inner, ks: KeyspaceId, range: &KeyRange) -> Result<()> {
    super::write::flush(inner)?;
    let last = NUM_LEVELS - 1;
    for level in 0..=last {
        let task = {
            let st = inner.state.lock();
            let Some(k) = st.version.keyspaces.get(&ks) else {
                return Err(crate::Error::UnknownKeyspace(ks.to_string()));
            };
            let inputs: Vec<_> = k.levels[level]
                .iter()
                .filter(|f| {
                    !range.is_above(user_key(&f.smallest)) && !range.is_below(user_key(&f.largest))
                })
                .cloned()
                .collect();
            if inputs.is_empty() {
                continue;
            }
            let output = if level == last { last } else { level + 1 };
            compaction::task_for(ks, k, level, output, inputs, 0.0)
        };
        if let Some(mut t) = task {
            // Rewrite even a lone file: the point is to apply the rules to every entry.
            t.trivial_move = false;
            execute_owned(inner, t)?;
        }
    }
    Ok(())
}

/// Write-stall inputs: the most L0 files of any keyspace, and pending compaction bytes.
pub(super) fn stall_metrics(inner: &Inner) -> (usize, u64) {
    (
        inner.stall_l0.load(Ordering::Acquire) as usize,
        inner.stall_pending.load(Ordering::Acquire),
    )
}
