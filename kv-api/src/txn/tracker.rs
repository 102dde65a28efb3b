//! The table of recent commits that optimistic transactions are validated against.
//!
//! Every write that goes through kv-api — plain writes, batches, and both kinds of transaction
//! commit — registers its *footprint* (the point keys and key ranges it writes) here before it
//! reaches the store ("pending"), and after the store answers, the sequence number it got
//! ("finalized"). An optimistic transaction with snapshot `s` conflicts if one of the keys or
//! ranges it must validate was written by a commit that is pending or finalized above `s`.
//! Pending commits count as conflicts whatever sequence number they turn out to get: that is
//! conservative (a rare spurious conflict when `s` was taken in the short window after the
//! write became visible and before it was finalized), never wrong.
//!
//! Validation and registration happen under one lock, so two commits validated one after the
//! other always see each other. The store write itself happens outside the lock, which keeps
//! the engine's group commit working for concurrent committers.
//!
//! Pruning: a finalized commit at or below the oldest live optimistic snapshot can never
//! conflict with anyone (every live or future snapshot is at or above it), so it is dropped;
//! with no live transaction every finalized commit is dropped at once.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use lsm_core::store::KeyRange;
use lsm_core::KeyspaceId;

/// What one commit writes.
#[derive(Debug, Default)]
pub(crate) struct Footprint {
    /// Point keys (puts, deletes, merges), sorted and without duplicates.
    pub keys: Vec<(KeyspaceId, Vec<u8>)>,
    /// Ranges deleted.
    pub ranges: Vec<(KeyspaceId, KeyRange)>,
}

impl Footprint {
    /// Sorts and dedups the keys (lock order, and one record per key).
    pub fn normalize(&mut self) {
        self.keys.sort();
        self.keys.dedup();
    }

    fn touches_key(&self, ks: KeyspaceId, key: &[u8]) -> bool {
        self.ranges.iter().any(|(k, r)| *k == ks && r.contains(key))
            || self
                .keys
                .binary_search_by(|(k, x)| (*k, x.as_slice()).cmp(&(ks, key)))
                .is_ok()
    }

    fn touches_range(&self, ks: KeyspaceId, range: &KeyRange) -> bool {
        self.keys.iter().any(|(k, x)| *k == ks && range.contains(x))
            || self
                .ranges
                .iter()
                .any(|(k, r)| *k == ks && ranges_overlap(r, range))
    }
}

/// False only if no key can lie in both ranges (may say true for a few empty intersections).
pub(crate) fn ranges_overlap(a: &KeyRange, b: &KeyRange) -> bool {
    !ends_before(&a.upper, &b.lower) && !ends_before(&b.upper, &a.lower)
}

/// True if every key below `upper` is also below `lower` (the ranges are disjoint).
fn ends_before(upper: &Bound<Vec<u8>>, lower: &Bound<Vec<u8>>) -> bool {
    match (upper, lower) {
        (Bound::Unbounded, _) | (_, Bound::Unbounded) => false,
        (Bound::Included(u), Bound::Included(l)) => u < l,
        (Bound::Included(u) | Bound::Excluded(u), Bound::Excluded(l) | Bound::Included(l)) => {
            u <= l
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct KeyRec {
    /// Highest finalized commit sequence that wrote the key.
    seq: u64,
    /// Commits writing the key that are between registration and finalization.
    pending: u32,
}

/// What an optimistic commit validates.
pub(crate) struct Validation<'a> {
    pub snapshot: u64,
    pub keys: &'a [(KeyspaceId, Vec<u8>)],
    pub ranges: &'a [(KeyspaceId, KeyRange)],
}

/// The recent-commit table. All methods are called under the database's tracker mutex.
#[derive(Default)]
pub(crate) struct Tracker {
    keys: HashMap<KeyspaceId, HashMap<Vec<u8>, KeyRec>>,
    /// Finalized commits, by sequence number.
    commits: BTreeMap<u64, Arc<Footprint>>,
    /// Commits between registration and finalization, by ticket.
    pending: HashMap<u64, Arc<Footprint>>,
    /// Commits (pending or finalized, not yet pruned) that delete ranges.
    ranged: usize,
    /// Snapshots of live optimistic transactions, with counts.
    live: BTreeMap<u64, usize>,
    next_ticket: u64,
}

impl Tracker {
    /// Registers a live optimistic transaction reading at `snapshot`.
    pub fn begin(&mut self, snapshot: u64) {
        *self.live.entry(snapshot).or_insert(0) += 1;
    }

    /// Unregisters a transaction registered with [`Tracker::begin`].
    pub fn end(&mut self, snapshot: u64) {
        if let Some(n) = self.live.get_mut(&snapshot) {
            *n -= 1;
            if *n == 0 {
                self.live.remove(&snapshot);
            }
        }
        self.prune();
    }

    /// True if nothing that `v` depends on was written after its snapshot.
    pub fn validate(&self, v: &Validation<'_>) -> bool {
        let after = |seq: u64| seq > v.snapshot;
        for (ks, key) in v.keys {
            if let Some(rec) = self.keys.get(ks).and_then(|m| m.get(key.as_slice())) {
                if rec.pending > 0 || after(rec.seq) {
                    return false;
                }
            }
        }
        let ranged_point_check = self.ranged > 0 && !v.keys.is_empty();
        if !ranged_point_check && v.ranges.is_empty() {
            return true;
        }
        let recent = self
            .commits
            .range(v.snapshot.saturating_add(1)..)
            .map(|(_, f)| f)
            .chain(self.pending.values());
        for f in recent {
            if ranged_point_check
                && !f.ranges.is_empty()
                && v.keys.iter().any(|(ks, k)| f.touches_key(*ks, k))
            {
                return false;
            }
            if v.ranges.iter().any(|(ks, r)| f.touches_range(*ks, r)) {
                return false;
            }
        }
        true
    }

    /// Registers a commit about to be written; returns its ticket.
    pub fn start(&mut self, f: Arc<Footprint>) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        for (ks, key) in &f.keys {
            let m = self.keys.entry(*ks).or_default();
            match m.get_mut(key.as_slice()) {
                Some(rec) => rec.pending += 1,
                None => {
                    m.insert(key.clone(), KeyRec { seq: 0, pending: 1 });
                }
            }
        }
        if !f.ranges.is_empty() {
            self.ranged += 1;
        }
        self.pending.insert(ticket, f);
        ticket
    }

    /// Records a blind write that is already visible at `seq`, if a live snapshot predates it
    /// (otherwise no transaction can ever conflict with it).
    pub fn record_finished(&mut self, seq: u64, f: Arc<Footprint>) {
        if self.live.keys().next().is_none_or(|&oldest| oldest >= seq) {
            return;
        }
        for (ks, key) in &f.keys {
            let m = self.keys.entry(*ks).or_default();
            match m.get_mut(key.as_slice()) {
                Some(rec) => rec.seq = rec.seq.max(seq),
                None => {
                    m.insert(key.clone(), KeyRec { seq, pending: 0 });
                }
            }
        }
        if !f.ranges.is_empty() {
            self.ranged += 1;
        }
        self.commits.insert(seq, f);
    }

    /// Finalizes a commit: `seq` is its sequence number, or `None` if the write failed (then it
    /// is forgotten: nothing was written).
    pub fn finish(&mut self, ticket: u64, seq: Option<u64>) {
        let Some(f) = self.pending.remove(&ticket) else {
            return;
        };
        for (ks, key) in &f.keys {
            if let Some(rec) = self
                .keys
                .get_mut(ks)
                .and_then(|m| m.get_mut(key.as_slice()))
            {
                rec.pending = rec.pending.saturating_sub(1);
                if let Some(s) = seq {
                    rec.seq = rec.seq.max(s);
                }
            }
        }
        match seq {
            Some(s) => {
                self.commits.insert(s, f);
            }
            None => {
                if !f.ranges.is_empty() {
                    self.ranged -= 1;
                }
                self.forget_keys(&f, u64::MAX);
            }
        }
        self.prune();
    }

    /// Drops finalized commits no live snapshot can conflict with.
    fn prune(&mut self) {
        let horizon = self.live.keys().next().copied().unwrap_or(u64::MAX);
        while let Some(entry) = self.commits.first_entry() {
            if *entry.key() > horizon {
                break;
            }
            let f = entry.remove();
            if !f.ranges.is_empty() {
                self.ranged -= 1;
            }
            self.forget_keys(&f, horizon);
        }
    }

    /// Removes the records of `f`'s keys that are idle and at or below `horizon`.
    fn forget_keys(&mut self, f: &Footprint, horizon: u64) {
        for (ks, key) in &f.keys {
            let Some(m) = self.keys.get_mut(ks) else {
                continue;
            };
            if m.get(key.as_slice())
                .is_some_and(|r| r.pending == 0 && r.seq <= horizon)
            {
                m.remove(key.as_slice());
                if m.is_empty() {
                    self.keys.remove(ks);
                }
            }
        }
    }

    /// (tracked keys, commits held, live transactions), for stats.
    pub fn sizes(&self) -> (usize, usize, usize) {
        (
            self.keys.values().map(HashMap::len).sum(),
            self.commits.len() + self.pending.len(),
            self.live.values().sum(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KS: KeyspaceId = KeyspaceId(0);

    fn fp(keys: &[&str], ranges: &[(&str, &str)]) -> Arc<Footprint> {
        let mut f = Footprint {
            keys: keys.iter().map(|k| (KS, k.as_bytes().to_vec())).collect(),
            ranges: ranges
                .iter()
                .map(|(a, b)| {
                    (
                        KS,
                        KeyRange {
                            lower: Bound::Included(a.as_bytes().to_vec()),
                            upper: Bound::Excluded(b.as_bytes().to_vec()),
                        },
                    )
                })
                .collect(),
        };
        f.normalize();
        Arc::new(f)
    }

    fn ok(t: &Tracker, snap: u64, keys: &[&str], ranges: &[(&str, &str)]) -> bool {
        let f = fp(keys, ranges);
        t.validate(&Validation {
            snapshot: snap,
            keys: &f.keys,
            ranges: &f.ranges,
        })
    }

    #[test]
    fn pending_and_later_commits_conflict_earlier_ones_do_not() {
        let mut t = Tracker::default();
        t.begin(10);
        let a = t.start(fp(&["a"], &[]));
        assert!(!ok(&t, 10, &["a"], &[]), "pending conflicts");
        assert!(ok(&t, 10, &["b"], &[]));
        t.finish(a, Some(11));
        assert!(!ok(&t, 10, &["a"], &[]));
        assert!(ok(&t, 11, &["a"], &[]), "visible to snapshot 11");
        assert!(!ok(&t, 10, &[], &[("a", "b")]), "range read sees the key");
        assert!(ok(&t, 10, &[], &[("b", "c")]));
    }

    #[test]
    fn range_deletes_conflict_with_points_and_ranges() {
        let mut t = Tracker::default();
        t.begin(5);
        let x = t.start(fp(&[], &[("m", "p")]));
        t.finish(x, Some(6));
        assert!(!ok(&t, 5, &["n"], &[]));
        assert!(ok(&t, 5, &["p"], &[]), "end is exclusive");
        assert!(!ok(&t, 5, &[], &[("a", "mm")]));
        assert!(ok(&t, 5, &[], &[("p", "z")]));
        assert!(ok(&t, 6, &["n"], &[]));
    }

    #[test]
    fn failed_writes_are_forgotten_and_everything_prunes_without_live_snapshots() {
        let mut t = Tracker::default();
        let a = t.start(fp(&["a", "b"], &[("c", "d")]));
        t.finish(a, None);
        assert_eq!(t.sizes(), (0, 0, 0));
        assert!(ok(&t, 0, &["a"], &[("a", "z")]));
        t.begin(3);
        let b = t.start(fp(&["a"], &[]));
        t.finish(b, Some(4));
        assert_eq!(t.sizes(), (1, 1, 1));
        t.end(3);
        assert_eq!(t.sizes(), (0, 0, 0));
        assert_eq!(t.ranged, 0);
    }

    #[test]
    fn pruning_keeps_commits_above_the_oldest_snapshot() {
        let mut t = Tracker::default();
        t.begin(10);
        t.begin(20);
        for (k, s) in [("a", 9), ("b", 15), ("c", 25)] {
            let x = t.start(fp(&[k], &[]));
            t.finish(x, Some(s));
        }
        assert_eq!(t.sizes().1, 2, "commit 9 pruned");
        t.end(10);
        assert_eq!(t.sizes().1, 1, "commit 15 pruned too");
        assert!(!ok(&t, 20, &["c"], &[]));
    }

    #[test]
    fn finished_blind_writes_are_recorded_only_for_older_snapshots() {
        let mut t = Tracker::default();
        t.record_finished(5, fp(&["a"], &[]));
        assert_eq!(t.sizes(), (0, 0, 0), "nobody to conflict with");
        t.begin(7);
        t.record_finished(7, fp(&["a"], &[]));
        assert_eq!(t.sizes().0, 0, "visible to the snapshot");
        t.record_finished(8, fp(&["a"], &[]));
        assert!(!ok(&t, 7, &["a"], &[]));
        t.end(7);
        assert_eq!(t.sizes(), (0, 0, 0));
    }

    #[test]
    fn overlap_of_bounds() {
        let r = |l: Bound<&str>, u: Bound<&str>| KeyRange {
            lower: l.map(|s| s.as_bytes().to_vec()),
            upper: u.map(|s| s.as_bytes().to_vec()),
        };
        use Bound::*;
        assert!(ranges_overlap(
            &r(Included("a"), Included("b")),
            &r(Included("b"), Unbounded)
        ));
        assert!(!ranges_overlap(
            &r(Included("a"), Excluded("b")),
            &r(Included("b"), Unbounded)
        ));
        assert!(!ranges_overlap(
            &r(Unbounded, Included("b")),
            &r(Excluded("b"), Unbounded)
        ));
        assert!(ranges_overlap(
            &r(Unbounded, Unbounded),
            &r(Excluded("b"), Included("c"))
        ));
    }
}
