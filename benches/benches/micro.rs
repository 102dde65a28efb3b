//! Criterion micro-benchmarks of the engine's hot paths: memtable insert, block seek, bloom
//! probe, WAL append, internal-key encoding and comparison.
//!
//! `cargo bench -p benches` (about a minute; each benchmark warms up 0.5 s and measures 2 s).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use benches::gen::{KeyFormat, Rng64, ValuePool};
use lsm_core::fs::{FileSystem, MemFs};
use lsm_core::key::{compare_internal, encode_internal_key, lookup_key, parse_internal_key};
use lsm_core::memtable::Memtable;
use lsm_core::sstable::block_builder::BlockBuilder;
use lsm_core::sstable::bloom::{BloomBuilder, BloomFilter};
use lsm_core::sstable::Block;
use lsm_core::wal::LogWriter;
use lsm_core::{SeqNo, ValueKind};

const KEYS: KeyFormat = KeyFormat { size: 16 };

fn key(i: u64) -> Vec<u8> {
    let mut k = Vec::new();
    KEYS.write(i, &mut k);
    k
}

/// Random 16-byte keys with 100-byte values into a skiplist memtable (a fresh memtable every
/// 100,000 inserts, so its size stays realistic).
fn memtable_insert(c: &mut Criterion) {
    let values = ValuePool::new(100, 1);
    let mut g = c.benchmark_group("memtable");
    g.throughput(Throughput::Elements(1));
    g.bench_function("insert_random_16B_100B", |b| {
        b.iter_custom(|iters| {
            let mut rng = Rng64::new(7);
            let mut elapsed = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let mem = Arc::new(Memtable::new());
                let n = (iters - done).min(100_000);
                let keys: Vec<Vec<u8>> = (0..n).map(|_| key(rng.below(1 << 40))).collect();
                let start = Instant::now();
                for (j, k) in keys.iter().enumerate() {
                    mem.insert(
                        k,
                        SeqNo(done + j as u64 + 1),
                        ValueKind::Put,
                        values.value(&mut rng),
                    );
                }
                elapsed += start.elapsed();
                done += n;
            }
            elapsed
        })
    });
    g.finish();
}

/// Seeks in a 4 KiB data block of internal keys (restart interval 16), to random user keys.
fn block_seek(c: &mut Criterion) {
    let values = ValuePool::new(100, 2);
    let mut rng = Rng64::new(3);
    let mut bb = BlockBuilder::new(16);
    let mut n = 0u64;
    let mut ik = Vec::new();
    while bb.estimated_size() < 4096 {
        ik.clear();
        encode_internal_key(&mut ik, &key(n * 2), SeqNo(n + 1), ValueKind::Put);
        bb.add(&ik, values.value(&mut rng));
        n += 1;
    }
    let block = match Block::decode(Bytes::copy_from_slice(bb.finish())) {
        Ok(b) => b,
        Err(e) => panic!("a freshly built block must decode: {e}"),
    };
    let targets: Vec<Vec<u8>> = (0..1024)
        .map(|_| lookup_key(&key(rng.below(n * 2)), SeqNo::MAX))
        .collect();
    let mut g = c.benchmark_group("block");
    g.throughput(Throughput::Elements(1));
    g.bench_function(format!("seek_{n}_entries"), |b| {
        let mut it = block.iter();
        let mut i = 0;
        b.iter(|| {
            it.seek(&targets[i & 1023]);
            i += 1;
            black_box(it.valid())
        })
    });
    g.finish();
}

/// Probes a 10 bits/key filter of 100,000 keys with present and absent keys.
fn bloom_probe(c: &mut Criterion) {
    let mut bb = BloomBuilder::new(10);
    for i in 0..100_000u64 {
        bb.add_key(&key(i * 2));
    }
    let filter = match BloomFilter::decode(Bytes::from(bb.finish())) {
        Ok(f) => f,
        Err(e) => panic!("a freshly built filter must decode: {e}"),
    };
    let hits: Vec<Vec<u8>> = (0..1024u64).map(|i| key(i * 190)).collect();
    let misses: Vec<Vec<u8>> = (0..1024u64).map(|i| key(i * 190 + 1)).collect();
    let mut g = c.benchmark_group("bloom");
    g.throughput(Throughput::Elements(1));
    for (name, keys) in [("probe_present", &hits), ("probe_absent", &misses)] {
        g.bench_function(name, |b| {
            let mut i = 0;
            b.iter(|| {
                i += 1;
                black_box(filter.may_contain(&keys[i & 1023]))
            })
        });
    }
    g.finish();
}

/// Appends 130-byte records (a one-put batch's size) to a WAL over the in-memory file system
/// (a fresh file every 100,000 records, so memory stays bounded).
fn wal_append(c: &mut Criterion) {
    let payload = vec![0x5a; 130];
    let fs = MemFs::new();
    let mut g = c.benchmark_group("wal");
    g.throughput(Throughput::Bytes(payload.len() as u64));
    g.bench_function("append_130B_memfs", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let file = match fs.create(Path::new("/wal.log")) {
                    Ok(f) => f,
                    Err(e) => panic!("MemFs create: {e}"),
                };
                let mut w = LogWriter::new(file);
                let n = (iters - done).min(100_000);
                let start = Instant::now();
                for _ in 0..n {
                    if let Err(e) = w.add_record(&payload) {
                        panic!("MemFs append: {e}");
                    }
                }
                elapsed += start.elapsed();
                done += n;
            }
            elapsed
        })
    });
    g.finish();
}

/// Internal-key encoding, parsing and comparison.
fn key_encoding(c: &mut Criterion) {
    let uk = key(123_456);
    let a = lookup_key(&uk, SeqNo(1000));
    let mut other = Vec::new();
    encode_internal_key(&mut other, &key(123_457), SeqNo(5), ValueKind::Put);
    let mut g = c.benchmark_group("key");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode_internal_16B", |b| {
        let mut buf = Vec::with_capacity(32);
        let mut seq = 0u64;
        b.iter(|| {
            buf.clear();
            seq += 1;
            encode_internal_key(&mut buf, black_box(&uk), SeqNo(seq), ValueKind::Put);
            black_box(buf.len())
        })
    });
    g.bench_function("parse_internal", |b| {
        b.iter(|| black_box(parse_internal_key(black_box(&other)).map(|p| p.seq)))
    });
    g.bench_function("compare_internal", |b| {
        b.iter(|| black_box(compare_internal(black_box(&a), black_box(&other))))
    });
    g.finish();
}

criterion_group! {
    name = micro;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = memtable_insert, block_seek, bloom_probe, wal_append, key_encoding
}
criterion_main!(micro);
