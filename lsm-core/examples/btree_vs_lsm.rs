//! LSM vs B+ tree on the same workload, side by side: random inserts, then random reads (a
//! first pass that warms the caches, then a second, cached one). A measurement, not a test.
//!
//! ```text
//! cargo run --release -p lsm-core --example btree_vs_lsm -- [NUM]
//! ```
//! Defaults: 1,000,000 keys of 16 bytes with 100-byte values, `SyncMode::Never`, each engine in a
//! fresh temp directory, 512 MiB of block cache / buffer pool each. The LSM commits one put per
//! batch; the B+ tree commits batches of `STRATA_BTREE_BATCH` puts (default 1000), and also runs
//! the load with one put per commit unless `STRATA_BTREE_PER_PUT=0`.

use std::path::Path;
use std::time::Instant;

use lsm_core::btree::{BTreeOptions, BTreeStore};
use lsm_core::db::{LsmDb, Options, SyncMode};
use lsm_core::store::{ReadAt, Store};
use lsm_core::wal::WriteBatch;
use lsm_core::KeyspaceId;
use rand::{Rng, SeedableRng};

const CACHE: usize = 512 << 20;

fn key(i: u64) -> [u8; 16] {
    // A fixed permutation of 0..n spread over the key space: random order, known keys.
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ i;
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&h.to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Inserts `n` random keys, `batch` per commit; returns ops/s.
fn load(db: &dyn Store, n: u64, batch: u64) -> f64 {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut value = [0u8; 100];
    let start = Instant::now();
    let mut b = WriteBatch::new();
    for i in 0..n {
        rng.fill(&mut value[..]);
        b.put(KeyspaceId::DEFAULT, key(i), value);
        if (i + 1) % batch == 0 || i + 1 == n {
            db.write(std::mem::take(&mut b)).expect("write");
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// `n` random point reads of present keys; returns ops/s.
fn reads(db: &dyn Store, n: u64, seed: u64) -> f64 {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let start = Instant::now();
    for _ in 0..n {
        let i = rng.gen_range(0..n);
        let v = db
            .get(KeyspaceId::DEFAULT, &key(i), ReadAt::Latest)
            .expect("get");
        assert_eq!(v.map(|v| v.len()), Some(100), "key {i} missing");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn hit_rate(hits: u64, misses: u64) -> f64 {
    if hits + misses == 0 {
        0.0
    } else {
        100.0 * hits as f64 / (hits + misses) as f64
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let batch = env("STRATA_BTREE_BATCH", 1000).max(1);
    let logical = n * 116;
    println!(
        "{n} random inserts then {n} random reads; 16-byte keys, 100-byte values ({:.1} MB logical), SyncMode::Never, {} MiB cache each",
        logical as f64 / 1e6,
        CACHE >> 20
    );
    let tmp = tempfile::tempdir()?;

    // LSM.
    let lsm_dir = tmp.path().join("lsm");
    let lsm = LsmDb::open(
        &lsm_dir,
        Options::new()
            .sync_mode(SyncMode::Never)
            .block_cache_bytes(CACHE),
    )?;
    let lsm_load = load(&lsm, n, 1);
    lsm.flush()?;
    let lsm_cold = reads(&lsm, n, 7);
    let before = lsm.stats();
    let lsm_warm = reads(&lsm, n, 8);
    let after = lsm.stats();
    let lsm_bytes = dir_bytes(&lsm_dir);
    let lsm_hits = hit_rate(
        after.cache_hits - before.cache_hits,
        after.cache_misses - before.cache_misses,
    );
    let levels: Vec<u64> = after.levels.iter().map(|l| l.0).collect();
    lsm.close()?;
    drop(lsm);

    // B+ tree, batched commits.
    let bt_dir = tmp.path().join("btree");
    let bt_opts = BTreeOptions::new()
        .sync_mode(SyncMode::Never)
        .buffer_pool_bytes(CACHE);
    let bt = BTreeStore::open(&bt_dir, bt_opts.clone())?;
    let bt_load = load(&bt, n, batch);
    bt.flush()?;
    let bt_cold = reads(&bt, n, 7);
    let before = bt.btree_stats();
    let bt_warm = reads(&bt, n, 8);
    let s = bt.btree_stats();
    let bt_hits = hit_rate(
        s.pool_hits - before.pool_hits,
        s.pool_misses - before.pool_misses,
    );
    let bt_bytes = dir_bytes(&bt_dir);
    bt.close()?;
    drop(bt);

    // B+ tree, one put per commit.
    let per_put = if env("STRATA_BTREE_PER_PUT", 1) == 1 {
        let dir = tmp.path().join("btree-per-put");
        let db = BTreeStore::open(&dir, bt_opts)?;
        let rate = load(&db, n, 1);
        let st = db.btree_stats();
        db.close()?;
        Some((rate, dir_bytes(&dir), st.tree_height))
    } else {
        None
    };

    let mb = |b: u64| b as f64 / 1e6;
    println!("{:<34} {:>14} {:>14}", "", "LSM", "B+ tree");
    println!(
        "{:<34} {:>14.0} {:>14.0}",
        format!("inserts/s (B+ tree: {batch} per commit)"),
        lsm_load,
        bt_load
    );
    println!(
        "{:<34} {:>14.0} {:>14.0}",
        "reads/s, first pass", lsm_cold, bt_cold
    );
    println!(
        "{:<34} {:>14.0} {:>14.0}",
        "reads/s, cached pass", lsm_warm, bt_warm
    );
    println!(
        "{:<34} {:>14.1} {:>14.1}",
        "file size on disk, MB",
        mb(lsm_bytes),
        mb(bt_bytes)
    );
    println!(
        "{:<34} {:>14.2} {:>14.2}",
        "size / logical data",
        lsm_bytes as f64 / logical as f64,
        bt_bytes as f64 / logical as f64
    );
    println!(
        "{:<34} {:>13.1}% {:>13.1}%",
        "cache hit rate, cached pass", lsm_hits, bt_hits
    );
    println!(
        "{:<34} {:>14} {:>14}",
        "shape",
        format!("files/level {levels:?}")
            .chars()
            .take(14)
            .collect::<String>(),
        format!("height {}", s.tree_height)
    );
    println!("LSM files per level: {levels:?}");
    println!(
        "B+ tree: {} pages of {} B ({} free, {} pending), {} entries, {} page reads, {} pages written, {} fsyncs",
        s.page_count, s.page_size, s.free_pages, s.pending_pages, s.entries, s.pages_read, s.pages_written, s.syncs
    );
    if let Some((rate, bytes, height)) = per_put {
        println!(
            "B+ tree, one put per commit: {rate:.0} inserts/s, {:.1} MB on disk ({:.2}x logical), height {height}",
            mb(bytes),
            bytes as f64 / logical as f64
        );
    }
    Ok(())
}
