//! Corruption sweep: flip bytes in every file kind of a small database and check that opening
//! and reading it either returns exactly the right data or reports an error — never a panic,
//! never wrong data.
//!
//! Every byte of small files is flipped; larger files are sampled with a stride
//! (`STRATA_CORRUPTION_STRIDE`, default chosen so each file gets ~400 flips; 1 = every byte).

mod common;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

use common::engines::{engines, open, Engine};
use common::{collect_forward, env_u64, Model};
use lsm_core::db::SyncMode;
use lsm_core::fs::{CrashMode, FileSystem, MemFs};
use lsm_core::store::{KeyRange, ReadAt, Store};
use lsm_core::wal::WriteBatch;
use lsm_core::{Error, KeyspaceId};
use rand::rngs::StdRng;
use rand::SeedableRng;

const KS: KeyspaceId = KeyspaceId::DEFAULT;

fn open_db(engine: Engine, fs: &MemFs) -> lsm_core::Result<Box<dyn Store>> {
    // Fixed seed: the same small settings for the build and every reopen.
    let mut rng = StdRng::seed_from_u64(7);
    open(
        engine,
        Arc::new(fs.clone()),
        Path::new("/db"),
        SyncMode::Always,
        &mut rng,
    )
}

/// A database with flushed tables, a live WAL and a manifest, and the model of its contents.
fn build(engine: Engine) -> (MemFs, Model, Vec<Model>) {
    let fs = MemFs::new();
    let mut model = Model::new();
    // Every prefix of the WAL's history, so a dropped WAL tail can be recognised.
    let mut history = Vec::new();
    {
        let db = open_db(engine, &fs).unwrap();
        for i in 0..400u32 {
            let mut b = WriteBatch::new();
            let k = format!("key{:04}", (i * 7919) % 500).into_bytes();
            let v = format!("value-{i}-{}", "x".repeat((i % 13) as usize)).into_bytes();
            b.put(KS, &k, &v);
            model.insert((KS, k), v);
            if i % 9 == 0 {
                let d = format!("key{:04}", (i * 31) % 500).into_bytes();
                b.delete(KS, &d);
                model.remove(&(KS, d));
            }
            db.write(b).unwrap();
            if i == 300 {
                db.flush().unwrap();
            }
            if i >= 300 {
                history.push(model.clone());
            }
        }
        db.close().unwrap();
    }
    (fs.crash_image(CrashMode::DropUnsynced), model, history)
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Exact,
    Detected,
    TailDropped,
    Wrong,
}

fn read_all(engine: Engine, fs: &MemFs, model: &Model) -> Result<Model, Error> {
    let db = open_db(engine, fs)?;
    let mut got = Model::new();
    let mut it = db.iter(KS, KeyRange::all(), ReadAt::Latest)?;
    it.seek_to_first()?;
    while it.valid() {
        got.insert((KS, it.key().to_vec()), it.value().to_vec());
        it.next()?;
    }
    // Point reads too: they take the bloom/index path rather than the scan path.
    for (_, k) in model.keys() {
        let v = db.get(KS, k, ReadAt::Latest)?;
        if v.as_deref() != got.get(&(KS, k.clone())).map(|v| v.as_slice()) {
            return Ok(Model::new()); // inconsistent reads count as wrong data below
        }
    }
    let mut it = db.iter(KS, KeyRange::all(), ReadAt::Latest)?;
    let back = common::collect_backward(&mut *it);
    if back != collect_forward(&mut *db.iter(KS, KeyRange::all(), ReadAt::Latest)?) {
        return Ok(Model::new());
    }
    Ok(got)
}

/// Bytes of a file below which damage may legitimately roll the database back to an earlier
/// acknowledged state (reported as `TailDropped`): the LSM's WAL, whose damaged last record reads
/// as a torn tail; and the B+ tree's two meta pages, where a damaged newest meta page makes open
/// fall back to the previous commit (the same thing a torn meta write looks like).
fn rollback_region(engine: Engine, kind: &str, fs: &MemFs, path: &Path) -> u64 {
    match (engine, kind) {
        (Engine::Lsm, "log") => u64::MAX,
        (Engine::BTree, "btree") => {
            // Meta page: page_size is a u32 LE at byte 20.
            let bytes = fs.read_all(path).unwrap();
            2 * u64::from(u32::from_le_bytes(bytes[20..24].try_into().unwrap()))
        }
        _ => 0,
    }
}

#[test]
fn flipped_bytes_are_detected_or_harmless() {
    for engine in engines() {
        sweep(engine);
    }
}

fn sweep(engine: Engine) {
    let (base, model, history) = build(engine);
    let dir = Path::new("/db");
    let names = base.file_names(dir);
    let mut report: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    match engine {
        Engine::Lsm => {
            assert!(
                names.iter().any(|n| n.ends_with(".sst")),
                "no table in {names:?}"
            );
            assert!(
                names.iter().any(|n| n.ends_with(".log")),
                "no WAL in {names:?}"
            );
            assert!(
                names.iter().any(|n| n.starts_with("MANIFEST")),
                "no manifest in {names:?}"
            );
        }
        Engine::BTree => assert!(
            names.iter().any(|n| n == "strata.btree"),
            "no page file in {names:?}"
        ),
    }
    let stride_knob = env_u64("STRATA_CORRUPTION_STRIDE", 0);
    for name in &names {
        if name == "LOCK" {
            continue;
        }
        let kind = name
            .rsplit_once('.')
            .map(|(_, ext)| ext.to_string())
            .unwrap_or_else(|| name.split('-').next().unwrap_or(name).to_string());
        let path = dir.join(name);
        let len = base.file_size(&path).unwrap();
        let rollback_below = rollback_region(engine, &kind, &base, &path);
        let stride = if stride_knob > 0 {
            stride_knob
        } else {
            (len / 400).max(1)
        };
        let mut offset = 0;
        while offset < len {
            let fs = base.crash_image(CrashMode::DropUnsynced);
            let xor = 1u8 << (offset % 8);
            fs.corrupt_byte(&path, offset, xor).unwrap();
            let r = catch_unwind(AssertUnwindSafe(|| read_all(engine, &fs, &model)));
            let outcome = match r {
                Err(_) => panic!("panic after flipping {name} at {offset}"),
                Ok(Err(_)) => Outcome::Detected,
                Ok(Ok(got)) if got == model => Outcome::Exact,
                Ok(Ok(got)) if offset < rollback_below && history.contains(&got) => {
                    Outcome::TailDropped
                }
                Ok(Ok(_)) => Outcome::Wrong,
            };
            if std::env::var("STRATA_CORRUPTION_DEBUG").is_ok() && outcome != Outcome::Detected {
                eprintln!("{name} len {len} offset {offset}: {outcome:?}");
            }
            assert_ne!(
                outcome,
                Outcome::Wrong,
                "wrong data after flipping {name} at offset {offset}"
            );
            *report
                .entry(kind.clone())
                .or_default()
                .entry(format!("{outcome:?}"))
                .or_default() += 1;
            offset += stride;
        }
    }
    eprintln!("corruption sweep on {engine:?} (file kind -> outcome counts): {report:?}");
}
