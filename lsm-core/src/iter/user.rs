//! The user's view of a merged internal iterator: one entry per user key, the newest version
//! visible at a snapshot, tombstones hidden, bounds honoured, in both directions.
//!
//! Positions: in the forward direction the inner iterator sits on the version that produced the
//! current entry (or, when merge operands were folded, on the first entry after those consumed); in the backward direction it sits on the last entry *before* the current user
//! key (the scan collected every version of the current key to find the newest visible one).
//! The current key and value are copied into reusable buffers, so both directions look the same
//! to the caller.

use std::any::Any;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::iter::range_del::RangeTombstones;
use crate::iter::InternalIterator;
use crate::key::{lookup_key, lookup_key_last, parse_internal_key, ParsedKey};
use crate::store::{KeyRange, MergeOperator, StoreIter};
use crate::types::{SeqNo, ValueKind};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Backward,
}

/// A [`StoreIter`] over a merged internal iterator.
pub struct UserIterator {
    inner: Box<dyn InternalIterator>,
    snapshot: SeqNo,
    range: KeyRange,
    key: Vec<u8>,
    value: Vec<u8>,
    valid: bool,
    dir: Direction,
    merge: Option<Arc<dyn MergeOperator>>,
    range_dels: RangeTombstones,
    /// Keeps whatever the inner iterator reads (snapshot registration, versions) alive.
    _pin: Box<dyn Any + Send>,
}

fn parse(ikey: &[u8]) -> Result<ParsedKey<'_>> {
    parse_internal_key(ikey)
        .ok_or_else(|| Error::corruption("<merged iterator>", 0, "malformed internal key"))
}

impl UserIterator {
    /// Wraps `inner`, reading at `snapshot`, within `range`; `pin` is dropped with the iterator.
    pub fn new(
        inner: Box<dyn InternalIterator>,
        snapshot: SeqNo,
        range: KeyRange,
        pin: Box<dyn Any + Send>,
        merge: Option<Arc<dyn MergeOperator>>,
        range_dels: RangeTombstones,
    ) -> UserIterator {
        UserIterator {
            inner,
            snapshot,
            range,
            key: Vec::new(),
            value: Vec::new(),
            valid: false,
            dir: Direction::Forward,
            merge,
            range_dels,
            _pin: pin,
        }
    }

    fn invalidate<T>(&mut self, r: Result<T>) -> Result<T> {
        if r.is_err() {
            self.valid = false;
        }
        r
    }

    /// From the inner position forward, finds the first visible entry; `skip` names a user key
    /// whose remaining (older) versions must be passed over.
    fn settle_forward(&mut self, mut skip: Option<Vec<u8>>) -> Result<()> {
        self.dir = Direction::Forward;
        self.valid = false;
        while self.inner.valid() {
            let p = parse(self.inner.key())?;
            if self.range.is_above(p.user_key) {
                return Ok(());
            }
            let hidden = p.seq > self.snapshot
                || skip.as_deref() == Some(p.user_key)
                || self.range.is_below(p.user_key);
            if !hidden && self.range_dels.covers(p.user_key, p.seq) {
                // A range tombstone deletes this version and every older one.
                skip = Some(p.user_key.to_vec());
            } else if !hidden {
                match p.kind {
                    ValueKind::Put => {
                        self.key.clear();
                        self.key.extend_from_slice(p.user_key);
                        self.value.clear();
                        self.value.extend_from_slice(self.inner.value());
                        self.valid = true;
                        return Ok(());
                    }
                    ValueKind::Merge => {
                        let key = p.user_key.to_vec();
                        self.merge_forward(&key)?;
                        self.key = key;
                        self.valid = true;
                        return Ok(());
                    }
                    ValueKind::Delete | ValueKind::RangeDelete => {
                        skip = Some(p.user_key.to_vec());
                    }
                }
            }
            self.inner.next()?;
        }
        Ok(())
    }

    /// From the inner position backward, finds the previous user key whose newest visible
    /// version is a value.
    fn settle_backward(&mut self) -> Result<()> {
        self.dir = Direction::Backward;
        self.valid = false;
        let mut uk: Vec<u8> = Vec::new();
        while self.inner.valid() {
            let p = parse(self.inner.key())?;
            if self.range.is_below(p.user_key) {
                return Ok(());
            }
            uk.clear();
            uk.extend_from_slice(p.user_key);
            // Visible versions of this key, oldest first (the order they arrive in here).
            let mut versions: Vec<(ValueKind, Vec<u8>)> = Vec::new();
            while self.inner.valid() {
                let p = parse(self.inner.key())?;
                if p.user_key != uk.as_slice() {
                    break;
                }
                if p.seq <= self.snapshot && !self.range_dels.covers(&uk, p.seq) {
                    versions.push((p.kind, self.inner.value().to_vec()));
                } else if p.seq <= self.snapshot {
                    // Deleted by a range tombstone: so is everything older.
                    versions.clear();
                    versions.push((ValueKind::Delete, Vec::new()));
                }
                self.inner.prev()?;
            }
            let newest = match versions.last() {
                Some((ValueKind::Merge, _)) => {
                    let mut operands = Vec::new();
                    let mut base = None;
                    for (kind, v) in versions.iter().rev() {
                        match kind {
                            ValueKind::Merge => operands.push(v.as_slice()),
                            ValueKind::Put => {
                                base = Some(v.as_slice());
                                break;
                            }
                            _ => break,
                        }
                    }
                    operands.reverse();
                    self.value = self.full_merge(&uk, base, &operands)?;
                    Some(ValueKind::Put)
                }
                Some((ValueKind::Put, v)) => {
                    self.value.clear();
                    self.value.extend_from_slice(v);
                    Some(ValueKind::Put)
                }
                Some((k, _)) => Some(*k),
                None => None,
            };
            if newest == Some(ValueKind::Put) && !self.range.is_above(&uk) {
                std::mem::swap(&mut self.key, &mut uk);
                self.valid = true;
                return Ok(());
            }
        }
        Ok(())
    }

    fn full_merge(&self, key: &[u8], base: Option<&[u8]>, operands: &[&[u8]]) -> Result<Vec<u8>> {
        let op = self.merge.as_ref().ok_or_else(|| {
            Error::InvalidArgument(
                "merge operands found but no merge operator is registered".into(),
            )
        })?;
        op.full_merge(key, base, operands)
            .map_err(Error::MergeFailed)
    }

    /// The inner cursor is on the newest visible version of `key`, a merge operand: collects
    /// operands down to a put, a delete or the key's end, and sets `value` to the folded result.
    /// Leaves the inner cursor on the first entry it did not consume.
    fn merge_forward(&mut self, key: &[u8]) -> Result<()> {
        let mut operands = vec![self.inner.value().to_vec()];
        let mut base = None;
        self.inner.next()?;
        while self.inner.valid() {
            let p = parse(self.inner.key())?;
            if p.user_key != key {
                break;
            }
            if self.range_dels.covers(key, p.seq) {
                break;
            }
            match p.kind {
                ValueKind::Merge => operands.push(self.inner.value().to_vec()),
                ValueKind::Put => {
                    base = Some(self.inner.value().to_vec());
                    break;
                }
                ValueKind::Delete | ValueKind::RangeDelete => break,
            }
            self.inner.next()?;
        }
        operands.reverse();
        let refs: Vec<&[u8]> = operands.iter().map(|o| o.as_slice()).collect();
        self.value = self.full_merge(key, base.as_deref(), &refs)?;
        Ok(())
    }

    fn do_seek(&mut self, key: &[u8]) -> Result<()> {
        self.inner.seek(&lookup_key(key, SeqNo::MAX))?;
        self.settle_forward(None)
    }

    fn do_seek_for_prev(&mut self, key: &[u8]) -> Result<()> {
        self.inner.seek_for_prev(&lookup_key_last(key))?;
        self.settle_backward()
    }
}

impl StoreIter for UserIterator {
    fn valid(&self) -> bool {
        self.valid
    }

    fn seek_to_first(&mut self) -> Result<()> {
        let r = match self.range.lower.clone() {
            std::ops::Bound::Included(l) | std::ops::Bound::Excluded(l) => self.do_seek(&l),
            std::ops::Bound::Unbounded => self
                .inner
                .seek_to_first()
                .and_then(|()| self.settle_forward(None)),
        };
        self.invalidate(r)
    }

    fn seek_to_last(&mut self) -> Result<()> {
        let r = match self.range.upper.clone() {
            std::ops::Bound::Included(u) | std::ops::Bound::Excluded(u) => {
                self.do_seek_for_prev(&u)
            }
            std::ops::Bound::Unbounded => self
                .inner
                .seek_to_last()
                .and_then(|()| self.settle_backward()),
        };
        self.invalidate(r)
    }

    fn seek(&mut self, key: &[u8]) -> Result<()> {
        if self.range.is_below(key) {
            return self.seek_to_first();
        }
        let r = self.do_seek(key);
        self.invalidate(r)
    }

    fn seek_for_prev(&mut self, key: &[u8]) -> Result<()> {
        if self.range.is_above(key) {
            return self.seek_to_last();
        }
        let r = self.do_seek_for_prev(key);
        self.invalidate(r)
    }

    fn next(&mut self) -> Result<()> {
        if !self.valid {
            return Ok(());
        }
        let cur = std::mem::take(&mut self.key);
        let r = if self.dir == Direction::Backward {
            // The inner cursor is before the current key: step back onto its versions.
            self.inner
                .seek(&lookup_key(&cur, SeqNo::MAX))
                .and_then(|()| self.settle_forward(Some(cur)))
        } else {
            // The inner cursor is on (or, after a merge, past) the current key's versions; the
            // skip passes over whatever is left of them.
            self.settle_forward(Some(cur))
        };
        self.invalidate(r)
    }

    fn prev(&mut self) -> Result<()> {
        if !self.valid {
            return Ok(());
        }
        let r = if self.dir == Direction::Forward {
            // Move the inner cursor to the last entry before every version of the current key.
            let target = lookup_key(&self.key, SeqNo::MAX);
            self.inner.seek_for_prev(&target).and_then(|()| {
                // seek_for_prev lands on an entry <= target; versions of the current key all
                // sort after `target`, so this is already before them.
                self.settle_backward()
            })
        } else {
            self.settle_backward()
        };
        self.invalidate(r)
    }

    fn key(&self) -> &[u8] {
        &self.key
    }

    fn value(&self) -> &[u8] {
        &self.value
    }
}
