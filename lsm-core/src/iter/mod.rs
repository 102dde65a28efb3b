//! Iterators over internal keys, and the merge that turns many of them into one user view.
//!
//! Every sorted source (memtable, SST block, SST, level) exposes an [`InternalIterator`]: a
//! bidirectional cursor over `(internal key, value)` pairs in [`compare_internal`] order.
//! [`merging::MergingIterator`] merges them; [`user::UserIterator`] collapses versions at a
//! snapshot, hides tombstones and honours bounds.
//!
//! [`compare_internal`]: crate::key::compare_internal

pub mod merging;
pub mod range_del;
pub mod user;

use crate::error::Result;

/// A bidirectional cursor over internal keys in internal-key order.
///
/// Contract: after any positioning call returns `Ok`, `valid()` tells whether the cursor is on an
/// entry; `key()`/`value()` REQUIRE `valid()`. A returned error leaves the cursor invalid.
pub trait InternalIterator: Send {
    /// True when positioned on an entry.
    fn valid(&self) -> bool;
    /// Positions on the first entry.
    fn seek_to_first(&mut self) -> Result<()>;
    /// Positions on the last entry.
    fn seek_to_last(&mut self) -> Result<()>;
    /// Positions on the first entry whose key is `>=` `ikey` (internal order).
    fn seek(&mut self, ikey: &[u8]) -> Result<()>;
    /// Positions on the last entry whose key is `<=` `ikey` (internal order).
    fn seek_for_prev(&mut self, ikey: &[u8]) -> Result<()>;
    /// Moves to the next entry. REQUIRES `valid()`.
    fn next(&mut self) -> Result<()>;
    /// Moves to the previous entry. REQUIRES `valid()`.
    fn prev(&mut self) -> Result<()>;
    /// The current internal key. REQUIRES `valid()`.
    fn key(&self) -> &[u8];
    /// The current value. REQUIRES `valid()`.
    fn value(&self) -> &[u8];
}
