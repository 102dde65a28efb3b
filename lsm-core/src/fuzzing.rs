//! Entry points for fuzzers, and for the tests that replay their corpora.
//!
//! Each function takes arbitrary bytes and exercises one decoder (or, for [`op_sequence`], the
//! whole engine) the way a damaged or hostile file would. The contract they check: never panic,
//! never hang, and where a decoder accepts its input, re-encoding gives back what it decoded.
//! `fuzz/fuzz_targets/*.rs` call them under cargo-fuzz; `tests/fuzz_corpus.rs` calls them over
//! the committed corpus and thousands of seeded random inputs, so CI exercises them without
//! cargo-fuzz.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;

use crate::db::{LsmDb, Options, SyncMode};
use crate::fs::{CrashMode, FaultFs, FaultKind, FaultRule, FileSystem, MemFs};
use crate::iter::InternalIterator;
use crate::key::{compare_internal, internal_key, parse_internal_key};
use crate::manifest::VersionEdit;
use crate::sstable::{Block, Footer, Table};
use crate::store::{KeyRange, ReadAt, Store};
use crate::types::{FileNumber, KeyspaceId, SeqNo, ValueKind};
use crate::wal::{LogReader, TailPolicy, WriteBatch};

fn path() -> PathBuf {
    PathBuf::from("fuzz-input")
}

/// The WAL reader under every damage policy, and the batch decoder on whatever records it
/// returns.
pub fn wal_log(data: &[u8]) {
    for policy in [
        TailPolicy::Strict,
        TailPolicy::TolerateTornTail,
        TailPolicy::StopAtDamage,
    ] {
        let mut r = LogReader::new(Bytes::copy_from_slice(data), path(), policy);
        while let Ok(Some((offset, rec))) = r.next_record() {
            write_batch_at(&rec, offset);
        }
    }
}

/// The write-batch decoder: an accepted batch re-encodes to the same bytes.
pub fn write_batch(data: &[u8]) {
    write_batch_at(data, 0);
}

fn write_batch_at(data: &[u8], offset: u64) {
    let Ok(b) = WriteBatch::from_bytes(data.to_vec(), &path(), offset) else {
        return;
    };
    let mut again = WriteBatch::new();
    for op in b.iter() {
        let Ok(op) = op else {
            panic!("a validated batch failed to iterate");
        };
        match op.kind {
            ValueKind::Put => again.put(op.keyspace, op.key, op.value),
            ValueKind::Delete => again.delete(op.keyspace, op.key),
            ValueKind::Merge => again.merge(op.keyspace, op.key, op.value),
            ValueKind::RangeDelete => again.delete_range(op.keyspace, op.key, op.value),
        }
    }
    again.set_seq(b.seq());
    assert_eq!(again.data(), b.data(), "batch round trip");
}

/// The block decoder and its cursor in both directions, with seeks to keys taken from the input.
pub fn sst_block(data: &[u8]) {
    let Ok(block) = Block::decode(Bytes::copy_from_slice(data)) else {
        return;
    };
    let mut it = block.iter();
    it.seek_to_first();
    let mut forward = Vec::new();
    while it.valid() && forward.len() < 100_000 {
        forward.push(it.key().to_vec());
        it.next();
    }
    it.seek_to_last();
    let mut backward = 0;
    while it.valid() && backward < 100_000 {
        backward += 1;
        it.prev();
    }
    assert_eq!(
        forward.len(),
        backward,
        "both directions see the same entries"
    );
    for k in forward.iter().take(8) {
        it.seek(k);
        it.seek_for_prev(k);
    }
}

/// The footer decoder: an accepted footer re-encodes to the same bytes.
pub fn sst_footer(data: &[u8]) {
    if let Ok(f) = Footer::decode(data) {
        if let Ok(bytes) = f.encode() {
            let again = Footer::decode(&bytes).map(|g| g.encode().ok());
            assert!(
                matches!(again, Ok(Some(b)) if b == bytes),
                "footer round trip"
            );
        }
    }
}

/// A whole table file: open, scan both ways, point reads, range tombstones.
pub fn sst_table(data: &[u8]) {
    let fs = MemFs::new();
    let dir = Path::new("/t");
    if fs.create_dir_all(dir).is_err() {
        return;
    }
    let p = dir.join("000001.sst");
    let Ok(mut f) = fs.create(&p) else { return };
    if f.append(data).is_err() || f.sync().is_err() {
        return;
    }
    let Ok(file) = fs.open(&p, crate::fs::ReadMode::Pread) else {
        return;
    };
    let Ok(table) = Table::open(file, FileNumber(1), None) else {
        return;
    };
    let _ = table.range_tombstones();
    let mut it = table.iter();
    let mut keys = Vec::new();
    if it.seek_to_first().is_ok() {
        while it.valid() && keys.len() < 100_000 {
            keys.push(it.key().to_vec());
            if it.next().is_err() {
                break;
            }
        }
    }
    if it.seek_to_last().is_ok() {
        let mut n = 0;
        while it.valid() && n < 100_000 {
            n += 1;
            if it.prev().is_err() {
                break;
            }
        }
    }
    for k in keys.iter().take(16) {
        if let Some(p) = parse_internal_key(k) {
            let _ = table.get(p.user_key, SeqNo::MAX);
        }
    }
}

/// The version-edit decoder: an accepted edit round-trips.
pub fn manifest_edit(data: &[u8]) {
    if let Ok(e) = VersionEdit::decode(data, &path(), 0) {
        let bytes = e.encode_to_vec();
        let again = VersionEdit::decode(&bytes, &path(), 0);
        assert!(matches!(again, Ok(ref g) if *g == e), "edit round trip");
    }
}

/// Internal keys: parse/encode round trip and a consistent order.
pub fn internal_keys(data: &[u8]) {
    let (a, b) = data.split_at(data.len() / 2);
    for k in [a, b] {
        if let Some(p) = parse_internal_key(k) {
            assert_eq!(internal_key(p.user_key, p.seq, p.kind), k, "key round trip");
        }
    }
    assert_eq!(
        compare_internal(a, b),
        compare_internal(b, a).reverse(),
        "antisymmetry"
    );
    assert_eq!(compare_internal(a, a), std::cmp::Ordering::Equal);
}

/// One step of [`op_sequence`].
#[derive(Arbitrary, Debug)]
enum Op {
    Put(u8),
    Delete(u8),
    DeleteRange(u8, u8),
    Batch(Vec<(u8, Option<u8>)>),
    Get(u8),
    Scan,
    Flush,
    Compact,
    Reopen,
    /// Cut the power after this many more mutating file operations.
    Crash(u8),
}

fn key(k: u8) -> Vec<u8> {
    vec![b'k', k % 64]
}

/// An arbitrary sequence of operations (including crashes at arbitrary file operations) on a
/// small LSM database, checked against a `BTreeMap`: acknowledged writes survive, batches are
/// atomic, reads agree with the model. Returns how many operations ran.
pub fn op_sequence(data: &[u8]) -> usize {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < 200 {
        match Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    let count = ops.len().min(200);
    let dir = Path::new("/db");
    let mut mem = MemFs::new();
    let opts = |fs: Arc<dyn FileSystem>| {
        Options::new()
            .fs(fs)
            .sync_mode(SyncMode::Always)
            .memtable_size(1024)
            .target_file_size(1024)
            .max_bytes_for_level_base(4096)
            .l0_compaction_trigger(2)
    };
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut fault = FaultFs::new(Arc::new(mem.clone()));
    let Ok(mut db) = LsmDb::open(dir, opts(Arc::new(fault.clone()))) else {
        return 0;
    };
    let ks = KeyspaceId::DEFAULT;
    let mut value_counter = 0u32;
    for op in ops.into_iter().take(200) {
        let mut batch = WriteBatch::new();
        let mut next = model.clone();
        match op {
            Op::Put(k) => {
                value_counter += 1;
                let v = value_counter.to_be_bytes().to_vec();
                batch.put(ks, key(k), &v);
                next.insert(key(k), v);
            }
            Op::Delete(k) => {
                batch.delete(ks, key(k));
                next.remove(&key(k));
            }
            Op::DeleteRange(a, b) => {
                let (a, b) = (key(a), key(b));
                if a < b {
                    batch.delete_range(ks, &a, &b);
                    next.retain(|k, _| !(a <= *k && *k < b));
                }
            }
            Op::Batch(items) => {
                for (k, v) in items.into_iter().take(16) {
                    match v {
                        Some(_) => {
                            value_counter += 1;
                            let v = value_counter.to_be_bytes().to_vec();
                            batch.put(ks, key(k), &v);
                            next.insert(key(k), v);
                        }
                        None => {
                            batch.delete(ks, key(k));
                            next.remove(&key(k));
                        }
                    }
                }
            }
            Op::Get(k) => {
                if let Ok(v) = db.get(ks, &key(k), ReadAt::Latest) {
                    assert_eq!(v.map(|b| b.to_vec()), model.get(&key(k)).cloned(), "get");
                }
            }
            Op::Scan => {
                if let Ok(all) = scan(&db) {
                    assert_eq!(all, model, "scan");
                }
            }
            Op::Flush => {
                let _ = db.flush();
            }
            Op::Compact => {
                let _ = db.compact_range(ks, KeyRange::all());
            }
            Op::Reopen | Op::Crash(_) => {
                if let Op::Crash(n) = op {
                    fault.add_rule(FaultRule::new(FaultKind::PowerCut, u64::from(n)));
                } else {
                    fault.add_rule(FaultRule::new(FaultKind::PowerCut, 0));
                }
                let _ = db.close();
                drop(db);
                mem = mem.crash_image(CrashMode::KeepUnsyncedPrefix {
                    seed: u64::from(value_counter),
                });
                fault = FaultFs::new(Arc::new(mem.clone()));
                db = match LsmDb::open(dir, opts(Arc::new(fault.clone()))) {
                    Ok(db) => db,
                    Err(e) => panic!("reopen after a crash failed: {e}"),
                };
                let got = scan(&db).unwrap_or_else(|e| panic!("scan after reopen: {e}"));
                assert_eq!(got, model, "state after crash");
            }
        }
        if !batch.is_empty() {
            match db.write(batch) {
                Ok(_) => model = next,
                Err(_) => {
                    // Not acknowledged: after the next crash it may or may not be there, so
                    // resolve it now by crashing and accepting either state.
                    let _ = db.close();
                    drop(db);
                    mem = mem.crash_image(CrashMode::DropUnsynced);
                    fault = FaultFs::new(Arc::new(mem.clone()));
                    db = match LsmDb::open(dir, opts(Arc::new(fault.clone()))) {
                        Ok(db) => db,
                        Err(e) => panic!("reopen after a failed write failed: {e}"),
                    };
                    let got = scan(&db).unwrap_or_else(|e| panic!("scan after reopen: {e}"));
                    assert!(
                        got == model || got == next,
                        "failed batch is all or nothing"
                    );
                    model = got;
                }
            }
        }
    }
    count
}

fn scan(db: &LsmDb) -> crate::Result<BTreeMap<Vec<u8>, Vec<u8>>> {
    let mut it = db.iter(KeyspaceId::DEFAULT, KeyRange::all(), ReadAt::Latest)?;
    it.seek_to_first()?;
    let mut out = BTreeMap::new();
    while it.valid() {
        out.insert(it.key().to_vec(), it.value().to_vec());
        it.next()?;
    }
    Ok(out)
}
