//! White-box fault tests on the fault-injecting file system: for one small, deterministic
//! workload (batches across two keyspaces, flushes and compactions included), inject a fault at
//! *every* file operation in turn — a power cut (with and without torn unsynced tails), a
//! failed write, a failed fsync, a full disk, a torn write — then reopen from what a power cut
//! would leave and check the model: every acknowledged batch present, the failed one
//! all-or-nothing, nothing else. After the first failed operation no later write may succeed
//! (a failed fsync is never silently retried as if it had worked).
//!
//! Knobs: `STRATA_FAULT_STRIDE` (default 1 = every operation; larger samples).

mod common;

use std::path::Path;
use std::sync::Arc;

use common::engines::{engines, open, Engine};
use common::{collect_forward, env_u64, Model};
use lsm_core::db::SyncMode;
use lsm_core::fs::{CrashMode, FaultFs, FaultKind, FaultRule, MemFs};
use lsm_core::store::{KeyRange, ReadAt, Store};
use lsm_core::wal::WriteBatch;
use lsm_core::KeyspaceId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type Ops = Vec<(KeyspaceId, Vec<u8>, Option<Vec<u8>>)>;

fn batches(keyspaces: &[KeyspaceId]) -> Vec<Ops> {
    let mut rng = StdRng::seed_from_u64(99);
    (0..40)
        .map(|b| {
            (0..rng.gen_range(1..5))
                .map(|_| {
                    let ks = keyspaces[rng.gen_range(0..keyspaces.len())];
                    let k = format!("k{:02}", rng.gen_range(0..40)).into_bytes();
                    let v = (!rng.gen_bool(0.2))
                        .then(|| format!("b{b}-{}", rng.gen::<u16>()).into_bytes());
                    (ks, k, v)
                })
                .collect()
        })
        .collect()
}

fn apply(model: &Model, ops: &Ops) -> Model {
    let mut m = model.clone();
    for (ks, k, v) in ops {
        match v {
            Some(v) => m.insert((*ks, k.clone()), v.clone()),
            None => m.remove(&(*ks, k.clone())),
        };
    }
    m
}

fn state(db: &dyn Store, keyspaces: &[KeyspaceId]) -> Model {
    let mut m = Model::new();
    for ks in keyspaces {
        for (k, v) in collect_forward(&mut *db.iter(*ks, KeyRange::all(), ReadAt::Latest).unwrap())
        {
            m.insert((*ks, k), v);
        }
    }
    m
}

fn opener(
    engine: Engine,
    fs: Arc<dyn lsm_core::fs::FileSystem>,
) -> lsm_core::Result<Box<dyn Store>> {
    // Fixed settings: the same workload must hit the same file operations every run.
    let mut rng = StdRng::seed_from_u64(5);
    open(engine, fs, Path::new("/db"), SyncMode::Always, &mut rng)
}

/// A base database with two keyspaces, synced, and its keyspace ids.
fn base(engine: Engine) -> (MemFs, Vec<KeyspaceId>) {
    let mem = MemFs::new();
    let db = opener(engine, Arc::new(mem.clone())).unwrap();
    let other = db.create_keyspace("other").unwrap();
    db.close().unwrap();
    (
        mem.crash_image(CrashMode::DropUnsynced),
        vec![KeyspaceId::DEFAULT, other],
    )
}

/// Runs the workload on `fault`; returns (acknowledged model, the failed batch if any).
fn workload(db: &dyn Store, work: &[Ops]) -> (Model, Option<Ops>, bool) {
    let mut model = Model::new();
    let mut failed: Option<Ops> = None;
    let mut wrote_after_failure = false;
    for (i, ops) in work.iter().enumerate() {
        let mut b = WriteBatch::new();
        for (ks, k, v) in ops {
            match v {
                Some(v) => b.put(*ks, k, v),
                None => b.delete(*ks, k),
            }
        }
        match db.write(b) {
            Ok(_) if failed.is_some() => wrote_after_failure = true,
            Ok(_) => model = apply(&model, ops),
            Err(_) => {
                if failed.is_none() {
                    failed = Some(ops.clone());
                }
            }
        }
        if i % 10 == 9 {
            let _ = db.flush();
        }
    }
    (model, failed, wrote_after_failure)
}

#[test]
fn a_fault_at_every_file_operation_loses_no_acknowledged_write() {
    let stride = env_u64("STRATA_FAULT_STRIDE", 1).max(1);
    for engine in engines() {
        let (base_fs, keyspaces) = base(engine);
        let work = batches(&keyspaces);
        // Measure the workload's file operations.
        let total = {
            let fs = base_fs.crash_image(CrashMode::DropUnsynced);
            let fault = FaultFs::new(Arc::new(fs));
            let db = opener(engine, Arc::new(fault.clone())).unwrap();
            let before = fault.mutating_ops();
            let (_, failed, _) = workload(&*db, &work);
            assert!(failed.is_none());
            db.close().unwrap();
            fault.mutating_ops() - before
        };
        let mut runs = 0u64;
        let kinds = [
            (FaultKind::PowerCut, Some(CrashMode::DropUnsynced)),
            (
                FaultKind::PowerCut,
                Some(CrashMode::KeepUnsyncedPrefix { seed: 1 }),
            ),
            (FaultKind::FailWrite, None),
            (FaultKind::FailSync, None),
            (FaultKind::DiskFull, None),
            (FaultKind::TornWrite, None),
        ];
        for (kind, crash) in kinds {
            let mut k = 0;
            while k < total {
                let mem = base_fs.crash_image(CrashMode::DropUnsynced);
                let fault = FaultFs::new(Arc::new(mem.clone()));
                let db = opener(engine, Arc::new(fault.clone())).unwrap();
                fault.add_rule(FaultRule::new(kind, k));
                let (model, failed, wrote_after_failure) = workload(&*db, &work);
                let ctx = format!("{engine:?} {kind:?} at op {k}");
                assert!(
                    !wrote_after_failure,
                    "{ctx}: a write succeeded after a failure"
                );
                fault.add_rule(FaultRule::new(FaultKind::PowerCut, 0));
                std::mem::forget(db);
                let image = mem.crash_image(crash.unwrap_or(CrashMode::DropUnsynced));
                let db = opener(engine, Arc::new(image))
                    .unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
                let got = state(&*db, &keyspaces);
                let ok = got == model || failed.as_ref().is_some_and(|f| got == apply(&model, f));
                assert!(
                    ok,
                    "{ctx}: state is neither the acknowledged history nor it plus the failed batch"
                );
                db.close().unwrap();
                runs += 1;
                k += stride;
            }
        }
        eprintln!("fault test on {engine:?}: {total} file operations per workload, {runs} faulted runs (6 fault kinds × every operation), all consistent");
    }
}
