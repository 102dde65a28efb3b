//! Keeping the tree in shape after a change: propagating new page references up the path,
//! splitting nodes that outgrew their page and rebalancing nodes that fell under a quarter.
//!
//! A node that an insert makes too large for its page, or that a delete leaves under a quarter
//! full, is combined with a neighbour (left if it has one) and the pair is cut into as few even
//! pieces as fit: one (merge), two (redistribute) or three (a B*-style split of two full nodes
//! into three two-thirds-full ones). Only the root, an only child, and a right-edge append
//! (which fills the left node) split on their own. A root branch with one child is replaced by
//! the child; an empty root leaf makes the tree empty.

use crate::error::{Error, Result};

use super::node::{Node, Sep, REF_LEN};
use super::page::PageRef;
use super::tree::{below, PageSource, Root};
use super::txn::{shortest_separator, Step, Txn};

/// What rewriting a node did, for its parent.
struct Change {
    /// The replacement nodes, left to right; all but the first come with their separator.
    pieces: Vec<(Option<Sep>, PageRef)>,
    /// The node kept its page number and gen: the parent needs no change.
    unchanged: bool,
    /// The node is under the minimum fill.
    under: bool,
    /// The node is too large for a page and was not placed: the parent shares it with a
    /// neighbour (or splits two into three), B*-tree style, which keeps pages fuller than
    /// splitting one node into two halves.
    over: Option<Node>,
}

/// Where to split a run of cells.
#[derive(Clone, Copy)]
enum Cut {
    /// The fullest left part that fits a page (appends at the right edge).
    Fill,
    /// A left part as close as possible to this many bytes.
    Near(usize),
}

fn internal(why: &str) -> Error {
    Error::InvalidArgument(format!("internal error: {why}"))
}

impl Txn<'_> {
    /// Writes a modified node and propagates the change up the path; returns the new root.
    /// `rebalance` (after deletes) combines underfull nodes with a neighbour.
    pub(super) fn fixup(
        &mut self,
        mut path: Vec<Step>,
        r: PageRef,
        node: Node,
        bias: bool,
        rebalance: bool,
        root: Root,
    ) -> Result<Root> {
        let mut change = self.write_node(Some(r), node, !path.is_empty(), rebalance, bias)?;
        while let Some((pr, pn, idx)) = path.pop() {
            if change.unchanged && !change.under && change.over.is_none() {
                return Ok(root);
            }
            let mut p = self.take_mut(pr, pn);
            let mut pieces = change.pieces.into_iter();
            if let Some((_, first)) = pieces.next() {
                p.set_child(idx, first);
            }
            for (k, (s, c)) in pieces.enumerate() {
                let s = s.ok_or_else(|| internal("piece without separator"))?;
                p.insert_sep(idx + k, &s, c, &mut self.scratch);
            }
            if change.under || change.over.is_some() {
                self.rebalance(&mut p, idx, change.over.take())?;
            }
            change = self.write_node(Some(pr), p, !path.is_empty(), rebalance, bias)?;
        }
        // The root level.
        let mut height = root.height;
        let mut pieces = change.pieces;
        while pieces.len() > 1 {
            let mut it = pieces.into_iter();
            let first = it.next().map(|(_, r)| r).unwrap_or_default();
            let mut n = Node::new_branch(self.id, height, first);
            for (k, (s, c)) in it.enumerate() {
                let s = s.ok_or_else(|| internal("piece without separator"))?;
                n.insert_sep(k, &s, c, &mut self.scratch);
            }
            height += 1;
            pieces = self.write_node(None, n, false, false, false)?.pieces;
        }
        let mut root = Root {
            at: pieces.first().map(|(_, r)| *r).unwrap_or_default(),
            height,
        };
        // Collapse a root branch with one child, and an empty root leaf.
        while root.height > 0 {
            let n = self.node(root.at, root.height - 1)?;
            if !n.is_leaf() && n.len() == 1 {
                self.free_page(root.at.page);
                root = Root {
                    at: n.child(0),
                    height: root.height - 1,
                };
            } else if n.is_empty() {
                self.free_page(root.at.page);
                root = Root::default();
            } else {
                break;
            }
        }
        Ok(root)
    }

    /// Places a node. A node too large for a page is split here when it has no parent (or
    /// `bias` asks for a right-edge split), else handed to the parent (`Change::over`). A node
    /// with a parent reports itself underfull when `rebalance` (deletes) asks.
    fn write_node(
        &mut self,
        old: Option<PageRef>,
        node: Node,
        has_parent: bool,
        rebalance: bool,
        bias: bool,
    ) -> Result<Change> {
        if node.size() <= self.usable() {
            let under = has_parent && rebalance && node.size() < self.usable() / 4;
            let r = self.place(old, node)?;
            return Ok(Change {
                pieces: vec![(None, r)],
                unchanged: old == Some(r),
                under,
                over: None,
            });
        }
        if let (true, false, Some(r)) = (has_parent, bias, old) {
            return Ok(Change {
                pieces: vec![(None, r)],
                unchanged: false,
                under: false,
                over: Some(node),
            });
        }
        let parts = self.split_node(node, bias)?;
        let mut pieces = Vec::with_capacity(parts.len());
        let mut old = old;
        for (s, n) in parts {
            pieces.push((s, self.place(old.take(), n)?));
        }
        Ok(Change {
            pieces,
            unchanged: false,
            under: false,
            over: None,
        })
    }

    /// Cuts a node in two; returns `(left, separator, right)`.
    fn split_two(&mut self, mut node: Node, cut: Cut) -> Result<(Node, Sep, Node)> {
        let usable = self.usable();
        let sizes: Vec<usize> = (0..node.keys()).map(|i| node.cell_size(i)).collect();
        if node.is_leaf() {
            let m =
                pick_split(&sizes, 0, usable, cut).clamp(1, sizes.len().saturating_sub(1).max(1));
            if m >= node.keys() {
                return Err(internal("cannot split a leaf"));
            }
            let right = node.split_leaf(m);
            let sep = shortest_separator(node.key(m - 1), right.key(0));
            let sep = self.make_sep(sep)?;
            Ok((node, sep, right))
        } else {
            // Separator m moves up: the left node keeps separators ..m, the right one m+1...
            if sizes.is_empty() {
                return Err(internal("cannot split a branch"));
            }
            let m = pick_split(&sizes, REF_LEN, usable, cut).min(sizes.len() - 1);
            let (up, right) = node.split_branch(m);
            Ok((node, up, right))
        }
    }

    /// Cuts a node into `k` pieces of about equal size (splitting further any piece that
    /// still does not fit).
    fn split_even(&mut self, node: Node, k: usize) -> Result<Vec<(Option<Sep>, Node)>> {
        let mut out = Vec::with_capacity(k);
        let mut rest = node;
        let mut sep_before = None;
        for j in (2..=k).rev() {
            if rest.len() < 2 {
                break;
            }
            let target = rest.size() / j;
            let (left, sep, right) = self.split_two(rest, Cut::Near(target))?;
            out.push((sep_before.take(), left));
            sep_before = Some(sep);
            rest = right;
        }
        out.push((sep_before, rest));
        let mut fitted = Vec::with_capacity(out.len());
        for (s, n) in out {
            let mut sub = self.split_node(n, false)?.into_iter();
            if let Some((_, first)) = sub.next() {
                fitted.push((s, first));
            }
            fitted.extend(sub);
        }
        Ok(fitted)
    }

    /// Splits an oversized node into pieces that fit; `bias` (an append at the right edge of
    /// the tree) fills the left piece instead of halving.
    fn split_node(&mut self, node: Node, bias: bool) -> Result<Vec<(Option<Sep>, Node)>> {
        if node.size() <= self.usable() || node.len() < 2 {
            return Ok(vec![(None, node)]);
        }
        let cut = if bias {
            Cut::Fill
        } else {
            Cut::Near(node.size() / 2)
        };
        let (left, sep, right) = self.split_two(node, cut)?;
        let mut out = self.split_node(left, false)?;
        let mut rest = self.split_node(right, bias)?.into_iter();
        if let Some((_, first)) = rest.next() {
            out.push((Some(sep), first));
        }
        out.extend(rest);
        Ok(out)
    }

    /// Combines child `idx` of branch `p` — underfull, or `over` (its new contents, too large
    /// for a page) — with a neighbour, and cuts the pair into as few even pieces as fit: one
    /// (merge), two (redistribute) or three (a two-into-three split).
    fn rebalance(&mut self, p: &mut Node, idx: usize, over: Option<Node>) -> Result<()> {
        let level = below(p.level())?;
        let usable = self.usable();
        let max_entry = self.pager.geo.max_entry();
        if p.len() < 2 {
            // An only child: nobody to share with.
            if let Some(node) = over {
                let parts = self.split_node(node, false)?;
                self.place_parts(p, idx, parts, vec![p.child(idx)])?;
            }
            return Ok(());
        }
        let li = if idx > 0 { idx - 1 } else { idx };
        let ri = li + 1;
        let (lr, rr) = (p.child(li), p.child(ri));
        let mut over = over;
        let mut load = |t: &mut Self, i: usize, r: PageRef| -> Result<Node> {
            match over.take() {
                Some(n) if i == idx => Ok(n),
                o => {
                    over = o;
                    let n = t.node(r, level)?;
                    Ok(t.take_mut(r, n))
                }
            }
        };
        let mut combined = load(self, li, lr)?;
        let right = load(self, ri, rr)?;
        let old_sep = p.sep(li);
        match (combined.is_leaf(), right.is_leaf()) {
            (true, true) => combined.append_leaf(right),
            (false, false) => combined.append_branch(&old_sep, right),
            _ => return Err(internal("siblings of different kinds")),
        }
        let total = combined.size();
        let parts = if total <= usable {
            vec![(None, combined)]
        } else if total + max_entry <= 2 * usable {
            self.split_even(combined, 2)?
        } else {
            self.split_even(combined, 3)?
        };
        // The pair's separator leaves the parent: a leaf-level one is dropped, a branch-level
        // one moved into `combined`.
        p.remove_cells(li, li + 1);
        self.place_parts(p, li, parts, vec![lr, rr])?;
        if level == 0 {
            self.free_sep(&old_sep);
        }
        Ok(())
    }

    /// Places pieces as child `at` (and the children after it) of `p`, reusing the pages of
    /// `olds` first and freeing those left over. Child `at` must be one of `olds`.
    fn place_parts(
        &mut self,
        p: &mut Node,
        at: usize,
        parts: Vec<(Option<Sep>, Node)>,
        olds: Vec<PageRef>,
    ) -> Result<()> {
        let mut olds = olds.into_iter();
        for (k, (s, n)) in parts.into_iter().enumerate() {
            let r = self.place(olds.next(), n)?;
            match (k, s) {
                (0, _) => p.set_child(at, r),
                (_, Some(s)) => p.insert_sep(at + k - 1, &s, r, &mut self.scratch),
                (_, None) => return Err(internal("piece without separator")),
            }
        }
        for r in olds {
            self.free_page(r.page);
        }
        Ok(())
    }
}

/// Where to cut `sizes` (cell sizes of a leaf, or separator cell sizes of a branch, whose
/// pieces carry `base` bytes of their own): returns `m`, the first cell of the right part for
/// a leaf, or the separator that moves up for a branch.
fn pick_split(sizes: &[usize], base: usize, usable: usize, cut: Cut) -> usize {
    // A leaf (base 0) cuts before cell m >= 1; a branch lifts separator m >= 0.
    let first = usize::from(base == 0);
    let mut best = (usize::MAX, first);
    let mut left = base;
    for m in first..sizes.len() {
        if m > 0 {
            left += sizes[m - 1];
        }
        match cut {
            Cut::Fill => {
                if left <= usable {
                    best = (0, m);
                }
            }
            Cut::Near(target) => {
                let diff = left.abs_diff(target);
                if diff < best.0 {
                    best = (diff, m);
                }
            }
        }
    }
    best.1
}
