//! [`TxnIter`]: a transaction's iterator — its write buffer merged with the store's entries, in
//! both directions ("read your own writes" for scans).
//!
//! Two sorted double-ended sources are merged: the buffer's entries of the range (`A`) and the
//! store [`Iter`] (`B`, with keys under a buffered range delete dropped). Each end keeps one
//! peeked item per source; when a source runs dry from one end, the item the other end has
//! peeked is the last one left, so it is taken from there. On equal keys the buffer wins
//! (a buffered merge folds over the store's value).

use std::cmp::Ordering;
use std::collections::btree_map;
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use lsm_core::store::KeyRange;

use crate::codec;
use crate::error::{Error, Result};
use crate::iter::Iter;
use crate::merge::MergeOperator;
use crate::slice::{Key, Slice, Value};
use crate::txn::buffer::{BufOp, KsBuf};

type BufItem<'t> = (&'t Vec<u8>, &'t BufOp);

/// An iterator over a transaction's view of a key range: committed data at the transaction's
/// snapshot (the latest, for pessimistic transactions) with the transaction's own uncommitted
/// writes applied. Double-ended; yields `Result<(Key, Value)>` and ends after an error.
pub struct TxnIter<'t> {
    buf: Option<&'t KsBuf>,
    a: Option<btree_map::Range<'t, Vec<u8>, BufOp>>,
    a_front: Option<BufItem<'t>>,
    a_back: Option<BufItem<'t>>,
    b: Iter,
    b_front: Option<(Key, Value)>,
    b_back: Option<(Key, Value)>,
    merge: Option<Arc<dyn MergeOperator>>,
    keyspace: String,
    now: u64,
    done: bool,
}

/// False if `BTreeMap::range` would panic on these bounds (start after end, or equal and both
/// excluded); such a range is empty anyway.
fn well_formed(r: &KeyRange) -> bool {
    match (&r.lower, &r.upper) {
        (Bound::Excluded(l), Bound::Excluded(u)) => l < u,
        (Bound::Included(l) | Bound::Excluded(l), Bound::Included(u) | Bound::Excluded(u)) => {
            l <= u
        }
        _ => true,
    }
}

impl<'t> TxnIter<'t> {
    pub(crate) fn new(
        buf: Option<&'t KsBuf>,
        range: &KeyRange,
        store: Iter,
        merge: Option<Arc<dyn MergeOperator>>,
        keyspace: String,
        now: u64,
    ) -> TxnIter<'t> {
        let a = buf.filter(|_| well_formed(range)).map(|kb| {
            kb.entries.range::<[u8], _>((
                range.lower.as_ref().map(Vec::as_slice),
                range.upper.as_ref().map(Vec::as_slice),
            ))
        });
        TxnIter {
            buf,
            a,
            a_front: None,
            a_back: None,
            b: store,
            b_front: None,
            b_back: None,
            merge,
            keyspace,
            now,
            done: false,
        }
    }

    fn hidden(&self, key: &[u8]) -> bool {
        self.buf.is_some_and(|kb| kb.range_deleted(key))
    }

    fn fill_a(&mut self, front: bool) {
        let Some(a) = self.a.as_mut() else {
            return;
        };
        if front && self.a_front.is_none() {
            self.a_front = a.next().or_else(|| self.a_back.take());
        } else if !front && self.a_back.is_none() {
            self.a_back = a.next_back().or_else(|| self.a_front.take());
        }
    }

    fn fill_b(&mut self, front: bool) -> Result<()> {
        loop {
            let slot_empty = if front {
                self.b_front.is_none()
            } else {
                self.b_back.is_none()
            };
            if !slot_empty {
                return Ok(());
            }
            let next = if front {
                self.b.next()
            } else {
                self.b.next_back()
            };
            match next {
                Some(Err(e)) => return Err(e),
                Some(Ok(item)) => {
                    if self.hidden(&item.0) {
                        continue;
                    }
                    if front {
                        self.b_front = Some(item);
                    } else {
                        self.b_back = Some(item);
                    }
                }
                None => {
                    if front {
                        self.b_front = self.b_back.take();
                    } else {
                        self.b_back = self.b_front.take();
                    }
                    return Ok(());
                }
            }
        }
    }

    /// The visible value of a key: its buffered entry (if any) over `base`, the store's stored
    /// value of the key (if it has one); `None` if the key is hidden or expired.
    fn resolve(
        &self,
        key: &[u8],
        op: Option<&BufOp>,
        base: Option<Value>,
    ) -> Result<Option<Value>> {
        let stored = match op {
            None => base.map(Slice::into_bytes),
            Some(BufOp::Put(stored)) => Some(stored.clone()),
            Some(BufOp::Delete) => None,
            Some(BufOp::Merge(ops)) => {
                let m = self
                    .merge
                    .as_ref()
                    .ok_or_else(|| Error::NoMergeOperator(self.keyspace.clone()))?;
                let refs: Vec<&[u8]> = ops.iter().map(Vec::as_slice).collect();
                let merged = codec::merge_stored(&**m, key, base.as_deref(), &refs)
                    .map_err(Error::MergeFailed)?;
                Some(Bytes::from(merged))
            }
        };
        match stored {
            Some(s) => Ok(codec::decode_bytes(s, self.now)?.map(Slice::new)),
            None => Ok(None),
        }
    }

    fn advance(&mut self, front: bool) -> Option<Result<(Key, Value)>> {
        while !self.done {
            self.fill_a(front);
            if let Err(e) = self.fill_b(front) {
                self.done = true;
                return Some(Err(e));
            }
            let (a, b) = if front {
                (&mut self.a_front, &mut self.b_front)
            } else {
                (&mut self.a_back, &mut self.b_back)
            };
            let order = match (a.as_ref(), b.as_ref()) {
                (None, None) => {
                    self.done = true;
                    return None;
                }
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some((ak, _)), Some((bk, _))) => {
                    let o = ak.as_slice().cmp(&bk[..]);
                    if front {
                        o
                    } else {
                        o.reverse()
                    }
                }
            };
            let (buffered, stored) = match order {
                Ordering::Less => (a.take(), None),
                Ordering::Greater => (None, b.take()),
                Ordering::Equal => (a.take(), b.take()),
            };
            let (key, op) = match (buffered, &stored) {
                (Some((k, op)), _) => (Slice::copy_from(k), Some(op)),
                (None, Some((k, _))) => (k.clone(), None),
                (None, None) => continue,
            };
            match self.resolve(&key, op, stored.map(|(_, v)| v)) {
                Ok(Some(v)) => return Some(Ok((key, v))),
                Ok(None) => continue,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

impl Iterator for TxnIter<'_> {
    type Item = Result<(Key, Value)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.advance(true)
    }
}

impl DoubleEndedIterator for TxnIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.advance(false)
    }
}

impl std::iter::FusedIterator for TxnIter<'_> {}

impl std::fmt::Debug for TxnIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxnIter")
            .field("keyspace", &self.keyspace)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
