//! A transaction's write buffer: the writes it will commit, per keyspace, in a sorted map so
//! that reads (point and iterator) see them ("read your own writes").
//!
//! Range deletes are kept as a list per keyspace; a range delete erases the buffered entries it
//! covers, so at commit the range deletes go first and the remaining entries after them.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use lsm_core::store::KeyRange;
use lsm_core::KeyspaceId;

use crate::codec;
use crate::error::{Error, Result};
use crate::inner::{KsMeta, WriteSet};

/// One buffered write.
#[derive(Clone, Debug)]
pub(crate) enum BufOp {
    /// The stored encoding (header included).
    Put(Bytes),
    Delete,
    /// Stored merge operands (with their write time), oldest first, over whatever the store
    /// holds.
    Merge(Vec<Vec<u8>>),
}

/// The buffered writes of one keyspace.
#[derive(Clone)]
pub(crate) struct KsBuf {
    pub entries: BTreeMap<Vec<u8>, BufOp>,
    /// `[start, end)` ranges deleted, in order.
    pub range_dels: Vec<(Vec<u8>, Vec<u8>)>,
}

impl KsBuf {
    pub fn range_deleted(&self, key: &[u8]) -> bool {
        self.range_dels
            .iter()
            .any(|(s, e)| key >= s.as_slice() && key < e.as_slice())
    }
}

/// What the buffer says about a key.
pub(crate) enum Lookup<'a> {
    Op(&'a BufOp),
    RangeDeleted,
    Miss,
}

/// Everything a transaction has written.
#[derive(Clone, Default)]
pub(crate) struct WriteBuffer {
    map: BTreeMap<KeyspaceId, KsBuf>,
}

/// What a commit writes and what it must validate.
pub(crate) struct CommitPlan {
    pub write: WriteSet,
    /// Keys written other than by merges only (merges are blind and commute).
    pub validate_keys: Vec<(KeyspaceId, Vec<u8>)>,
    pub validate_ranges: Vec<(KeyspaceId, KeyRange)>,
}

impl WriteBuffer {
    pub fn keyspace(&self, id: KeyspaceId) -> Option<&KsBuf> {
        self.map.get(&id)
    }

    fn ks_mut(&mut self, meta: &Arc<KsMeta>) -> &mut KsBuf {
        self.map.entry(meta.id).or_insert_with(|| KsBuf {
            entries: BTreeMap::new(),
            range_dels: Vec::new(),
        })
    }

    pub fn lookup(&self, id: KeyspaceId, key: &[u8]) -> Lookup<'_> {
        let Some(kb) = self.map.get(&id) else {
            return Lookup::Miss;
        };
        match kb.entries.get(key) {
            Some(op) => Lookup::Op(op),
            None if kb.range_deleted(key) => Lookup::RangeDeleted,
            None => Lookup::Miss,
        }
    }

    pub fn put(&mut self, meta: &Arc<KsMeta>, key: &[u8], stored: Vec<u8>) {
        self.ks_mut(meta)
            .entries
            .insert(key.to_vec(), BufOp::Put(Bytes::from(stored)));
    }

    pub fn delete(&mut self, meta: &Arc<KsMeta>, key: &[u8]) {
        self.ks_mut(meta)
            .entries
            .insert(key.to_vec(), BufOp::Delete);
    }

    /// REQUIRES `start < end`.
    pub fn delete_range(&mut self, meta: &Arc<KsMeta>, start: &[u8], end: &[u8]) {
        let kb = self.ks_mut(meta);
        let doomed: Vec<Vec<u8>> = kb
            .entries
            .range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            kb.entries.remove(&k);
        }
        kb.range_dels.push((start.to_vec(), end.to_vec()));
    }

    /// Buffers a merge operand. Over a buffered put or delete (or a buffered range delete) the
    /// result is known and is folded at once into a put; otherwise the operand is kept.
    pub fn merge(
        &mut self,
        meta: &Arc<KsMeta>,
        key: &[u8],
        operand: &[u8],
        now: u64,
    ) -> Result<()> {
        let op = meta
            .merge
            .clone()
            .ok_or_else(|| Error::NoMergeOperator(meta.name.clone()))?;
        let operand = codec::encode_operand(operand, now);
        let kb = self.ks_mut(meta);
        let covered = kb.range_deleted(key);
        let base: Option<&[u8]> = match kb.entries.get_mut(key) {
            Some(BufOp::Merge(ops)) => {
                ops.push(operand);
                return Ok(());
            }
            Some(BufOp::Put(stored)) => Some(stored),
            Some(BufOp::Delete) => None,
            None if covered => None,
            None => {
                kb.entries.insert(key.to_vec(), BufOp::Merge(vec![operand]));
                return Ok(());
            }
        };
        let folded =
            codec::merge_stored(&*op, key, base, &[&operand]).map_err(Error::MergeFailed)?;
        kb.entries
            .insert(key.to_vec(), BufOp::Put(Bytes::from(folded)));
        Ok(())
    }

    /// The batch to commit and what to validate.
    pub fn plan(&self) -> CommitPlan {
        let mut write = WriteSet::new();
        let mut validate_keys = Vec::new();
        let mut validate_ranges = Vec::new();
        for (&id, kb) in &self.map {
            for (s, e) in &kb.range_dels {
                write.batch.delete_range(id, s, e);
                let r = KeyRange {
                    lower: Bound::Included(s.clone()),
                    upper: Bound::Excluded(e.clone()),
                };
                write.footprint.ranges.push((id, r.clone()));
                validate_ranges.push((id, r));
            }
            for (k, op) in &kb.entries {
                match op {
                    BufOp::Put(v) => write.batch.put(id, k, v),
                    BufOp::Delete => write.batch.delete(id, k),
                    BufOp::Merge(ops) => {
                        for o in ops {
                            write.batch.merge(id, k, o);
                        }
                    }
                }
                if !matches!(op, BufOp::Merge(_)) {
                    validate_keys.push((id, k.clone()));
                }
                write.footprint.keys.push((id, k.clone()));
            }
        }
        CommitPlan {
            write,
            validate_keys,
            validate_ranges,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::U64Add;
    use std::sync::atomic::AtomicBool;

    fn meta(merge: bool) -> Arc<KsMeta> {
        Arc::new(KsMeta {
            id: KeyspaceId(3),
            name: "t".into(),
            dropped: AtomicBool::new(false),
            merge: merge.then(|| Arc::new(U64Add) as Arc<dyn crate::merge::MergeOperator>),
        })
    }

    fn n(v: u64) -> [u8; 8] {
        v.to_le_bytes()
    }

    #[test]
    fn range_delete_erases_covered_entries_and_later_puts_win() {
        let m = meta(false);
        let mut b = WriteBuffer::default();
        b.put(&m, b"a", codec::encode(b"1", None));
        b.put(&m, b"c", codec::encode(b"3", None));
        b.delete_range(&m, b"b", b"d");
        assert!(matches!(b.lookup(m.id, b"c"), Lookup::RangeDeleted));
        assert!(matches!(b.lookup(m.id, b"a"), Lookup::Op(BufOp::Put(_))));
        b.put(&m, b"c", codec::encode(b"again", None));
        assert!(matches!(b.lookup(m.id, b"c"), Lookup::Op(BufOp::Put(_))));
        let plan = b.plan();
        let ops: Vec<_> = plan
            .write
            .batch
            .iter()
            .map(|o| o.unwrap())
            .map(|o| (o.kind, o.key.to_vec()))
            .collect();
        use lsm_core::ValueKind::*;
        assert_eq!(
            ops,
            vec![
                (RangeDelete, b"b".to_vec()),
                (Put, b"a".to_vec()),
                (Put, b"c".to_vec())
            ]
        );
        assert_eq!(plan.validate_ranges.len(), 1);
    }

    #[test]
    fn merges_fold_over_known_bases_and_stay_blind_otherwise() {
        let m = meta(true);
        let mut b = WriteBuffer::default();
        b.merge(&m, b"x", &n(1), 0).unwrap();
        b.merge(&m, b"x", &n(2), 0).unwrap();
        assert!(matches!(b.lookup(m.id, b"x"), Lookup::Op(BufOp::Merge(o)) if o.len() == 2));
        b.put(&m, b"y", codec::encode(&n(10), Some(50)));
        b.merge(&m, b"y", &n(5), 0).unwrap();
        match b.lookup(m.id, b"y") {
            Lookup::Op(BufOp::Put(v)) => assert_eq!(&v[..], codec::encode(&n(15), Some(50))),
            _ => panic!("folded into a put"),
        }
        b.delete(&m, b"z");
        b.merge(&m, b"z", &n(7), 0).unwrap();
        assert!(matches!(b.lookup(m.id, b"z"), Lookup::Op(BufOp::Put(_))));
        let plan = b.plan();
        assert_eq!(plan.write.footprint.keys.len(), 3);
        assert_eq!(plan.validate_keys.len(), 2, "merge-only x is not validated");
        let without = meta(false);
        assert!(matches!(
            WriteBuffer::default().merge(&without, b"k", &n(1), 0),
            Err(Error::NoMergeOperator(_))
        ));
    }
}
