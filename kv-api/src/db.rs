//! [`Db`]: the database handle — open/close, keyspace management, the default keyspace's read
//! and write methods, batches, snapshots, transactions, maintenance and backups.

use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use lsm_core::store::StoreStats;
use lsm_core::KeyspaceId;

use crate::backup::{self, BackupInfo};
use crate::batch::WriteBatch;
use crate::codec::{MergeAdapter, TtlFilter};
use crate::engine;
use crate::error::{Error, Result};
use crate::inner::{CommitMode, DbInner, KsMeta};
use crate::iter::Iter;
use crate::keyspace::Keyspace;
use crate::options::{EngineKind, KeyspaceOptions, Options, TransactionOptions, DEFAULT_KEYSPACE};
use crate::slice::Value;
use crate::snapshot::Snapshot;
use crate::txn::Transaction;

/// Counters of the engine and of kv-api's transaction machinery.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Stats {
    /// The engine in use.
    pub engine: EngineKind,
    /// The engine's own counters (sequence numbers, bytes written, files, caches, ...).
    pub store: StoreStats,
    /// Transactions committed.
    pub commits: u64,
    /// Optimistic commits that failed with [`Error::Conflict`].
    pub conflicts: u64,
    /// Lock requests that ended in [`Error::Deadlock`].
    pub deadlocks: u64,
    /// Lock requests that ended in [`Error::LockTimeout`].
    pub lock_timeouts: u64,
    /// Transactions rolled back (explicitly, by drop, or after a conflict or deadlock).
    pub rollbacks: u64,
    /// Optimistic transactions currently open.
    pub live_transactions: usize,
    /// Keys in the recent-commit table.
    pub tracked_keys: usize,
    /// Keys with a lock entry right now.
    pub locked_keys: usize,
}

/// An open database. Cheap to clone (an `Arc` inside), `Send + Sync`: share it between threads
/// by cloning. The database closes when the last handle — `Db`, [`Keyspace`], [`Snapshot`],
/// [`Transaction`] or iterator — is dropped; [`Db::close`] closes it explicitly and reports
/// errors.
///
/// The methods `put`, `get`, `delete`, ... work on the default keyspace (`&db` names it where a
/// keyspace is asked for); [`Keyspace`] has the same methods for the others.
///
/// ```
/// use kv_api::Db;
/// # let dir = tempfile::tempdir()?;
/// let db = Db::open(dir.path())?;
/// db.put("hello", "world")?;
/// assert_eq!(db.get("hello")?.unwrap(), "world");
/// db.delete("hello")?;
/// assert!(db.get("hello")?.is_none());
/// db.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Db {
    default: Keyspace,
}

impl AsRef<Keyspace> for Db {
    fn as_ref(&self) -> &Keyspace {
        &self.default
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("path", &self.inner().path)
            .field("engine", &self.inner().opts.engine)
            .finish()
    }
}

/// Registers the engine hooks of a keyspace and returns its metadata.
fn register(
    inner: &DbInner,
    id: KeyspaceId,
    name: &str,
    opts: Option<&KeyspaceOptions>,
) -> Result<Arc<KsMeta>> {
    let merge = opts.and_then(|o| o.merge.clone());
    if let Some(op) = &merge {
        inner
            .store
            .set_merge_operator(id, Arc::new(MergeAdapter { op: Arc::clone(op) }))?;
    }
    inner.store.set_compaction_filter(
        id,
        Some(Arc::new(TtlFilter {
            clock: Arc::clone(&inner.clock),
        })),
    )?;
    Ok(Arc::new(KsMeta {
        id,
        name: name.to_string(),
        dropped: Default::default(),
        merge,
    }))
}

impl Db {
    /// Opens (or creates) the database in directory `path` with default [`Options`].
    pub fn open(path: impl AsRef<Path>) -> Result<Db> {
        Db::open_with(path, Options::default())
    }

    /// Opens (or creates) the database in directory `path`.
    pub fn open_with(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let path = path.as_ref();
        let store = engine::open_store(path, &opts)?;
        let inner = Arc::new(DbInner::new(path.to_path_buf(), store, opts));
        let mut default = None;
        {
            let mut reg = inner.keyspaces.write();
            for (id, name) in inner.store.keyspaces() {
                let meta = register(&inner, id, &name, inner.opts.keyspaces.get(&name))?;
                if id == KeyspaceId::DEFAULT {
                    default = Some(Arc::clone(&meta));
                }
                reg.insert(name, meta);
            }
        }
        let default = default.ok_or_else(|| {
            Error::InvalidArgument(format!(
                "the store at {} has no default keyspace",
                path.display()
            ))
        })?;
        Ok(Db {
            default: Keyspace::new(inner, default),
        })
    }

    fn inner(&self) -> &Arc<DbInner> {
        &self.default.db
    }

    /// Closes the database now: later calls on any handle return [`Error::Closed`]. Reports a
    /// failure to make the last writes durable. Closing twice is not an error.
    pub fn close(self) -> Result<()> {
        let inner = self.inner();
        if inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        inner.store.close().map_err(Error::from)
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner().path
    }

    /// The default keyspace as a [`Keyspace`] handle.
    pub fn default_keyspace(&self) -> &Keyspace {
        &self.default
    }

    /// Creates the keyspace `name` with the options given for it in [`Options::keyspace_options`]
    /// (if any). Fails with [`Error::KeyspaceExists`] if it exists.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let db = kv_api::Db::open(dir.path())?;
    /// db.create_keyspace("logs")?;
    /// assert_eq!(db.list_keyspaces(), ["default", "logs"]);
    /// assert!(matches!(db.create_keyspace("logs"), Err(kv_api::Error::KeyspaceExists(_))));
    /// db.drop_keyspace("logs")?;
    /// assert!(matches!(db.open_keyspace("logs"), Err(kv_api::Error::UnknownKeyspace(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_keyspace(&self, name: &str) -> Result<Keyspace> {
        let opts = self.inner().opts.keyspaces.get(name).cloned();
        self.create_inner(name, opts)
    }

    /// Creates the keyspace `name` with `opts`.
    pub fn create_keyspace_with(&self, name: &str, opts: KeyspaceOptions) -> Result<Keyspace> {
        self.create_inner(name, Some(opts))
    }

    fn create_inner(&self, name: &str, opts: Option<KeyspaceOptions>) -> Result<Keyspace> {
        let inner = self.inner();
        inner.check_open()?;
        let mut reg = inner.keyspaces.write();
        if reg.contains_key(name) {
            return Err(Error::KeyspaceExists(name.to_string()));
        }
        let id = inner.store.create_keyspace(name)?;
        let meta = register(inner, id, name, opts.as_ref())?;
        reg.insert(name.to_string(), Arc::clone(&meta));
        Ok(Keyspace::new(Arc::clone(inner), meta))
    }

    /// A handle on the existing keyspace `name` ([`Error::UnknownKeyspace`] if there is none).
    pub fn open_keyspace(&self, name: &str) -> Result<Keyspace> {
        let inner = self.inner();
        inner.check_open()?;
        let meta = inner
            .keyspace_meta(name)
            .ok_or_else(|| Error::UnknownKeyspace(name.to_string()))?;
        Ok(Keyspace::new(Arc::clone(inner), meta))
    }

    /// Drops the keyspace `name` and its data. Existing handles on it fail with
    /// [`Error::KeyspaceDropped`] from then on. The default keyspace cannot be dropped.
    pub fn drop_keyspace(&self, name: &str) -> Result<()> {
        let inner = self.inner();
        inner.check_open()?;
        if name == DEFAULT_KEYSPACE {
            return Err(Error::InvalidArgument(
                "the default keyspace cannot be dropped".into(),
            ));
        }
        let mut reg = inner.keyspaces.write();
        let meta = reg
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownKeyspace(name.to_string()))?;
        inner.store.drop_keyspace(meta.id)?;
        meta.dropped.store(true, Ordering::Release);
        reg.remove(name);
        Ok(())
    }

    /// Names of the live keyspaces, `"default"` first, then by name.
    pub fn list_keyspaces(&self) -> Vec<String> {
        let reg = self.inner().keyspaces.read();
        let mut names: Vec<String> = vec![DEFAULT_KEYSPACE.to_string()];
        names.extend(reg.keys().filter(|n| *n != DEFAULT_KEYSPACE).cloned());
        names
    }

    /// Sets `key` to `value` in the default keyspace.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.default.put(key, value)
    }

    /// Sets `key` to `value` for `ttl` (see [`Keyspace::put_with_ttl`]).
    pub fn put_with_ttl(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<()> {
        self.default.put_with_ttl(key, value, ttl)
    }

    /// The value of `key` in the default keyspace.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        self.default.get(key)
    }

    /// True if `key` has a value in the default keyspace.
    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        self.default.contains_key(key)
    }

    /// Several values of the default keyspace at one snapshot (see [`Keyspace::multi_get`]).
    pub fn multi_get<K: AsRef<[u8]>>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Vec<Option<Value>>> {
        self.default.multi_get(keys)
    }

    /// Removes `key` from the default keyspace.
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        self.default.delete(key)
    }

    /// Removes every key in `[start, end)` of the default keyspace (see
    /// [`Keyspace::delete_range`]).
    pub fn delete_range(&self, start: impl AsRef<[u8]>, end: impl AsRef<[u8]>) -> Result<()> {
        self.default.delete_range(start, end)
    }

    /// Adds a merge operand for `key` in the default keyspace (see [`Keyspace::merge`]).
    pub fn merge(&self, key: impl AsRef<[u8]>, operand: impl AsRef<[u8]>) -> Result<()> {
        self.default.merge(key, operand)
    }

    /// Every entry of the default keyspace (double-ended).
    pub fn iter(&self) -> Iter {
        self.default.iter()
    }

    /// The entries of the default keyspace in `range` (double-ended).
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter {
        self.default.range(range)
    }

    /// The entries of the default keyspace whose keys start with `prefix` (double-ended).
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Iter {
        self.default.prefix(prefix)
    }

    /// Applies `batch` atomically. Its point keys wait for pessimistic locks like a plain
    /// write.
    pub fn write(&self, batch: WriteBatch) -> Result<()> {
        let inner = self.inner();
        inner.check_open()?;
        let ws = batch.into_write_set(inner)?;
        inner.commit(ws, CommitMode::Plain).map(drop)
    }

    /// A consistent read-only view of the whole database as of now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(Arc::clone(self.inner()))
    }

    /// Begins an optimistic transaction with snapshot isolation.
    pub fn transaction(&self) -> Transaction {
        self.transaction_with(TransactionOptions::default())
    }

    /// Begins an optimistic transaction with `opts` (e.g. serializable isolation).
    pub fn transaction_with(&self, opts: TransactionOptions) -> Transaction {
        Transaction::begin(Arc::clone(self.inner()), false, opts)
    }

    /// Begins a pessimistic (locking) transaction.
    pub fn transaction_pessimistic(&self) -> Transaction {
        self.transaction_pessimistic_with(TransactionOptions::default())
    }

    /// Begins a pessimistic transaction with `opts` (e.g. its lock timeout).
    pub fn transaction_pessimistic_with(&self, opts: TransactionOptions) -> Transaction {
        Transaction::begin(Arc::clone(self.inner()), true, opts)
    }

    /// Makes everything written so far durable in the engine's data files (not only its log).
    pub fn flush(&self) -> Result<()> {
        self.inner().check_open()?;
        Ok(self.inner().store.flush()?)
    }

    /// Compacts the whole default keyspace now (see [`Keyspace::compact`]).
    pub fn compact(&self) -> Result<()> {
        self.default.compact()
    }

    /// Compacts `range` of the default keyspace now (see [`Keyspace::compact_range`]).
    pub fn compact_range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Result<()> {
        self.default.compact_range(range)
    }

    /// Engine and transaction counters.
    pub fn stats(&self) -> Stats {
        let inner = self.inner();
        let (tracked_keys, _, live_transactions) = inner.tracker.lock().sizes();
        let c = &inner.counters;
        Stats {
            engine: inner.opts.engine,
            store: inner.store.stats(),
            commits: c.commits.load(Ordering::Relaxed),
            conflicts: c.conflicts.load(Ordering::Relaxed),
            deadlocks: c.deadlocks.load(Ordering::Relaxed),
            lock_timeouts: c.lock_timeouts.load(Ordering::Relaxed),
            rollbacks: c.rollbacks.load(Ordering::Relaxed),
            live_transactions,
            tracked_keys,
            locked_keys: inner.locks.len(),
        }
    }

    /// Writes a consistent, openable copy of the database into the new (or empty) directory
    /// `dir`, using hard links where possible, while writes continue.
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<()> {
        self.inner().check_open()?;
        Ok(self.inner().store.checkpoint(dir.as_ref())?)
    }

    /// Adds an incremental backup to `backup_dir` (created if needed): only files the directory
    /// does not hold yet are copied. See [`crate::backup`].
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let db = kv_api::Db::open(dir.path().join("db"))?;
    /// db.put("k", "v1")?;
    /// let first = db.backup(dir.path().join("backups"))?;
    /// db.put("k", "v2")?;
    /// let second = db.backup(dir.path().join("backups"))?;
    /// assert_eq!(second.id, first.id + 1);
    /// kv_api::restore_backup(dir.path().join("backups"), first.id, dir.path().join("old"))?;
    /// let old = kv_api::Db::open(dir.path().join("old"))?;
    /// assert_eq!(old.get("k")?.unwrap(), "v1");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn backup(&self, backup_dir: impl AsRef<Path>) -> Result<BackupInfo> {
        self.inner().check_open()?;
        let store = Arc::clone(&self.inner().store);
        backup::create(backup_dir.as_ref(), |tmp: &PathBuf| {
            store.checkpoint(tmp).map_err(Error::from)
        })
    }
}
