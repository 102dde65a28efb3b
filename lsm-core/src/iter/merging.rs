//! Merges several [`InternalIterator`]s into one, in internal-key order, in both directions.
//!
//! Invariant: in the forward direction every child is positioned at its first entry `>=` the
//! current key (the current child *at* it); in the backward direction every child is at its last
//! entry `<=` the current key. Changing direction re-seeks the other children to restore that.
//! Children are few (memtables, L0 files, one per deeper level), so the smallest/largest is found
//! by a linear scan.

use std::cmp::Ordering;

use crate::error::Result;
use crate::iter::InternalIterator;
use crate::key::compare_internal;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Backward,
}

/// The merge of several sorted cursors.
pub struct MergingIterator {
    children: Vec<Box<dyn InternalIterator>>,
    current: Option<usize>,
    dir: Direction,
}

impl MergingIterator {
    /// Merges `children` (each sorted in internal-key order).
    pub fn new(children: Vec<Box<dyn InternalIterator>>) -> MergingIterator {
        MergingIterator {
            children,
            current: None,
            dir: Direction::Forward,
        }
    }

    fn find_smallest(&mut self) {
        let mut best: Option<usize> = None;
        for (i, c) in self.children.iter().enumerate() {
            if !c.valid() {
                continue;
            }
            best = match best {
                Some(b) if compare_internal(c.key(), self.children[b].key()) != Ordering::Less => {
                    Some(b)
                }
                _ => Some(i),
            };
        }
        self.current = best;
    }

    fn find_largest(&mut self) {
        let mut best: Option<usize> = None;
        for (i, c) in self.children.iter().enumerate() {
            if !c.valid() {
                continue;
            }
            best = match best {
                Some(b)
                    if compare_internal(c.key(), self.children[b].key()) != Ordering::Greater =>
                {
                    Some(b)
                }
                _ => Some(i),
            };
        }
        self.current = best;
    }

    fn fail(&mut self, e: crate::Error) -> Result<()> {
        self.current = None;
        Err(e)
    }
}

impl InternalIterator for MergingIterator {
    fn valid(&self) -> bool {
        self.current.is_some()
    }

    fn seek_to_first(&mut self) -> Result<()> {
        for i in 0..self.children.len() {
            if let Err(e) = self.children[i].seek_to_first() {
                return self.fail(e);
            }
        }
        self.dir = Direction::Forward;
        self.find_smallest();
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        for i in 0..self.children.len() {
            if let Err(e) = self.children[i].seek_to_last() {
                return self.fail(e);
            }
        }
        self.dir = Direction::Backward;
        self.find_largest();
        Ok(())
    }

    fn seek(&mut self, ikey: &[u8]) -> Result<()> {
        for i in 0..self.children.len() {
            if let Err(e) = self.children[i].seek(ikey) {
                return self.fail(e);
            }
        }
        self.dir = Direction::Forward;
        self.find_smallest();
        Ok(())
    }

    fn seek_for_prev(&mut self, ikey: &[u8]) -> Result<()> {
        for i in 0..self.children.len() {
            if let Err(e) = self.children[i].seek_for_prev(ikey) {
                return self.fail(e);
            }
        }
        self.dir = Direction::Backward;
        self.find_largest();
        Ok(())
    }

    fn next(&mut self) -> Result<()> {
        let Some(cur) = self.current else {
            return Ok(());
        };
        if self.dir != Direction::Forward {
            let key = self.children[cur].key().to_vec();
            for i in 0..self.children.len() {
                if i == cur {
                    continue;
                }
                let c = &mut self.children[i];
                let r = c.seek(&key).and_then(|()| {
                    if c.valid() && compare_internal(c.key(), &key) == Ordering::Equal {
                        c.next()
                    } else {
                        Ok(())
                    }
                });
                if let Err(e) = r {
                    return self.fail(e);
                }
            }
            self.dir = Direction::Forward;
        }
        if let Err(e) = self.children[cur].next() {
            return self.fail(e);
        }
        self.find_smallest();
        Ok(())
    }

    fn prev(&mut self) -> Result<()> {
        let Some(cur) = self.current else {
            return Ok(());
        };
        if self.dir != Direction::Backward {
            let key = self.children[cur].key().to_vec();
            for i in 0..self.children.len() {
                if i == cur {
                    continue;
                }
                let c = &mut self.children[i];
                let r = c.seek_for_prev(&key).and_then(|()| {
                    if c.valid() && compare_internal(c.key(), &key) == Ordering::Equal {
                        c.prev()
                    } else {
                        Ok(())
                    }
                });
                if let Err(e) = r {
                    return self.fail(e);
                }
            }
            self.dir = Direction::Backward;
        }
        if let Err(e) = self.children[cur].prev() {
            return self.fail(e);
        }
        self.find_largest();
        Ok(())
    }

    fn key(&self) -> &[u8] {
        match self.current {
            Some(c) => self.children[c].key(),
            None => &[],
        }
    }

    fn value(&self) -> &[u8] {
        match self.current {
            Some(c) => self.children[c].value(),
            None => &[],
        }
    }
}
