//! Sorted string tables: immutable files of internal keys in [`compare_internal`] order.
//!
//! | file | what |
//! | --- | --- |
//! | [`format`](mod@format) | the table grammar: block trailer, handles, footer, compression |
//! | [`block_builder`] / [`block`] | prefix-compressed blocks with restart points, and their cursor |
//! | [`bloom`] | the per-table bloom filter over user keys |
//! | [`properties`] | counts and key bounds stored in every table |
//! | [`builder`] | [`TableBuilder`]: writes a table in one pass |
//! | [`reader`] | [`Table`] and its two-level [`TableIterator`] |
//! | [`cache`] | [`BlockCache`] (decoded blocks, by bytes) and [`TableCache`] (open tables) |
//!
//! The full byte-level description is in `docs/format.md` (section "Sorted table").
//!
//! [`compare_internal`]: crate::key::compare_internal

pub mod block;
pub mod block_builder;
pub mod bloom;
pub mod builder;
pub mod cache;
pub mod format;
pub mod properties;
pub mod reader;

#[cfg(test)]
mod tests;

pub use block::{Block, BlockIter};
pub use builder::{TableBuilder, TableOptions};
pub use cache::{BlockCache, TableCache};
pub use format::{BlockHandle, Compression, Footer, FORMAT_VERSION, TABLE_MAGIC};
pub use properties::TableProperties;
pub use reader::{RangeDelIterator, RangeTombstone, Table, TableIterator};
