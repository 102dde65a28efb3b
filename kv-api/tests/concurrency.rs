//! Many threads: the bank-transfer invariant (the total balance never changes, in any snapshot)
//! under optimistic (both isolation levels), pessimistic, and mixed transactions, with plain
//! writes and concurrent readers; and a skip-locked job queue that hands every job out once.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{engines, open_with, opts, u64_of};
use kv_api::{Db, Error, IsolationLevel, TransactionOptions};
use rand::{Rng, SeedableRng};

const ACCOUNTS: u64 = 10;
const INITIAL: u64 = 1_000;
const THREADS: usize = 8;
const TRANSFERS: usize = 120;

fn account(i: u64) -> String {
    format!("acct:{i:02}")
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Optimistic(IsolationLevel),
    Pessimistic,
}

/// One transfer, retried until it commits; returns the number of retries.
fn transfer(db: &Db, mode: Mode, from: u64, to: u64, amount: u64) -> usize {
    let mut retries = 0;
    loop {
        let mut tx = match mode {
            Mode::Optimistic(l) => db.transaction_with(TransactionOptions::new().isolation(l)),
            Mode::Pessimistic => db.transaction_pessimistic(),
        };
        let result = (|| {
            let (a, b) = (account(from), account(to));
            let bal_a = u64_of(&tx.get_for_update(db, &a)?.expect("account exists"));
            let bal_b = u64_of(&tx.get_for_update(db, &b)?.expect("account exists"));
            if bal_a < amount {
                return tx.rollback();
            }
            tx.put(db, &a, (bal_a - amount).to_le_bytes())?;
            tx.put(db, &b, (bal_b + amount).to_le_bytes())?;
            tx.commit()
        })();
        match result {
            Ok(()) => return retries,
            Err(e) if e.is_retryable() => {
                retries += 1;
                if matches!(e, Error::LockTimeout) {
                    tx.rollback().unwrap();
                }
            }
            Err(e) => panic!("{mode:?}: {e}"),
        }
    }
}

fn total_at(db: &Db) -> u64 {
    let snap = db.snapshot();
    snap.prefix(db, "acct:")
        .map(|r| u64_of(&r.expect("scan").1))
        .sum()
}

fn run_bank(kind: kv_api::EngineKind, modes: &[Mode]) {
    let (_d, db) = open_with(
        kind,
        opts(kind)
            .lock_timeout(Duration::from_secs(5))
            .memtable_size(32 << 10),
    );
    for i in 0..ACCOUNTS {
        db.put(account(i), INITIAL.to_le_bytes()).unwrap();
    }
    let stop = AtomicBool::new(false);
    let retries = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        let mut workers = Vec::new();
        for t in 0..THREADS {
            let (db, mode, retries) = (&db, modes[t % modes.len()], &retries);
            workers.push(s.spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(t as u64);
                for _ in 0..TRANSFERS {
                    let from = rng.gen_range(0..ACCOUNTS);
                    let to = (from + rng.gen_range(1..ACCOUNTS)) % ACCOUNTS;
                    let r = transfer(db, mode, from, to, rng.gen_range(1..50));
                    retries.fetch_add(r, Ordering::Relaxed);
                }
            }));
        }
        // Readers: every snapshot, and every optimistic transaction, sees the full total.
        s.spawn(|| {
            let mut checks = 0;
            while !stop.load(Ordering::Acquire) || checks == 0 {
                assert_eq!(total_at(&db), ACCOUNTS * INITIAL, "snapshot total");
                let tx = db.transaction();
                let sum: u64 = tx.prefix(&db, "acct:").map(|r| u64_of(&r.unwrap().1)).sum();
                assert_eq!(sum, ACCOUNTS * INITIAL, "transaction total");
                checks += 1;
            }
        });
        for w in workers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Release);
    });
    assert_eq!(total_at(&db), ACCOUNTS * INITIAL);
    let st = db.stats();
    assert!(st.commits >= (THREADS * TRANSFERS) as u64 / 2, "{st:?}");
    assert_eq!(st.live_transactions, 0);
    assert_eq!(st.locked_keys, 0);
    assert_eq!(st.tracked_keys, 0, "commit table pruned once idle");
    eprintln!(
        "{modes:?}: {} commits, {} retries ({} conflicts, {} deadlocks, {} timeouts)",
        st.commits,
        retries.into_inner(),
        st.conflicts,
        st.deadlocks,
        st.lock_timeouts
    );
}

#[test]
fn bank_invariant_under_optimistic_snapshot_isolation() {
    for kind in engines() {
        run_bank(kind, &[Mode::Optimistic(IsolationLevel::Snapshot)]);
    }
}

#[test]
fn bank_invariant_under_optimistic_serializable() {
    for kind in engines() {
        run_bank(kind, &[Mode::Optimistic(IsolationLevel::Serializable)]);
    }
}

#[test]
fn bank_invariant_under_pessimistic_locking() {
    for kind in engines() {
        run_bank(kind, &[Mode::Pessimistic]);
    }
}

#[test]
fn bank_invariant_with_both_kinds_at_once() {
    for kind in engines() {
        run_bank(
            kind,
            &[
                Mode::Pessimistic,
                Mode::Optimistic(IsolationLevel::Snapshot),
            ],
        );
    }
}

#[test]
fn concurrent_read_modify_write_loses_no_update() {
    for kind in engines() {
        let (_d, db) = open_with(kind, opts(kind));
        db.put("counter", 0u64.to_le_bytes()).unwrap();
        std::thread::scope(|s| {
            for t in 0..6 {
                let db = &db;
                s.spawn(move || {
                    for _ in 0..50 {
                        loop {
                            let mut tx = if t % 2 == 0 {
                                db.transaction()
                            } else {
                                db.transaction_pessimistic()
                            };
                            let r = (|| {
                                let v = u64_of(&tx.get_for_update(db, "counter")?.unwrap());
                                tx.put(db, "counter", (v + 1).to_le_bytes())?;
                                tx.commit()
                            })();
                            match r {
                                Ok(()) => break,
                                Err(e) if e.is_retryable() => continue,
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                });
            }
        });
        assert_eq!(u64_of(&db.get("counter").unwrap().unwrap()), 300);
    }
}

#[test]
fn skip_locked_workers_process_each_job_exactly_once() {
    for kind in engines() {
        let (_d, db) = open_with(kind, opts(kind));
        const JOBS: usize = 60;
        for i in 0..JOBS {
            db.put(format!("queue:{i:03}"), format!("payload {i}"))
                .unwrap();
        }
        let done = Arc::new(Mutex::new(Vec::new()));
        std::thread::scope(|s| {
            for w in 0..4 {
                let (db, done) = (&db, Arc::clone(&done));
                s.spawn(move || loop {
                    let mut tx = db.transaction_pessimistic();
                    let jobs = tx
                        .scan_for_update_skip_locked(db, "queue:".."queue;", 3)
                        .unwrap();
                    if jobs.is_empty() {
                        // Nothing unlocked: finished, or others hold the rest; check once more.
                        drop(tx);
                        if db.prefix("queue:").next().is_none() {
                            break;
                        }
                        std::thread::yield_now();
                        continue;
                    }
                    for (k, _) in &jobs {
                        tx.delete(db, k).unwrap();
                        tx.put(
                            db,
                            format!("done:{}", String::from_utf8_lossy(&k[6..])),
                            [w],
                        )
                        .unwrap();
                    }
                    tx.commit().unwrap();
                    done.lock()
                        .unwrap()
                        .extend(jobs.into_iter().map(|(k, _)| k));
                });
            }
        });
        let done = done.lock().unwrap();
        assert_eq!(done.len(), JOBS, "every job once");
        let unique: HashSet<_> = done.iter().collect();
        assert_eq!(unique.len(), JOBS, "no job twice");
        assert_eq!(db.prefix("done:").count(), JOBS);
    }
}
