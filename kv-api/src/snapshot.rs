//! [`Snapshot`]: a consistent, read-only, point-in-time view of the whole database.

use std::ops::RangeBounds;
use std::sync::Arc;

use lsm_core::store::{KeyRange, ReadAt};

use crate::error::{Error, Result};
use crate::inner::{DbInner, KsMeta};
use crate::iter::{key_range, prefix_range, Iter};
use crate::keyspace::Keyspace;
use crate::slice::{Slice, Value};

/// A point-in-time view of every keyspace: reads through it see exactly the writes committed
/// before [`crate::Db::snapshot`] was called. The engine keeps what it needs until the snapshot
/// is dropped, so do not hold one for hours. TTL expiry is still judged at read time.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let db = kv_api::Db::open(dir.path())?;
/// db.put("k", "old")?;
/// let snap = db.snapshot();
/// db.put("k", "new")?;
/// assert_eq!(snap.get(&db, "k")?.unwrap(), "old");
/// assert_eq!(db.get("k")?.unwrap(), "new");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Snapshot {
    db: Arc<DbInner>,
    snap: lsm_core::store::Snapshot,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("seq", &self.snap.seq().0)
            .finish()
    }
}

impl Snapshot {
    pub(crate) fn new(db: Arc<DbInner>) -> Snapshot {
        let snap = db.store.snapshot();
        Snapshot { db, snap }
    }

    /// The sequence number the snapshot reads at (every write numbered up to it is visible).
    pub fn seq(&self) -> u64 {
        self.snap.seq().0
    }

    fn meta<'k>(&self, ks: &'k Keyspace) -> Result<&'k Arc<KsMeta>> {
        if ks.db.uid != self.db.uid {
            return Err(Error::InvalidArgument(format!(
                "keyspace {:?} belongs to another database",
                ks.meta.name
            )));
        }
        Ok(&ks.meta)
    }

    /// The value of `key` in `ks` at the snapshot.
    pub fn get(&self, ks: &impl AsRef<Keyspace>, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        let meta = self.meta(ks.as_ref())?;
        Ok(self
            .db
            .get(meta, key.as_ref(), ReadAt::Snapshot(&self.snap))?
            .map(Slice::new))
    }

    /// True if `key` has a value in `ks` at the snapshot.
    pub fn contains_key(&self, ks: &impl AsRef<Keyspace>, key: impl AsRef<[u8]>) -> Result<bool> {
        Ok(self.get(ks, key)?.is_some())
    }

    /// The values of several keys, in the order asked.
    pub fn multi_get<K: AsRef<[u8]>>(
        &self,
        ks: &impl AsRef<Keyspace>,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Vec<Option<Value>>> {
        keys.into_iter().map(|k| self.get(ks, k)).collect()
    }

    fn scan(&self, ks: &Keyspace, range: KeyRange) -> Iter {
        let mut it = Iter::new(
            Arc::clone(&self.db),
            Arc::clone(&ks.meta),
            range,
            Some(self.snap.clone()),
        );
        if let Err(e) = self.meta(ks) {
            it.fail(e);
        }
        it
    }

    /// Every entry of `ks` at the snapshot (double-ended).
    pub fn iter(&self, ks: &impl AsRef<Keyspace>) -> Iter {
        self.scan(ks.as_ref(), KeyRange::all())
    }

    /// The entries of `ks` in `range` at the snapshot (double-ended).
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        ks: &impl AsRef<Keyspace>,
        range: R,
    ) -> Iter {
        self.scan(ks.as_ref(), key_range(&range))
    }

    /// The entries of `ks` whose keys start with `prefix`, at the snapshot (double-ended).
    pub fn prefix(&self, ks: &impl AsRef<Keyspace>, prefix: impl AsRef<[u8]>) -> Iter {
        self.scan(ks.as_ref(), prefix_range(prefix.as_ref()))
    }
}
