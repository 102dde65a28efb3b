//! The list of live snapshots: which sequence numbers some reader still needs.
//!
//! Invariant: a sequence number is in the list exactly as long as a [`SnapshotGuard`] for it is
//! alive. Compaction may drop a version only if no listed snapshot can see it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::sync::{self, Mutex};

use crate::types::SeqNo;

/// Registered snapshots with reference counts.
#[derive(Default)]
pub struct SnapshotList {
    live: Mutex<BTreeMap<SeqNo, usize>>,
}

impl SnapshotList {
    fn live(&self) -> sync::MutexGuard<'_, BTreeMap<SeqNo, usize>> {
        sync::lock(&self.live)
    }
}

impl SnapshotList {
    /// Registers `seq` until the returned guard is dropped.
    pub fn register(self: &Arc<Self>, seq: SeqNo) -> SnapshotGuard {
        *self.live().entry(seq).or_insert(0) += 1;
        SnapshotGuard {
            list: Arc::clone(self),
            seq,
        }
    }

    /// The oldest registered sequence number, if any.
    pub fn oldest(&self) -> Option<SeqNo> {
        self.live().keys().next().copied()
    }

    /// All registered sequence numbers, ascending.
    pub fn all(&self) -> Vec<SeqNo> {
        self.live().keys().copied().collect()
    }

    /// Number of distinct registered sequence numbers.
    pub fn len(&self) -> usize {
        self.live().len()
    }

    /// True when no snapshot is registered.
    pub fn is_empty(&self) -> bool {
        self.live().is_empty()
    }
}

/// Keeps one snapshot registered.
pub struct SnapshotGuard {
    list: Arc<SnapshotList>,
    seq: SeqNo,
}

impl Drop for SnapshotGuard {
    fn drop(&mut self) {
        let mut live = self.list.live();
        if let Some(n) = live.get_mut(&self.seq) {
            *n -= 1;
            if *n == 0 {
                live.remove(&self.seq);
            }
        }
    }
}

#[cfg(all(test, strata_loom))]
mod loom_models {
    use super::*;

    /// Snapshot pinning: while a guard is alive its sequence is registered, whatever other
    /// threads register and release concurrently; after all guards drop, nothing is.
    #[test]
    fn snapshot_pinning() {
        loom::model(|| {
            let list = Arc::new(SnapshotList::default());
            let l2 = Arc::clone(&list);
            let t = loom::thread::spawn(move || {
                let g = l2.register(SeqNo(3));
                assert!(l2.oldest().is_some_and(|o| o <= SeqNo(3)));
                drop(g);
            });
            let g = list.register(SeqNo(5));
            assert!(list.oldest().is_some_and(|o| o <= SeqNo(5)));
            assert!(list.all().contains(&SeqNo(5)));
            drop(g);
            t.join().unwrap();
            assert!(list.is_empty());
        });
    }
}

#[cfg(all(test, not(strata_loom)))]
mod tests {
    use super::*;

    #[test]
    fn guards_register_and_release() {
        let l = Arc::new(SnapshotList::default());
        let a = l.register(SeqNo(5));
        let b = l.register(SeqNo(3));
        let c = l.register(SeqNo(5));
        assert_eq!(l.oldest(), Some(SeqNo(3)));
        drop(b);
        assert_eq!(l.oldest(), Some(SeqNo(5)));
        drop(a);
        assert_eq!(l.all(), vec![SeqNo(5)]);
        drop(c);
        assert!(l.is_empty());
    }
}
