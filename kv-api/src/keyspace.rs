//! [`Keyspace`]: a handle on one keyspace (RocksDB's column family, fjall's partition) with
//! every read and write method. [`crate::Db`] offers the same methods for the default keyspace.

use std::ops::RangeBounds;
use std::sync::Arc;
use std::time::Duration;

use lsm_core::store::ReadAt;

use crate::codec;
use crate::error::Result;
use crate::inner::{CommitMode, DbInner, KsMeta, WriteSet};
use crate::iter::{key_range, prefix_range, Iter};
use crate::slice::{Slice, Value};

/// A handle on one keyspace: an independent, ordered key space inside a [`crate::Db`]. Cheap to
/// clone; keeps the database open while it lives. Obtain one with
/// [`crate::Db::create_keyspace`] or [`crate::Db::open_keyspace`]; after
/// [`crate::Db::drop_keyspace`] every method returns [`crate::Error::KeyspaceDropped`].
///
/// Keys and values are arbitrary bytes; the empty key is a valid key.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let db = kv_api::Db::open(dir.path())?;
/// let users = db.create_keyspace("users")?;
/// users.put("alice", "admin")?;
/// assert_eq!(users.get("alice")?.unwrap(), "admin");
/// assert!(db.get("alice")?.is_none(), "keyspaces are separate");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Keyspace {
    pub(crate) db: Arc<DbInner>,
    pub(crate) meta: Arc<KsMeta>,
}

impl AsRef<Keyspace> for Keyspace {
    fn as_ref(&self) -> &Keyspace {
        self
    }
}

impl std::fmt::Debug for Keyspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyspace")
            .field("name", &self.meta.name)
            .field("id", &self.meta.id.0)
            .finish()
    }
}

impl Keyspace {
    pub(crate) fn new(db: Arc<DbInner>, meta: Arc<KsMeta>) -> Keyspace {
        Keyspace { db, meta }
    }

    /// The keyspace's name.
    pub fn name(&self) -> &str {
        &self.meta.name
    }

    /// Sets `key` to `value`.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.put_inner(key.as_ref(), value.as_ref(), None)
    }

    /// Sets `key` to `value` for `ttl`: from then on reads see no value (the entry is removed
    /// physically when the engine next rewrites it). The time comes from
    /// [`crate::Options::clock`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use kv_api::{Db, ManualClock, Options};
    /// # let dir = tempfile::tempdir()?;
    /// let clock = ManualClock::new(0);
    /// let db = Db::open_with(dir.path(), Options::new().clock(clock.clone()))?;
    /// db.put_with_ttl("session", "token", Duration::from_secs(60))?;
    /// assert!(db.get("session")?.is_some());
    /// clock.advance(Duration::from_secs(60));
    /// assert!(db.get("session")?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_with_ttl(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<()> {
        self.put_inner(key.as_ref(), value.as_ref(), Some(ttl))
    }

    fn put_inner(&self, key: &[u8], value: &[u8], ttl: Option<Duration>) -> Result<()> {
        let db = &self.db;
        db.check_ks(&self.meta)?;
        db.check_key(key)?;
        db.check_value(value)?;
        let mut ws = WriteSet::new();
        let expires = ttl.map(|t| codec::expiry(db.now(), t));
        ws.batch
            .put(self.meta.id, key, codec::encode(value, expires));
        ws.footprint.keys.push((self.meta.id, key.to_vec()));
        db.commit(ws, CommitMode::Plain).map(drop)
    }

    /// The value of `key`, or `None`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        Ok(self
            .db
            .get(&self.meta, key.as_ref(), ReadAt::Latest)?
            .map(Slice::new))
    }

    /// True if `key` has a value.
    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        Ok(self.get(key)?.is_some())
    }

    /// The values of several keys, read at one snapshot, in the order asked.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let db = kv_api::Db::open(dir.path())?;
    /// db.put("a", "1")?;
    /// let got = db.multi_get(["a", "b"])?;
    /// assert_eq!(got[0].as_deref(), Some(&b"1"[..]));
    /// assert!(got[1].is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn multi_get<K: AsRef<[u8]>>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Vec<Option<Value>>> {
        self.db.check_ks(&self.meta)?;
        let snap = self.db.store.snapshot();
        keys.into_iter()
            .map(|k| {
                Ok(self
                    .db
                    .get(&self.meta, k.as_ref(), ReadAt::Snapshot(&snap))?
                    .map(Slice::new))
            })
            .collect()
    }

    /// Removes `key` (no error if it is absent).
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let key = key.as_ref();
        self.db.check_ks(&self.meta)?;
        self.db.check_key(key)?;
        let mut ws = WriteSet::new();
        ws.batch.delete(self.meta.id, key);
        ws.footprint.keys.push((self.meta.id, key.to_vec()));
        self.db.commit(ws, CommitMode::Plain).map(drop)
    }

    /// Removes every key in `[start, end)` with one range tombstone (cheap, whatever the
    /// number of keys). Nothing happens if `start >= end`. Range deletes do not wait for
    /// pessimistic row locks.
    pub fn delete_range(&self, start: impl AsRef<[u8]>, end: impl AsRef<[u8]>) -> Result<()> {
        let (start, end) = (start.as_ref(), end.as_ref());
        self.db.check_ks(&self.meta)?;
        self.db.check_key(start)?;
        self.db.check_key(end)?;
        if start >= end {
            return Ok(());
        }
        let mut ws = WriteSet::new();
        ws.batch.delete_range(self.meta.id, start, end);
        ws.footprint
            .ranges
            .push((self.meta.id, key_range(&(start..end))));
        self.db.commit(ws, CommitMode::Plain).map(drop)
    }

    /// Adds a merge operand for `key` without reading it; the keyspace's merge operator folds
    /// it into the value on read. Fails with [`crate::Error::NoMergeOperator`] if the keyspace
    /// has none.
    pub fn merge(&self, key: impl AsRef<[u8]>, operand: impl AsRef<[u8]>) -> Result<()> {
        let (key, operand) = (key.as_ref(), operand.as_ref());
        self.db.check_ks(&self.meta)?;
        self.db.merge_op(&self.meta)?;
        self.db.check_key(key)?;
        self.db.check_value(operand)?;
        let mut ws = WriteSet::new();
        ws.batch.merge(
            self.meta.id,
            key,
            codec::encode_operand(operand, self.db.now()),
        );
        ws.footprint.keys.push((self.meta.id, key.to_vec()));
        self.db.commit(ws, CommitMode::Plain).map(drop)
    }

    /// Every entry, in key order (double-ended).
    pub fn iter(&self) -> Iter {
        Iter::new(
            Arc::clone(&self.db),
            Arc::clone(&self.meta),
            lsm_core::store::KeyRange::all(),
            None,
        )
    }

    /// The entries with keys in `range`, in key order (double-ended).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let db = kv_api::Db::open(dir.path())?;
    /// for i in 0..10u8 {
    ///     db.put([i], [i])?;
    /// }
    /// let keys: Vec<u8> = db.range([3u8]..=[5u8]).map(|r| r.unwrap().0[0]).collect();
    /// assert_eq!(keys, [3, 4, 5]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter {
        Iter::new(
            Arc::clone(&self.db),
            Arc::clone(&self.meta),
            key_range(&range),
            None,
        )
    }

    /// The entries whose keys start with `prefix`, in key order (double-ended).
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Iter {
        Iter::new(
            Arc::clone(&self.db),
            Arc::clone(&self.meta),
            prefix_range(prefix.as_ref()),
            None,
        )
    }

    /// Compacts the whole keyspace now (see [`Keyspace::compact_range`]).
    pub fn compact(&self) -> Result<()> {
        self.db.check_ks(&self.meta)?;
        self.db
            .store
            .compact_range(self.meta.id, lsm_core::store::KeyRange::all())
            .map_err(|e| self.db.engine_err(&self.meta, e))
    }

    /// Rewrites the data in `range` now: obsolete versions, tombstones and expired entries are
    /// dropped (how thoroughly depends on the engine).
    pub fn compact_range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Result<()> {
        self.db.check_ks(&self.meta)?;
        self.db
            .store
            .compact_range(self.meta.id, key_range(&range))
            .map_err(|e| self.db.engine_err(&self.meta, e))
    }
}
