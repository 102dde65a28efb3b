//! Point reads and iterators.
//!
//! A read first fixes its sequence number (the snapshot's, or the latest visible one) and only
//! then takes the current `SuperVersion`: any batch numbered at or below that sequence was
//! inserted into a memtable that this or a later `SuperVersion` still holds (as active or
//! immutable memtable, or flushed into a table).

use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::iter::merging::MergingIterator;
use crate::iter::user::UserIterator;
use crate::iter::InternalIterator;
use crate::store::{KeyRange, ReadAt, StoreIter};
use crate::types::{KeyspaceId, SeqNo, ValueKind};

use super::Inner;

fn read_seq(inner: &Inner, at: ReadAt<'_>) -> SeqNo {
    match at {
        ReadAt::Latest => SeqNo(inner.visible_seq.load(Ordering::Acquire)),
        ReadAt::Snapshot(s) => s.seq(),
    }
}

fn resolve(kind: ValueKind, value: Bytes) -> Option<Bytes> {
    match kind {
        ValueKind::Put => Some(value),
        _ => None,
    }
}

pub(super) fn get(
    inner: &Inner,
    ks: KeyspaceId,
    key: &[u8],
    at: ReadAt<'_>,
) -> Result<Option<Bytes>> {
    inner.check_open()?;
    let seq = read_seq(inner, at);
    let sv = inner.current_sv();
    let Some(mem) = sv.mems.get(&ks) else {
        return Err(Error::UnknownKeyspace(ks.to_string()));
    };
    if let Some((kind, _, v)) = mem.get(key, seq) {
        return Ok(resolve(kind, v));
    }
    for imm in &sv.imms {
        if let Some(m) = imm.mems.get(&ks) {
            if let Some((kind, _, v)) = m.get(key, seq) {
                return Ok(resolve(kind, v));
            }
        }
    }
    for f in sv.version.files_for_key(ks, key) {
        let table = inner.table_cache.get(f.number)?;
        if !table.may_contain(key) {
            inner.counters.bloom_useful.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if let Some((kind, _, v)) = table.get(key, seq)? {
            return Ok(resolve(kind, v));
        }
    }
    Ok(None)
}

pub(super) fn iter(
    inner: &Inner,
    ks: KeyspaceId,
    range: KeyRange,
    at: ReadAt<'_>,
) -> Result<Box<dyn StoreIter>> {
    inner.check_open()?;
    let seq = read_seq(inner, at);
    // Pin the sequence for the iterator's lifetime so compaction keeps what it reads.
    let guard = inner.snapshots.register(seq);
    let sv = inner.current_sv();
    let Some(mem) = sv.mems.get(&ks) else {
        return Err(Error::UnknownKeyspace(ks.to_string()));
    };
    let mut children: Vec<Box<dyn InternalIterator>> = vec![Box::new(mem.iter())];
    for imm in &sv.imms {
        if let Some(m) = imm.mems.get(&ks) {
            children.push(Box::new(m.iter()));
        }
    }
    if let Some(k) = sv.version.keyspaces.get(&ks) {
        for f in k.levels.iter().flatten() {
            if overlaps(&range, &f.smallest, &f.largest) {
                let table = inner.table_cache.get(f.number)?;
                children.push(Box::new(table.iter()));
            }
        }
    }
    let merged = Box::new(MergingIterator::new(children));
    Ok(Box::new(UserIterator::new(
        merged,
        seq,
        range,
        Box::new((guard, sv)),
    )))
}

fn overlaps(range: &KeyRange, smallest: &[u8], largest: &[u8]) -> bool {
    let lo = crate::key::user_key(smallest);
    let hi = crate::key::user_key(largest);
    !range.is_above(lo) && !range.is_below(hi)
}
