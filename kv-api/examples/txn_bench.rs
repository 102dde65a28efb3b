//! Cost of transactions relative to plain writes, and bank-transfer throughput under each
//! transaction kind.
//!
//! Run with `cargo run --release -p kv-api --example txn_bench` (no fsync: `SyncMode::Never`,
//! so the figures show kv-api's own overhead, not the disk's). Takes about 20 seconds.
//! Knobs: `TXN_BENCH_OPS` (single-thread ops per round, best of 3 rounds, default 50000), `TXN_BENCH_SECS`
//! (seconds per multi-thread case, default 2), `TXN_BENCH_ACCOUNTS` (default 1000).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kv_api::{Db, IsolationLevel, Options, SyncMode, TransactionOptions};
use rand::{Rng, SeedableRng};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Best (lowest) ns/op of three rounds of `ops` calls; `f` gets a distinct number per call.
fn per_op(ops: u64, mut f: impl FnMut(u64)) -> f64 {
    (0..3)
        .map(|round| {
            let start = Instant::now();
            for i in 0..ops {
                f(round * ops + i);
            }
            start.elapsed().as_nanos() as f64 / ops as f64
        })
        .fold(f64::INFINITY, f64::min)
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Snapshot,
    Serializable,
    Pessimistic,
}

fn bank(db: &Db, kind: Kind, accounts: u64, secs: u64, threads: u64) -> (f64, f64) {
    for i in 0..accounts {
        db.put(format!("acct:{i:06}"), 1_000u64.to_le_bytes())
            .unwrap();
    }
    let stop = AtomicBool::new(false);
    let commits = AtomicU64::new(0);
    let retries = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (db, stop, commits, retries) = (db, &stop, &commits, &retries);
            s.spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(t);
                while !stop.load(Ordering::Relaxed) {
                    let from = rng.gen_range(0..accounts);
                    let to = (from + rng.gen_range(1..accounts)) % accounts;
                    let (a, b) = (format!("acct:{from:06}"), format!("acct:{to:06}"));
                    loop {
                        let mut tx = match kind {
                            Kind::Snapshot => db.transaction(),
                            Kind::Serializable => db.transaction_with(
                                TransactionOptions::new().isolation(IsolationLevel::Serializable),
                            ),
                            Kind::Pessimistic => db.transaction_pessimistic(),
                        };
                        let r = (|| {
                            let get = |v: Option<kv_api::Value>| {
                                u64::from_le_bytes(v.unwrap_or_default()[..].try_into().unwrap())
                            };
                            let x = get(tx.get_for_update(db, &a)?);
                            let y = get(tx.get_for_update(db, &b)?);
                            if x > 0 {
                                tx.put(db, &a, (x - 1).to_le_bytes())?;
                                tx.put(db, &b, (y + 1).to_le_bytes())?;
                            }
                            tx.commit()
                        })();
                        match r {
                            Ok(()) => {
                                commits.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                            Err(e) if e.is_retryable() => {
                                retries.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_secs(secs));
        stop.store(true, Ordering::Relaxed);
    });
    let el = start.elapsed().as_secs_f64();
    let c = commits.load(Ordering::Relaxed) as f64;
    (c / el, retries.load(Ordering::Relaxed) as f64 / c.max(1.0))
}

fn main() -> kv_api::Result<()> {
    let ops = env("TXN_BENCH_OPS", 50_000);
    let secs = env("TXN_BENCH_SECS", 2);
    let accounts = env("TXN_BENCH_ACCOUNTS", 1_000);
    let root = std::env::temp_dir().join(format!("strata-txn-bench-{}", std::process::id()));
    let opts = || Options::new().sync_mode(SyncMode::Never);
    let value = [7u8; 16];

    let db = Db::open_with(root.join("single"), opts())?;
    // Warm up allocator, memtable and caches.
    for i in 0..10_000u64 {
        db.put([b"w".as_slice(), &i.to_be_bytes()].concat(), value)?;
    }
    let put = per_op(ops, |i| {
        db.put([b"p".as_slice(), &i.to_be_bytes()].concat(), value)
            .unwrap()
    });
    let opt = per_op(ops, |i| {
        let mut tx = db.transaction();
        tx.put(&db, [b"o".as_slice(), &i.to_be_bytes()].concat(), value)
            .unwrap();
        tx.commit().unwrap();
    });
    let ser = per_op(ops, |i| {
        let mut tx =
            db.transaction_with(TransactionOptions::new().isolation(IsolationLevel::Serializable));
        tx.put(&db, [b"s".as_slice(), &i.to_be_bytes()].concat(), value)
            .unwrap();
        tx.commit().unwrap();
    });
    let pes = per_op(ops, |i| {
        let mut tx = db.transaction_pessimistic();
        tx.put(&db, [b"x".as_slice(), &i.to_be_bytes()].concat(), value)
            .unwrap();
        tx.commit().unwrap();
    });
    let rmw = per_op(ops, |i| {
        let key = [b"o".as_slice(), &i.to_be_bytes()].concat();
        let mut tx = db.transaction();
        let v = tx.get(&db, &key).unwrap();
        tx.put(&db, &key, v.unwrap_or_default()).unwrap();
        tx.commit().unwrap();
    });
    let get = per_op(ops, |i| {
        db.get([b"p".as_slice(), &i.to_be_bytes()].concat())
            .unwrap();
    });
    println!("single thread, best of 3 x {ops} ops, 16-byte values, SyncMode::Never");
    println!("  plain put                         {put:8.0} ns/op  1.00x");
    for (name, ns) in [
        ("optimistic txn, 1 put (snapshot)", opt),
        ("optimistic txn, 1 put (serializ.)", ser),
        ("pessimistic txn, 1 put", pes),
        ("optimistic txn, get + put", rmw),
    ] {
        println!("  {name:<34}{ns:8.0} ns/op  {:.2}x", ns / put);
    }
    println!("  plain get (memtable)              {get:8.0} ns/op");
    db.close()?;

    println!("8 threads, random transfers between {accounts} accounts, {secs} s each");
    for kind in [Kind::Snapshot, Kind::Serializable, Kind::Pessimistic] {
        let db = Db::open_with(root.join(format!("{kind:?}")), opts())?;
        let (tps, retry) = bank(&db, kind, accounts, secs, 8);
        println!("  {kind:<13?} {tps:9.0} transfers/s   {retry:.3} retries per commit");
        db.close()?;
    }
    println!("8 threads, 10 accounts (high contention), {secs} s each");
    for kind in [Kind::Snapshot, Kind::Pessimistic] {
        let db = Db::open_with(root.join(format!("{kind:?}-hot")), opts())?;
        let (tps, retry) = bank(&db, kind, 10, secs, 8);
        println!("  {kind:<13?} {tps:9.0} transfers/s   {retry:.3} retries per commit");
        db.close()?;
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}
