//! Range tombstones as readers see them: fragmented into non-overlapping pieces.
//!
//! Tombstones `[start, end) @ seq` from every source a reader consults are cut at every start and
//! end point, so each fragment `[a, b)` carries the sequence numbers of all tombstones covering
//! it (newest first). Only tombstones visible at the reader's snapshot are kept. A version
//! `(key, v)` is deleted iff some fragment containing `key` carries a sequence number greater
//! than `v` — one binary search per check.

use crate::types::SeqNo;

#[derive(Debug)]
struct Fragment {
    start: Vec<u8>,
    end: Vec<u8>,
    /// Sequence numbers of the tombstones covering the fragment, newest first.
    seqs: Vec<SeqNo>,
}

/// The range tombstones visible at one snapshot, fragmented.
#[derive(Debug, Default)]
pub struct RangeTombstones {
    frags: Vec<Fragment>,
}

impl RangeTombstones {
    /// Fragments `tombstones` (start, end, seq), keeping those with `seq <= snapshot`.
    pub fn new<I>(tombstones: I, snapshot: SeqNo) -> RangeTombstones
    where
        I: IntoIterator<Item = (Vec<u8>, Vec<u8>, SeqNo)>,
    {
        let tombs: Vec<_> = tombstones
            .into_iter()
            .filter(|(s, e, seq)| *seq <= snapshot && s < e)
            .collect();
        if tombs.is_empty() {
            return RangeTombstones::default();
        }
        let mut points: Vec<&[u8]> = tombs
            .iter()
            .flat_map(|(s, e, _)| [s.as_slice(), e.as_slice()])
            .collect();
        points.sort();
        points.dedup();
        let mut seqs: Vec<Vec<SeqNo>> = vec![Vec::new(); points.len().saturating_sub(1)];
        for (s, e, seq) in &tombs {
            let from = points.partition_point(|p| *p < s.as_slice());
            let to = points.partition_point(|p| *p < e.as_slice());
            for list in &mut seqs[from..to] {
                list.push(*seq);
            }
        }
        let frags = seqs
            .into_iter()
            .enumerate()
            .filter(|(_, list)| !list.is_empty())
            .map(|(i, mut list)| {
                list.sort_by(|a, b| b.cmp(a));
                list.dedup();
                Fragment {
                    start: points[i].to_vec(),
                    end: points[i + 1].to_vec(),
                    seqs: list,
                }
            })
            .collect();
        RangeTombstones { frags }
    }

    /// True when no tombstone is visible.
    pub fn is_empty(&self) -> bool {
        self.frags.is_empty()
    }

    fn fragment(&self, key: &[u8]) -> Option<&Fragment> {
        let i = self.frags.partition_point(|f| f.end.as_slice() <= key);
        let f = self.frags.get(i)?;
        (f.start.as_slice() <= key).then_some(f)
    }

    /// The newest tombstone sequence covering `key`, if any.
    pub fn max_covering(&self, key: &[u8]) -> Option<SeqNo> {
        self.fragment(key).and_then(|f| f.seqs.first().copied())
    }

    /// True if a tombstone covering `key` has a sequence in `(above, up_to]` (compaction: does
    /// a tombstone delete version `above` for every snapshot in its stripe?).
    pub fn covers_within(&self, key: &[u8], above: SeqNo, up_to: SeqNo) -> bool {
        self.fragment(key)
            .is_some_and(|f| f.seqs.iter().any(|s| *s > above && *s <= up_to))
    }

    /// True if the version `(key, seq)` is deleted by a tombstone.
    pub fn covers(&self, key: &[u8], seq: SeqNo) -> bool {
        self.max_covering(key).is_some_and(|t| t > seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str, e: &str, seq: u64) -> (Vec<u8>, Vec<u8>, SeqNo) {
        (s.as_bytes().to_vec(), e.as_bytes().to_vec(), SeqNo(seq))
    }

    #[test]
    fn overlapping_tombstones_fragment() {
        let r = RangeTombstones::new([t("b", "f", 5), t("d", "h", 9), t("x", "z", 20)], SeqNo(10));
        assert_eq!(r.max_covering(b"a"), None);
        assert_eq!(r.max_covering(b"b"), Some(SeqNo(5)));
        assert_eq!(r.max_covering(b"d"), Some(SeqNo(9)));
        assert_eq!(r.max_covering(b"e"), Some(SeqNo(9)));
        assert_eq!(r.max_covering(b"f"), Some(SeqNo(9)));
        assert_eq!(r.max_covering(b"h"), None, "end is exclusive");
        assert_eq!(r.max_covering(b"y"), None, "seq 20 is above the snapshot");
        assert!(r.covers(b"c", SeqNo(4)));
        assert!(
            !r.covers(b"c", SeqNo(5)),
            "a tombstone does not delete its own or newer writes"
        );
        assert!(!r.covers(b"c", SeqNo(7)));
        assert!(r.covers_within(b"e", SeqNo(4), SeqNo(5)));
        assert!(
            !r.covers_within(b"e", SeqNo(5), SeqNo(8)),
            "9 is past the stripe, 5 is not above 5"
        );
        assert!(r.covers_within(b"e", SeqNo(5), SeqNo(9)));
    }

    #[test]
    fn empty_and_inverted_ranges_are_ignored() {
        let r = RangeTombstones::new([t("b", "b", 5), t("c", "a", 5)], SeqNo::MAX);
        assert!(r.is_empty());
        assert_eq!(r.max_covering(b"b"), None);
    }
}
