//! Caches, damaged files, and the read hot path.

use super::*;

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

/// Rewrites table 1's index with `entries` (validly checksummed) and returns what `open` says.
fn open_with_index(fs: &MemFs, entries: &[(Vec<u8>, Vec<u8>)]) -> Result<Arc<Table>, Error> {
    let path = table_path(&dir(), FileNumber(1));
    let bytes = fs.read_all(&path).unwrap().to_vec();
    let mut footer = Footer::decode(&bytes[bytes.len() - 64..]).unwrap();
    let mut b = block_builder::BlockBuilder::new(1);
    for (k, v) in entries {
        b.add(k, v);
    }
    let payload = b.finish().to_vec();
    let keep = footer.index.offset as usize;
    footer.index.size = payload.len() as u64;
    let mut f = fs.create(&path).unwrap();
    f.append(&bytes[..keep]).unwrap();
    f.append(&payload).unwrap();
    f.append(&format::block_trailer(&payload, Compression::None))
        .unwrap();
    f.append(&footer.encode().unwrap()).unwrap();
    drop(f);
    open(fs, 1, None)
}

#[test]
fn checksummed_but_inconsistent_index_is_corruption() {
    let fs = new_fs();
    let entries = gen_entries(100, 1, 20, 14);
    build(&fs, 1, &entries, &[], opts(512, Compression::None));
    let t = open(&fs, 1, None).unwrap();
    let index_offset = {
        let path = table_path(&dir(), FileNumber(1));
        let bytes = fs.read_all(&path).unwrap();
        Footer::decode(&bytes[bytes.len() - 64..])
            .unwrap()
            .index
            .offset
    };
    drop(t);
    let handle = |offset: u64, size: u64| {
        let mut v = Vec::new();
        BlockHandle { offset, size }.encode_to(&mut v);
        v
    };
    let k1 = internal_key(b"a", SeqNo(1), ValueKind::Put);
    let k2 = internal_key(b"b", SeqNo(1), ValueKind::Put);
    let cases: Vec<Vec<(Vec<u8>, Vec<u8>)>> = vec![
        // A data block reaching into the meta blocks.
        vec![(k1.clone(), handle(0, index_offset))],
        // Keys out of order.
        vec![(k2.clone(), handle(0, 10)), (k1.clone(), handle(20, 10))],
        // Overlapping blocks.
        vec![(k1.clone(), handle(0, 10)), (k2.clone(), handle(5, 10))],
        // A handle that does not decode.
        vec![(k1.clone(), vec![0x80])],
        vec![(k1.clone(), handle(u64::MAX, 1))],
    ];
    for (i, index) in cases.iter().enumerate() {
        build(&fs, 1, &entries, &[], opts(512, Compression::None));
        let e = open_with_index(&fs, index).unwrap_err();
        match e {
            Error::Corruption { offset, .. } => assert_eq!(offset, index_offset, "case {i}"),
            other => panic!("case {i}: {other}"),
        }
    }
    // A consistent index over fewer blocks still opens and reads what it indexes.
    build(&fs, 1, &entries, &[], opts(512, Compression::None));
    let t = open_with_index(&fs, &[]).unwrap();
    assert!(scan_fwd(&t).unwrap().is_empty());
}

#[test]
fn concurrent_readers_share_table_and_cache() {
    let fs = Arc::new(new_fs());
    let entries = Arc::new(gen_entries(500, 2, 30, 15));
    build(&fs, 1, &entries, &[], opts(512, Compression::Zstd));
    // A cache smaller than the table, so blocks are evicted while others read them.
    let cache = Arc::new(BlockCache::new(8 << 10));
    let tc = Arc::new(TableCache::new(fs, dir(), ReadMode::Pread, Some(cache), 4));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (tc, entries) = (Arc::clone(&tc), Arc::clone(&entries));
            std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(t);
                for _ in 0..2000 {
                    let table = tc.get(FileNumber(1)).unwrap();
                    let k = uk(rng.gen_range(0..520));
                    let snap = rng.gen_range(990..1110);
                    assert_eq!(
                        get(&table, &k, snap).unwrap(),
                        model_get(&entries, &k, snap)
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
