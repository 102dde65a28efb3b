//! TTL with a fake clock (reads, iterators, batches, transactions, compaction) and merge
//! operators (counters, concurrency, reopen, composition with TTL, missing operators).

mod common;

use std::time::Duration;

use common::{engines, keys, open_with, opts, u64_of};
use kv_api::merge::U64Add;
use kv_api::{Db, Error, KeyspaceOptions, ManualClock, WriteBatch};

const MIN: Duration = Duration::from_secs(60);

fn n(v: u64) -> [u8; 8] {
    v.to_le_bytes()
}

#[test]
fn expired_entries_are_invisible_immediately() {
    for kind in engines() {
        let clock = ManualClock::new(1_000_000);
        let (_d, db) = open_with(kind, opts(kind).clock(clock.clone()));
        db.put_with_ttl("a", "short", MIN).unwrap();
        db.put_with_ttl("b", "long", 10 * MIN).unwrap();
        db.put("c", "forever").unwrap();
        db.put_with_ttl("zero", "gone", Duration::ZERO).unwrap();
        assert_eq!(db.get("zero").unwrap(), None, "a zero TTL expires at once");
        assert_eq!(keys(db.iter()), ["a", "b", "c"]);

        clock.advance(MIN - Duration::from_millis(1));
        assert_eq!(db.get("a").unwrap().unwrap(), "short");
        clock.advance(Duration::from_millis(1));
        assert_eq!(db.get("a").unwrap(), None);
        assert!(!db.contains_key("a").unwrap());
        assert_eq!(keys(db.iter()), ["b", "c"]);
        assert_eq!(keys(db.iter().rev()), ["c", "b"]);
        assert_eq!(db.multi_get(["a", "b"]).unwrap()[0], None);
        let snap = db.snapshot();
        assert_eq!(
            snap.get(&db, "a").unwrap(),
            None,
            "snapshots judge expiry now"
        );

        // Overwriting without a TTL makes the key permanent again.
        db.put("b", "renewed").unwrap();
        clock.advance(100 * MIN);
        assert_eq!(keys(db.iter()), ["b", "c"]);
    }
}

#[test]
fn ttl_in_batches_and_transactions() {
    for kind in engines() {
        let clock = ManualClock::new(0);
        let (_d, db) = open_with(kind, opts(kind).clock(clock.clone()));
        let ks = db.create_keyspace("sessions").unwrap();
        let mut b = WriteBatch::new();
        b.put_with_ttl(&ks, "s1", "token", MIN);
        b.put(&ks, "s2", "token");
        db.write(b).unwrap();

        let mut tx = db.transaction();
        tx.put_with_ttl(&ks, "s3", "token", 2 * MIN).unwrap();
        assert_eq!(keys(tx.iter(&ks)), ["s1", "s2", "s3"]);
        clock.advance(MIN);
        assert_eq!(
            keys(tx.iter(&ks)),
            ["s2", "s3"],
            "expiry inside a transaction"
        );
        assert_eq!(tx.get(&ks, "s1").unwrap(), None);
        tx.commit().unwrap();
        assert_eq!(keys(ks.iter()), ["s2", "s3"]);
        clock.advance(MIN);
        assert_eq!(keys(ks.iter()), ["s2"]);
    }
}

#[test]
fn compaction_removes_expired_entries_for_good() {
    for kind in engines() {
        let clock = ManualClock::new(10_000);
        let (_d, db) = open_with(kind, opts(kind).clock(clock.clone()));
        for i in 0..100u32 {
            db.put_with_ttl(format!("t{i:03}"), [1u8; 32], MIN).unwrap();
            db.put(format!("p{i:03}"), [2u8; 32]).unwrap();
        }
        db.flush().unwrap();
        clock.advance(MIN);
        assert_eq!(db.prefix("t").count(), 0);
        db.compact().unwrap();
        // Rewind the clock: data that compaction removed cannot come back, data it kept would.
        clock.set(10_000);
        assert_eq!(
            db.prefix("t").count(),
            0,
            "expired entries were dropped by compaction"
        );
        assert_eq!(db.prefix("p").count(), 100, "live entries were kept");
    }
}

#[test]
fn merge_counters_fold_on_read_and_survive_reopen() {
    for kind in engines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let o = || opts(kind).merge_operator(U64Add).memtable_size(16 << 10);
        {
            let db = Db::open_with(&path, o()).unwrap();
            db.put("c", n(100)).unwrap();
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        for i in 0..100u64 {
                            db.merge("c", n(1)).unwrap();
                            db.merge(format!("k{}", i % 4), n(i)).unwrap();
                        }
                    });
                }
            });
            assert_eq!(u64_of(&db.get("c").unwrap().unwrap()), 500);
            db.flush().unwrap();
            db.merge("c", n(1)).unwrap();
            let all: Vec<u64> = db.iter().map(|r| u64_of(&r.unwrap().1)).collect();
            assert_eq!(all[0], 501);
            assert_eq!(all.len(), 5);
            db.compact().unwrap();
            assert_eq!(
                u64_of(&db.get("c").unwrap().unwrap()),
                501,
                "after compaction"
            );
            db.close().unwrap();
        }
        let db = Db::open_with(&path, o()).unwrap();
        assert_eq!(u64_of(&db.get("c").unwrap().unwrap()), 501);
        let k1: u64 = (0..100).filter(|i| i % 4 == 1).sum::<u64>() * 4;
        assert_eq!(u64_of(&db.get("k1").unwrap().unwrap()), k1);
        let mut b = WriteBatch::new();
        b.merge(&db, "c", n(9));
        b.delete(&db, "k1");
        b.merge(&db, "k1", n(2));
        db.write(b).unwrap();
        assert_eq!(u64_of(&db.get("c").unwrap().unwrap()), 510);
        assert_eq!(
            u64_of(&db.get("k1").unwrap().unwrap()),
            2,
            "a delete resets the base"
        );
        let bad = db.merge("c", "not eight bytes");
        if kind == kv_api::EngineKind::Lsm {
            // The LSM stores operands blindly and folds them on read.
            assert!(bad.is_ok(), "operands are not checked on write");
            assert!(matches!(db.get("c"), Err(Error::MergeFailed(_))));
        } else {
            // The B+ tree folds at write time, so a bad operand fails the write itself.
            assert!(matches!(bad, Err(Error::MergeFailed(_))), "{bad:?}");
            assert_eq!(u64_of(&db.get("c").unwrap().unwrap()), 510);
        }
    }
}

#[test]
fn merges_compose_with_ttl() {
    for kind in engines() {
        let clock = ManualClock::new(0);
        let (_d, db) = open_with(kind, opts(kind).clock(clock.clone()).merge_operator(U64Add));
        db.put_with_ttl("window", n(10), MIN).unwrap();
        db.merge("window", n(1)).unwrap();
        assert_eq!(u64_of(&db.get("window").unwrap().unwrap()), 11);
        clock.advance(MIN);
        assert_eq!(
            db.get("window").unwrap(),
            None,
            "the merged value keeps the expiry"
        );
        db.merge("window", n(1)).unwrap();
        assert_eq!(
            u64_of(&db.get("window").unwrap().unwrap()),
            1,
            "expired base is absent"
        );
        clock.advance(10 * MIN);
        assert_eq!(
            u64_of(&db.get("window").unwrap().unwrap()),
            1,
            "no expiry without a base"
        );
        db.flush().unwrap();
        db.compact().unwrap();
        assert_eq!(u64_of(&db.get("window").unwrap().unwrap()), 1);
    }
}

#[test]
fn merging_without_an_operator_is_a_typed_error() {
    for kind in engines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let db = Db::open_with(&path, opts(kind)).unwrap();
            assert!(
                matches!(db.merge("k", n(1)), Err(Error::NoMergeOperator(n)) if n == "default")
            );
            let mut tx = db.transaction();
            assert!(matches!(
                tx.merge(&db, "k", n(1)),
                Err(Error::NoMergeOperator(_))
            ));
            let mut b = WriteBatch::new();
            b.merge(&db, "k", n(1));
            assert!(matches!(db.write(b), Err(Error::NoMergeOperator(_))));
            let c = db
                .create_keyspace_with("c", KeyspaceOptions::new().merge_operator(U64Add))
                .unwrap();
            c.merge("k", n(1)).unwrap();
            db.close().unwrap();
        }
        // Reopened without registering the operator: reads of merged keys fail, typed.
        let db = Db::open_with(&path, opts(kind)).unwrap();
        let c = db.open_keyspace("c").unwrap();
        if kind == kv_api::EngineKind::Lsm {
            assert!(matches!(c.get("k"), Err(Error::NoMergeOperator(n)) if n == "c"));
            assert!(matches!(
                c.iter().next(),
                Some(Err(Error::NoMergeOperator(_)))
            ));
        } else {
            // The B+ tree folded the operand when it was written: nothing is left to resolve.
            assert_eq!(u64_of(&c.get("k").unwrap().unwrap()), 1);
            assert!(matches!(c.merge("k", n(1)), Err(Error::NoMergeOperator(_))));
        }
    }
}
