//! The foundation's throughput figures: random puts, random gets after a flush, and the cost
//! of one memtable insert. A measurement, not a test.
//!
//! ```text
//! cargo run --release -p lsm-core --example basic_bench -- [NUM] [DIR]
//! ```
//! Defaults: 1,000,000 keys of 16 bytes, 100-byte values, `SyncMode::Never`, in a fresh temp
//! directory. `STRATA_READ_MODE=mmap` reads through memory maps; `STRATA_MEMTABLE_ROUNDS=0`
//! skips the memtable micro-measurement (so peak RSS reflects the database alone).

use std::sync::Arc;
use std::time::Instant;

use lsm_core::db::{LsmDb, Options, SyncMode};
use lsm_core::fs::ReadMode;
use lsm_core::memtable::Memtable;
use lsm_core::store::{ReadAt, Store};
use lsm_core::wal::WriteBatch;
use lsm_core::{KeyspaceId, SeqNo, ValueKind};
use rand::{Rng, SeedableRng};

fn key(i: u64) -> [u8; 16] {
    // A fixed permutation of 0..n spread over the key space, so keys are random but known.
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ i;
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&h.to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let tmp = tempfile::tempdir()?;
    let dir = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("db"));
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut value = [0u8; 100];

    // Memtable insert cost at 64 MiB of random keys (three rounds: the first also pays for
    // faulting fresh pages in).
    // STRATA_MEMTABLE_ROUNDS=0 skips this (it would dominate the peak-RSS figure).
    let rounds: u32 = std::env::var("STRATA_MEMTABLE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    for round in 1..=rounds {
        let mem = Arc::new(Memtable::new());
        let start = Instant::now();
        let mut i = 0u64;
        while mem.approximate_size() < 64 << 20 {
            rng.fill(&mut value[..]);
            mem.insert(&key(i), SeqNo(i + 1), ValueKind::Put, &value);
            i += 1;
        }
        let per = start.elapsed().as_nanos() as f64 / i as f64;
        println!("memtable round {round}: {i} random inserts to 64 MiB, {per:.0} ns/insert");
    }

    // STRATA_READ_MODE=mmap reads tables through memory maps instead of pread.
    let read_mode = match std::env::var("STRATA_READ_MODE").as_deref() {
        Ok("mmap") => ReadMode::Mmap,
        _ => ReadMode::Pread,
    };
    println!("read mode: {read_mode:?}");
    let db = LsmDb::open(
        &dir,
        Options::new()
            .sync_mode(SyncMode::Never)
            .read_mode(read_mode),
    )?;
    let ks = KeyspaceId::DEFAULT;
    let mut order: Vec<u64> = (0..n).collect();
    for j in (1..order.len()).rev() {
        order.swap(j, rng.gen_range(0..=j));
    }
    let start = Instant::now();
    let mut batch = WriteBatch::new();
    for &i in &order {
        rng.fill(&mut value[..]);
        batch.clear();
        batch.put(ks, key(i), value);
        db.write(batch.clone())?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "fillrandom: {n} puts in {secs:.2} s = {:.0} puts/s",
        n as f64 / secs
    );

    db.flush()?;
    // Let background compaction settle before measuring the shape (bounded wait).
    for _ in 0..600 {
        if db.stats().levels[0].0 < 4 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let s = db.stats();
    let logical = n * (16 + 100);
    println!(
        "after flush: {} tables, {} bytes",
        s.live_files, s.live_bytes
    );
    println!(
        "write amplification {:.2}, space amplification {:.2} (live {} bytes / logical {} bytes), stalls {:.3} s",
        s.write_amplification(),
        s.live_bytes as f64 / logical as f64,
        s.live_bytes,
        logical,
        s.stall_micros as f64 / 1e6
    );
    print!("{}", s.report());

    for j in (1..order.len()).rev() {
        order.swap(j, rng.gen_range(0..=j));
    }
    let start = Instant::now();
    let mut found = 0u64;
    for &i in &order {
        if db.get(ks, &key(i), ReadAt::Latest)?.is_some() {
            found += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "readrandom: {n} gets in {secs:.2} s = {:.0} gets/s ({found} found)",
        n as f64 / secs
    );
    assert_eq!(found, n, "every key written must be found");
    let s = db.stats();
    println!(
        "block cache: {} hits, {} misses; bloom ruled out {} table probes",
        s.cache_hits, s.cache_misses, s.bloom_useful
    );
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM")) {
            println!("peak RSS: {}", line.trim_start_matches("VmHWM:").trim());
        }
    }
    Ok(())
}
