//! The B+ tree engine: [`BTreeStore`] implements [`crate::store::Store`] over one page file of copy-on-write
//! B+ trees (one per keyspace, plus a catalog tree), in the family of LMDB.
//!
//! | file | what |
//! | --- | --- |
//! | `options.rs` | [`BTreeOptions`] |
//! | `page.rs` | page header, leaf/branch/overflow encodings, checksums |
//! | `node.rs` | leaf and branch nodes in memory: the encoded body plus cell offsets |
//! | `meta.rs` | the two alternating meta pages |
//! | `freelist.rs` | free and pending pages, and their on-disk blob |
//! | `catalog.rs` | keyspace records |
//! | `pool.rs` | the page file and the bounded, clock-evicted buffer pool |
//! | `tree.rs` | lookups and the bidirectional cursor |
//! | `txn.rs` | copy-on-write insert, delete, range delete |
//! | `reshape.rs` | splits (B*-style two into three), merges and redistribution |
//! | `bulk.rs` | bottom-up bulk load of sorted input |
//! | `writer.rs` | commit protocol, open and create |
//! | `iter.rs` | the `StoreIter` over a pinned version |
//! | `verify.rs` | a full consistency check of pages, order and page accounting |
//! | `store.rs` | group commit, batches, merges, keyspaces, compaction filters, checkpoints |
//!
//! ## Concurrency
//! Readers take the current [`Version`] (an `Arc`: the committed roots) and read pages through
//! the pool without locks beyond a pool shard's mutex. Writers queue; the writer at the front
//! leads a group (one batch under `SyncMode::Always`), applies it as one transaction under the
//! `writer` mutex, commits (see `writer.rs`) and publishes a new version. A version is alive as
//! long as a snapshot, iterator or read holds it, and the pages it reaches are not reused until
//! it dies. Locking order: `queue` → `writer` → `current`.
//!
//! The on-disk format is described byte by byte in `docs/btree.md` and in each file's header.

mod bulk;
mod catalog;
mod freelist;
mod iter;
mod meta;
mod node;
mod options;
mod page;
mod pool;
mod reshape;
mod store;
mod tree;
mod txn;
mod verify;
mod writer;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use catalog::KsInfo;
pub use meta::FORMAT_VERSION;
pub use options::BTreeOptions;
pub use store::{BTreeStats, BTreeStore, OpenReport};
pub use verify::VerifyReport;

use crate::types::KeyspaceId;

/// Name of the page file in the database directory.
pub const PAGE_FILE: &str = "strata.btree";

/// A committed state: what readers see.
#[derive(Debug)]
pub struct Version {
    /// The transaction that committed it.
    pub txn: u64,
    /// Highest sequence number it includes.
    pub last_seq: u64,
    /// Pages in use.
    pub page_count: u64,
    /// Next keyspace id.
    pub next_keyspace: u32,
    /// Keyspaces and their roots.
    pub keyspaces: Arc<BTreeMap<KeyspaceId, KsInfo>>,
}
