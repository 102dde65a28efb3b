//! Stress runs of the B+ tree alone (short in CI, long by environment variable): power cuts and in-process
//! checks with a wider workload than `tests/crash.rs` — three key shapes (short, long common
//! prefixes, occasional keys that spill to overflow runs), values that spill, range deletes,
//! large batches, page sizes of 512 B to 2 KiB and tiny buffer pools — with `verify()` after
//! every step. They found the stale search index fixed in `node.rs`.
//!
//! ```text
//! STRATA_BTREE_STRESS_SEEDS=6 STRATA_BTREE_STRESS_CYCLES=1000 \
//!   cargo test --release -p lsm-core --lib btree::tests::stress
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::btree::{BTreeOptions, BTreeStore};
use crate::db::SyncMode;
use crate::fs::{CrashMode, FaultFs, FaultKind, FaultRule, FileSystem, MemFs};
use crate::store::{KeyRange, ReadAt, Store};
use crate::types::KeyspaceId;
use crate::wal::WriteBatch;

type Model = BTreeMap<(KeyspaceId, Vec<u8>), Vec<u8>>;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Clone)]
enum Op {
    Put(KeyspaceId, Vec<u8>, Vec<u8>),
    Del(KeyspaceId, Vec<u8>),
    Range(KeyspaceId, Vec<u8>, Vec<u8>),
}

fn apply(m: &Model, ops: &[Op]) -> Model {
    let mut m = m.clone();
    for op in ops {
        match op {
            Op::Put(ks, k, v) => {
                m.insert((*ks, k.clone()), v.clone());
            }
            Op::Del(ks, k) => {
                m.remove(&(*ks, k.clone()));
            }
            Op::Range(ks, lo, hi) => {
                m.retain(|(k2, key), _| !(*k2 == *ks && key >= lo && key < hi));
            }
        }
    }
    m
}

fn state(db: &BTreeStore, kss: &[KeyspaceId]) -> Model {
    let mut m = Model::new();
    for ks in kss {
        let mut it = db.iter(*ks, KeyRange::all(), ReadAt::Latest).unwrap();
        it.seek_to_first().unwrap();
        while it.valid() {
            m.insert((*ks, it.key().to_vec()), it.value().to_vec());
            it.next().unwrap();
        }
    }
    m
}

fn key(rng: &mut StdRng, style: u32) -> Vec<u8> {
    match style {
        0 => format!("key{:03}", rng.gen_range(0..150)).into_bytes(),
        1 => format!("commonprefix/{:05}", rng.gen_range(0..2000)).into_bytes(),
        _ => {
            let mut k = format!("k{:04}", rng.gen_range(0..500)).into_bytes();
            if rng.gen_bool(0.05) {
                k.extend(std::iter::repeat_n(b'x', rng.gen_range(100..900)));
            }
            k
        }
    }
}

/// How a batch's operations are drawn.
#[derive(Clone, Copy)]
struct Mix {
    /// Percent of puts; of the rest, all but 3 points are deletes, then range deletes.
    put_pct: u32,
    /// Values are `0..short_value_max` bytes, except 3% of 300 to 3000 bytes (overflow runs).
    short_value_max: usize,
}

/// Adds one random put, delete or range delete of `k` in `ks` to the batch and to `ops`; the
/// range's other end comes from `other`.
fn push_op(
    rng: &mut StdRng,
    b: &mut WriteBatch,
    ops: &mut Vec<Op>,
    ks: KeyspaceId,
    k: Vec<u8>,
    other: impl FnOnce(&mut StdRng) -> Vec<u8>,
    mix: Mix,
) {
    let r = rng.gen_range(0..100);
    if r < mix.put_pct {
        let len = if rng.gen_bool(0.03) {
            rng.gen_range(300..3000)
        } else {
            rng.gen_range(0..mix.short_value_max)
        };
        let v: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        b.put(ks, &k, &v);
        ops.push(Op::Put(ks, k, v));
    } else if r < 97 {
        b.delete(ks, &k);
        ops.push(Op::Del(ks, k));
    } else {
        let k2 = other(rng);
        let (lo, hi) = if k < k2 { (k, k2) } else { (k2, k) };
        b.delete_range(ks, &lo, &hi);
        ops.push(Op::Range(ks, lo, hi));
    }
}

fn opts(fs: Arc<dyn FileSystem>, rng: &mut StdRng) -> BTreeOptions {
    let page = [512, 1024, 2048][rng.gen_range(0..3)];
    BTreeOptions::new()
        .fs(fs)
        .sync_mode(if rng.gen_bool(0.5) {
            SyncMode::Always
        } else {
            SyncMode::Group
        })
        .page_size(page)
        .buffer_pool_bytes(rng.gen_range(8..64) * page)
}

#[test]
fn stress_power_cuts() {
    let seeds = env("STRATA_BTREE_STRESS_SEEDS", 3);
    let cycles = env("STRATA_BTREE_STRESS_CYCLES", 100);
    for seed in 0..seeds {
        let mut rng = StdRng::seed_from_u64(seed);
        let style = (seed % 3) as u32;
        let dir = Path::new("/db");
        let mut mem = MemFs::new();
        let kss = {
            let db = BTreeStore::open(dir, opts(Arc::new(mem.clone()), &mut rng)).unwrap();
            let ks = db.create_keyspace("other").unwrap();
            vec![KeyspaceId::DEFAULT, ks]
        };
        let mut model = Model::new();
        for cycle in 0..cycles {
            let fault = FaultFs::new(Arc::new(mem.clone()));
            let o = opts(Arc::new(fault.clone()), &mut rng);
            let mut in_flight = None;
            if let Ok(db) = BTreeStore::open(dir, o) {
                fault.add_rule(FaultRule::new(FaultKind::PowerCut, rng.gen_range(0..200)));
                for _ in 0..rng.gen_range(1..60) {
                    let mut b = WriteBatch::new();
                    let mut ops = Vec::new();
                    let n = if rng.gen_bool(0.1) {
                        rng.gen_range(50..400)
                    } else {
                        rng.gen_range(1..8)
                    };
                    for _ in 0..n {
                        let ks = kss[rng.gen_range(0..2)];
                        let k = key(&mut rng, style);
                        let mix = Mix {
                            put_pct: 75,
                            short_value_max: 30,
                        };
                        let other = |rng: &mut StdRng| key(rng, style);
                        push_op(&mut rng, &mut b, &mut ops, ks, k, other, mix);
                    }
                    match db.write(b) {
                        Ok(_) => model = apply(&model, &ops),
                        Err(_) => {
                            in_flight = Some(ops);
                            break;
                        }
                    }
                }
                fault.add_rule(FaultRule::new(FaultKind::PowerCut, 0));
                std::mem::forget(db);
            }
            mem = mem.crash_image(CrashMode::KeepUnsyncedPrefix { seed: rng.gen() });
            let db = BTreeStore::open(dir, opts(Arc::new(mem.clone()), &mut rng))
                .unwrap_or_else(|e| panic!("seed {seed} cycle {cycle}: reopen: {e}"));
            if let Err(e) = db.verify() {
                panic!("seed {seed} cycle {cycle}: verify: {e}");
            }
            let got = state(&db, &kss);
            if got != model {
                let with = in_flight.map(|ops| apply(&model, &ops));
                assert!(
                    Some(&got) == with.as_ref(),
                    "seed {seed} cycle {cycle}: wrong state"
                );
                model = got;
            }
            db.close().unwrap();
        }
    }
}

fn tricky_key(rng: &mut StdRng) -> Vec<u8> {
    let stems: [&[u8]; 6] = [
        b"",
        b"a",
        b"abcdefg",
        b"abcdefgh",
        b"abcdefgh\0",
        b"zz\0\0\0\0\0\0\0",
    ];
    let mut k = stems[rng.gen_range(0..stems.len())].to_vec();
    match rng.gen_range(0..10) {
        0 => k.extend(std::iter::repeat_n(b'q', rng.gen_range(100..700))),
        1..=3 => k.push(rng.gen_range(0..4)),
        4..=6 => k.extend(format!("{:03}", rng.gen_range(0..400)).as_bytes()),
        _ => {}
    }
    k
}

#[test]
fn stress_in_process() {
    let seeds = env("STRATA_BTREE_STRESS_SEEDS", 3);
    let steps = env("STRATA_BTREE_STRESS_CYCLES", 100);
    for seed in 0..seeds {
        let mut rng = StdRng::seed_from_u64(seed);
        let mem = MemFs::new();
        let mut db = BTreeStore::open("/db", opts(Arc::new(mem.clone()), &mut rng)).unwrap();
        let ks = db.create_keyspace("other").unwrap();
        let kss = vec![KeyspaceId::DEFAULT, ks];
        let mut model = Model::new();
        let mut snaps = Vec::new();
        for step in 0..steps {
            let mut b = WriteBatch::new();
            let mut ops = Vec::new();
            let n = if rng.gen_bool(0.2) {
                rng.gen_range(50..800)
            } else {
                rng.gen_range(1..8)
            };
            for _ in 0..n {
                let ks = kss[rng.gen_range(0..2)];
                let k = if rng.gen_bool(0.5) {
                    tricky_key(&mut rng)
                } else {
                    key(&mut rng, (step % 3) as u32)
                };
                let mix = Mix {
                    put_pct: 70,
                    short_value_max: 60,
                };
                push_op(&mut rng, &mut b, &mut ops, ks, k, tricky_key, mix);
            }
            db.write(b).unwrap();
            model = apply(&model, &ops);
            if rng.gen_bool(0.05) {
                snaps.push(db.snapshot());
            }
            if rng.gen_bool(0.1) {
                snaps.clear();
            }
            if let Err(e) = db.verify() {
                panic!("seed {seed} step {step}: verify: {e}");
            }
            if step % 10 == 0 {
                assert!(state(&db, &kss) == model, "seed {seed} step {step}");
            }
            if rng.gen_bool(0.05) {
                snaps.clear();
                db.close().unwrap();
                drop(db);
                db = BTreeStore::open("/db", opts(Arc::new(mem.clone()), &mut rng)).unwrap();
                assert!(state(&db, &kss) == model, "seed {seed} step {step} reopen");
            }
        }
    }
}
