//! The list of live snapshots: which sequence numbers some reader still needs.
//!
//! Invariant: a sequence number is in the list exactly as long as a [`SnapshotGuard`] for it is
//! alive. Compaction may drop a version only if no listed snapshot can see it.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::types::SeqNo;

/// Registered snapshots with reference counts.
#[derive(Default)]
pub struct SnapshotList {
    live: Mutex<BTreeMap<SeqNo, usize>>,
}

impl SnapshotList {
    /// Registers `seq` until the returned guard is dropped.
    pub fn register(self: &Arc<Self>, seq: SeqNo) -> SnapshotGuard {
        *self.live.lock().entry(seq).or_insert(0) += 1;
        SnapshotGuard {
            list: Arc::clone(self),
            seq,
        }
    }

    /// The oldest registered sequence number, if any.
    pub fn oldest(&self) -> Option<SeqNo> {
        self.live.lock().keys().next().copied()
    }

    /// All registered sequence numbers, ascending.
    pub fn all(&self) -> Vec<SeqNo> {
        self.live.lock().keys().copied().collect()
    }

    /// Number of distinct registered sequence numbers.
    pub fn len(&self) -> usize {
        self.live.lock().len()
    }

    /// True when no snapshot is registered.
    pub fn is_empty(&self) -> bool {
        self.live.lock().is_empty()
    }
}

/// Keeps one snapshot registered.
pub struct SnapshotGuard {
    list: Arc<SnapshotList>,
    seq: SeqNo,
}

impl Drop for SnapshotGuard {
    fn drop(&mut self) {
        let mut live = self.list.live.lock();
        if let Some(n) = live.get_mut(&self.seq) {
            *n -= 1;
            if *n == 0 {
                live.remove(&self.seq);
            }
        }
    }
}

#[cfg(test)]
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
