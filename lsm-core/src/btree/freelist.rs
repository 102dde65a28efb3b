//! Free-page management: pages that can be reused now, and pages freed by recent transactions
//! that some reader or the previous meta page may still need.
//!
//! A page freed by transaction `t` (reachable in the state before `t`, unreachable from `t` on)
//! becomes reusable by transaction `w` once `t <= w - 2` (neither meta page on disk can still
//! point at a tree containing it, so a torn commit of `w` falls back to an intact state) and
//! `t <= r` for the oldest live reader `r` (snapshots and iterators read the state of their
//! transaction). Pages allocated and freed within one transaction are reusable at once.
//!
//! The list is stored at every commit as a blob split over a chain of free-list pages (see
//! `page.rs`); the meta page names the first page and the blob length.
//!
//! ```text
//! blob     := free: extents ‖ npending: varint ‖ { txn: varint ‖ extents }{npending}
//!             (this version writes npending <= 1: the pages the committing transaction freed)
//! extents  := n: varint ‖ { gap: varint ‖ len_minus_1: varint }{n}
//! ```
//! `gap` is the distance from the end of the previous extent (0 for the first: its start);
//! extents ascend and never touch, and no page appears twice in the whole blob.

use std::collections::{BTreeSet, VecDeque};
use std::path::Path;

use crate::error::{Error, Result};
use crate::util::coding::{get_varint, put_varint};

use super::meta::META_PAGES;

/// Free and pending pages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FreeList {
    free: BTreeSet<u32>,
    /// `(txn that freed them, pages)`, oldest first.
    pending: VecDeque<(u64, Vec<u32>)>,
}

fn put_extents(buf: &mut Vec<u8>, pages: impl Iterator<Item = u32>) {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for p in pages {
        match runs.last_mut() {
            Some((start, len)) if *start + *len == p => *len += 1,
            _ => runs.push((p, 1)),
        }
    }
    put_varint(buf, runs.len() as u64);
    let mut end = 0u32;
    for (start, len) in runs {
        put_varint(buf, u64::from(start - end));
        put_varint(buf, u64::from(len - 1));
        end = start + len;
    }
}

impl FreeList {
    /// Pages reusable now.
    pub fn free_count(&self) -> usize {
        self.free.len()
    }

    /// Pages waiting for readers or for the older meta page to move on.
    pub fn pending_count(&self) -> usize {
        self.pending.iter().map(|(_, p)| p.len()).sum()
    }

    /// Makes every page freed by a transaction `<= upto` reusable; returns them.
    pub fn release(&mut self, upto: u64) -> Vec<u32> {
        let mut out = Vec::new();
        while let Some((t, _)) = self.pending.front() {
            if *t > upto {
                break;
            }
            if let Some((_, pages)) = self.pending.pop_front() {
                self.free.extend(pages.iter().copied());
                out.extend(pages);
            }
        }
        out
    }

    /// Takes the lowest free page.
    pub fn alloc(&mut self) -> Option<u32> {
        self.free.pop_first()
    }

    /// Takes `n` consecutive free pages, returning the first.
    pub fn alloc_run(&mut self, n: u64) -> Option<u32> {
        if n == 1 {
            return self.alloc();
        }
        let mut start = None;
        let mut prev = None;
        let mut found = None;
        for &p in &self.free {
            if prev.map(|q: u32| q + 1) != Some(p) {
                start = Some(p);
            }
            prev = Some(p);
            if let Some(s) = start {
                if u64::from(p - s) + 1 == n {
                    found = Some(s);
                    break;
                }
            }
        }
        let s = found?;
        for p in s..s + n as u32 {
            self.free.remove(&p);
        }
        Some(s)
    }

    /// Returns a page nobody can see to the free set.
    pub fn free_now(&mut self, page: u32) {
        self.free.insert(page);
    }

    /// Records the committed pages transaction `txn` freed.
    pub fn defer(&mut self, txn: u64, pages: Vec<u32>) {
        if !pages.is_empty() {
            self.pending.push_back((txn, pages));
        }
    }

    /// Drops free pages at the end of the file, lowering `page_count`.
    pub fn trim_tail(&mut self, page_count: &mut u64) {
        while *page_count > u64::from(META_PAGES) {
            let last = (*page_count - 1) as u32;
            if !self.free.remove(&last) {
                break;
            }
            *page_count -= 1;
        }
    }

    /// Every page the list holds, free or pending.
    pub fn all_pages(&self) -> impl Iterator<Item = u32> + '_ {
        self.free
            .iter()
            .copied()
            .chain(self.pending.iter().flat_map(|(_, p)| p.iter().copied()))
    }

    /// The blob committed by transaction `txn`. Only what matters after a restart is kept
    /// apart: with no reader left, pages freed before `txn` are reusable by the next
    /// transaction, so they are stored as free, and only the pages `txn` itself freed stay
    /// pending. (This keeps the blob one group long however long a snapshot pins pages.)
    pub fn encode(&self, txn: u64) -> Vec<u8> {
        if self.free.is_empty() && self.pending.is_empty() {
            return Vec::new();
        }
        let mut free: Vec<u32> = self.free.iter().copied().collect();
        let mut newest: Vec<u32> = Vec::new();
        for (t, pages) in &self.pending {
            if *t >= txn {
                newest.extend_from_slice(pages);
            } else {
                free.extend_from_slice(pages);
            }
        }
        free.sort_unstable();
        newest.sort_unstable();
        let mut buf = Vec::new();
        put_extents(&mut buf, free.into_iter());
        if newest.is_empty() {
            put_varint(&mut buf, 0);
        } else {
            put_varint(&mut buf, 1);
            put_varint(&mut buf, txn);
            put_extents(&mut buf, newest.into_iter());
        }
        buf
    }

    /// Decodes a blob; every page must lie in `[META_PAGES, page_count)` and appear once.
    /// Errors name `path` and `offset` (the first free-list page).
    pub fn decode(blob: &[u8], page_count: u64, path: &Path, offset: u64) -> Result<FreeList> {
        let bad = |why: &str| Error::corruption(path, offset, format!("free list: {why}"));
        let mut fl = FreeList::default();
        if blob.is_empty() {
            return Ok(fl);
        }
        let mut input = blob;
        let mut seen = BTreeSet::new();
        let extents = |input: &mut &[u8], seen: &mut BTreeSet<u32>| -> Result<Vec<u32>> {
            let n = get_varint(input).ok_or_else(|| bad("truncated extent count"))?;
            let mut out = Vec::new();
            let mut end = 0u64;
            for i in 0..n {
                let gap = get_varint(input).ok_or_else(|| bad("truncated extent"))?;
                let len = get_varint(input)
                    .and_then(|l| l.checked_add(1))
                    .ok_or_else(|| bad("truncated extent"))?;
                let start = end
                    .checked_add(gap)
                    .ok_or_else(|| bad("extent overflows"))?;
                if (i > 0 && gap == 0) || start < u64::from(META_PAGES) {
                    return Err(bad("extents touch or name a meta page"));
                }
                let stop = start
                    .checked_add(len)
                    .filter(|s| *s <= page_count)
                    .ok_or_else(|| bad("extent runs past the end of the file"))?;
                for p in start..stop {
                    if !seen.insert(p as u32) {
                        return Err(bad("a page is listed twice"));
                    }
                    out.push(p as u32);
                }
                end = stop;
            }
            Ok(out)
        };
        fl.free = extents(&mut input, &mut seen)?.into_iter().collect();
        let npending = get_varint(&mut input).ok_or_else(|| bad("truncated pending count"))?;
        let mut last_txn = 0;
        for _ in 0..npending {
            let txn = get_varint(&mut input).ok_or_else(|| bad("truncated pending txn"))?;
            if txn <= last_txn && last_txn != 0 {
                return Err(bad("pending groups out of order"));
            }
            last_txn = txn;
            let pages = extents(&mut input, &mut seen)?;
            fl.pending.push_back((txn, pages));
        }
        if !input.is_empty() {
            return Err(bad("bytes after the last group"));
        }
        Ok(fl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FreeList {
        let mut fl = FreeList::default();
        for p in [2, 3, 4, 9, 200, 201, 5000] {
            fl.free_now(p);
        }
        fl.defer(7, vec![12, 10, 11]);
        fl.defer(8, vec![300]);
        fl
    }

    #[test]
    fn round_trip_and_empty() {
        let fl = sample();
        let blob = fl.encode(8);
        let back = FreeList::decode(&blob, 6000, Path::new("f"), 0).unwrap();
        // Pages freed before transaction 8 are stored as free; 8's own stay pending.
        let mut free = fl.free.clone();
        free.extend([10, 11, 12]);
        assert_eq!(back.free, free);
        let pend: Vec<_> = back.pending.iter().cloned().collect();
        assert_eq!(pend, vec![(8, vec![300])]);
        assert!(FreeList::default().encode(1).is_empty());
        // Several pending groups still decode (the format allows them).
        let mut many = Vec::new();
        put_extents(&mut many, [2u32, 3].into_iter());
        put_varint(&mut many, 2);
        put_varint(&mut many, 4);
        put_extents(&mut many, [5u32].into_iter());
        put_varint(&mut many, 6);
        put_extents(&mut many, [9u32].into_iter());
        let back = FreeList::decode(&many, 10, Path::new("f"), 0).unwrap();
        assert_eq!(back.pending_count(), 2);
        assert_eq!(
            FreeList::decode(&[], 10, Path::new("f"), 0).unwrap(),
            FreeList::default()
        );
    }

    #[test]
    fn decode_rejects_damage() {
        let blob = sample().encode(8);
        // Out of file, truncated, trailing bytes.
        assert!(FreeList::decode(&blob, 1000, Path::new("f"), 0).is_err());
        // (An empty blob is the empty list.)
        for cut in 1..blob.len() {
            assert!(FreeList::decode(&blob[..cut], 6000, Path::new("f"), 0).is_err());
        }
        let mut long = blob.clone();
        long.push(0);
        assert!(FreeList::decode(&long, 6000, Path::new("f"), 0).is_err());
        // A page listed both free and pending.
        let mut dup = FreeList::default();
        dup.free_now(5);
        dup.defer(3, vec![5]);
        let e = FreeList::decode(&dup.encode(3), 10, Path::new("f"), 0).unwrap_err();
        assert!(e.is_corruption());
        // Meta pages are never free.
        let mut meta = FreeList::default();
        meta.free_now(1);
        assert!(FreeList::decode(&meta.encode(1), 10, Path::new("f"), 0).is_err());
    }

    #[test]
    fn release_alloc_and_runs() {
        let mut fl = sample();
        assert_eq!(fl.free_count(), 7);
        assert_eq!(fl.pending_count(), 4);
        assert!(fl.release(6).is_empty());
        assert_eq!(fl.pending_count(), 4);
        assert_eq!(fl.release(7), vec![12, 10, 11]);
        assert_eq!(fl.pending_count(), 1);
        assert_eq!(fl.alloc(), Some(2));
        // 9..=12 is now a run of four (9 free, 10-12 released).
        assert_eq!(fl.alloc_run(4), Some(9));
        assert_eq!(fl.alloc_run(3), None);
        assert_eq!(fl.alloc_run(2), Some(3));
        let mut count = 5001;
        fl.trim_tail(&mut count);
        assert_eq!(count, 5000);
        assert!(!fl.all_pages().any(|p| p == 5000));
    }
}
