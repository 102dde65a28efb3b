//! Bulk load: builds a tree from keys in ascending order bottom-up, filling every page, without
//! searching or splitting. Finished nodes go to the transaction's dirty set (which spills to
//! disk past its limit), so memory stays bounded whatever the input size; each level keeps only
//! the node it is filling.

use bytes::Bytes;

use crate::error::{Error, Result};

use super::page::{entry_size, sep_size, Body, Node, PageRef, Sep, REF_LEN};
use super::tree::Root;
use super::txn::{shortest_separator, Txn};

struct LevelBuf {
    node: Node,
    /// Separator between the previous node of this level and the one being filled.
    sep_before: Option<Sep>,
    finished: u64,
}

/// Streams sorted entries into a new tree inside a transaction.
pub struct Builder<'t, 'a> {
    txn: &'t mut Txn<'a>,
    levels: Vec<LevelBuf>,
    last_key: Option<Bytes>,
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
            entries: 0,
            logical_bytes: 0,
        }
    }

    fn level(&mut self, l: usize) -> &mut LevelBuf {
        while self.levels.len() <= l {
            let level = self.levels.len() as u8;
            let body = if level == 0 {
                Body::Leaf(Vec::new())
            } else {
                Body::Branch {
                    seps: Vec::new(),
                    children: Vec::new(),
                }
            };
            self.levels.push(LevelBuf {
                node: Node::new(self.txn.id, level, body),
                sep_before: None,
                finished: 0,
            });
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
        let e = self.txn.make_entry(key, val)?;
        let size = entry_size(&e);
        let usable = self.txn.pager.geo.usable();
        let full = {
            let l0 = self.level(0);
            !l0.node.is_empty() && l0.node.size + size > usable
        };
        if full {
            let last = self.last_key.clone().unwrap_or_default();
            let sep = self.txn.make_sep(shortest_separator(&last, key))?;
            self.finish(0, Some(sep))?;
        }
        let l0 = self.level(0);
        l0.node.size += size;
        if let Body::Leaf(entries) = &mut l0.node.body {
            entries.push(e);
        }
        self.last_key = Some(Bytes::copy_from_slice(key));
        self.entries += 1;
        self.logical_bytes += (key.len() + val.len()) as u64;
        Ok(())
    }

    /// Writes the node of level `l` and hands it to level `l + 1`; `next_sep` separates it from
    /// the node that follows.
    fn finish(&mut self, l: usize, next_sep: Option<Sep>) -> Result<()> {
        let gen = self.txn.id;
        let lb = self.level(l);
        let empty = match &lb.node.body {
            Body::Leaf(_) => Body::Leaf(Vec::new()),
            Body::Branch { .. } => Body::Branch {
                seps: Vec::new(),
                children: Vec::new(),
            },
        };
        let node = std::mem::replace(&mut lb.node, Node::new(gen, l as u8, empty));
        let sep = std::mem::replace(&mut lb.sep_before, next_sep);
        lb.finished += 1;
        let r = self.txn.place(None, node)?;
        self.push_child(l + 1, sep, r)
    }

    fn push_child(&mut self, l: usize, sep: Option<Sep>, r: PageRef) -> Result<()> {
        let usable = self.txn.pager.geo.usable();
        let overflow = {
            let lb = self.level(l);
            matches!(&sep, Some(s) if lb.node.size + sep_size(s) > usable)
        };
        if overflow {
            // The separator moves up between this node and the next; the next starts with `r`.
            self.finish(l, sep)?;
            let lb = self.level(l);
            if let Body::Branch { children, .. } = &mut lb.node.body {
                children.push(r);
            }
            lb.node.size = REF_LEN;
            return Ok(());
        }
        let lb = self.level(l);
        if let Body::Branch { seps, children } = &mut lb.node.body {
            match sep {
                Some(s) if !children.is_empty() => {
                    lb.node.size += sep_size(&s);
                    seps.push(s);
                }
                _ => lb.node.size = REF_LEN,
            }
            children.push(r);
        }
        Ok(())
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
                let gen = self.txn.id;
                let node = std::mem::replace(&mut self.levels[l].node, Node::empty_leaf(gen));
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
