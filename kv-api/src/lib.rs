//! # kv-api: Strata's embedded key-value API
//!
//! An ordered, persistent byte-key/byte-value store with keyspaces, atomic batches, snapshots,
//! optimistic and pessimistic transactions, TTL, merge operators, checkpoints and incremental
//! backups. It talks to the storage engine only through [`lsm_core::store::Store`], so the
//! engine ([`EngineKind::Lsm`] today, [`EngineKind::BTree`] next) is a matter of [`Options`].
//!
//! ```
//! use kv_api::{Db, WriteBatch};
//!
//! # let dir = tempfile::tempdir()?;
//! let db = Db::open(dir.path())?;
//! db.put("user:1", "ada")?;
//! db.put("user:2", "grace")?;
//! assert_eq!(db.get("user:1")?.unwrap(), "ada");
//!
//! // Atomic batch across keyspaces.
//! let emails = db.create_keyspace("emails")?;
//! let mut batch = WriteBatch::new();
//! batch.put(&emails, "ada@example.com", "user:1");
//! batch.delete(&db, "user:2");
//! db.write(batch)?;
//!
//! // Ordered, double-ended scans.
//! let users: Vec<_> = db.prefix("user:").rev().collect::<Result<_, _>>()?;
//! assert_eq!(users.len(), 1);
//!
//! // Optimistic transaction with a retry loop.
//! loop {
//!     let mut tx = db.transaction();
//!     let n = tx.get(&db, "visits")?.map_or(0, |v| v[0]);
//!     tx.put(&db, "visits", [n + 1])?;
//!     match tx.commit() {
//!         Err(e) if e.is_retryable() => continue,
//!         other => break other?,
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Map
//! | item | what it is |
//! | --- | --- |
//! | [`Db`] | open/close, the default keyspace's reads and writes, keyspaces, batches, snapshots, transactions, flush/compaction/stats, checkpoints and backups |
//! | [`Options`], [`EngineKind`], [`SyncMode`], [`Compression`] | how to open; engine choice and tuning; lock timeout; TTL clock |
//! | [`Keyspace`], [`KeyspaceOptions`] | a named, separate key space (column family) with the same methods as `Db` |
//! | [`Slice`] (= [`Key`], [`Value`]) | the shared, cheap-to-clone bytes reads return |
//! | [`Iter`] | double-ended iterator for `iter` / `range` / `prefix` |
//! | [`WriteBatch`] | atomic multi-keyspace writes |
//! | [`Snapshot`] | a consistent read-only view |
//! | [`Transaction`], [`TransactionOptions`], [`IsolationLevel`], [`TxnIter`] | optimistic and pessimistic transactions (see [`txn`]) |
//! | [`merge`] | merge operators; [`merge::U64Add`] counter |
//! | [`Clock`], [`SystemClock`], [`ManualClock`] | TTL time sources |
//! | [`backup`] | incremental backups: [`list_backups`], [`restore`], [`restore_backup`], [`delete_backup`] |
//! | [`Error`] | the crate's one error type; [`Error::is_retryable`] |
//!
//! ## Rules worth knowing
//! * **Keys** may be empty and are at most [`Options::max_key_size`] bytes; values at most
//!   [`Options::max_value_size`]. Violations are [`Error::KeyTooLarge`] /
//!   [`Error::ValueTooLarge`], for plain writes, batches and transactions alike.
//! * **Plain writes and transactions.** Every write — `put`, `delete`, `merge`, [`Db::write`],
//!   and transaction commits — is recorded in the recent-commit table, so an optimistic
//!   transaction whose snapshot predates it conflicts if it wrote (or, serializable, read) the
//!   same key. Every write also takes the exclusive locks of its keys while it is applied, so
//!   plain writes respect pessimistic locks: they wait for a key locked by a pessimistic
//!   transaction (up to [`Options::lock_timeout`], then [`Error::LockTimeout`]), exactly like
//!   a one-statement pessimistic transaction. Range deletes are recorded but take no locks.
//! * **Durability** follows the engine's [`SyncMode`]: a write that returned is durable
//!   (`Always`/`Group`) or survives a process crash (`Never`). Batches and commits are atomic.
//!
//! ## Value encoding
//! kv-api owns the bytes the engine stores as values: one header tag byte, then
//!
//! ```text
//! stored := 0x00 ‖ value                          PLAIN
//!         | 0x01 ‖ expires_at: u64 LE ‖ value     EXPIRES (ms since the Unix epoch)
//! ```
//!
//! Tags are never renumbered. Expired values are invisible to every read (judged by
//! [`Options::clock`] at read time) and dropped by a compaction filter when the engine rewrites
//! them. Merge operands are stored raw; the merge operator is wrapped so it sees plain values,
//! an expired base as absent, and its result keeps the base's expiry.

#![warn(missing_docs)]

pub mod backup;
mod batch;
mod clock;
mod codec;
mod db;
mod engine;
mod error;
mod inner;
mod iter;
mod keyspace;
pub mod merge;
mod options;
mod slice;
mod snapshot;
pub mod txn;

pub use backup::{delete_backup, list_backups, restore, restore_backup, BackupFile, BackupInfo};
pub use batch::WriteBatch;
pub use clock::{Clock, ManualClock, SystemClock};
pub use db::{Db, Stats};
pub use error::{Error, Result};
pub use iter::Iter;
pub use keyspace::Keyspace;
pub use lsm_core::store::StoreStats;
pub use options::{
    Compression, EngineKind, IsolationLevel, KeyspaceOptions, Options, SyncMode,
    TransactionOptions, DEFAULT_KEYSPACE,
};
pub use slice::{Key, Slice, Value};
pub use snapshot::Snapshot;
pub use txn::{Transaction, TxnIter};
