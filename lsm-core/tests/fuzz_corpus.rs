//! Drives every fuzz target's logic (`lsm_core::fuzzing`) over the committed seed corpus in
//! `fuzz/corpus/<target>/` and over thousands of seeded random and mutated inputs, so CI
//! exercises the fuzzers' checks without cargo-fuzz.
//!
//! Knobs: `STRATA_FUZZ_ITERS` (default 1500 inputs per decoder target; the operation-sequence
//! target runs a tenth of that), `STRATA_WRITE_CORPUS=1` regenerates the seed corpus from a real
//! database.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsm_core::db::{LsmDb, Options, SyncMode};
use lsm_core::fs::{FileSystem, MemFs};
use lsm_core::fuzzing;
use lsm_core::store::Store;
use lsm_core::wal::WriteBatch;
use lsm_core::KeyspaceId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("wal_log", fuzzing::wal_log),
    ("write_batch", fuzzing::write_batch),
    ("sst_block", fuzzing::sst_block),
    ("sst_footer", fuzzing::sst_footer),
    ("sst_table", fuzzing::sst_table),
    ("manifest_edit", fuzzing::manifest_edit),
    ("internal_keys", fuzzing::internal_keys),
    ("op_sequence", |d| {
        fuzzing::op_sequence(d);
    }),
];

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(corpus_dir(target)) {
        for e in entries.flatten() {
            if let Ok(b) = std::fs::read(e.path()) {
                out.push(b);
            }
        }
    }
    out
}

fn mutate(rng: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    match rng.gen_range(0..4) {
        0 if !v.is_empty() => {
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..v.len());
                v[i] ^= 1 << rng.gen_range(0..8);
            }
        }
        1 if !v.is_empty() => v.truncate(rng.gen_range(0..v.len())),
        2 => {
            let at = rng.gen_range(0..=v.len());
            let extra: Vec<u8> = (0..rng.gen_range(1..16)).map(|_| rng.gen()).collect();
            v.splice(at..at, extra);
        }
        _ => {
            v = (0..rng.gen_range(0..256)).map(|_| rng.gen()).collect();
        }
    }
    v
}

#[test]
fn the_operation_sequence_seed_runs_many_operations() {
    let mixed = std::fs::read(corpus_dir("op_sequence").join("mixed")).expect("seed");
    let n = fuzzing::op_sequence(&mixed);
    assert!(n >= 20, "the seed must exercise the engine: {n} ops");
}

#[test]
fn fuzz_targets_survive_corpus_and_random_inputs() {
    if std::env::var("STRATA_WRITE_CORPUS").is_ok() {
        write_corpus();
    }
    let iters: u64 = std::env::var("STRATA_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let mut report = Vec::new();
    for (name, target) in TARGETS {
        let corpus = seeds(name);
        assert!(!corpus.is_empty(), "no committed seed corpus for {name}");
        let mut rng = StdRng::seed_from_u64(0x5eed);
        let n = if *name == "op_sequence" {
            iters / 10
        } else {
            iters
        };
        for s in &corpus {
            target(s);
        }
        for _ in 0..n {
            let base = &corpus[rng.gen_range(0..corpus.len())];
            target(&mutate(&mut rng, base));
        }
        report.push(format!("{name}: {} corpus + {n} generated", corpus.len()));
    }
    eprintln!("fuzz replay: {}", report.join("; "));
}

/// Writes seeds taken from a real small database (run with `STRATA_WRITE_CORPUS=1`).
fn write_corpus() {
    let fs = MemFs::new();
    let dir = Path::new("/db");
    {
        let db = LsmDb::open(
            dir,
            Options::new()
                .fs(Arc::new(fs.clone()))
                .sync_mode(SyncMode::Always)
                .memtable_size(4 << 10)
                .block_size(256),
        )
        .unwrap();
        for i in 0..200u32 {
            let mut b = WriteBatch::new();
            b.put(
                KeyspaceId::DEFAULT,
                format!("key{i:04}"),
                format!("value{i}"),
            );
            if i % 7 == 0 {
                b.delete(KeyspaceId::DEFAULT, format!("key{:04}", i / 2));
            }
            if i % 50 == 0 {
                b.delete_range(KeyspaceId::DEFAULT, "key0010", "key0015");
            }
            db.write(b).unwrap();
        }
        db.flush().unwrap();
        for i in 0..20u32 {
            let mut b = WriteBatch::new();
            b.put(KeyspaceId::DEFAULT, format!("late{i}"), "x");
            db.write(b).unwrap();
        }
    }
    let save = |target: &str, name: &str, data: &[u8]| {
        let d = corpus_dir(target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), data).unwrap();
    };
    for name in fs.file_names(dir) {
        let data = fs.read_all(&dir.join(&name)).unwrap();
        if name.ends_with(".log") {
            save("wal_log", &name, &data);
            let mut r = lsm_core::wal::LogReader::new(
                data.clone(),
                name.clone().into(),
                lsm_core::wal::TailPolicy::TolerateTornTail,
            );
            let mut i = 0;
            while let Ok(Some((_, rec))) = r.next_record() {
                if i < 4 {
                    save("write_batch", &format!("{name}-{i}"), &rec);
                }
                i += 1;
            }
        } else if name.ends_with(".sst") {
            save("sst_table", &name, &data);
            let n = data.len();
            save("sst_footer", &name, &data[n - 64..]);
            let mut bb = lsm_core::sstable::block_builder::BlockBuilder::new(4);
            for i in 0..40u32 {
                let k = lsm_core::key::internal_key(
                    format!("key{i:04}").as_bytes(),
                    lsm_core::SeqNo(u64::from(i) + 1),
                    lsm_core::ValueKind::Put,
                );
                bb.add(&k, format!("v{i}").as_bytes());
            }
            save("sst_block", "forty-entries", bb.finish());
        } else if name.starts_with("MANIFEST") {
            save("manifest_edit", &name, &data[7..]);
            let mut r = lsm_core::wal::LogReader::new(
                data.clone(),
                name.clone().into(),
                lsm_core::wal::TailPolicy::TolerateTornTail,
            );
            let mut i = 0;
            while let Ok(Some((_, rec))) = r.next_record() {
                save("manifest_edit", &format!("{name}-{i}"), &rec);
                i += 1;
            }
        }
    }
    save(
        "internal_keys",
        "two-keys",
        &[
            b"apple".as_slice(),
            &[1, 5, 0, 0, 0, 0, 0, 0],
            b"apricot",
            &[1, 9, 0, 0, 0, 0, 0, 0],
        ]
        .concat(),
    );
    let ops: Vec<u8> = (0..400u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    save("op_sequence", "mixed", &ops);
    save("op_sequence", "zeros", &[0u8; 64]);
}
