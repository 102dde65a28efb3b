//! # lsm-core: Strata's storage engine
//!
//! A log-structured merge tree with MVCC snapshots, behind the engine-neutral [`Store`] trait.
//!
//! ## Map
//! | module | what it is |
//! | --- | --- |
//! | [`fs`] | the file-system seam: OS, in-memory (with crash images) and fault-injecting |
//! | [`wal`] | write-ahead log: 32 KiB blocks of checksummed records; write batches |
//! | [`memtable`] | the in-memory sorted buffer (a lock-free skiplist of internal keys) |
//! | [`sstable`] | sorted tables: blocks, bloom filters, index, properties, footer; caches |
//! | [`manifest`] | `CURRENT` + `MANIFEST-n`: the log of version edits; versions |
//! | [`iter`] | internal iterators, the merging iterator, the user-facing iterator |
//! | [`db`] | the LSM engine: open/recover, group-commit write path, reads, flush |
//! | [`btree`] | the B+ tree engine behind the same `Store` trait |
//! | [`store`] | the [`Store`] trait and its `BTreeMap` reference implementation |
//!
//! ## How a write flows
//! `Store::write(batch)` → the write queue (the first waiting writer leads a group) → sequence
//! numbers assigned → one WAL append for the whole group, one fsync if the [`SyncMode`] asks →
//! memtable inserts → the group's last sequence becomes visible → every writer is answered.
//! A full memtable becomes immutable, a new WAL starts, a background thread flushes it to an
//! L0 SST, records the file in the manifest, and only then deletes the old WAL.
//!
//! ## How a read flows
//! `get(key)` at a snapshot sequence: active memtable → immutable memtables newest first →
//! SSTs newest first (each consulted only after its bloom filter says "maybe"); the first
//! version with `seq <= snapshot` wins; a tombstone means absent.

pub mod btree;
pub mod compaction;
pub mod db;
pub mod error;
pub mod fs;
pub mod fuzzing;
pub mod iter;
pub mod key;
pub mod manifest;
pub mod memtable;
pub mod sstable;
pub mod store;
mod sync;
pub mod types;
pub mod util;
pub mod wal;

pub use error::{Error, Result};
pub use types::{FileNumber, KeyspaceId, Level, SeqNo, ValueKind};
