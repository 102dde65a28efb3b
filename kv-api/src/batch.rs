//! [`WriteBatch`]: writes to any keyspaces of one database, applied atomically by
//! [`crate::Db::write`].

use std::sync::Arc;
use std::time::Duration;

use crate::codec;
use crate::error::{Error, Result};
use crate::inner::{DbInner, KsMeta, WriteSet};
use crate::iter::key_range;
use crate::keyspace::Keyspace;

#[derive(Clone, Debug)]
enum OpKind {
    Put(Vec<u8>, Option<Duration>),
    Delete,
    DeleteRange(Vec<u8>),
    Merge(Vec<u8>),
}

#[derive(Clone)]
struct Op {
    db_uid: u64,
    meta: Arc<KsMeta>,
    key: Vec<u8>,
    kind: OpKind,
}

/// An ordered list of writes, possibly across keyspaces, that [`crate::Db::write`] applies
/// atomically: after a crash either all of them are there or none. Later operations on the
/// same key win. Keyspaces are named by handle (`&db` for the default keyspace).
///
/// Nothing is checked until the batch is written; then size limits, dropped keyspaces, missing
/// merge operators and handles of another database are reported as errors and nothing is
/// written.
///
/// ```
/// use kv_api::{Db, WriteBatch};
/// # let dir = tempfile::tempdir()?;
/// let db = Db::open(dir.path())?;
/// let index = db.create_keyspace("index")?;
/// let mut batch = WriteBatch::new();
/// batch.put(&db, "doc:1", "hello world");
/// batch.put(&index, "word:hello", "doc:1");
/// batch.delete(&db, "doc:0");
/// db.write(batch)?;
/// assert_eq!(index.get("word:hello")?.unwrap(), "doc:1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct WriteBatch {
    ops: Vec<Op>,
}

impl std::fmt::Debug for WriteBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBatch")
            .field("ops", &self.ops.len())
            .finish()
    }
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    fn push(&mut self, ks: &Keyspace, key: &[u8], kind: OpKind) {
        self.ops.push(Op {
            db_uid: ks.db.uid,
            meta: Arc::clone(&ks.meta),
            key: key.to_vec(),
            kind,
        });
    }

    /// Sets `key` to `value` in keyspace `ks`.
    pub fn put(
        &mut self,
        ks: &impl AsRef<Keyspace>,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) {
        self.push(
            ks.as_ref(),
            key.as_ref(),
            OpKind::Put(value.as_ref().to_vec(), None),
        );
    }

    /// Sets `key` to `value` for `ttl`, counted from when the batch is written.
    pub fn put_with_ttl(
        &mut self,
        ks: &impl AsRef<Keyspace>,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) {
        self.push(
            ks.as_ref(),
            key.as_ref(),
            OpKind::Put(value.as_ref().to_vec(), Some(ttl)),
        );
    }

    /// Removes `key`.
    pub fn delete(&mut self, ks: &impl AsRef<Keyspace>, key: impl AsRef<[u8]>) {
        self.push(ks.as_ref(), key.as_ref(), OpKind::Delete);
    }

    /// Removes every key in `[start, end)` (nothing if `start >= end`).
    pub fn delete_range(
        &mut self,
        ks: &impl AsRef<Keyspace>,
        start: impl AsRef<[u8]>,
        end: impl AsRef<[u8]>,
    ) {
        self.push(
            ks.as_ref(),
            start.as_ref(),
            OpKind::DeleteRange(end.as_ref().to_vec()),
        );
    }

    /// Adds a merge operand for `key`.
    pub fn merge(
        &mut self,
        ks: &impl AsRef<Keyspace>,
        key: impl AsRef<[u8]>,
        operand: impl AsRef<[u8]>,
    ) {
        self.push(
            ks.as_ref(),
            key.as_ref(),
            OpKind::Merge(operand.as_ref().to_vec()),
        );
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True if the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Removes every operation.
    pub fn clear(&mut self) {
        self.ops.clear();
    }

    /// Checks and encodes the batch for `db`.
    pub(crate) fn into_write_set(self, db: &DbInner) -> Result<WriteSet> {
        let mut ws = WriteSet::new();
        let now = db.now();
        for op in self.ops {
            if op.db_uid != db.uid {
                return Err(Error::InvalidArgument(format!(
                    "batch names keyspace {:?} of another database",
                    op.meta.name
                )));
            }
            db.check_ks(&op.meta)?;
            db.check_key(&op.key)?;
            let id = op.meta.id;
            match op.kind {
                OpKind::Put(v, ttl) => {
                    db.check_value(&v)?;
                    let expires = ttl.map(|t| codec::expiry(now, t));
                    ws.batch.put(id, &op.key, codec::encode(&v, expires));
                    ws.footprint.keys.push((id, op.key));
                }
                OpKind::Delete => {
                    ws.batch.delete(id, &op.key);
                    ws.footprint.keys.push((id, op.key));
                }
                OpKind::Merge(operand) => {
                    db.merge_op(&op.meta)?;
                    db.check_value(&operand)?;
                    ws.batch
                        .merge(id, &op.key, codec::encode_operand(&operand, now));
                    ws.footprint.keys.push((id, op.key));
                }
                OpKind::DeleteRange(end) => {
                    db.check_key(&end)?;
                    if op.key < end {
                        ws.batch.delete_range(id, &op.key, &end);
                        ws.footprint
                            .ranges
                            .push((id, key_range(&(op.key.as_slice()..end.as_slice()))));
                    }
                }
            }
        }
        Ok(ws)
    }
}
