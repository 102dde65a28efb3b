//! The engines every conformance suite runs on, and how each is opened with the small, stressful
//! settings tests want (tiny memtables and blocks so that flushes and compactions happen in
//! seconds; tiny pages and buffer pools so that B+ tree splits, merges, overflow pages and
//! eviction happen on a few hundred keys).

use std::path::Path;
use std::sync::Arc;

use lsm_core::btree::{BTreeOptions, BTreeStore};
use lsm_core::db::{LsmDb, Options, SyncMode};
use lsm_core::fs::FileSystem;
use lsm_core::sstable::Compression;
use lsm_core::store::Store;
use rand::rngs::StdRng;
use rand::Rng;

/// An engine kind under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The LSM tree (`lsm_core::db`).
    Lsm,
    /// The copy-on-write B+ tree (`lsm_core::btree`).
    BTree,
}

/// Every engine the suites run on; `STRATA_ENGINE=lsm` or `=btree` narrows a run to one.
pub fn engines() -> Vec<Engine> {
    let all = vec![Engine::Lsm, Engine::BTree];
    match std::env::var("STRATA_ENGINE") {
        Ok(name) => all
            .into_iter()
            .filter(|e| format!("{e:?}").eq_ignore_ascii_case(&name))
            .collect(),
        Err(_) => all,
    }
}

/// Opens `engine` on `fs` at `dir` with randomized small settings drawn from `rng`.
pub fn open(
    engine: Engine,
    fs: Arc<dyn FileSystem>,
    dir: &Path,
    sync: SyncMode,
    rng: &mut StdRng,
) -> lsm_core::Result<Box<dyn Store>> {
    match engine {
        Engine::Lsm => {
            let opts = Options::new()
                .fs(fs)
                .sync_mode(sync)
                .memtable_size(rng.gen_range(2..16) << 10)
                .block_size(rng.gen_range(128..2048))
                .compression(if rng.gen_bool(0.5) {
                    Compression::Zstd
                } else {
                    Compression::None
                })
                .block_cache_bytes(if rng.gen_bool(0.3) { 0 } else { 1 << 20 })
                // Tiny tables and levels so compactions (and trivial moves, and several levels)
                // happen within seconds.
                .target_file_size(rng.gen_range(2..12) << 10)
                .max_bytes_for_level_base(rng.gen_range(8..64) << 10)
                .level_multiplier(rng.gen_range(2..6))
                .l0_compaction_trigger(rng.gen_range(1..5));
            Ok(Box::new(LsmDb::open(dir, opts)?))
        }
        Engine::BTree => {
            // The page size only applies when the database is created.
            let page = [512, 1024, 2048][rng.gen_range(0..3)];
            let opts = BTreeOptions::new()
                .fs(fs)
                .sync_mode(sync)
                .page_size(page)
                .buffer_pool_bytes(rng.gen_range(8..64) * page);
            Ok(Box::new(BTreeStore::open(dir, opts)?))
        }
    }
}
