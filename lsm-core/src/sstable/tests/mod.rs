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

mod cache_and_damage;
mod table;
