//! The [`StoreIter`] of the B+ tree: a [`Cursor`] over a pinned [`Version`], with bounds.
//!
//! The iterator holds its version, so every page it may still visit stays allocated (and
//! unchanged: committed pages are never written again) however much is written meanwhile.

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::Result;
use crate::store::{KeyRange, StoreIter};

use super::node::{Node, ValRef};
use super::page::PageRef;
use super::pool::Pager;
use super::store::Inner;
use super::tree::{Cursor, PageSource, Root};
use super::Version;

/// Reads a committed state through the pool.
pub struct ReadSrc<'a> {
    /// The page file and pool.
    pub pager: &'a Pager,
    /// Pages in use by the state.
    pub page_count: u64,
}

impl PageSource for ReadSrc<'_> {
    fn node(&self, r: PageRef, level: u8) -> Result<Arc<Node>> {
        self.pager.load(r, level, self.page_count)
    }

    fn value(&self, v: ValRef<'_>) -> Result<Bytes> {
        match v {
            ValRef::Inline(b) => Ok(Bytes::copy_from_slice(b)),
            ValRef::Spilled { at, len } => self
                .pager
                .read_run(at, len, self.page_count)
                .map(Bytes::from),
        }
    }
}

/// A bounded, bidirectional iterator over one keyspace at one version.
pub struct BTreeIter {
    inner: Arc<Inner>,
    version: Arc<Version>,
    cursor: Cursor,
    range: KeyRange,
    /// The current value when it lives in an overflow run (inline values are read from the
    /// cursor's leaf).
    spilled: Bytes,
}

impl BTreeIter {
    pub(super) fn new(
        inner: Arc<Inner>,
        version: Arc<Version>,
        root: Root,
        range: KeyRange,
    ) -> BTreeIter {
        BTreeIter {
            inner,
            version,
            cursor: Cursor::new(root),
            range,
            spilled: Bytes::new(),
        }
    }

    /// Runs a positioning step, then drops out-of-bounds positions and loads the value; an
    /// error leaves the iterator invalid.
    fn step(&mut self, f: impl FnOnce(&mut Cursor, &ReadSrc<'_>) -> Result<()>) -> Result<()> {
        let src = ReadSrc {
            pager: &self.inner.pager,
            page_count: self.version.page_count,
        };
        let cursor = &mut self.cursor;
        let r = f(cursor, &src).and_then(|()| {
            let Some(e) = cursor.entry() else {
                return Ok(());
            };
            if !self.range.contains(e.key) {
                cursor.reset();
                return Ok(());
            }
            if let ValRef::Spilled { .. } = e.val {
                self.spilled = src.value(e.val)?;
            }
            Ok(())
        });
        if r.is_err() {
            cursor.reset();
        }
        r
    }
}

/// Positions on the first key `>= key`, or `> key` when `exclusive`.
fn seek_after(c: &mut Cursor, src: &ReadSrc<'_>, key: &[u8], exclusive: bool) -> Result<()> {
    c.seek_ge(src, key)?;
    if exclusive && c.entry().is_some_and(|e| e.key == key) {
        c.next(src)?;
    }
    Ok(())
}

/// Positions on the last key `<= key`, or `< key` when `exclusive`.
fn seek_before(c: &mut Cursor, src: &ReadSrc<'_>, key: &[u8], exclusive: bool) -> Result<()> {
    c.seek_le(src, key)?;
    if exclusive && c.entry().is_some_and(|e| e.key == key) {
        c.prev(src)?;
    }
    Ok(())
}

impl StoreIter for BTreeIter {
    fn valid(&self) -> bool {
        self.cursor.valid()
    }

    fn seek_to_first(&mut self) -> Result<()> {
        let lower = self.range.lower.clone();
        self.step(|c, src| match &lower {
            Bound::Unbounded => c.seek_first(src),
            Bound::Included(k) => seek_after(c, src, k, false),
            Bound::Excluded(k) => seek_after(c, src, k, true),
        })
    }

    fn seek_to_last(&mut self) -> Result<()> {
        let upper = self.range.upper.clone();
        self.step(|c, src| match &upper {
            Bound::Unbounded => c.seek_last(src),
            Bound::Included(k) => seek_before(c, src, k, false),
            Bound::Excluded(k) => seek_before(c, src, k, true),
        })
    }

    fn seek(&mut self, key: &[u8]) -> Result<()> {
        if self.range.is_below(key) {
            return self.seek_to_first();
        }
        self.step(|c, src| c.seek_ge(src, key))
    }

    fn seek_for_prev(&mut self, key: &[u8]) -> Result<()> {
        if self.range.is_above(key) {
            return self.seek_to_last();
        }
        self.step(|c, src| c.seek_le(src, key))
    }

    fn next(&mut self) -> Result<()> {
        self.step(|c, src| c.next(src))
    }

    fn prev(&mut self) -> Result<()> {
        self.step(|c, src| c.prev(src))
    }

    fn key(&self) -> &[u8] {
        self.cursor.entry().map(|e| e.key).unwrap_or(&[])
    }

    fn value(&self) -> &[u8] {
        match self.cursor.entry().map(|e| e.val) {
            Some(ValRef::Inline(v)) => v,
            Some(ValRef::Spilled { .. }) => &self.spilled,
            None => &[],
        }
    }
}
