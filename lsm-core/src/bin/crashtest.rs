//! `strata-crashtest`: the child side of the black-box crash test.
//!
//! ```text
//! strata-crashtest DIR LOG ENGINE SYNC SEED
//! ```
//! Opens the database in `DIR` (ENGINE `lsm` or `btree`; SYNC `always` or `group`) and writes random
//! batches — puts, deletes and range deletes across two keyspaces — forever. Before each batch
//! it appends `I <id> <op>;<op>;...` to `LOG` and fsyncs it; after the write is acknowledged it
//! appends `A <id>` and fsyncs again. The parent (`tests/sigkill.rs`) kills it with SIGKILL at a
//! random moment and checks the reopened database against the log: every acknowledged batch is
//! there, the one in flight is all-or-nothing, nothing else appears.
//!
//! Ops: `P <ks> <key> <value>`, `D <ks> <key>`, `R <ks> <start> <end>`; keys and values are
//! ASCII without spaces or `;`.

use std::io::Write;
use std::process::ExitCode;

use lsm_core::db::{LsmDb, Options, SyncMode};
use lsm_core::store::Store;
use lsm_core::wal::WriteBatch;
use lsm_core::KeyspaceId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strata-crashtest: {e}");
            ExitCode::from(3)
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, log, engine, sync, seed] = args.as_slice() else {
        return Err("usage: strata-crashtest DIR LOG ENGINE SYNC SEED".into());
    };
    let sync = match sync.as_str() {
        "always" => SyncMode::Always,
        "group" => SyncMode::Group,
        other => return Err(format!("unknown sync mode {other}").into()),
    };
    let seed: u64 = seed.parse()?;
    let db: Box<dyn Store> = match engine.as_str() {
        "lsm" => Box::new(LsmDb::open(
            dir,
            Options::new()
                .sync_mode(sync)
                .memtable_size(64 << 10)
                .target_file_size(32 << 10)
                .max_bytes_for_level_base(256 << 10)
                .l0_compaction_trigger(2),
        )?),
        "btree" => Box::new(lsm_core::btree::BTreeStore::open(
            dir,
            lsm_core::btree::BTreeOptions::new()
                .sync_mode(sync)
                .page_size(1024)
                .buffer_pool_bytes(256 << 10),
        )?),
        other => return Err(format!("unknown engine {other}").into()),
    };
    let other = db.create_keyspace("other")?;
    let keyspaces = [KeyspaceId::DEFAULT, other];
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let mut rng = StdRng::seed_from_u64(seed);
    for n in 0u64.. {
        let id = seed * 1_000_000 + n;
        let mut batch = WriteBatch::new();
        let mut ops = Vec::new();
        for _ in 0..rng.gen_range(1..6) {
            let ks = keyspaces[rng.gen_range(0..2)];
            let k = format!("k{:03}", rng.gen_range(0..200));
            match rng.gen_range(0..10) {
                0..=6 => {
                    let v = format!("b{id}");
                    batch.put(ks, &k, &v);
                    ops.push(format!("P {} {k} {v}", ks.0));
                }
                7..=8 => {
                    batch.delete(ks, &k);
                    ops.push(format!("D {} {k}", ks.0));
                }
                _ => {
                    let end = format!("k{:03}", rng.gen_range(0..200));
                    if k < end {
                        batch.delete_range(ks, &k, &end);
                        ops.push(format!("R {} {k} {end}", ks.0));
                    }
                }
            }
        }
        if batch.is_empty() {
            continue;
        }
        writeln!(log, "I {id} {}", ops.join(";"))?;
        log.sync_data()?;
        db.write(batch)?;
        writeln!(log, "A {id}")?;
        log.sync_data()?;
    }
    Ok(())
}
