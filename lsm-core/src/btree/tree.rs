//! Read-side tree algorithms shared by readers and the writer: point lookup and a bidirectional
//! cursor.
//!
//! Leaves carry no sibling pointers: with copy-on-write, a pointer to a neighbour would force
//! every rewrite of a leaf to rewrite its neighbours, and theirs, across the whole level. The
//! cursor instead keeps the path from the root (`stack`), so stepping to the next or previous
//! leaf climbs only as far as the nearest ancestor with another child — amortized O(1) per leaf,
//! like a sibling link, and always within one consistent state.

use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};

use super::node::{EntryRef, Node, ValRef};
use super::page::PageRef;

/// A tree's root. `height` 0 is the empty tree; 1 is a single leaf.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Root {
    /// The root page.
    pub at: PageRef,
    /// Levels.
    pub height: u8,
}

/// Where nodes and values come from (a committed state, or a transaction's working state).
pub trait PageSource {
    /// The node at `r`, which must be at `level`.
    fn node(&self, r: PageRef, level: u8) -> Result<Arc<Node>>;
    /// The bytes of a value.
    fn value(&self, v: ValRef<'_>) -> Result<Bytes>;
}

/// The level below a branch at `level`.
pub fn below(level: u8) -> Result<u8> {
    level
        .checked_sub(1)
        .ok_or_else(|| Error::InvalidArgument("internal error: branch at level 0".into()))
}

/// Looks `key` up and reads its value.
pub fn get(src: &dyn PageSource, root: Root, key: &[u8]) -> Result<Option<Bytes>> {
    if root.height == 0 {
        return Ok(None);
    }
    let mut r = root.at;
    let mut level = root.height - 1;
    loop {
        let n = src.node(r, level)?;
        if n.is_leaf() {
            return match n.search(key) {
                Ok(i) => src.value(n.entry(i).val).map(Some),
                Err(_) => Ok(None),
            };
        }
        r = n.child(n.child_index(key));
        level = below(level)?;
    }
}

/// A position in a tree: the path of `(node, index)` from the root to a leaf entry. Empty
/// when not positioned.
#[derive(Clone, Default)]
pub struct Cursor {
    root: Root,
    stack: Vec<(Arc<Node>, usize)>,
}

impl Cursor {
    /// A cursor over the tree at `root`, not positioned.
    pub fn new(root: Root) -> Cursor {
        Cursor {
            root,
            stack: Vec::new(),
        }
    }

    /// Forgets the position (the cursor stays on its tree).
    pub fn reset(&mut self) {
        self.stack.clear();
    }

    /// True when on an entry.
    pub fn valid(&self) -> bool {
        self.entry().is_some()
    }

    /// The current entry.
    pub fn entry(&self) -> Option<EntryRef<'_>> {
        let (n, i) = self.stack.last()?;
        (n.is_leaf() && *i < n.len()).then(|| n.entry(*i))
    }

    fn start(&mut self, src: &dyn PageSource) -> Result<Option<Arc<Node>>> {
        self.stack.clear();
        if self.root.height == 0 {
            return Ok(None);
        }
        src.node(self.root.at, self.root.height - 1).map(Some)
    }

    /// Descends from `node` to the leftmost (or rightmost) leaf and positions on its first (or
    /// last) entry; skips empty leaves.
    fn descend_edge(
        &mut self,
        src: &dyn PageSource,
        mut node: Arc<Node>,
        last: bool,
    ) -> Result<()> {
        loop {
            if !node.is_leaf() {
                let i = if last { node.len() - 1 } else { 0 };
                let child = src.node(node.child(i), below(node.level())?)?;
                self.stack.push((node, i));
                node = child;
                continue;
            }
            if node.is_empty() {
                self.stack.push((node, 0));
                return if last {
                    self.prev_leaf(src)
                } else {
                    self.next_leaf(src)
                };
            }
            let i = if last { node.len() - 1 } else { 0 };
            self.stack.push((node, i));
            return Ok(());
        }
    }

    /// Positions on the first entry.
    pub fn seek_first(&mut self, src: &dyn PageSource) -> Result<()> {
        match self.start(src)? {
            Some(n) => self.descend_edge(src, n, false),
            None => Ok(()),
        }
    }

    /// Positions on the last entry.
    pub fn seek_last(&mut self, src: &dyn PageSource) -> Result<()> {
        match self.start(src)? {
            Some(n) => self.descend_edge(src, n, true),
            None => Ok(()),
        }
    }

    /// Descends towards `key`, leaving the leaf on top of the stack with index 0.
    fn descend_to(&mut self, src: &dyn PageSource, key: &[u8]) -> Result<bool> {
        let Some(mut node) = self.start(src)? else {
            return Ok(false);
        };
        loop {
            if node.is_leaf() {
                self.stack.push((node, 0));
                return Ok(true);
            }
            let i = node.child_index(key);
            let child = src.node(node.child(i), below(node.level())?)?;
            self.stack.push((node, i));
            node = child;
        }
    }

    /// Positions on the first entry `>= key`.
    pub fn seek_ge(&mut self, src: &dyn PageSource, key: &[u8]) -> Result<()> {
        if !self.descend_to(src, key)? {
            return Ok(());
        }
        if let Some((n, i)) = self.stack.last_mut() {
            *i = n.bound(key, false);
            if *i >= n.len() {
                return self.next_leaf(src);
            }
        }
        Ok(())
    }

    /// Positions on the last entry `<= key`.
    pub fn seek_le(&mut self, src: &dyn PageSource, key: &[u8]) -> Result<()> {
        if !self.descend_to(src, key)? {
            return Ok(());
        }
        if let Some((n, i)) = self.stack.last_mut() {
            match n.bound(key, true).checked_sub(1) {
                Some(p) => *i = p,
                None => return self.prev_leaf(src),
            }
        }
        Ok(())
    }

    /// Moves to the next entry (no-op when not positioned).
    pub fn next(&mut self, src: &dyn PageSource) -> Result<()> {
        let Some((n, i)) = self.stack.last_mut() else {
            return Ok(());
        };
        *i += 1;
        if *i < n.len() {
            return Ok(());
        }
        self.next_leaf(src)
    }

    /// Moves to the previous entry (no-op when not positioned).
    pub fn prev(&mut self, src: &dyn PageSource) -> Result<()> {
        let Some((_, i)) = self.stack.last_mut() else {
            return Ok(());
        };
        if *i > 0 {
            *i -= 1;
            return Ok(());
        }
        self.prev_leaf(src)
    }

    /// Leaves the current leaf for the first entry of the next one.
    fn next_leaf(&mut self, src: &dyn PageSource) -> Result<()> {
        self.stack.pop();
        while let Some((n, i)) = self.stack.pop() {
            if i + 1 < n.len() {
                if n.is_leaf() {
                    continue;
                }
                let child = src.node(n.child(i + 1), below(n.level())?)?;
                self.stack.push((n, i + 1));
                return self.descend_edge(src, child, false);
            }
        }
        Ok(())
    }

    /// Leaves the current leaf for the last entry of the previous one.
    fn prev_leaf(&mut self, src: &dyn PageSource) -> Result<()> {
        self.stack.pop();
        while let Some((n, i)) = self.stack.pop() {
            if i > 0 {
                if n.is_leaf() {
                    continue;
                }
                let child = src.node(n.child(i - 1), below(n.level())?)?;
                self.stack.push((n, i - 1));
                return self.descend_edge(src, child, true);
            }
        }
        Ok(())
    }
}
