//! Insert and read throughput of the B+ tree alone (a measurement, not a test; ignored):
//!
//! ```text
//! STRATA_BENCH_N=1000000 STRATA_BTREE_BATCH=1000 \
//!   cargo test --release -p lsm-core --lib btree::tests::bench -- --ignored --nocapture
//! ```
//! Same workload as the `btree_vs_lsm` example's B+ tree part: 16-byte keys in random order,
//! 100-byte values, `SyncMode::Never`, 512 MiB pool, on the real file system.

use std::time::Instant;

use rand::{Rng, SeedableRng};

use crate::btree::{BTreeOptions, BTreeStore};
use crate::db::SyncMode;
use crate::store::{ReadAt, Store};
use crate::types::KeyspaceId;
use crate::wal::WriteBatch;

fn key(i: u64) -> [u8; 16] {
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

#[test]
#[ignore]
fn insert_and_read_throughput() {
    let n = env("STRATA_BENCH_N", 1_000_000);
    let batch = env("STRATA_BTREE_BATCH", 1000).max(1);
    let tmp = tempfile::tempdir().unwrap();
    let db = BTreeStore::open(
        tmp.path(),
        BTreeOptions::new()
            .sync_mode(SyncMode::Never)
            .buffer_pool_bytes(512 << 20),
    )
    .unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut value = [0u8; 100];
    let start = Instant::now();
    let mut b = WriteBatch::new();
    for i in 0..n {
        rng.fill(&mut value[..]);
        b.put(KeyspaceId::DEFAULT, key(i), value);
        if (i + 1) % batch == 0 || i + 1 == n {
            db.write(std::mem::take(&mut b)).unwrap();
        }
    }
    let load = n as f64 / start.elapsed().as_secs_f64();
    db.flush().unwrap();
    let start = Instant::now();
    for _ in 0..env("STRATA_BENCH_READS", n) {
        let i = rng.gen_range(0..n);
        let v = db
            .get(KeyspaceId::DEFAULT, &key(i), ReadAt::Latest)
            .unwrap();
        assert_eq!(v.map(|v| v.len()), Some(100));
    }
    let reads = n as f64 / start.elapsed().as_secs_f64();
    let s = db.btree_stats();
    eprintln!(
        "{n} inserts, {batch} per commit: {load:.0}/s; {n} reads: {reads:.0}/s; file {:.1} MB, {} pages written, height {}",
        s.file_bytes as f64 / 1e6,
        s.pages_written,
        s.tree_height
    );
}
