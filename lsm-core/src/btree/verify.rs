//! A full consistency check of the current state: every reachable page is read and verified,
//! keys are checked against the separators above them, and every page of the file is accounted
//! for exactly once (meta, node, overflow, free-list chain, free or pending).

use bytes::Bytes;

use crate::error::{Error, Result};

use super::iter::ReadSrc;
use super::meta::META_PAGES;
use super::node::{EntryRef, ValRef};
use super::page::PageRef;
use super::store::BTreeStore;
use super::tree::{below, PageSource, Root};

/// What [`BTreeStore::verify`] counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Leaf and branch pages reachable (catalog included).
    pub node_pages: u64,
    /// Overflow pages reachable.
    pub overflow_pages: u64,
    /// Free-list chain pages.
    pub freelist_pages: u64,
    /// Free and pending pages.
    pub unused_pages: u64,
    /// Keys in all keyspaces.
    pub entries: u64,
}

struct Walk<'a> {
    src: ReadSrc<'a>,
    seen: Vec<bool>,
    report: VerifyReport,
}

impl Walk<'_> {
    fn mark(&mut self, page: u32, what: &str) -> Result<()> {
        match self.seen.get_mut(page as usize) {
            Some(s) if !*s => {
                *s = true;
                Ok(())
            }
            Some(_) => Err(self.fail(page, format!("{what} page is referenced twice"))),
            None => Err(self.fail(page, format!("{what} page lies past the end"))),
        }
    }

    fn fail(&self, page: u32, why: String) -> Error {
        Error::corruption(
            &self.src.pager.path,
            self.src.pager.geo.offset(page),
            format!("verify: page {page}: {why}"),
        )
    }

    fn run(&mut self, r: PageRef, len: u64) -> Result<()> {
        for p in r.page..r.page + self.src.pager.geo.run_pages(len) as u32 {
            self.mark(p, "overflow")?;
            self.report.overflow_pages += 1;
        }
        Ok(())
    }

    fn entry(&mut self, e: &EntryRef<'_>) -> Result<()> {
        if let Some(r) = e.key_spill {
            self.run(r, e.key.len() as u64)?;
        }
        if let ValRef::Spilled { at, len } = e.val {
            self.run(at, len)?;
            self.src.value(e.val)?;
        }
        Ok(())
    }

    /// Walks a tree; keys must lie in `[lo, hi)`. Returns the number of entries.
    fn tree(&mut self, r: PageRef, level: u8, lo: Option<Bytes>, hi: Option<Bytes>) -> Result<u64> {
        self.mark(r.page, "node")?;
        self.report.node_pages += 1;
        let n = self.src.node(r, level)?;
        let in_bounds = |k: &[u8]| {
            lo.as_ref().is_none_or(|l| k >= l.as_ref())
                && hi.as_ref().is_none_or(|h| k < h.as_ref())
        };
        if n.is_leaf() {
            for i in 0..n.keys() {
                let e = n.entry(i);
                if !in_bounds(e.key) {
                    return Err(self.fail(r.page, "key outside its parent's separators".into()));
                }
                // Cached nodes were checked when read, but a node built in memory was not.
                if i > 0 && n.key(i - 1) >= e.key {
                    return Err(self.fail(r.page, format!("entry {i} is out of order")));
                }
                self.entry(&e)?;
            }
            return Ok(n.keys() as u64);
        }
        let mut count = 0;
        for i in 0..n.len() {
            if i < n.keys() {
                let s = n.sep(i);
                if !in_bounds(&s.key) {
                    return Err(self.fail(r.page, "separator outside its parent's".into()));
                }
                if i > 0 && n.key(i - 1) >= s.key.as_ref() {
                    return Err(self.fail(r.page, format!("separator {i} is out of order")));
                }
                if let Some(sp) = s.spill {
                    self.run(sp, s.key.len() as u64)?;
                }
            }
            let clo = if i == 0 {
                lo.clone()
            } else {
                Some(n.sep(i - 1).key)
            };
            let chi = if i < n.keys() {
                Some(n.sep(i).key)
            } else {
                hi.clone()
            };
            count += self.tree(n.child(i), below(level)?, clo, chi)?;
        }
        Ok(count)
    }

    fn root(&mut self, root: Root) -> Result<u64> {
        if root.height == 0 {
            return Ok(0);
        }
        self.tree(root.at, root.height - 1, None, None)
    }
}

impl BTreeStore {
    /// Reads and checks every page of the current state (holding off writers meanwhile) and
    /// accounts for every page of the file. Damage is reported as `Error::Corruption`.
    pub fn verify(&self) -> Result<VerifyReport> {
        let (inner, w) = self.writer_for_verify()?;
        let mut walk = Walk {
            src: ReadSrc {
                pager: &inner.pager,
                page_count: w.page_count,
            },
            seen: vec![false; w.page_count as usize],
            report: VerifyReport::default(),
        };
        for p in 0..META_PAGES {
            walk.mark(p, "meta")?;
        }
        walk.root(w.catalog)?;
        for (id, ks) in &w.keyspaces {
            let n = walk.root(ks.root)?;
            if n != ks.entries {
                return Err(walk.fail(
                    ks.root.at.page,
                    format!(
                        "keyspace {id} holds {n} keys, its catalog record says {}",
                        ks.entries
                    ),
                ));
            }
            walk.report.entries += n;
        }
        for p in &w.chain {
            walk.mark(*p, "free-list")?;
            walk.report.freelist_pages += 1;
        }
        for p in w.fl.all_pages() {
            walk.mark(p, "free")?;
            walk.report.unused_pages += 1;
        }
        if let Some(p) = walk.seen.iter().position(|s| !*s) {
            return Err(walk.fail(p as u32, "leaked: neither reachable nor free".into()));
        }
        Ok(walk.report)
    }
}
