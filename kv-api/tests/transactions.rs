//! Transaction semantics: read-your-own-writes (points and iterators), savepoints, rollback by
//! drop, finished transactions, which isolation level prevents which anomaly, how plain writes
//! take part, pessimistic locks, timeouts, deadlocks and skip-locked scans.

mod common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{engines, keys, open, open_with, opts, pairs, u64_of};
use kv_api::merge::U64Add;
use kv_api::{Error, IsolationLevel, TransactionOptions};

fn n(v: u64) -> [u8; 8] {
    v.to_le_bytes()
}

fn iso(level: IsolationLevel) -> TransactionOptions {
    TransactionOptions::new().isolation(level)
}

#[test]
fn transactions_read_their_own_writes_in_points_and_iterators() {
    for kind in engines() {
        let (_d, db) = open_with(kind, opts(kind).merge_operator(U64Add));
        for k in ["a", "c", "e", "g"] {
            db.put(k, k).unwrap();
        }
        db.put("cnt", n(10)).unwrap();
        for pessimistic in [false, true] {
            let mut tx = if pessimistic {
                db.transaction_pessimistic()
            } else {
                db.transaction()
            };
            tx.put(&db, "b", "new-b").unwrap();
            tx.put(&db, "c", "new-c").unwrap();
            tx.delete(&db, "e").unwrap();
            tx.put(&db, "h", "new-h").unwrap();
            tx.merge(&db, "cnt", n(5)).unwrap();
            tx.merge(&db, "fresh", n(1)).unwrap();
            assert_eq!(tx.get(&db, "c").unwrap().unwrap(), "new-c");
            assert_eq!(tx.get(&db, "e").unwrap(), None);
            assert_eq!(u64_of(&tx.get(&db, "cnt").unwrap().unwrap()), 15);
            assert!(tx.contains_key(&db, "b").unwrap());
            let fwd = keys(tx.iter(&db));
            assert_eq!(fwd, ["a", "b", "c", "cnt", "fresh", "g", "h"]);
            let mut back = keys(tx.iter(&db).rev());
            back.reverse();
            assert_eq!(back, fwd);
            let vals = pairs(tx.range(&db, "b"..="c"));
            assert_eq!(vals[0].1, b"new-b");
            assert_eq!(vals[1].1, b"new-c");
            assert_eq!(keys(tx.range(&db, "ca".."h").rev()), ["g", "fresh", "cnt"]);
            assert_eq!(keys(tx.prefix(&db, "c")), ["c", "cnt"]);
            // Alternate ends over a buffer/store mix.
            let mut it = tx.iter(&db);
            let mut got = Vec::new();
            while let Some(x) = it.next() {
                got.push(x.unwrap().0);
                if let Some(y) = it.next_back() {
                    got.push(y.unwrap().0);
                }
            }
            assert_eq!(got.len(), 7);
            // Range delete inside the transaction hides store and buffer entries alike.
            tx.delete_range(&db, "a", "c").unwrap();
            assert_eq!(keys(tx.range(&db, .."d")), ["c", "cnt"]);
            tx.rollback().unwrap();
            assert_eq!(
                keys(db.iter()),
                ["a", "c", "cnt", "e", "g"],
                "nothing leaked"
            );
        }
        let mut tx = db.transaction();
        tx.merge(&db, "cnt", n(1)).unwrap();
        tx.put(&db, "z", "1").unwrap();
        tx.commit().unwrap();
        assert_eq!(u64_of(&db.get("cnt").unwrap().unwrap()), 11);
    }
}

#[test]
fn savepoints_nest_and_dropping_rolls_back() {
    for kind in engines() {
        let (_d, db) = open(kind);
        {
            let mut tx = db.transaction();
            tx.put(&db, "dropped", "x").unwrap();
        }
        assert_eq!(db.get("dropped").unwrap(), None);
        assert_eq!(db.stats().rollbacks, 1);

        let mut tx = db.transaction_pessimistic();
        assert!(matches!(
            tx.rollback_to_savepoint(),
            Err(Error::NoSavepoint)
        ));
        tx.put(&db, "a", "1").unwrap();
        tx.set_savepoint().unwrap();
        tx.put(&db, "b", "2").unwrap();
        tx.set_savepoint().unwrap();
        tx.put(&db, "a", "changed").unwrap();
        tx.rollback_to_savepoint().unwrap();
        assert_eq!(tx.get(&db, "a").unwrap().unwrap(), "1");
        assert!(tx.contains_key(&db, "b").unwrap());
        tx.rollback_to_savepoint().unwrap();
        assert!(!tx.contains_key(&db, "b").unwrap());
        tx.commit().unwrap();
        assert_eq!(keys(db.iter()), ["a"]);
        assert_eq!(db.stats().locked_keys, 0, "locks released at commit");
    }
}

#[test]
fn a_finished_transaction_refuses_use() {
    for kind in engines() {
        let (_d, db) = open(kind);
        let mut tx = db.transaction();
        tx.put(&db, "k", "v").unwrap();
        tx.commit().unwrap();
        assert!(!tx.is_active());
        assert!(matches!(tx.get(&db, "k"), Err(Error::TransactionFinished)));
        assert!(matches!(
            tx.put(&db, "k", "v"),
            Err(Error::TransactionFinished)
        ));
        assert!(matches!(tx.commit(), Err(Error::TransactionFinished)));
        assert!(matches!(
            tx.set_savepoint(),
            Err(Error::TransactionFinished)
        ));
        assert!(matches!(
            tx.iter(&db).next(),
            Some(Err(Error::TransactionFinished))
        ));
        tx.rollback().unwrap(); // idempotent
        let mut tx = db.transaction_pessimistic();
        tx.rollback().unwrap();
        assert!(matches!(
            tx.get_for_update(&db, "k"),
            Err(Error::TransactionFinished)
        ));
        let mut opt = db.transaction();
        assert!(matches!(
            opt.scan_for_update_skip_locked(&db, "a".."z", 1),
            Err(Error::InvalidArgument(_))
        ));
    }
}

#[test]
fn both_isolation_levels_prevent_lost_updates() {
    for kind in engines() {
        for level in [IsolationLevel::Snapshot, IsolationLevel::Serializable] {
            let (_d, db) = open(kind);
            db.put("x", n(100)).unwrap();
            let mut t1 = db.transaction_with(iso(level));
            let mut t2 = db.transaction_with(iso(level));
            let v1 = u64_of(&t1.get(&db, "x").unwrap().unwrap());
            let v2 = u64_of(&t2.get(&db, "x").unwrap().unwrap());
            t1.put(&db, "x", n(v1 + 1)).unwrap();
            t2.put(&db, "x", n(v2 + 1)).unwrap();
            t1.commit().unwrap();
            let e = t2.commit().unwrap_err();
            assert!(
                matches!(e, Error::Conflict) && e.is_retryable(),
                "{level:?}: {e}"
            );
            assert_eq!(u64_of(&db.get("x").unwrap().unwrap()), 101);
            assert_eq!(db.stats().conflicts, 1);
        }
    }
}

/// Two doctors on call; each transaction checks that the other is on call, then leaves.
/// Returns whether the second commit succeeded.
fn write_skew(db: &kv_api::Db, opts: TransactionOptions, for_update: bool) -> bool {
    db.put("alice", "on").unwrap();
    db.put("bob", "on").unwrap();
    let mut t1 = db.transaction_with(opts);
    let mut t2 = db.transaction_with(opts);
    let read = |t: &mut kv_api::Transaction, k: &str| {
        if for_update {
            t.get_for_update(db, k).unwrap()
        } else {
            t.get(db, k).unwrap()
        }
    };
    let on = |v: Option<kv_api::Value>| v.is_some_and(|v| v == "on");
    assert!(on(read(&mut t1, "bob")));
    assert!(on(read(&mut t2, "alice")));
    t1.put(db, "alice", "off").unwrap();
    t2.put(db, "bob", "off").unwrap();
    t1.commit().unwrap();
    match t2.commit() {
        Ok(()) => true,
        Err(Error::Conflict) => false,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn snapshot_isolation_allows_write_skew_serializable_prevents_it() {
    for kind in engines() {
        let (_d, db) = open(kind);
        assert!(
            write_skew(&db, iso(IsolationLevel::Snapshot), false),
            "snapshot isolation lets both doctors leave"
        );
        assert_eq!(db.get("alice").unwrap().unwrap(), "off");
        assert_eq!(db.get("bob").unwrap().unwrap(), "off");

        assert!(!write_skew(&db, iso(IsolationLevel::Serializable), false));
        assert!(
            !write_skew(&db, iso(IsolationLevel::Snapshot), true),
            "get_for_update validates the read even under snapshot isolation"
        );
        assert_eq!(
            db.get("bob").unwrap().unwrap(),
            "on",
            "second doctor stayed"
        );
    }
}

#[test]
fn serializable_validates_scanned_ranges_against_phantoms() {
    for kind in engines() {
        let (_d, db) = open(kind);
        db.put("room:1", "booked").unwrap();
        let mut t = db.transaction_with(iso(IsolationLevel::Serializable));
        let booked = t.prefix(&db, "room:").count();
        assert_eq!(booked, 1);
        db.put("room:2", "booked").unwrap(); // a phantom inside the scanned range
        t.put(&db, "summary", booked.to_string()).unwrap();
        assert!(matches!(t.commit(), Err(Error::Conflict)));

        let mut t = db.transaction_with(iso(IsolationLevel::Serializable));
        let _ = t.prefix(&db, "room:").count();
        db.put("other", "x").unwrap(); // outside the range: no conflict
        db.delete_range("zz0", "zz9").unwrap();
        t.put(&db, "summary", "2").unwrap();
        t.commit().unwrap();

        let mut t = db.transaction_with(iso(IsolationLevel::Serializable));
        assert!(t.get(&db, "room:1").unwrap().is_some());
        db.delete_range("room:", "room;").unwrap(); // a range delete over a read key
        t.put(&db, "summary", "3").unwrap();
        assert!(matches!(t.commit(), Err(Error::Conflict)));
    }
}

#[test]
fn plain_writes_take_part_in_conflict_detection() {
    for kind in engines() {
        let (_d, db) = open(kind);
        db.put("k", "0").unwrap();
        let mut t = db.transaction();
        let _ = t.get(&db, "k").unwrap();
        db.put("k", "plain").unwrap();
        t.put(&db, "k", "txn").unwrap();
        assert!(matches!(t.commit(), Err(Error::Conflict)));
        assert_eq!(db.get("k").unwrap().unwrap(), "plain");

        // A write committed before the snapshot is no conflict; read-only commits never are.
        db.put("k", "before").unwrap();
        let mut t = db.transaction();
        t.put(&db, "k", "txn").unwrap();
        t.commit().unwrap();
        let mut r = db.transaction_with(iso(IsolationLevel::Serializable));
        let _ = r.get(&db, "k").unwrap();
        db.put("k", "later").unwrap();
        r.commit().unwrap();

        // Blind merges from two transactions both apply.
        let (_d2, db2) = open_with(kind, opts(kind).merge_operator(U64Add));
        let mut a = db2.transaction();
        let mut b = db2.transaction();
        a.merge(&db2, "c", n(1)).unwrap();
        b.merge(&db2, "c", n(2)).unwrap();
        a.commit().unwrap();
        b.commit().unwrap();
        assert_eq!(u64_of(&db2.get("c").unwrap().unwrap()), 3);
    }
}

#[test]
fn pessimistic_locks_block_writers_until_timeout() {
    for kind in engines() {
        let (_d, db) = open_with(kind, opts(kind).lock_timeout(Duration::from_millis(50)));
        db.put("x", n(1)).unwrap();
        let mut t1 = db.transaction_pessimistic();
        let v = u64_of(&t1.get_for_update(&db, "x").unwrap().unwrap());
        let mut t2 = db.transaction_pessimistic();
        let start = Instant::now();
        assert!(matches!(
            t2.get_for_update(&db, "x"),
            Err(Error::LockTimeout)
        ));
        assert!(start.elapsed() >= Duration::from_millis(40));
        assert!(t2.is_active(), "a timeout leaves the transaction usable");
        assert!(
            matches!(db.put("x", n(99)), Err(Error::LockTimeout)),
            "plain writes wait"
        );
        let mut opt = db.transaction();
        opt.put(&db, "x", n(7)).unwrap();
        assert!(
            matches!(opt.commit(), Err(Error::LockTimeout)),
            "optimistic commits wait for locks too"
        );
        t1.put(&db, "x", n(v + 1)).unwrap();
        t1.commit().unwrap();
        assert_eq!(u64_of(&t2.get_for_update(&db, "x").unwrap().unwrap()), 2);
        t2.rollback().unwrap();
        assert_eq!(db.stats().lock_timeouts, 3);

        // Shared locks: readers share, writers wait.
        let mut r1 = db.transaction_pessimistic();
        let mut r2 = db.transaction_pessimistic();
        r1.get_for_share(&db, "x").unwrap();
        r2.get_for_share(&db, "x").unwrap();
        let mut w = db.transaction_pessimistic();
        assert!(matches!(w.put(&db, "x", n(0)), Err(Error::LockTimeout)));
        drop((r1, r2));
        w.put(&db, "x", n(0)).unwrap();
        w.commit().unwrap();
    }
}

#[test]
fn a_plain_write_waiting_on_a_lock_proceeds_after_commit() {
    for kind in engines() {
        let (_d, db) = open_with(kind, opts(kind).lock_timeout(Duration::from_secs(10)));
        db.put("x", "0").unwrap();
        let mut t = db.transaction_pessimistic();
        t.get_for_update(&db, "x").unwrap();
        let db2 = db.clone();
        let writer = std::thread::spawn(move || db2.put("x", "plain"));
        std::thread::sleep(Duration::from_millis(30));
        t.put(&db, "x", "txn").unwrap();
        t.commit().unwrap();
        writer.join().unwrap().unwrap();
        assert_eq!(
            db.get("x").unwrap().unwrap(),
            "plain",
            "the waiting write lands after"
        );
    }
}

#[test]
fn a_deadlock_has_exactly_one_victim_and_no_timeout_wait() {
    for kind in engines() {
        let (_d, db) = open_with(kind, opts(kind).lock_timeout(Duration::from_secs(20)));
        db.put("A", "a").unwrap();
        db.put("B", "b").unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let start = Instant::now();
        let run = |first: &'static str, second: &'static str| {
            let db = db.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let mut t = db.transaction_pessimistic();
                t.get_for_update(&db, first).unwrap();
                barrier.wait();
                match t.get_for_update(&db, second) {
                    Ok(_) => {
                        t.put(&db, first, "winner").unwrap();
                        t.commit().map(|()| "committed")
                    }
                    Err(Error::Deadlock) => {
                        assert!(!t.is_active(), "the victim is rolled back");
                        Ok("victim")
                    }
                    Err(e) => Err(e),
                }
            })
        };
        let t1 = run("A", "B");
        let t2 = run("B", "A");
        let mut outcomes = vec![t1.join().unwrap().unwrap(), t2.join().unwrap().unwrap()];
        outcomes.sort();
        assert_eq!(outcomes, ["committed", "victim"]);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(db.stats().deadlocks, 1);
        assert_eq!(db.stats().locked_keys, 0);
    }
}

#[test]
fn skip_locked_scans_hand_out_disjoint_work() {
    for kind in engines() {
        let (_d, db) = open(kind);
        for i in 0..6 {
            db.put(format!("job:{i}"), "todo").unwrap();
        }
        db.put("other", "x").unwrap();
        let mut w1 = db.transaction_pessimistic();
        let mut w2 = db.transaction_pessimistic();
        let a = w1
            .scan_for_update_skip_locked(&db, "job:".."job;", 4)
            .unwrap();
        let b = w2
            .scan_for_update_skip_locked(&db, "job:".."job;", 4)
            .unwrap();
        assert_eq!(a.len(), 4);
        assert_eq!(b.len(), 2);
        assert!(b.iter().all(|(k, _)| !a.iter().any(|(x, _)| x == k)));
        for (k, _) in &a {
            w1.delete(&db, k).unwrap();
        }
        w1.commit().unwrap();
        // w1's jobs are gone; w2 already holds the rest, so a third worker gets nothing.
        let mut w3 = db.transaction_pessimistic();
        assert!(w3
            .scan_for_update_skip_locked(&db, "job:".."job;", 4)
            .unwrap()
            .is_empty());
        // A worker sees its own locked jobs again, minus the ones it deleted.
        w2.delete(&db, &b[0].0).unwrap();
        let again = w2
            .scan_for_update_skip_locked(&db, "job:".."job;", 10)
            .unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].0, b[1].0);
        assert!(w2
            .scan_for_update_skip_locked(&db, "job:".., 0)
            .unwrap()
            .is_empty());
    }
}
