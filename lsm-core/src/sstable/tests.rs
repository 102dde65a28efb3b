//! Table-level tests: build with [`TableBuilder`], read back with [`Table`], compare with a
//! sorted model; damage every byte and check nothing wrong ever comes out.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::error::Error;
use crate::fs::{FileSystem, MemFs, ReadMode};
use crate::iter::InternalIterator;
use crate::key::{compare_internal, internal_key, lookup_key, parse_internal_key, user_key};
use crate::types::{FileNumber, SeqNo, ValueKind};
use crate::util::filename::table_path;

type Entry = (Vec<u8>, Vec<u8>);

fn dir() -> PathBuf {
    PathBuf::from("/db")
}

fn new_fs() -> MemFs {
    let fs = MemFs::new();
    fs.create_dir_all(&dir()).unwrap();
    fs
}

fn uk(i: usize) -> Vec<u8> {
    format!("key{:06}", i * 3).into_bytes()
}

/// Sorted entries: `n` user keys, each with 1..=`max_versions` versions of mixed kinds.
fn gen_entries(n: usize, max_versions: u64, value_len: usize, seed: u64) -> Vec<Entry> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    for i in 0..n {
        let versions = rng.gen_range(1..=max_versions);
        let mut seq = 1000 + rng.gen_range(0..100u64);
        for _ in 0..versions {
            let kind = match rng.gen_range(0..10) {
                0 => ValueKind::Delete,
                1 => ValueKind::Merge,
                _ => ValueKind::Put,
            };
            let value = if kind == ValueKind::Delete {
                Vec::new()
            } else {
                let len = rng.gen_range(0..=value_len);
                (0..len).map(|_| rng.gen_range(b'a'..=b'z')).collect()
            };
            out.push((internal_key(&uk(i), SeqNo(seq), kind), value));
            seq -= rng.gen_range(1..50);
        }
    }
    out
}

fn opts(block_size: usize, compression: Compression) -> TableOptions {
    TableOptions {
        block_size,
        compression,
        ..TableOptions::default()
    }
}

fn build(
    fs: &MemFs,
    n: u64,
    entries: &[Entry],
    dels: &[(&[u8], &[u8], u64)],
    o: TableOptions,
) -> TableProperties {
    let file = fs.create(&table_path(&dir(), FileNumber(n))).unwrap();
    let mut b = TableBuilder::new(file, o);
    for (k, v) in entries {
        b.add(k, v).unwrap();
    }
    for (s, e, seq) in dels {
        b.add_range_tombstone(s, e, SeqNo(*seq)).unwrap();
    }
    assert_eq!(b.num_entries(), entries.len() as u64);
    b.finish().unwrap()
}

fn open(fs: &MemFs, n: u64, cache: Option<Arc<BlockCache>>) -> Result<Arc<Table>, Error> {
    let f = fs.open(&table_path(&dir(), FileNumber(n)), ReadMode::Pread)?;
    Table::open(f, FileNumber(n), cache)
}

/// The model's answer to `Table::get`.
fn model_get(entries: &[Entry], key: &[u8], snap: u64) -> Option<(ValueKind, SeqNo, Vec<u8>)> {
    entries.iter().find_map(|(k, v)| {
        let p = parse_internal_key(k).unwrap();
        (p.user_key == key && p.seq.0 <= snap).then(|| (p.kind, p.seq, v.clone()))
    })
}

fn get(t: &Table, key: &[u8], snap: u64) -> Result<Option<(ValueKind, SeqNo, Vec<u8>)>, Error> {
    Ok(t.get(key, SeqNo(snap))?.map(|(k, s, v)| (k, s, v.to_vec())))
}

fn scan_fwd(t: &Arc<Table>) -> Result<Vec<Entry>, Error> {
    let mut it = t.iter();
    let mut out = Vec::new();
    it.seek_to_first()?;
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.next()?;
    }
    Ok(out)
}

fn scan_back(t: &Arc<Table>) -> Result<Vec<Entry>, Error> {
    let mut it = t.iter();
    let mut out = Vec::new();
    it.seek_to_last()?;
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.prev()?;
    }
    out.reverse();
    Ok(out)
}

#[test]
fn get_at_many_snapshots_both_compressions() {
    for c in [Compression::None, Compression::Zstd] {
        let fs = new_fs();
        let entries = gen_entries(400, 4, 60, 1);
        let props = build(&fs, 1, &entries, &[], opts(512, c));
        let t = open(&fs, 1, None).unwrap();
        assert_eq!(t.properties(), &props);
        assert_eq!(props.num_entries, entries.len() as u64);
        assert!(props.data_size > 10 * 512 / 2, "spans many blocks");
        for i in 0..400 {
            let k = uk(i);
            for snap in [0, 900, 1000, 1030, 1060, 1099, 1100, u64::MAX] {
                assert_eq!(
                    get(&t, &k, snap).unwrap(),
                    model_get(&entries, &k, snap),
                    "{c:?} key {i} snap {snap}"
                );
            }
            // Absent keys between and around the present ones.
            let mut between = k.clone();
            between.push(0);
            assert_eq!(get(&t, &between, u64::MAX).unwrap(), None);
        }
        assert_eq!(get(&t, b"", u64::MAX).unwrap(), None);
        assert_eq!(get(&t, b"zzz", u64::MAX).unwrap(), None);
    }
}

#[test]
fn properties_count_what_was_written() {
    let fs = new_fs();
    let entries = gen_entries(100, 3, 20, 2);
    let p = build(
        &fs,
        1,
        &entries,
        &[(b"a", b"b", 7)],
        TableOptions::default(),
    );
    let deletions = entries
        .iter()
        .filter(|(k, _)| parse_internal_key(k).unwrap().kind == ValueKind::Delete)
        .count();
    assert_eq!(p.num_deletions, deletions as u64);
    assert_eq!(p.num_range_deletions, 1);
    let keys: usize = entries.iter().map(|(k, _)| k.len()).sum();
    let vals: usize = entries.iter().map(|(_, v)| v.len()).sum();
    assert_eq!(
        (p.raw_key_size, p.raw_value_size),
        (keys as u64, vals as u64)
    );
    assert_eq!(p.smallest_seq, SeqNo(7));
    let max_seq = entries
        .iter()
        .map(|(k, _)| parse_internal_key(k).unwrap().seq)
        .max();
    assert_eq!(Some(p.largest_seq), max_seq);
    // The range tombstone starts before every point key; the last point key is the largest.
    assert_eq!(
        p.smallest_key,
        internal_key(b"a", SeqNo(7), ValueKind::RangeDelete)
    );
    assert_eq!(&p.largest_key, &entries.last().unwrap().0);
    assert_eq!(
        p.file_size,
        fs.file_size(&table_path(&dir(), FileNumber(1))).unwrap()
    );
    assert!(p.index_size > 0 && p.filter_size > 0 && p.data_size > 0);
}

#[test]
fn iterate_10k_both_directions_both_compressions() {
    for c in [Compression::None, Compression::Zstd] {
        let fs = new_fs();
        let entries = gen_entries(6000, 3, 30, 3);
        assert!(entries.len() >= 10_000);
        build(&fs, 1, &entries, &[], opts(4096, c));
        let t = open(&fs, 1, None).unwrap();
        assert_eq!(scan_fwd(&t).unwrap(), entries);
        assert_eq!(scan_back(&t).unwrap(), entries);
    }
}

/// Index of the first entry `>= t`, and of the last entry `<= t`.
fn model_seek(entries: &[Entry], t: &[u8]) -> (Option<usize>, Option<usize>) {
    let ge = entries.partition_point(|(k, _)| compare_internal(k, t) == Ordering::Less);
    let gt = entries.partition_point(|(k, _)| compare_internal(k, t) != Ordering::Greater);
    ((ge < entries.len()).then_some(ge), gt.checked_sub(1))
}

#[test]
fn seek_and_seek_for_prev_at_every_boundary() {
    let fs = new_fs();
    let entries = gen_entries(300, 3, 40, 4);
    // Restart interval 4 and small blocks: many block and restart boundaries.
    let o = TableOptions {
        block_size: 300,
        restart_interval: 4,
        ..TableOptions::default()
    };
    build(&fs, 1, &entries, &[], o);
    let t = open(&fs, 1, None).unwrap();
    let mut targets: Vec<Vec<u8>> = vec![b"".to_vec(), lookup_key(b"", SeqNo(0))];
    for (k, _) in &entries {
        let p = parse_internal_key(k).unwrap();
        targets.push(k.clone());
        targets.push(lookup_key(p.user_key, p.seq));
        targets.push(lookup_key(p.user_key, SeqNo(p.seq.0 - 1)));
        targets.push(lookup_key(p.user_key, SeqNo(p.seq.0 + 1)));
        targets.push(lookup_key(&[p.user_key, b"\0"].concat(), SeqNo::MAX));
    }
    targets.push(lookup_key(b"zzzz", SeqNo(0)));
    let mut it = t.iter();
    for target in &targets {
        let (ge, le) = model_seek(&entries, target);
        it.seek(target).unwrap();
        assert_eq!(
            it.valid().then(|| it.key().to_vec()),
            ge.map(|i| entries[i].0.clone())
        );
        if let Some(i) = ge {
            // Step both ways from the seek position.
            it.prev().unwrap();
            assert_eq!(
                it.valid().then(|| it.key()),
                i.checked_sub(1).map(|j| &entries[j].0[..])
            );
            if it.valid() {
                it.next().unwrap();
            } else {
                it.seek(target).unwrap();
            }
            it.next().unwrap();
            assert_eq!(
                it.valid().then(|| it.key()),
                entries.get(i + 1).map(|e| &e.0[..])
            );
        }
        it.seek_for_prev(target).unwrap();
        assert_eq!(
            it.valid().then(|| it.key().to_vec()),
            le.map(|i| entries[i].0.clone())
        );
        if let Some(i) = le {
            it.next().unwrap();
            assert_eq!(
                it.valid().then(|| it.key()),
                entries.get(i + 1).map(|e| &e.0[..])
            );
        }
    }
}

#[test]
fn huge_value_gets_its_own_block() {
    let fs = new_fs();
    let big: Vec<u8> = (0..(1 << 20)).map(|i| (i % 251) as u8).collect();
    let mut entries = Vec::new();
    for i in 0..40 {
        let v = if i == 20 { big.clone() } else { vec![b'v'; 10] };
        entries.push((internal_key(&uk(i), SeqNo(5), ValueKind::Put), v));
    }
    for c in [Compression::None, Compression::Zstd] {
        build(&fs, 1, &entries, &[], opts(4096, c));
        let cache = Arc::new(BlockCache::new(8 << 20));
        let t = open(&fs, 1, Some(cache.clone())).unwrap();
        // The neighbours live in small blocks.
        assert_eq!(get(&t, &uk(19), 9).unwrap().unwrap().2, vec![b'v'; 10]);
        assert_eq!(get(&t, &uk(21), 9).unwrap().unwrap().2, vec![b'v'; 10]);
        assert!(cache.usage() < 16 << 10, "usage {}", cache.usage());
        assert_eq!(get(&t, &uk(20), 9).unwrap().unwrap().2, big);
        assert_eq!(scan_fwd(&t).unwrap(), entries);
        assert_eq!(scan_back(&t).unwrap(), entries);
    }
}

#[test]
fn range_tombstones_round_trip() {
    let fs = new_fs();
    let entries = gen_entries(50, 1, 10, 5);
    let dels: Vec<(&[u8], &[u8], u64)> = vec![
        (b"m", b"q", 9),
        (b"a", b"c", 3),
        (b"m", b"z", 12),
        (b"key", b"key1", 1),
    ];
    let p = build(&fs, 1, &entries, &dels, opts(256, Compression::Zstd));
    let t = open(&fs, 1, None).unwrap();
    let got = t.range_tombstones().unwrap();
    let want: Vec<RangeTombstone> = vec![
        (b"a".to_vec(), b"c".to_vec(), SeqNo(3)),
        (b"key".to_vec(), b"key1".to_vec(), SeqNo(1)),
        (b"m".to_vec(), b"z".to_vec(), SeqNo(12)),
        (b"m".to_vec(), b"q".to_vec(), SeqNo(9)),
    ];
    assert_eq!(got, want);
    assert_eq!(t.range_tombstone_slice(), &want[..]);
    assert_eq!(p.num_range_deletions, 4);
    assert_eq!(
        p.smallest_key,
        internal_key(b"a", SeqNo(3), ValueKind::RangeDelete)
    );
    assert_eq!(
        p.largest_key,
        internal_key(b"z", SeqNo::MAX, ValueKind::RangeDelete)
    );
    // Range tombstones are not point entries.
    assert_eq!(scan_fwd(&t).unwrap(), entries);

    // A table holding only range tombstones.
    let p = build(&fs, 2, &[], &dels, TableOptions::default());
    assert_eq!(p.num_entries, 0);
    let t = open(&fs, 2, None).unwrap();
    assert_eq!(t.range_tombstones().unwrap(), want);
    assert!(scan_fwd(&t).unwrap().is_empty());
    assert_eq!(get(&t, b"m", u64::MAX).unwrap(), None);
    assert_eq!((p.smallest_seq, p.largest_seq), (SeqNo(1), SeqNo(12)));
}

#[test]
fn empty_table() {
    let fs = new_fs();
    let p = build(&fs, 1, &[], &[], TableOptions::default());
    assert_eq!(p.num_entries, 0);
    assert!(p.smallest_key.is_empty() && p.largest_key.is_empty());
    let t = open(&fs, 1, None).unwrap();
    assert!(scan_fwd(&t).unwrap().is_empty());
    assert!(scan_back(&t).unwrap().is_empty());
    let mut it = t.iter();
    it.seek(b"x").unwrap();
    assert!(!it.valid());
    it.seek_for_prev(b"x").unwrap();
    assert!(!it.valid());
    assert_eq!(get(&t, b"x", 5).unwrap(), None);
}

#[test]
fn builder_rejects_bad_input() {
    let fs = new_fs();
    let f = fs.create(Path::new("/t.sst")).unwrap();
    let mut b = TableBuilder::new(f, TableOptions::default());
    let k5 = internal_key(b"b", SeqNo(5), ValueKind::Put);
    b.add(&k5, b"v").unwrap();
    let invalid = |r: Result<(), Error>| matches!(r, Err(Error::InvalidArgument(_)));
    assert!(invalid(b.add(&k5, b"again")));
    assert!(invalid(
        b.add(&internal_key(b"b", SeqNo(6), ValueKind::Put), b"")
    ));
    assert!(invalid(
        b.add(&internal_key(b"a", SeqNo(1), ValueKind::Put), b"")
    ));
    assert!(invalid(b.add(b"short", b"")));
    assert!(invalid(b.add(
        &internal_key(b"c", SeqNo(1), ValueKind::RangeDelete),
        b"d"
    )));
    assert!(invalid(b.add_range_tombstone(b"b", b"b", SeqNo(1))));
    assert!(invalid(b.add_range_tombstone(b"c", b"b", SeqNo(1))));
    assert!(invalid(b.add_range_tombstone(
        b"a",
        b"b",
        SeqNo(SeqNo::MAX.0 + 1)
    )));
    // The same user key at an older sequence is fine.
    b.add(&internal_key(b"b", SeqNo(4), ValueKind::Delete), b"")
        .unwrap();
    assert_eq!(b.num_entries(), 2);
    assert!(b.estimated_size() > 0);
    b.abandon();
}

#[test]
fn bloom_filter_in_tables() {
    let fs = new_fs();
    let entries = gen_entries(1000, 2, 8, 6);
    build(&fs, 1, &entries, &[], TableOptions::default());
    let t = open(&fs, 1, None).unwrap();
    for i in 0..1000 {
        assert!(t.may_contain(&uk(i)));
    }
    let fp = (0..10_000)
        .filter(|i| t.may_contain(format!("absent{i}").as_bytes()))
        .count();
    assert!(fp < 300, "{fp} false positives in 10000");
    // No filter: everything may be there, and gets still answer correctly.
    let no_bloom = TableOptions {
        bloom_bits_per_key: 0,
        ..TableOptions::default()
    };
    let p = build(&fs, 2, &entries, &[], no_bloom);
    assert_eq!(p.filter_size, 0);
    let t = open(&fs, 2, None).unwrap();
    assert!(t.may_contain(b"absent"));
    assert_eq!(get(&t, b"absent", u64::MAX).unwrap(), None);
    assert_eq!(
        get(&t, &uk(3), u64::MAX).unwrap(),
        model_get(&entries, &uk(3), u64::MAX)
    );
}

#[test]
fn block_cache_counts_hits_and_misses() {
    let fs = new_fs();
    let entries = gen_entries(500, 1, 20, 7);
    build(&fs, 1, &entries, &[], opts(1024, Compression::Zstd));
    let cache = Arc::new(BlockCache::new(1 << 20));
    let t = open(&fs, 1, Some(cache.clone())).unwrap();
    assert_eq!((cache.hits(), cache.misses()), (0, 0));
    let k = uk(10);
    assert!(get(&t, &k, u64::MAX).unwrap().is_some());
    assert_eq!((cache.hits(), cache.misses()), (0, 1));
    assert!(get(&t, &k, u64::MAX).unwrap().is_some());
    assert_eq!((cache.hits(), cache.misses()), (1, 1));
    assert!(cache.usage() > 1000);
    assert_eq!(cache.len(), 1);
    // A full scan misses once per block and re-reads nothing twice.
    assert_eq!(scan_fwd(&t).unwrap(), entries);
    let blocks = cache.len() as u64;
    assert!(blocks > 5);
    assert_eq!(cache.misses(), blocks);
    assert_eq!(scan_fwd(&t).unwrap(), entries);
    assert_eq!(cache.misses(), blocks);
    assert!(cache.hits() >= blocks);
    // Bloom-filtered gets do not touch the cache.
    let before = (cache.hits(), cache.misses());
    let _ = get(&t, b"absent-key", u64::MAX).unwrap();
    let after = (cache.hits(), cache.misses());
    assert!(after == before || after.0 + after.1 == before.0 + before.1 + 1);
}

#[test]
fn table_cache_opens_once_and_evicts() {
    let fs = Arc::new(new_fs());
    fs.create_dir_all(&dir()).unwrap();
    let entries = gen_entries(20, 1, 5, 8);
    for n in 1..=3 {
        build(&fs, n, &entries, &[], TableOptions::default());
    }
    let block_cache = Arc::new(BlockCache::new(1 << 20));
    let tc = TableCache::new(
        fs.clone(),
        dir(),
        ReadMode::Pread,
        Some(block_cache.clone()),
        10,
    );
    let a = tc.get(FileNumber(1)).unwrap();
    let b = tc.get(FileNumber(1)).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(a.number(), FileNumber(1));
    let c = tc.get(FileNumber(2)).unwrap();
    assert!(!Arc::ptr_eq(&a, &c));
    assert_eq!(tc.len(), 2);
    tc.evict(FileNumber(1));
    assert_eq!(tc.len(), 1);
    let a2 = tc.get(FileNumber(1)).unwrap();
    assert!(!Arc::ptr_eq(&a, &a2));
    // The evicted handle keeps working.
    assert_eq!(scan_fwd(&a).unwrap(), entries);
    assert!(matches!(tc.get(FileNumber(99)), Err(Error::Io { .. })));
    assert!(tc.block_cache().is_some());
}

#[test]
fn table_cache_is_bounded() {
    let fs = Arc::new(new_fs());
    let entries = gen_entries(5, 1, 5, 9);
    for n in 1..=40 {
        build(&fs, n, &entries, &[], TableOptions::default());
    }
    let tc = TableCache::new(fs.clone(), dir(), ReadMode::Pread, None, 8);
    for round in 0..3 {
        for n in 1..=40 {
            let t = tc.get(FileNumber(n)).unwrap();
            assert_eq!(t.number(), FileNumber(n), "round {round}");
        }
    }
    assert!(tc.len() <= 8, "{} tables open", tc.len());
}

#[test]
fn not_a_table_and_newer_version() {
    let fs = new_fs();
    let path = table_path(&dir(), FileNumber(1));
    let mut f = fs.create(&path).unwrap();
    f.append(&[0u8; 100]).unwrap();
    drop(f);
    assert!(open(&fs, 1, None).unwrap_err().is_corruption());
    let mut f = fs.create(&path).unwrap();
    f.append(b"tiny").unwrap();
    drop(f);
    assert!(open(&fs, 1, None).unwrap_err().is_corruption());

    build(
        &fs,
        2,
        &gen_entries(10, 1, 5, 10),
        &[],
        TableOptions::default(),
    );
    let path2 = table_path(&dir(), FileNumber(2));
    let bytes = fs.read_all(&path2).unwrap().to_vec();
    let n = bytes.len() - 64;
    let mut footer = Footer::decode(&bytes[n..]).unwrap();
    footer.format_version = FORMAT_VERSION + 1;
    let mut f = fs.create(&path2).unwrap();
    f.append(&bytes[..n]).unwrap();
    f.append(&footer.encode().unwrap()).unwrap();
    drop(f);
    assert!(matches!(
        open(&fs, 2, None),
        Err(Error::UnsupportedVersion { found: 2, .. })
    ));
}

/// Everything a reader can be asked, compared with the model. Ok(()) only if every answer is
/// exactly right; the first error is returned as is.
fn check_all(fs: &MemFs, entries: &[Entry], dels: &[RangeTombstone]) -> Result<(), Error> {
    let t = open(fs, 1, None)?;
    assert_eq!(t.range_tombstones()?, dels);
    assert_eq!(scan_fwd(&t)?, entries);
    assert_eq!(scan_back(&t)?, entries);
    let mut seen: Vec<Vec<u8>> = entries.iter().map(|(k, _)| user_key(k).to_vec()).collect();
    seen.dedup();
    for k in &seen {
        for snap in [u64::MAX, 1040] {
            assert_eq!(get(&t, k, snap)?, model_get(entries, k, snap));
        }
    }
    Ok(())
}

#[test]
fn every_flipped_byte_is_caught_or_harmless() {
    for c in [Compression::None, Compression::Zstd] {
        let fs = new_fs();
        let entries = gen_entries(40, 2, 24, 11);
        let o = TableOptions {
            block_size: 256,
            restart_interval: 4,
            compression: c,
            ..TableOptions::default()
        };
        build(
            &fs,
            1,
            &entries,
            &[(b"key000010", b"key000020", 1001)],
            o.clone(),
        );
        let path = table_path(&dir(), FileNumber(1));
        let len = fs.file_size(&path).unwrap();
        assert!((1500..=4096).contains(&len), "table is {len} bytes");
        let dels = vec![(b"key000010".to_vec(), b"key000020".to_vec(), SeqNo(1001))];
        check_all(&fs, &entries, &dels).unwrap();
        let mut caught = 0;
        for offset in 0..len {
            for xor in [0x01, 0xff] {
                fs.corrupt_byte(&path, offset, xor).unwrap();
                match check_all(&fs, &entries, &dels) {
                    Ok(()) => {}
                    Err(e) if e.is_corruption() => caught += 1,
                    Err(e) => panic!("{c:?} offset {offset}: unexpected error {e}"),
                }
                fs.corrupt_byte(&path, offset, xor).unwrap();
            }
        }
        // Every byte is under a checksum, so every flip is noticed somewhere.
        assert_eq!(caught, 2 * len, "{c:?}");
        for cut in 0..len {
            fs.truncate(&path, cut).unwrap();
            assert!(
                open(&fs, 1, None).unwrap_err().is_corruption(),
                "cut at {cut}"
            );
            build(
                &fs,
                1,
                &entries,
                &[(b"key000010", b"key000020", 1001)],
                o.clone(),
            );
        }
    }
}

#[test]
fn corruption_errors_name_the_file_and_block() {
    let fs = new_fs();
    let entries = gen_entries(200, 1, 20, 12);
    build(&fs, 1, &entries, &[], opts(512, Compression::None));
    let path = table_path(&dir(), FileNumber(1));
    // Damage the first data block: open succeeds (it reads only meta blocks), reads fail.
    fs.corrupt_byte(&path, 3, 0x40).unwrap();
    let t = open(&fs, 1, None).unwrap();
    match get(&t, &uk(0), u64::MAX) {
        Err(Error::Corruption { file, offset, .. }) => {
            assert_eq!(file, path);
            assert_eq!(offset, 0);
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    let mut it = t.iter();
    assert!(it.seek_to_first().unwrap_err().is_corruption());
    assert!(!it.valid());
    // Later blocks still read.
    assert_eq!(
        get(&t, &uk(150), u64::MAX).unwrap(),
        model_get(&entries, &uk(150), u64::MAX)
    );
}

#[test]
fn gets_return_zero_copy_values_from_cached_blocks() {
    let fs = new_fs();
    let entries = gen_entries(50, 1, 30, 13);
    build(&fs, 1, &entries, &[], opts(4096, Compression::None));
    let cache = Arc::new(BlockCache::new(1 << 20));
    let t = open(&fs, 1, Some(cache)).unwrap();
    let k = user_key(&entries[5].0).to_vec();
    let (_, _, a) = t.get(&k, SeqNo::MAX).unwrap().unwrap();
    let (_, _, b) = t.get(&k, SeqNo::MAX).unwrap().unwrap();
    assert_eq!(
        a.as_ptr(),
        b.as_ptr(),
        "both values point into the one cached block"
    );
    let _ = Bytes::new();
}

/// Throughput smoke check for the read hot path (run by hand:
/// `cargo test -p lsm-core --lib sstable::tests::random_get_throughput -- --ignored --nocapture`).
#[test]
#[ignore]
fn random_get_throughput() {
    let fs = new_fs();
    let n = 200_000;
    let entries: Vec<Entry> = (0..n)
        .map(|i| {
            (
                internal_key(&uk(i), SeqNo(i as u64 + 1), ValueKind::Put),
                vec![b'x'; 100],
            )
        })
        .collect();
    build(&fs, 1, &entries, &[], TableOptions::default());
    for cache in [Some(Arc::new(BlockCache::new(64 << 20))), None] {
        let cached = cache.is_some();
        let t = open(&fs, 1, cache).unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        let start = std::time::Instant::now();
        let gets = 1_000_000;
        let mut found = 0;
        for _ in 0..gets {
            let k = uk(rng.gen_range(0..n));
            found += t.get(&k, SeqNo::MAX).unwrap().is_some() as usize;
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(found, gets);
        println!("cache={cached}: {:.0} gets/s", gets as f64 / secs);
    }
}
