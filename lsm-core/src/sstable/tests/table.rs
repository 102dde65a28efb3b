//! Building and reading tables: gets, iteration, seeks, range tombstones, bloom filters.

use super::*;

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
    let mut it = t.range_del_iter();
    it.seek_to_first().unwrap();
    let mut as_entries = Vec::new();
    while it.valid() {
        as_entries.push((it.key().to_vec(), it.value().to_vec()));
        it.next().unwrap();
    }
    let want_entries: Vec<Entry> = want
        .iter()
        .map(|(s, e, q)| (internal_key(s, *q, ValueKind::RangeDelete), e.clone()))
        .collect();
    assert_eq!(as_entries, want_entries);
    it.seek_for_prev(&internal_key(b"m", SeqNo(10), ValueKind::RangeDelete))
        .unwrap();
    assert_eq!(it.key(), &want_entries[2].0[..]);
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
    let mut rd = t.range_del_iter();
    rd.seek_to_first().unwrap();
    assert!(!rd.valid());
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
    // A RangeDelete entry is a range tombstone, whatever its position among point keys.
    b.add(&internal_key(b"a", SeqNo(1), ValueKind::RangeDelete), b"d")
        .unwrap();
    assert!(invalid(b.add(
        &internal_key(b"c", SeqNo(1), ValueKind::RangeDelete),
        b"c"
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
