//! [`Iter`]: a double-ended iterator over one keyspace at one snapshot, built from two engine
//! cursors — one walking forward from the lower bound, one backward from the upper bound
//! (opened only when `next_back` is first called) — that stop when they meet.
//!
//! Both cursors read at the same pinned snapshot, and TTL expiry is judged once, at the time
//! the iterator was created, so the two ends agree on every entry.

use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use bytes::Bytes;
use lsm_core::store::{prefix_successor, KeyRange, ReadAt, Snapshot, StoreIter};

use crate::codec;
use crate::error::{Error, Result};
use crate::inner::{DbInner, KsMeta};
use crate::slice::{Key, Slice, Value};

/// Converts caller bounds into an engine [`KeyRange`].
pub(crate) fn key_range<K: AsRef<[u8]>, R: RangeBounds<K>>(range: &R) -> KeyRange {
    let conv = |b: Bound<&K>| match b {
        Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    };
    KeyRange {
        lower: conv(range.start_bound()),
        upper: conv(range.end_bound()),
    }
}

/// The range of keys starting with `prefix`.
pub(crate) fn prefix_range(prefix: &[u8]) -> KeyRange {
    KeyRange {
        lower: Bound::Included(prefix.to_vec()),
        upper: match prefix_successor(prefix) {
            Some(s) => Bound::Excluded(s),
            None => Bound::Unbounded,
        },
    }
}

enum Cursor {
    Unopened,
    Open(Box<dyn StoreIter>),
}

/// A double-ended iterator over `(key, value)` pairs in key order, returned by `range`, `prefix`
/// and `iter` of [`crate::Db`], [`crate::Keyspace`] and [`crate::Snapshot`]. It reads a
/// consistent snapshot taken when it was created. Errors are yielded as items; after an error
/// the iterator ends.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let db = kv_api::Db::open(dir.path())?;
/// for k in ["a", "b", "c", "d"] {
///     db.put(k, k.to_uppercase())?;
/// }
/// let mut it = db.range("b".."d");
/// assert_eq!(it.next().unwrap()?.0, "b");
/// assert_eq!(it.next_back().unwrap()?.0, "c");
/// assert!(it.next().is_none());
/// let rev: Vec<_> = db.iter().rev().map(|r| r.unwrap().0).collect();
/// assert_eq!(rev, ["d", "c", "b", "a"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Iter {
    db: Arc<DbInner>,
    meta: Arc<KsMeta>,
    range: KeyRange,
    snapshot: Option<Snapshot>,
    now: u64,
    front: Cursor,
    back: Cursor,
    /// Last key yielded (or skipped as expired) from each end.
    front_key: Option<Bytes>,
    back_key: Option<Bytes>,
    done: bool,
    error: Option<Error>,
    /// Yield stored values as they are (header included, expired ones too).
    raw: bool,
}

impl Iter {
    /// An iterator at `snapshot` (a new one if `None`). A failed precondition becomes the first
    /// item.
    pub(crate) fn new(
        db: Arc<DbInner>,
        meta: Arc<KsMeta>,
        range: KeyRange,
        snapshot: Option<Snapshot>,
    ) -> Iter {
        let error = db.check_ks(&meta).err();
        let snapshot = match (error.is_some(), snapshot) {
            (true, _) => None,
            (false, Some(s)) => Some(s),
            (false, None) => Some(db.store.snapshot()),
        };
        let now = db.now();
        Iter {
            db,
            meta,
            range,
            snapshot,
            now,
            front: Cursor::Unopened,
            back: Cursor::Unopened,
            front_key: None,
            back_key: None,
            done: false,
            error,
            raw: false,
        }
    }

    /// Makes the iterator yield stored values undecoded (for transaction iterators, which
    /// fold buffered merges over them).
    pub(crate) fn raw(mut self) -> Iter {
        self.raw = true;
        self
    }

    /// Makes `e` the next (and last) item.
    pub(crate) fn fail(&mut self, e: Error) {
        self.error = Some(e);
    }

    /// Moves one cursor one step; returns the raw entry unless the ends have met.
    fn step(&mut self, forward: bool) -> Result<Option<(Bytes, Bytes)>> {
        let slot = if forward {
            &mut self.front
        } else {
            &mut self.back
        };
        if let Cursor::Open(it) = slot {
            let r = if forward { it.next() } else { it.prev() };
            r.map_err(|e| self.db.engine_err(&self.meta, e))?;
        } else {
            self.db.check_ks(&self.meta)?;
            let at = match &self.snapshot {
                Some(s) => ReadAt::Snapshot(s),
                None => ReadAt::Latest,
            };
            let mut it = self
                .db
                .store
                .iter(self.meta.id, self.range.clone(), at)
                .map_err(|e| self.db.engine_err(&self.meta, e))?;
            let r = if forward {
                it.seek_to_first()
            } else {
                it.seek_to_last()
            };
            r.map_err(|e| self.db.engine_err(&self.meta, e))?;
            *slot = Cursor::Open(it);
        }
        let Cursor::Open(it) = slot else {
            return Ok(None);
        };
        if !it.valid() {
            return Ok(None);
        }
        let key = it.key();
        let met = match (forward, &self.front_key, &self.back_key) {
            (true, _, Some(b)) => key >= &b[..],
            (false, Some(f), _) => key <= &f[..],
            _ => false,
        };
        if met {
            return Ok(None);
        }
        let key = Bytes::copy_from_slice(key);
        let value = Bytes::copy_from_slice(it.value());
        if forward {
            self.front_key = Some(key.clone());
        } else {
            self.back_key = Some(key.clone());
        }
        Ok(Some((key, value)))
    }

    fn advance(&mut self, forward: bool) -> Option<Result<(Key, Value)>> {
        loop {
            if let Some(e) = self.error.take() {
                self.done = true;
                return Some(Err(e));
            }
            if self.done {
                return None;
            }
            match self.step(forward) {
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Ok(Some((k, stored))) if self.raw => {
                    return Some(Ok((Slice::new(k), Slice::new(stored))));
                }
                Ok(Some((k, stored))) => match codec::decode_bytes(stored, self.now) {
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                    Ok(None) => continue,
                    Ok(Some(v)) => return Some(Ok((Slice::new(k), Slice::new(v)))),
                },
            }
        }
    }
}

impl Iterator for Iter {
    type Item = Result<(Key, Value)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.advance(true)
    }
}

impl DoubleEndedIterator for Iter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.advance(false)
    }
}

impl std::iter::FusedIterator for Iter {}

impl std::fmt::Debug for Iter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter")
            .field("keyspace", &self.meta.name)
            .field("range", &self.range)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_convert() {
        let r = key_range(&("a".."c"));
        assert_eq!(r.lower, Bound::Included(b"a".to_vec()));
        assert_eq!(r.upper, Bound::Excluded(b"c".to_vec()));
        let r = key_range(&(..=b"z".to_vec()));
        assert_eq!(r.lower, Bound::Unbounded);
        assert_eq!(r.upper, Bound::Included(b"z".to_vec()));
        let p = prefix_range(b"ab\xff");
        assert_eq!(p.upper, Bound::Excluded(b"ac".to_vec()));
        assert_eq!(prefix_range(b"").upper, Bound::Unbounded);
        assert_eq!(prefix_range(b"\xff\xff").upper, Bound::Unbounded);
    }
}
