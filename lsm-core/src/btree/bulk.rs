//! Bulk load: builds a tree from keys in ascending order bottom-up, filling every page, without
//! searching or splitting. Finished nodes go to the transaction's dirty set (which spills to
//! disk past its limit), so memory stays bounded whatever the input size; each level keeps only
//! the node it is filling.

use bytes::Bytes;

use crate::error::{Error, Result};

use super::node::{sep_size, Node, Sep};
use super::page::PageRef;
use super::tree::Root;
use super::txn::{shortest_separator, Txn};

#[derive(Default)]
struct LevelBuf {
    /// The node being filled (`None` until it has its first entry or child).
    node: Option<Node>,
    /// Separator between the previous node of this level and the one being filled.
    sep_before: Option<Sep>,
    finished: u64,
}

fn internal(why: &str) -> Error {
    Error::InvalidArgument(format!("internal error: bulk load: {why}"))
}

/// Streams sorted entries into a new tree inside a transaction.
pub struct Builder<'t, 'a> {
    txn: &'t mut Txn<'a>,
    levels: Vec<LevelBuf>,
    last_key: Option<Bytes>,
    cell: Vec<u8>,
    /// Entries added.
    pub entries: u64,
    /// Sum of key and value lengths added.
    pub logical_bytes: u64,
}

impl<'t, 'a> Builder<'t, 'a> {
    /// A builder writing through `txn`.
    pub fn new(txn: &'t mut Txn<'a>) -> Builder<'t, 'a> {
        Builder {
            txn,
            levels: Vec::new(),
            last_key: None,
            cell: Vec::with_capacity(256),
            entries: 0,
            logical_bytes: 0,
        }
    }

    fn level(&mut self, l: usize) -> &mut LevelBuf {
        while self.levels.len() <= l {
            self.levels.push(LevelBuf::default());
        }
        &mut self.levels[l]
    }

    /// Adds the next entry; keys must be strictly ascending.
    pub fn add(&mut self, key: &[u8], val: &[u8]) -> Result<()> {
        if let Some(last) = &self.last_key {
            if key <= last.as_ref() {
                return Err(Error::InvalidArgument(
                    "bulk load keys must be strictly ascending".into(),
                ));
            }
        }
        let mut cell = std::mem::take(&mut self.cell);
        let spill = self.txn.make_entry(key, val, &mut cell);
        let added = spill.and_then(|spill| self.push_cell(key, &cell, spill));
        self.cell = cell;
        added?;
        self.last_key = Some(Bytes::copy_from_slice(key));
        self.entries += 1;
        self.logical_bytes += (key.len() + val.len()) as u64;
        Ok(())
    }

    fn push_cell(
        &mut self,
        key: &[u8],
        cell: &[u8],
        spill: Option<(PageRef, Bytes)>,
    ) -> Result<()> {
        let usable = self.txn.pager.geo.usable();
        let full = self
            .level(0)
            .node
            .as_ref()
            .is_some_and(|n| n.size() + cell.len() > usable);
        if full {
            let last = self.last_key.clone().unwrap_or_default();
            let sep = self.txn.make_sep(shortest_separator(&last, key))?;
            self.finish(0, Some(sep))?;
        }
        let gen = self.txn.id;
        let node = self
            .level(0)
            .node
            .get_or_insert_with(|| Node::new_leaf(gen));
        node.insert_cell(node.keys(), cell, spill);
        Ok(())
    }

    /// Writes the node of level `l` and hands it to level `l + 1`; `next_sep` separates it from
    /// the node that follows.
    fn finish(&mut self, l: usize, next_sep: Option<Sep>) -> Result<()> {
        let lb = self.level(l);
        let node = lb
            .node
            .take()
            .ok_or_else(|| internal("finishing an empty level"))?;
        let sep = std::mem::replace(&mut lb.sep_before, next_sep);
        lb.finished += 1;
        let r = self.txn.place(None, node)?;
        self.push_child(l + 1, sep, r)
    }

    fn push_child(&mut self, l: usize, sep: Option<Sep>, r: PageRef) -> Result<()> {
        let usable = self.txn.pager.geo.usable();
        let gen = self.txn.id;
        let overflow = {
            let lb = self.level(l);
            match (&lb.node, &sep) {
                (Some(n), Some(s)) => n.size() + sep_size(s.key.len(), s.spill.is_some()) > usable,
                _ => false,
            }
        };
        if overflow {
            // The separator moves up between this node and the next; the next starts with `r`.
            self.finish(l, sep)?;
            self.level(l).node = Some(Node::new_branch(gen, l as u8, r));
            return Ok(());
        }
        let mut scratch = std::mem::take(&mut self.txn.scratch);
        let lb = self.level(l);
        let pushed = match (&mut lb.node, sep) {
            (Some(n), Some(s)) => {
                n.insert_sep(n.keys(), &s, r, &mut scratch);
                Ok(())
            }
            (slot @ None, _) => {
                *slot = Some(Node::new_branch(gen, l as u8, r));
                Ok(())
            }
            (Some(_), None) => Err(internal("a child without its separator")),
        };
        self.txn.scratch = scratch;
        pushed
    }

    /// Finishes every level; returns the root and the entry and byte counts.
    pub fn finish_all(mut self) -> Result<(Root, u64, u64)> {
        if self.entries == 0 {
            return Ok((Root::default(), 0, 0));
        }
        let mut l = 0;
        loop {
            let top = l + 1 == self.levels.len();
            if top && self.levels[l].finished == 0 {
                let node = self.levels[l]
                    .node
                    .take()
                    .ok_or_else(|| internal("no root"))?;
                let at = self.txn.place(None, node)?;
                return Ok((
                    Root {
                        at,
                        height: (l + 1) as u8,
                    },
                    self.entries,
                    self.logical_bytes,
                ));
            }
            self.finish(l, None)?;
            l += 1;
        }
    }
}
