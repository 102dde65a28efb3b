//! The memtable: recent writes, sorted by internal key, in a lock-free skiplist.
//!
//! Entries are `internal key ‖ value` copied into 1 MiB arena chunks (shared `Bytes` slices, so
//! an insert allocates only the skiplist node), with the first 8 bytes of the user key inline in
//! the node so most comparisons never leave it. A `SkipMap<Vec<u8>, Vec<u8>>` costs three
//! allocations per insert and two cache misses per comparison, which is what made naive crossbeam
//! memtables slow (2.5–5 µs per insert). Values are handed to readers as `Bytes` slices of the
//! arena (no copy); a returned value keeps its 1 MiB chunk alive until dropped.
//!
//! The inline prefix is 16 bytes, not 8: db_bench-style keys (zero-padded decimals) and most
//! composite keys share their first 8 bytes, which left every comparison to `memcmp` (22% of a
//! random-insert profile); 16 bytes cover a 16-byte key whole. Point lookups search with an
//! entry-shaped probe, so they get the inline comparison too.
//!
//! Invariants:
//! * entries are never modified or removed; a memtable only grows until it becomes immutable;
//! * every `(user key, seq)` is inserted at most once (sequence numbers are unique), so the
//!   internal-key order is total over the entries;
//! * `approximate_size` only grows and counts key, value and per-entry overhead.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use crossbeam_skiplist::SkipSet;
use parking_lot::Mutex;
use ref_cast::RefCast;

use crate::error::Result;
use crate::iter::InternalIterator;
use crate::key::{self, compare_internal, lookup_key, TRAILER_LEN};
use crate::types::{SeqNo, ValueKind};

/// A range tombstone: `(start, end (exclusive), seq)`.
pub type RangeTombstone = (Vec<u8>, Vec<u8>, SeqNo);

/// Size of the arena chunks entries are copied into.
const ARENA_CHUNK: usize = 1 << 20;

/// Skiplist node and bookkeeping cost charged per entry on top of its bytes.
const ENTRY_OVERHEAD: usize = 64;

/// An internal key as a borrowed, ordered type, so the skiplist can be searched without
/// building an entry.
#[derive(RefCast, PartialEq, Eq)]
#[repr(transparent)]
struct IKey([u8]);

impl Ord for IKey {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_internal(&self.0, &other.0)
    }
}

impl PartialOrd for IKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One memtable entry: `internal key ‖ value` in one allocation, plus the first sixteen bytes of
/// the user key inline, so most comparisons during a skiplist descent are decided without
/// touching the entry's heap allocation (one cache miss per node instead of two).
#[derive(Clone)]
struct Entry {
    prefix: u128,
    buf: Bytes,
    key_len: u32,
}

/// The first sixteen bytes of `user_key`, zero-padded, big-endian: comparing two of these as
/// integers agrees with comparing the keys bytewise whenever the integers differ.
#[inline]
fn key_prefix(user_key: &[u8]) -> u128 {
    let mut p = [0u8; 16];
    let n = user_key.len().min(16);
    p[..n].copy_from_slice(&user_key[..n]);
    u128::from_be_bytes(p)
}

impl Entry {
    fn ikey(&self) -> &[u8] {
        &self.buf[..self.key_len as usize]
    }
    fn value(&self) -> &[u8] {
        &self.buf[self.key_len as usize..]
    }
}

impl Borrow<IKey> for Entry {
    fn borrow(&self) -> &IKey {
        IKey::ref_cast(self.ikey())
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.ikey() == other.ikey()
    }
}
impl Eq for Entry {}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        match self.prefix.cmp(&other.prefix) {
            Ordering::Equal => compare_internal(self.ikey(), other.ikey()),
            o => o,
        }
    }
}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A sorted in-memory buffer of internal keys.
pub struct Memtable {
    set: SkipSet<Entry>,
    /// The chunk new entries are copied into.
    arena: Mutex<BytesMut>,
    size: AtomicUsize,
    max_seq: AtomicU64,
    /// Range tombstones `(start, end, seq)`, also kept in the skiplist (as `RangeDelete` entries
    /// keyed by their start) so a flush writes them; this copy lets readers find every tombstone
    /// without scanning.
    range_dels: parking_lot::RwLock<Vec<RangeTombstone>>,
}

impl Default for Memtable {
    fn default() -> Self {
        Self::new()
    }
}

impl Memtable {
    /// An empty memtable.
    pub fn new() -> Memtable {
        Memtable {
            set: SkipSet::new(),
            arena: Mutex::new(BytesMut::new()),
            size: AtomicUsize::new(0),
            max_seq: AtomicU64::new(0),
            range_dels: parking_lot::RwLock::new(Vec::new()),
        }
    }

    /// Inserts one version. Safe to call from several threads at once.
    pub fn insert(&self, user_key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        let key_len = user_key.len() + TRAILER_LEN;
        let len = key_len + value.len();
        let buf = {
            let mut arena = self.arena.lock();
            if arena.capacity() - arena.len() < len {
                // Large entries get a buffer of their own so they do not waste a chunk.
                *arena = BytesMut::with_capacity(ARENA_CHUNK.max(len));
            }
            arena.put_slice(user_key);
            arena.put_u64_le(key::pack_trailer(seq, kind as u8));
            arena.put_slice(value);
            arena.split().freeze()
        };
        let entry = Entry {
            prefix: key_prefix(user_key),
            buf,
            key_len: key_len as u32,
        };
        if kind == ValueKind::RangeDelete {
            self.range_dels
                .write()
                .push((user_key.to_vec(), value.to_vec(), seq));
        }
        self.set.insert(entry);
        self.size.fetch_add(
            key_len + value.len() + ENTRY_OVERHEAD,
            AtomicOrdering::Relaxed,
        );
        self.max_seq.fetch_max(seq.0, AtomicOrdering::Relaxed);
    }

    /// The newest version of `user_key` with `seq <= snapshot`: its kind, sequence and value.
    pub fn get(&self, user_key: &[u8], snapshot: SeqNo) -> Option<(ValueKind, SeqNo, Bytes)> {
        let lk = lookup_key(user_key, snapshot);
        let probe = Entry {
            prefix: key_prefix(user_key),
            key_len: lk.len() as u32,
            buf: Bytes::from(lk),
        };
        let e = self.set.lower_bound(Bound::Included(&probe))?;
        let p = key::parse_internal_key(e.ikey())?;
        if p.user_key != user_key {
            return None;
        }
        let value = e.buf.slice(e.key_len as usize..);
        Some((p.kind, p.seq, value))
    }

    /// The range tombstones inserted so far, `(start, end, seq)`.
    pub fn range_tombstones(&self) -> Vec<RangeTombstone> {
        self.range_dels.read().clone()
    }

    /// The newest range tombstone sequence `<= snapshot` covering `key`.
    pub fn max_range_tombstone(&self, key: &[u8], snapshot: SeqNo) -> Option<SeqNo> {
        let dels = self.range_dels.read();
        dels.iter()
            .filter(|(s, e, seq)| *seq <= snapshot && s.as_slice() <= key && key < e.as_slice())
            .map(|(_, _, seq)| *seq)
            .max()
    }

    /// Bytes charged so far (keys, values and per-entry overhead).
    pub fn approximate_size(&self) -> usize {
        self.size.load(AtomicOrdering::Relaxed)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// True when nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Highest sequence number inserted (0 when empty).
    pub fn max_seq(&self) -> SeqNo {
        SeqNo(self.max_seq.load(AtomicOrdering::Relaxed))
    }

    /// A cursor over all entries. It owns a reference to the memtable, so it can outlive the
    /// caller's handle.
    pub fn iter(self: &Arc<Self>) -> MemtableIterator {
        MemtableIterator {
            mem: Arc::clone(self),
            buf: Vec::new(),
            pos: 0,
            dir: Direction::Forward,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Backward,
}

/// Entries fetched per skiplist walk: the iterator copies `Arc`s out of the skiplist in small
/// batches so it holds no borrow of it between calls.
const BATCH: usize = 32;

/// Cursor over a [`Memtable`].
///
/// It keeps a small buffer of entries (cheap `Arc` clones) in the direction of travel and
/// refills it from the skiplist starting after the last buffered key. `buf[pos]` is the current
/// entry; in the backward direction the buffer is in descending order.
pub struct MemtableIterator {
    mem: Arc<Memtable>,
    buf: Vec<Entry>,
    pos: usize,
    dir: Direction,
}

impl MemtableIterator {
    fn fill_forward(&mut self, from: Bound<&IKey>) {
        self.buf.clear();
        self.pos = 0;
        self.dir = Direction::Forward;
        let range = self.mem.set.range::<IKey, _>((from, Bound::Unbounded));
        self.buf
            .extend(range.take(BATCH).map(|e| e.value().clone()));
    }

    fn fill_backward(&mut self, to: Bound<&IKey>) {
        self.buf.clear();
        self.pos = 0;
        self.dir = Direction::Backward;
        let range = self.mem.set.range::<IKey, _>((Bound::Unbounded, to));
        self.buf
            .extend(range.rev().take(BATCH).map(|e| e.value().clone()));
    }
}

impl InternalIterator for MemtableIterator {
    fn valid(&self) -> bool {
        self.pos < self.buf.len()
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.fill_forward(Bound::Unbounded);
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.fill_backward(Bound::Unbounded);
        Ok(())
    }

    fn seek(&mut self, ikey: &[u8]) -> Result<()> {
        self.fill_forward(Bound::Included(IKey::ref_cast(ikey)));
        Ok(())
    }

    fn seek_for_prev(&mut self, ikey: &[u8]) -> Result<()> {
        self.fill_backward(Bound::Included(IKey::ref_cast(ikey)));
        Ok(())
    }

    fn next(&mut self) -> Result<()> {
        if self.dir == Direction::Forward && self.pos + 1 < self.buf.len() {
            self.pos += 1;
            return Ok(());
        }
        let cur = self.buf[self.pos].clone();
        self.fill_forward(Bound::Excluded(IKey::ref_cast(cur.ikey())));
        Ok(())
    }

    fn prev(&mut self) -> Result<()> {
        if self.dir == Direction::Backward && self.pos + 1 < self.buf.len() {
            self.pos += 1;
            return Ok(());
        }
        let cur = self.buf[self.pos].clone();
        self.fill_backward(Bound::Excluded(IKey::ref_cast(cur.ikey())));
        Ok(())
    }

    fn key(&self) -> &[u8] {
        self.buf[self.pos].ikey()
    }

    fn value(&self) -> &[u8] {
        self.buf[self.pos].value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::parse_internal_key;

    fn collect_forward(it: &mut MemtableIterator) -> Vec<(Vec<u8>, u64)> {
        let mut out = Vec::new();
        it.seek_to_first().unwrap();
        while it.valid() {
            let p = parse_internal_key(it.key()).unwrap();
            out.push((p.user_key.to_vec(), p.seq.0));
            it.next().unwrap();
        }
        out
    }

    #[test]
    fn inline_prefix_agrees_with_bytewise_order_around_sixteen_bytes() {
        // Keys of 0..=20 bytes over {0, 1, 255}: zero bytes and lengths on both sides of the
        // 16-byte inline prefix, where a zero-padded prefix ties keys that differ.
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let m = Memtable::new();
        let mut model = std::collections::BTreeMap::new();
        for seq in 1..=3000u64 {
            let len = rng.gen_range(0..=20);
            let k: Vec<u8> = (0..len)
                .map(|_| [0u8, 1, 255][rng.gen_range(0..3)])
                .collect();
            let v = seq.to_le_bytes();
            m.insert(&k, SeqNo(seq), ValueKind::Put, &v);
            model.insert(k, seq);
        }
        let got = collect_forward(&mut Arc::new(m).iter());
        let mut want: Vec<(Vec<u8>, u64)> = got.clone();
        want.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        assert_eq!(
            got, want,
            "iteration order is bytewise key, then newest first"
        );
        let m2 = Memtable::new();
        for (seq, (k, _)) in got.iter().enumerate() {
            m2.insert(k, SeqNo(seq as u64 + 1), ValueKind::Put, k);
        }
        for k in model.keys() {
            let (_, _, v) = m2.get(k, SeqNo(u64::MAX >> 8)).expect("present");
            assert_eq!(v.as_ref(), k.as_slice());
        }
        let mut absent = model.keys().next_back().cloned().unwrap_or_default();
        absent.push(2);
        assert_eq!(m2.get(&absent, SeqNo(u64::MAX >> 8)), None);
    }

    #[test]
    fn get_sees_newest_visible_version() {
        let m = Memtable::new();
        m.insert(b"a", SeqNo(1), ValueKind::Put, b"v1");
        m.insert(b"a", SeqNo(3), ValueKind::Put, b"v3");
        m.insert(b"a", SeqNo(5), ValueKind::Delete, b"");
        m.insert(b"ab", SeqNo(2), ValueKind::Put, b"x");
        assert_eq!(m.get(b"a", SeqNo(0)), None);
        assert_eq!(m.get(b"a", SeqNo(1)).unwrap().2, Bytes::from_static(b"v1"));
        assert_eq!(m.get(b"a", SeqNo(4)).unwrap().2, Bytes::from_static(b"v3"));
        assert_eq!(m.get(b"a", SeqNo(9)).unwrap().0, ValueKind::Delete);
        assert_eq!(m.get(b"b", SeqNo(9)), None);
        assert_eq!(m.get(b"", SeqNo(9)), None);
        assert_eq!(m.max_seq(), SeqNo(5));
        assert!(m.approximate_size() > 0);
    }

    #[test]
    fn iterates_both_directions_across_batches() {
        let m = Arc::new(Memtable::new());
        let n = 200u64;
        for i in 0..n {
            m.insert(
                format!("k{i:04}").as_bytes(),
                SeqNo(i + 1),
                ValueKind::Put,
                b"v",
            );
        }
        let mut it = m.iter();
        let fwd = collect_forward(&mut it);
        assert_eq!(fwd.len(), n as usize);
        assert!(fwd.windows(2).all(|w| w[0].0 < w[1].0));
        let mut back = Vec::new();
        it.seek_to_last().unwrap();
        while it.valid() {
            back.push(parse_internal_key(it.key()).unwrap().user_key.to_vec());
            it.prev().unwrap();
        }
        back.reverse();
        assert_eq!(back, fwd.iter().map(|x| x.0.clone()).collect::<Vec<_>>());
        // Direction changes in the middle.
        it.seek(&lookup_key(b"k0100", SeqNo::MAX)).unwrap();
        assert_eq!(parse_internal_key(it.key()).unwrap().user_key, b"k0100");
        it.prev().unwrap();
        assert_eq!(parse_internal_key(it.key()).unwrap().user_key, b"k0099");
        it.next().unwrap();
        it.next().unwrap();
        assert_eq!(parse_internal_key(it.key()).unwrap().user_key, b"k0101");
        it.seek_for_prev(&lookup_key(b"k0150", SeqNo(0))).unwrap();
        assert_eq!(parse_internal_key(it.key()).unwrap().user_key, b"k0150");
        it.seek_for_prev(&lookup_key(b"k0150", SeqNo::MAX)).unwrap();
        assert_eq!(parse_internal_key(it.key()).unwrap().user_key, b"k0149");
    }

    #[test]
    fn concurrent_inserts_are_all_visible() {
        let m = Arc::new(Memtable::new());
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let m = &m;
                s.spawn(move || {
                    for i in 0..500u64 {
                        let seq = SeqNo(t * 1000 + i + 1);
                        m.insert(format!("t{t}k{i}").as_bytes(), seq, ValueKind::Put, b"v");
                    }
                });
            }
        });
        assert_eq!(m.len(), 2000);
        assert!(m.get(b"t3k499", SeqNo::MAX).is_some());
    }
}
