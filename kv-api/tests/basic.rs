//! The byte API of `Db`: point reads and writes, bad input, iterators in both directions with
//! bounds and prefixes, range deletes, batches, snapshots, close and reopen.

mod common;

use common::{engines, keys, open, open_with, opts, pairs};
use kv_api::{Db, Error, WriteBatch};

#[test]
fn db_handles_are_clone_send_sync() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<Db>();
    assert_traits::<kv_api::Keyspace>();
    assert_traits::<kv_api::Snapshot>();
    fn assert_send<T: Send>() {}
    assert_send::<kv_api::Transaction>();
    assert_send::<kv_api::Iter>();
}

#[test]
fn put_get_delete_contains_multi_get() {
    for kind in engines() {
        let (_d, db) = open(kind);
        assert_eq!(db.get("k").unwrap(), None);
        db.put("k", "v1").unwrap();
        db.put("k", "v2").unwrap();
        assert_eq!(db.get("k").unwrap().unwrap(), "v2");
        assert!(db.contains_key("k").unwrap());
        db.put("j", "").unwrap();
        assert_eq!(db.get("j").unwrap().unwrap(), "", "empty values are values");
        let got = db.multi_get(["k", "nope", "j"]).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].as_ref().unwrap(), "v2");
        assert!(got[1].is_none());
        db.delete("k").unwrap();
        db.delete("never-there").unwrap();
        assert!(!db.contains_key("k").unwrap());
    }
}

#[test]
fn empty_keys_are_ordinary_keys() {
    for kind in engines() {
        let (_d, db) = open(kind);
        db.put("", "empty").unwrap();
        db.put("a", "1").unwrap();
        assert_eq!(db.get("").unwrap().unwrap(), "empty");
        assert_eq!(keys(db.iter()), ["", "a"]);
        assert_eq!(keys(db.prefix("")), ["", "a"]);
        db.delete("").unwrap();
        assert_eq!(keys(db.iter()), ["a"]);
    }
}

#[test]
fn oversize_keys_and_values_get_typed_errors() {
    for kind in engines() {
        let (_d, db) = open_with(kind, opts(kind).max_key_size(8).max_value_size(16));
        let ks = db.create_keyspace("other").unwrap();
        assert!(matches!(
            db.put([0u8; 9], "v"),
            Err(Error::KeyTooLarge { len: 9, max: 8 })
        ));
        assert!(matches!(
            ks.put("k", [0u8; 17]),
            Err(Error::ValueTooLarge { len: 17, max: 16 })
        ));
        db.put([0u8; 8], [0u8; 16]).unwrap();
        let mut b = WriteBatch::new();
        b.put(&db, "ok", "ok");
        b.put(&ks, [1u8; 9], "v");
        assert!(matches!(db.write(b), Err(Error::KeyTooLarge { .. })));
        assert_eq!(
            db.get("ok").unwrap(),
            None,
            "nothing of a refused batch is written"
        );
        let mut tx = db.transaction();
        assert!(matches!(
            tx.put(&db, "k", [0u8; 17]),
            Err(Error::ValueTooLarge { .. })
        ));
        assert!(matches!(
            db.delete_range([0u8; 9], [1u8; 2]),
            Err(Error::KeyTooLarge { .. })
        ));
    }
}

#[test]
fn iterators_walk_both_directions_within_bounds() {
    for kind in engines() {
        let (_d, db) = open(kind);
        for i in 0..50u32 {
            db.put(format!("k{i:02}"), i.to_le_bytes()).unwrap();
        }
        db.put("a", "before").unwrap();
        db.put("z", "after").unwrap();
        let all = keys(db.iter());
        assert_eq!(all.len(), 52);
        let mut rev = keys(db.iter().rev());
        rev.reverse();
        assert_eq!(rev, all);

        assert_eq!(keys(db.range("k10".."k13")), ["k10", "k11", "k12"]);
        assert_eq!(
            keys(db.range("k10"..="k13").rev()),
            ["k13", "k12", "k11", "k10"]
        );
        assert_eq!(keys(db.range(.."k01")), ["a", "k00"]);
        assert_eq!(keys(db.range("k48"..)), ["k48", "k49", "z"]);
        assert_eq!(keys(db.range("k3".."k2")), Vec::<String>::new(), "inverted");
        assert_eq!(keys(db.range("k2".."k2")), Vec::<String>::new(), "empty");
        assert_eq!(keys(db.prefix("k4")).len(), 10);
        assert_eq!(keys(db.prefix("k4").rev())[0], "k49");
        assert_eq!(keys(db.prefix("nothing")), Vec::<String>::new());

        // Alternating ends meet exactly once in the middle.
        let mut it = db.range("k00".."k05");
        let mut seen = Vec::new();
        loop {
            match (it.next(), it.next_back()) {
                (Some(a), Some(b)) => {
                    seen.push(a.unwrap().0);
                    seen.push(b.unwrap().0);
                }
                (Some(a), None) => seen.push(a.unwrap().0),
                (None, _) => break,
            }
        }
        seen.sort();
        assert_eq!(seen.len(), 5);
        seen.dedup();
        assert_eq!(seen.len(), 5, "no entry from both ends");
        assert!(it.next().is_none() && it.next_back().is_none(), "fused");
    }
}

#[test]
fn iterators_read_a_fixed_snapshot() {
    for kind in engines() {
        let (_d, db) = open(kind);
        for i in 0..10u8 {
            db.put([i], [i]).unwrap();
        }
        let mut it = db.iter();
        assert_eq!(it.next().unwrap().unwrap().0, [0u8]);
        db.put([100u8], "new").unwrap();
        db.delete([9u8]).unwrap();
        assert_eq!(
            it.next_back().unwrap().unwrap().0,
            [9u8],
            "created before the writes"
        );
        assert_eq!(it.count(), 8);
    }
}

#[test]
fn range_delete_removes_exactly_the_range() {
    for kind in engines() {
        let (_d, db) = open(kind);
        for i in 0..20u8 {
            db.put([i], [i]).unwrap();
        }
        db.delete_range([5u8], [10u8]).unwrap();
        db.delete_range([15u8], [15u8]).unwrap(); // empty: no-op
        let left: Vec<u8> = pairs(db.iter()).into_iter().map(|(k, _)| k[0]).collect();
        let want: Vec<u8> = (0..5).chain(10..20).collect();
        assert_eq!(left, want);
        assert_eq!(db.get([5u8]).unwrap(), None);
        db.put([7u8], "again").unwrap();
        assert_eq!(db.get([7u8]).unwrap().unwrap(), "again", "later writes win");
        db.flush().unwrap();
        assert_eq!(db.get([6u8]).unwrap(), None, "survives a flush");
        let mut b = WriteBatch::new();
        b.delete_range(&db, [0u8], [3u8]);
        b.put(&db, [1u8], "kept");
        db.write(b).unwrap();
        assert_eq!(keys(db.range([0u8]..[3u8])), ["\u{1}"]);
    }
}

#[test]
fn batches_apply_in_order_and_atomically() {
    for kind in engines() {
        let (_d, db) = open(kind);
        let mut b = WriteBatch::new();
        assert!(b.is_empty());
        b.put(&db, "a", "1");
        b.put(&db, "a", "2");
        b.put(&db, "b", "x");
        b.delete(&db, "b");
        assert_eq!(b.len(), 4);
        db.write(b.clone()).unwrap();
        assert_eq!(db.get("a").unwrap().unwrap(), "2");
        assert_eq!(db.get("b").unwrap(), None);
        b.clear();
        db.write(b).unwrap();
    }
}

#[test]
fn snapshots_see_a_fixed_state() {
    for kind in engines() {
        let (_d, db) = open(kind);
        let users = db.create_keyspace("users").unwrap();
        db.put("a", "1").unwrap();
        users.put("u", "old").unwrap();
        let snap = db.snapshot();
        db.put("a", "2").unwrap();
        db.put("b", "3").unwrap();
        users.delete("u").unwrap();
        assert_eq!(snap.get(&db, "a").unwrap().unwrap(), "1");
        assert!(!snap.contains_key(&db, "b").unwrap());
        assert_eq!(snap.get(&users, "u").unwrap().unwrap(), "old");
        assert_eq!(keys(snap.iter(&db)), ["a"]);
        assert_eq!(keys(snap.prefix(&users, "u").rev()), ["u"]);
        assert_eq!(keys(snap.range(&db, "a"..="b")), ["a"]);
        assert_eq!(snap.multi_get(&db, ["a", "b"]).unwrap()[1], None);
        db.flush().unwrap();
        assert_eq!(
            snap.get(&db, "a").unwrap().unwrap(),
            "1",
            "after a flush too"
        );
        assert!(snap.seq() < db.snapshot().seq());
    }
}

#[test]
fn data_survives_close_and_reopen() {
    for kind in engines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let db = Db::open_with(&path, opts(kind)).unwrap();
            let ks = db.create_keyspace("ks").unwrap();
            for i in 0..300u32 {
                db.put(i.to_be_bytes(), [7u8; 100]).unwrap();
            }
            ks.put("x", "y").unwrap();
            db.flush().unwrap();
            db.put("tail", "in the log").unwrap();
            db.close().unwrap();
        }
        let db = Db::open_with(&path, opts(kind)).unwrap();
        assert_eq!(db.iter().count(), 301);
        assert_eq!(db.get("tail").unwrap().unwrap(), "in the log");
        assert_eq!(
            db.open_keyspace("ks").unwrap().get("x").unwrap().unwrap(),
            "y"
        );
        assert!(db.stats().store.last_seq > 0);
        drop(db); // dropping the last handle closes: the directory can be opened again
        Db::open_with(&path, opts(kind)).unwrap();
    }
}

#[test]
fn a_closed_database_refuses_everything() {
    for kind in engines() {
        let (_d, db) = open(kind);
        let ks = db.create_keyspace("ks").unwrap();
        let other = db.clone();
        let mut tx = db.transaction();
        db.put("k", "v").unwrap();
        db.close().unwrap();
        assert!(matches!(other.get("k"), Err(Error::Closed)));
        assert!(matches!(other.put("k", "v"), Err(Error::Closed)));
        assert!(matches!(ks.get("k"), Err(Error::Closed)));
        assert!(matches!(other.iter().next(), Some(Err(Error::Closed))));
        assert!(matches!(other.create_keyspace("x"), Err(Error::Closed)));
        assert!(matches!(other.write(WriteBatch::new()), Err(Error::Closed)));
        assert!(matches!(tx.put(&other, "a", "b"), Err(Error::Closed)));
        assert!(matches!(tx.commit(), Err(Error::Closed)));
        assert!(
            matches!(other.clone().close(), Ok(())),
            "closing twice is fine"
        );
    }
}

#[test]
fn a_directory_of_one_engine_is_refused_by_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let lsm = Db::open_with(
        dir.path(),
        kv_api::Options::new().engine(kv_api::EngineKind::Lsm),
    )
    .unwrap();
    lsm.put("k", "v").unwrap();
    lsm.close().unwrap();
    match Db::open_with(
        dir.path(),
        kv_api::Options::new().engine(kv_api::EngineKind::BTree),
    ) {
        Err(Error::Storage(lsm_core::Error::NotADatabase { .. })) => {}
        Err(e) => panic!("expected NotADatabase, got {e}"),
        Ok(_) => panic!("a B+ tree opened an LSM directory"),
    }
}

#[test]
fn stats_report_engine_and_transactions() {
    for kind in engines() {
        let (_d, db) = open(kind);
        db.put("a", "1").unwrap();
        let mut tx = db.transaction();
        tx.put(&db, "b", "2").unwrap();
        tx.commit().unwrap();
        let s = db.stats();
        assert_eq!(s.engine, kind);
        assert_eq!(s.commits, 1);
        assert!(s.store.batches >= 2);
        assert_eq!(s.live_transactions, 0);
        assert_eq!(s.tracked_keys, 0, "pruned with no live transaction");
        assert_eq!(s.locked_keys, 0);
    }
}
