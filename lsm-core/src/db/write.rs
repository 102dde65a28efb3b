//! The write path: a queue of writers, group commit, memtable switches and write stalls.
//!
//! Every writer enqueues its batch and waits. The writer at the front, when no group is in
//! flight, becomes the leader: it takes a group of batches from the front (one batch under
//! `SyncMode::Always`, up to `max_write_group_bytes` otherwise), makes room in the memtable,
//! assigns consecutive sequence numbers, writes all of the group's WAL records with one append,
//! fsyncs once if the mode asks, inserts into the memtables, publishes the last sequence number
//! and hands each follower its result. Only the leader touches the active WAL and inserts, so
//! memtable switches need no further coordination with writers.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::manifest::VersionEdit;
use crate::memtable::Memtable;
use crate::types::{KeyspaceId, SeqNo, ValueKind};
use crate::util::filename;
use crate::wal::batch::unsynced_predecessor_marker;
use crate::wal::{LogWriter, WriteBatch};

use super::group::{GroupQueue, Joined};
use super::version::{ImmutableSet, SuperVersion};
use super::{Inner, SyncMode};

/// What a queued request asks the leader to do.
pub(super) enum Request {
    /// Commit a batch.
    Write(WriteBatch),
    /// Switch the memtable (if it holds anything) so it can be flushed.
    Switch,
}

/// The engine's write queue: requests answered with the sequence number of their last op.
pub(super) type WriteQueue = GroupQueue<Request, Result<SeqNo>>;

/// How many requests from the front of the queue form the next group: a switch goes alone;
/// under `SyncMode::Always` every batch goes alone; otherwise batches up to `max_bytes`.
fn select_group(pending: &VecDeque<(u64, Request)>, always: bool, max_bytes: usize) -> usize {
    let mut n = 0;
    let mut bytes = 0;
    for (_, r) in pending {
        match r {
            Request::Switch => {
                if n == 0 {
                    return 1;
                }
                break;
            }
            Request::Write(b) => {
                if n > 0 && (always || bytes + b.size_bytes() > max_bytes) {
                    break;
                }
                bytes += b.size_bytes();
                n += 1;
            }
        }
    }
    n.max(1)
}

/// Validates and commits `batch`; returns the sequence number of its last operation.
pub(super) fn write(inner: &Inner, batch: WriteBatch) -> Result<SeqNo> {
    inner.check_open()?;
    validate(inner, &batch)?;
    if batch.is_empty() {
        return Ok(SeqNo(inner.visible_seq.load(Ordering::Acquire)));
    }
    run_queued(inner, Request::Write(batch))
}

fn validate(inner: &Inner, batch: &WriteBatch) -> Result<()> {
    let sv = inner.current_sv();
    for op in batch.iter() {
        let op = op?;
        if op.key.len() > inner.opts.max_key_size {
            return Err(Error::KeyTooLarge {
                len: op.key.len(),
                max: inner.opts.max_key_size,
            });
        }
        let value_limit = match op.kind {
            ValueKind::RangeDelete => inner.opts.max_key_size,
            _ => inner.opts.max_value_size,
        };
        if op.value.len() > value_limit {
            return Err(Error::ValueTooLarge {
                len: op.value.len(),
                max: value_limit,
            });
        }
        match op.kind {
            ValueKind::Put | ValueKind::Delete => {}
            ValueKind::Merge => {
                if inner.merge_operator(op.keyspace).is_none() {
                    return Err(Error::InvalidArgument(format!(
                        "merge into keyspace {} without a registered merge operator",
                        op.keyspace
                    )));
                }
            }
            ValueKind::RangeDelete => {
                // The table format and readers assume start < end; an empty range would only
                // waste a record.
                if op.key >= op.value {
                    return Err(Error::InvalidArgument(
                        "range delete needs start < end".into(),
                    ));
                }
            }
        }
        if !sv.mems.contains_key(&op.keyspace) {
            return Err(Error::UnknownKeyspace(op.keyspace.to_string()));
        }
    }
    Ok(())
}

/// Queues `req`, waits to be served or to lead, and returns this request's result.
fn run_queued(inner: &Inner, req: Request) -> Result<SeqNo> {
    let always = inner.opts.sync_mode == SyncMode::Always;
    let max = inner.opts.max_write_group_bytes;
    match inner.queue.join(req, |p| select_group(p, always, max)) {
        Joined::Served(r) => r,
        Joined::Lead { own, mut group } => {
            let results = lead(inner, &mut group);
            let outputs = group.iter().map(|(id, _)| *id).zip(results).collect();
            inner
                .queue
                .finish(own, outputs)
                .unwrap_or(Err(Error::InvalidArgument(
                    "write group lost its leader's request".into(),
                )))
        }
    }
}

/// Executes a group as its leader; one result per member.
fn lead(inner: &Inner, group: &mut [(u64, Request)]) -> Vec<Result<SeqNo>> {
    let n = group.len();
    let fail_all = |e: Error| (0..n).map(|_| Err(e.duplicate())).collect::<Vec<_>>();
    if let Some(e) = inner.bg_error() {
        return fail_all(e);
    }
    if inner.closed.load(Ordering::Acquire) {
        return fail_all(Error::Closed);
    }
    if let [(_, Request::Switch)] = group {
        let r = switch_memtable(inner, false)
            .map(|()| SeqNo(inner.visible_seq.load(Ordering::Acquire)));
        return vec![r];
    }
    match commit(inner, group) {
        Ok(seqs) => seqs.into_iter().map(Ok).collect(),
        Err(e) => {
            // The WAL may or may not hold the group: refuse every later write rather than
            // acknowledge on top of a log we cannot trust.
            inner.set_bg_error(&e);
            let mut out = vec![Err(e)];
            let dup = match &out[0] {
                Err(e) => e.duplicate(),
                Ok(_) => Error::Closed,
            };
            out.extend((1..n).map(|_| Err(dup.duplicate())));
            out
        }
    }
}

fn commit(inner: &Inner, group: &mut [(u64, Request)]) -> Result<Vec<SeqNo>> {
    make_room(inner)?;
    let mut seq = inner.allocated_seq.load(Ordering::Acquire);
    let mut lasts = Vec::with_capacity(group.len());
    let mut user_bytes = 0u64;
    for (_, req) in group.iter_mut() {
        if let Request::Write(b) = req {
            b.set_seq(SeqNo(seq + 1));
            seq += b.count() as u64;
            user_bytes += b.size_bytes() as u64;
        }
        lasts.push(SeqNo(seq));
    }
    let payloads: Vec<&[u8]> = group
        .iter()
        .filter_map(|(_, req)| match req {
            Request::Write(b) => Some(b.data()),
            Request::Switch => None,
        })
        .collect();
    {
        let mut wal = inner.wal.lock();
        let before = wal.writer.len();
        wal.writer.add_records(&payloads)?;
        inner
            .counters
            .wal_bytes
            .fetch_add(wal.writer.len() - before, Ordering::Relaxed);
        if inner.opts.sync_mode != SyncMode::Never {
            wal.writer.sync()?;
            inner.counters.wal_syncs.fetch_add(1, Ordering::Relaxed);
        }
    }
    inner.allocated_seq.store(seq, Ordering::Release);
    let sv = inner.current_sv();
    for (_, req) in group.iter() {
        if let Request::Write(b) = req {
            apply_batch(&sv.mems, b)?;
        }
    }
    inner.visible_seq.store(seq, Ordering::Release);
    let c = &inner.counters;
    c.user_bytes.fetch_add(user_bytes, Ordering::Relaxed);
    c.write_groups.fetch_add(1, Ordering::Relaxed);
    c.batches
        .fetch_add(payloads.len() as u64, Ordering::Relaxed);
    Ok(lasts)
}

/// Inserts a batch (whose sequence is set) into the memtables. Keyspaces without a memtable
/// were dropped; their operations are discarded.
pub(super) fn apply_batch(
    mems: &BTreeMap<KeyspaceId, Arc<Memtable>>,
    b: &WriteBatch,
) -> Result<()> {
    for (seq, op) in (b.seq().0..).zip(b.iter()) {
        let op = op?;
        if let Some(m) = mems.get(&op.keyspace) {
            m.insert(op.key, SeqNo(seq), op.kind, op.value);
        }
    }
    Ok(())
}

/// Makes sure the active memtables have room, switching (and stalling) as needed.
fn make_room(inner: &Inner) -> Result<()> {
    let mut delayed = false;
    let c = &inner.opts.compaction;
    loop {
        let (l0, pending) = super::compact::stall_metrics(inner);
        if l0 >= c.l0_stop || pending >= c.pending_hard {
            // Stop: wait for compaction to catch up (it notifies `state_cv` on every install).
            let start = Instant::now();
            let mut st = inner.state.lock();
            if let Some(cause) = &st.bg_error {
                return Err(Error::ReadOnly {
                    cause: cause.clone(),
                });
            }
            if st.shutdown {
                return Err(Error::Closed);
            }
            inner
                .state_cv
                .wait_for(&mut st, std::time::Duration::from_millis(100));
            drop(st);
            inner
                .counters
                .stall_micros
                .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
            continue;
        }
        if !delayed && (l0 >= c.l0_slowdown || pending >= c.pending_soft) {
            // Slow down: one short pause per write group lets compaction gain ground without
            // stopping writers.
            delayed = true;
            let start = Instant::now();
            std::thread::sleep(std::time::Duration::from_millis(1));
            inner
                .counters
                .stall_micros
                .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
        let sv = inner.current_sv();
        if sv.active_size() < inner.opts.memtable_size {
            return Ok(());
        }
        let mut st = inner.state.lock();
        if let Some(c) = &st.bg_error {
            return Err(Error::ReadOnly { cause: c.clone() });
        }
        if inner.current_sv().imms.len() >= inner.opts.max_immutable_memtables {
            // Too many memtables waiting for the flusher: stop this writer (and, because it
            // leads, every writer behind it) until a flush finishes.
            let start = Instant::now();
            inner.state_cv.wait(&mut st);
            inner
                .counters
                .stall_micros
                .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
            continue;
        }
        drop(st);
        return switch_memtable(inner, true);
    }
}

/// Moves the active memtables to the immutable list behind a new WAL and wakes the flusher.
/// With `force == false` an empty memtable is not switched. Only the write leader calls this.
fn switch_memtable(inner: &Inner, force: bool) -> Result<()> {
    let sv = inner.current_sv();
    if !force && sv.mems.values().all(|m| m.is_empty()) {
        return Ok(());
    }
    let mut wal = inner.wal.lock();
    // Under a syncing mode every acknowledged record is already on disk and this fsync is
    // cheap; a closed WAL is then complete, and damage in any but the newest is corruption.
    // Under `Never` the WAL is not fsynced: that would write the whole memtable's worth of log
    // to the device (doubling the bytes a fill writes) and stall writers for it, when the
    // flush makes the WAL obsolete within seconds. Instead the new WAL starts with a synced
    // marker saying its predecessor may end torn, and recovery stops there (point in time).
    let unsynced = inner.opts.sync_mode == SyncMode::Never;
    if !unsynced {
        wal.writer.sync()?;
    }
    let closed_len = wal.writer.len();
    let number = inner.new_file_number();
    let path = filename::wal_path(&inner.dir, number);
    let file = inner.fs.create(&path)?;
    let mut writer = LogWriter::new(file);
    if unsynced {
        // Synced before any batch reaches this WAL, so a WAL holding data always holds it, and
        // with it the length its predecessor must have: a predecessor cut at a record boundary
        // reads as whole, and only its length tells.
        writer.add_records(&[&unsynced_predecessor_marker(closed_len)[..]])?;
        writer.sync()?;
    }
    inner.fs.sync_dir(&inner.dir)?;
    let old_number = {
        let old = wal.number;
        wal.writer = writer;
        wal.number = number;
        old
    };
    drop(wal);
    let mut slot = inner.sv.write();
    let cur = Arc::clone(&slot);
    let imm = Arc::new(ImmutableSet {
        mems: cur.mems.clone(),
        wal: old_number,
        next_wal: number,
    });
    let mut imms = vec![imm];
    imms.extend(cur.imms.iter().cloned());
    *slot = Arc::new(SuperVersion {
        mems: cur
            .mems
            .keys()
            .map(|k| (*k, Arc::new(Memtable::new())))
            .collect(),
        imms,
        version: Arc::clone(&cur.version),
    });
    drop(slot);
    // Notify under the state lock: the flush thread checks for immutable memtables under it
    // and then waits, so a notify between its check and its wait would be lost (and `flush()`
    // would wait forever) if we did not take the lock.
    let _st = inner.state.lock();
    inner.state_cv.notify_all();
    Ok(())
}

/// Switches the memtable (if non-empty) and waits until every immutable memtable is flushed.
pub(super) fn flush(inner: &Inner) -> Result<()> {
    inner.check_open()?;
    run_queued(inner, Request::Switch)?;
    let mut st = inner.state.lock();
    loop {
        if let Some(c) = &st.bg_error {
            return Err(Error::ReadOnly { cause: c.clone() });
        }
        if inner.current_sv().imms.is_empty() {
            return Ok(());
        }
        if st.shutdown {
            return Err(Error::Closed);
        }
        inner.state_cv.wait(&mut st);
    }
}

/// Creates a keyspace (or returns the existing one of that name).
pub(super) fn create_keyspace(inner: &Inner, name: &str) -> Result<KeyspaceId> {
    inner.check_open()?;
    if name.is_empty() || name.len() > 255 {
        return Err(Error::InvalidArgument(
            "keyspace names are 1 to 255 bytes".into(),
        ));
    }
    // Hold the write queue's leadership so no batch is between validation and insert while
    // the memtable set changes.
    let _q = inner.queue.exclusive();
    let mut st = inner.state.lock();
    if let Some(c) = &st.bg_error {
        return Err(Error::ReadOnly { cause: c.clone() });
    }
    if let Some((id, _)) = st.version.keyspaces.iter().find(|(_, k)| k.name == name) {
        return Ok(*id);
    }
    let id = KeyspaceId(st.version.next_keyspace.max(1));
    let wal_number = inner.wal.lock().number;
    let mut edit = VersionEdit {
        keyspaces_added: vec![(id, name.to_string())],
        log_numbers: vec![(id, wal_number)],
        ..VersionEdit::default()
    };
    let version = inner
        .log_edit(&mut st, &mut edit)
        .inspect_err(|e| inner.set_bg_error_locked(&mut st, e))?;
    let mut slot = inner.sv.write();
    let cur = Arc::clone(&slot);
    let mut mems = cur.mems.clone();
    mems.insert(id, Arc::new(Memtable::new()));
    *slot = Arc::new(SuperVersion {
        mems,
        imms: cur.imms.clone(),
        version,
    });
    Ok(id)
}

/// Drops a keyspace: recorded in the manifest, its memtable discarded, its files deleted.
pub(super) fn drop_keyspace(inner: &Inner, ks: KeyspaceId) -> Result<()> {
    inner.check_open()?;
    if ks == KeyspaceId::DEFAULT {
        return Err(Error::InvalidArgument(
            "the default keyspace cannot be dropped".into(),
        ));
    }
    let _q = inner.queue.exclusive();
    let mut st = inner.state.lock();
    if let Some(c) = &st.bg_error {
        return Err(Error::ReadOnly { cause: c.clone() });
    }
    let Some(old) = st.version.keyspaces.get(&ks).cloned() else {
        return Err(Error::UnknownKeyspace(ks.to_string()));
    };
    let mut edit = VersionEdit {
        keyspaces_dropped: vec![ks],
        ..VersionEdit::default()
    };
    let version = inner
        .log_edit(&mut st, &mut edit)
        .inspect_err(|e| inner.set_bg_error_locked(&mut st, e))?;
    {
        let mut slot = inner.sv.write();
        let cur = Arc::clone(&slot);
        let mut mems = cur.mems.clone();
        mems.remove(&ks);
        *slot = Arc::new(SuperVersion {
            mems,
            imms: cur.imms.clone(),
            version,
        });
    }
    drop(st);
    // Readers may still hold the old version: the files go when the last of them is dropped.
    inner
        .obsolete
        .lock()
        .extend(old.levels.into_iter().flatten());
    super::compact::purge_obsolete(inner);
    Ok(())
}
