//! Point reads and iterators.
//!
//! A read first fixes its sequence number (the snapshot's, or the latest visible one) and only
//! then takes the current `SuperVersion`: any batch numbered at or below that sequence was
//! inserted into a memtable that this or a later `SuperVersion` still holds (as active or
//! immutable memtable, or flushed into a table).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::iter::merging::MergingIterator;
use crate::iter::range_del::RangeTombstones;
use crate::iter::user::UserIterator;
use crate::iter::InternalIterator;
use crate::memtable::Memtable;
use crate::sstable::Table;
use crate::store::{KeyRange, ReadAt, StoreIter};
use crate::types::{KeyspaceId, SeqNo, ValueKind};

use super::Inner;

fn read_seq(inner: &Inner, at: ReadAt<'_>) -> SeqNo {
    match at {
        ReadAt::Latest => SeqNo(inner.visible_seq.load(Ordering::Acquire)),
        ReadAt::Snapshot(s) => s.seq(),
    }
}

/// One place a point read looks: newest first.
enum Source<'a> {
    Mem(&'a Memtable),
    Table(Arc<Table>),
}

impl Source<'_> {
    fn get(&self, key: &[u8], seq: SeqNo) -> Result<Option<(ValueKind, SeqNo, Bytes)>> {
        match self {
            Source::Mem(m) => Ok(m.get(key, seq)),
            // The caller consulted the bloom filter already.
            Source::Table(t) => t.get_unfiltered(key, seq),
        }
    }

    /// The newest range tombstone `<= snapshot` in this source covering `key`.
    fn max_tombstone(&self, key: &[u8], snapshot: SeqNo) -> Option<SeqNo> {
        match self {
            Source::Mem(m) => m.max_range_tombstone(key, snapshot),
            Source::Table(t) => t
                .range_tombstone_slice()
                .iter()
                .filter(|(s, e, seq)| *seq <= snapshot && s.as_slice() <= key && key < e.as_slice())
                .map(|(_, _, seq)| *seq)
                .max(),
        }
    }
}

/// Folds collected merge operands (newest first) onto `base`.
fn finish(
    inner: &Inner,
    ks: KeyspaceId,
    key: &[u8],
    mut operands: Vec<Bytes>,
    base: Option<Bytes>,
) -> Result<Option<Bytes>> {
    if operands.is_empty() {
        return Ok(base);
    }
    let op = inner.merge_operator(ks).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "merge operands in keyspace {ks} but no merge operator is registered"
        ))
    })?;
    operands.reverse();
    let refs: Vec<&[u8]> = operands.iter().map(|b| &b[..]).collect();
    let merged = op
        .full_merge(key, base.as_deref(), &refs)
        .map_err(Error::MergeFailed)?;
    Ok(Some(Bytes::from(merged)))
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
    let mut sources: Vec<Source<'_>> = vec![Source::Mem(mem)];
    for imm in &sv.imms {
        if let Some(m) = imm.mems.get(&ks) {
            sources.push(Source::Mem(m));
        }
    }
    let files = sv.version.files_for_key(ks, key);
    let mut operands: Vec<Bytes> = Vec::new();
    let mut limit = seq;
    // A range tombstone can only delete versions in its own source or older ones (compaction
    // keeps a tombstone at or above every version it covers), so the covering sequence is
    // accumulated while walking sources newest first.
    let mut cover = SeqNo::ZERO;
    let visit = |src: Source<'_>,
                 operands: &mut Vec<Bytes>,
                 limit: &mut SeqNo,
                 cover: &mut SeqNo|
     -> Result<Option<Option<Bytes>>> {
        if let Some(t) = src.max_tombstone(key, seq) {
            *cover = (*cover).max(t);
        }
        // Several versions of the key may sit in one source when merge operands pile up.
        loop {
            match src.get(key, *limit)? {
                None => return Ok(None),
                Some((_, s, _)) if s < *cover => return Ok(Some(None)),
                Some((ValueKind::Put, _, v)) => return Ok(Some(Some(v))),
                Some((ValueKind::Delete | ValueKind::RangeDelete, _, _)) => return Ok(Some(None)),
                Some((ValueKind::Merge, s, v)) => {
                    operands.push(v);
                    if s.0 == 0 {
                        return Ok(None);
                    }
                    *limit = SeqNo(s.0 - 1);
                }
            }
        }
    };
    for src in sources {
        if let Some(base) = visit(src, &mut operands, &mut limit, &mut cover)? {
            return finish(inner, ks, key, operands, base);
        }
    }
    for f in files {
        let table = inner.table_cache.get(f.number)?;
        if !table.may_contain(key) {
            inner.counters.bloom_useful.fetch_add(1, Ordering::Relaxed);
            // The key is not here, but a range tombstone here may still cover older versions.
            if let Some(t) = Source::Table(table).max_tombstone(key, seq) {
                cover = cover.max(t);
            }
            continue;
        }
        if let Some(base) = visit(Source::Table(table), &mut operands, &mut limit, &mut cover)? {
            return finish(inner, ks, key, operands, base);
        }
    }
    finish(inner, ks, key, operands, None)
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
    let mut tombstones = mem.range_tombstones();
    for imm in &sv.imms {
        if let Some(m) = imm.mems.get(&ks) {
            children.push(Box::new(m.iter()));
            tombstones.extend(m.range_tombstones());
        }
    }
    if let Some(k) = sv.version.keyspaces.get(&ks) {
        for f in k.levels.iter().flatten() {
            if overlaps(&range, &f.smallest, &f.largest) {
                let table = inner.table_cache.get(f.number)?;
                tombstones.extend(table.range_tombstone_slice().iter().cloned());
                children.push(Box::new(table.iter()));
            }
        }
    }
    let range_dels = RangeTombstones::new(tombstones, seq);
    let merged = Box::new(MergingIterator::new(children));
    Ok(Box::new(UserIterator::new(
        merged,
        seq,
        range,
        Box::new((guard, sv)),
        inner.merge_operator(ks),
        range_dels,
    )))
}

fn overlaps(range: &KeyRange, smallest: &[u8], largest: &[u8]) -> bool {
    let lo = crate::key::user_key(smallest);
    let hi = crate::key::user_key(largest);
    !range.is_above(lo) && !range.is_below(hi)
}
