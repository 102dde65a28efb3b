//! Model-based randomized test: thousands of random puts, deletes, batches, gets, iterations
//! and snapshot reads against a `BTreeMap` oracle, with flushes and close/reopen in between.
//!
//! Knobs: `STRATA_MODEL_SEEDS` (default 6) seeds of `STRATA_MODEL_OPS` (default 2500) ops each;
//! `STRATA_MODEL_SEED` runs one chosen seed.

mod common;

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use common::engines::{engines, open, Engine};
use common::{collect_backward, collect_forward, env_u64, expected, show, Model};
use lsm_core::db::SyncMode;
use lsm_core::fs::MemFs;
use lsm_core::store::{KeyRange, ReadAt, Snapshot, Store, StoreIter};
use lsm_core::wal::WriteBatch;
use lsm_core::KeyspaceId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn random_key(rng: &mut StdRng) -> Vec<u8> {
    let n = rng.gen_range(0..300u32);
    let mut k = format!("k{n:04}").into_bytes();
    if rng.gen_bool(0.1) {
        k.truncate(rng.gen_range(0..k.len()));
    }
    k
}

fn random_value(rng: &mut StdRng) -> Vec<u8> {
    let len = if rng.gen_bool(0.02) {
        rng.gen_range(1000..9000)
    } else {
        rng.gen_range(0..40)
    };
    (0..len).map(|_| rng.gen()).collect()
}

fn random_range(rng: &mut StdRng) -> KeyRange {
    let bound = |rng: &mut StdRng| match rng.gen_range(0..3) {
        0 => Bound::Unbounded,
        1 => Bound::Included(random_key(rng)),
        _ => Bound::Excluded(random_key(rng)),
    };
    if rng.gen_bool(0.15) {
        let k = random_key(rng);
        return KeyRange::prefix(&k[..2.min(k.len())]);
    }
    KeyRange {
        lower: bound(rng),
        upper: bound(rng),
    }
}

/// Walks a cursor with random seeks and steps in both directions, comparing with `want`.
fn random_walk(it: &mut dyn StoreIter, want: &[(Vec<u8>, Vec<u8>)], rng: &mut StdRng, ctx: &str) {
    let at = |it: &dyn StoreIter| it.valid().then(|| (it.key().to_vec(), it.value().to_vec()));
    let mut pos: Option<usize>;
    let target = random_key(rng);
    if rng.gen_bool(0.5) {
        it.seek(&target).unwrap();
        pos = Some(want.partition_point(|(k, _)| *k < target)).filter(|p| *p < want.len());
    } else {
        it.seek_for_prev(&target).unwrap();
        pos = want.partition_point(|(k, _)| *k <= target).checked_sub(1);
    }
    for step in 0..20 {
        let expect = pos.map(|p| want[p].clone());
        assert_eq!(
            at(it),
            expect,
            "{ctx}: walk step {step} after target {target:?}"
        );
        if pos.is_none() {
            break;
        }
        if rng.gen_bool(0.5) {
            it.next().unwrap();
            pos = pos.map(|p| p + 1).filter(|p| *p < want.len());
        } else {
            it.prev().unwrap();
            pos = pos.and_then(|p| p.checked_sub(1));
        }
    }
}

fn check_reads(
    db: &dyn Store,
    model: &Model,
    keyspaces: &[KeyspaceId],
    snap: Option<&Snapshot>,
    rng: &mut StdRng,
    ctx: &str,
) {
    let at = snap.map(ReadAt::Snapshot).unwrap_or(ReadAt::Latest);
    let ks = keyspaces[rng.gen_range(0..keyspaces.len())];
    for _ in 0..3 {
        let k = random_key(rng);
        let got = db.get(ks, &k, at).unwrap().map(|b| b.to_vec());
        assert_eq!(
            got,
            model.get(&(ks, k.clone())).cloned(),
            "{ctx}: get {k:?} in {ks}"
        );
    }
    let range = random_range(rng);
    let want = expected(model, ks, &range);
    let mut it = db.iter(ks, range.clone(), at).unwrap();
    if rng.gen_bool(0.5) {
        let got = collect_forward(&mut *it);
        assert_eq!(show(&got), show(&want), "{ctx}: forward scan of {range:?}");
        assert_eq!(got, want);
    } else {
        let got = collect_backward(&mut *it);
        assert_eq!(show(&got), show(&want), "{ctx}: backward scan of {range:?}");
        assert_eq!(got, want);
    }
    random_walk(&mut *it, &want, rng, ctx);
}

fn run(engine: Engine, seed: u64, ops: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let fs = MemFs::new();
    let dir = Path::new("/db");
    let open =
        |rng: &mut StdRng| open(engine, Arc::new(fs.clone()), dir, SyncMode::Never, rng).unwrap();
    let mut db = open(&mut rng);
    let mut model = Model::new();
    let mut keyspaces = vec![KeyspaceId::DEFAULT];
    let mut snaps: Vec<(Snapshot, Model)> = Vec::new();
    let mut reopens = 0;
    for step in 0..ops {
        let ctx = format!("{engine:?} seed {seed} step {step}");
        let ks = keyspaces[rng.gen_range(0..keyspaces.len())];
        match rng.gen_range(0..100) {
            0..=29 => {
                let (k, v) = (random_key(&mut rng), random_value(&mut rng));
                let mut b = WriteBatch::new();
                b.put(ks, &k, &v);
                db.write(b).unwrap();
                model.insert((ks, k), v);
            }
            30..=39 => {
                let k = random_key(&mut rng);
                let mut b = WriteBatch::new();
                b.delete(ks, &k);
                db.write(b).unwrap();
                model.remove(&(ks, k));
            }
            40..=49 => {
                let mut b = WriteBatch::new();
                let mut staged = model.clone();
                for _ in 0..rng.gen_range(1..12) {
                    let ks = keyspaces[rng.gen_range(0..keyspaces.len())];
                    let k = random_key(&mut rng);
                    let choice = rng.gen_range(0..100);
                    if choice < 65 {
                        let v = random_value(&mut rng);
                        b.put(ks, &k, &v);
                        staged.insert((ks, k), v);
                    } else if choice < 90 {
                        b.delete(ks, &k);
                        staged.remove(&(ks, k));
                    } else {
                        // A range delete of up to ~30 keys.
                        let end =
                            format!("{}{:02}", String::from_utf8_lossy(&k), rng.gen_range(0..99))
                                .into_bytes();
                        let end = if rng.gen_bool(0.5) {
                            end
                        } else {
                            random_key(&mut rng)
                        };
                        if k < end {
                            b.delete_range(ks, &k, &end);
                            let doomed: Vec<_> = staged
                                .range((ks, k.clone())..(ks, end.clone()))
                                .map(|(key, _)| key.clone())
                                .collect();
                            for d in doomed {
                                staged.remove(&d);
                            }
                        }
                    }
                }
                db.write(b).unwrap();
                model = staged;
            }
            50..=74 => check_reads(&*db, &model, &keyspaces, None, &mut rng, &ctx),
            75..=79 => {
                if snaps.len() < 4 {
                    snaps.push((db.snapshot(), model.clone()));
                }
            }
            80..=86 => {
                if !snaps.is_empty() {
                    let i = rng.gen_range(0..snaps.len());
                    let (s, m) = &snaps[i];
                    check_reads(
                        &*db,
                        m,
                        &keyspaces,
                        Some(s),
                        &mut rng,
                        &format!("{ctx} snapshot {i}"),
                    );
                }
            }
            87..=89 => {
                if !snaps.is_empty() {
                    let i = rng.gen_range(0..snaps.len());
                    snaps.swap_remove(i);
                }
            }
            90..=93 => db.flush().unwrap(),
            94..=96 => {
                snaps.clear();
                db.close().unwrap();
                drop(db);
                db = open(&mut rng);
                reopens += 1;
            }
            _ => {
                if keyspaces.len() < 3 {
                    let name = format!("ks{}", keyspaces.len());
                    let id = db.create_keyspace(&name).unwrap();
                    keyspaces.push(id);
                }
            }
        }
    }
    // Final: reopen and compare everything.
    snaps.clear();
    let st = db.stats();
    eprintln!(
        "{engine:?} seed {seed}: {reopens} reopens; since the last: {} flushes, {} compactions ({} trivial moves), levels {:?}",
        st.flushes, st.compactions, st.trivial_moves, st.levels
    );
    drop(db);
    let db = open(&mut rng);
    for ks in &keyspaces {
        let mut it = db.iter(*ks, KeyRange::all(), ReadAt::Latest).unwrap();
        assert_eq!(
            collect_forward(&mut *it),
            expected(&model, *ks, &KeyRange::all()),
            "{engine:?} seed {seed}: final state of {ks}"
        );
    }
    assert!(
        reopens > 0 || ops < 200,
        "the run should have reopened at least once"
    );
}

#[test]
fn model_based_random_operations_with_reopen() {
    let ops = env_u64("STRATA_MODEL_OPS", 2500);
    for engine in engines() {
        if let Ok(seed) = std::env::var("STRATA_MODEL_SEED") {
            run(engine, seed.parse().expect("numeric seed"), ops);
            continue;
        }
        for seed in 0..env_u64("STRATA_MODEL_SEEDS", 6) {
            run(engine, seed, ops);
        }
    }
}
