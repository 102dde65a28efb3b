//! Keyspaces: create, open by name, drop, list, persistence, the error cases, and batches and
//! transactions across keyspaces.

mod common;

use common::{engines, keys, open, opts};
use kv_api::{Db, Error, KeyspaceOptions, WriteBatch};

#[test]
fn create_open_list_drop() {
    for kind in engines() {
        let (_d, db) = open(kind);
        assert_eq!(db.list_keyspaces(), ["default"]);
        let b = db.create_keyspace("b").unwrap();
        let a = db.create_keyspace("a").unwrap();
        assert_eq!(db.list_keyspaces(), ["default", "a", "b"]);
        assert_eq!(a.name(), "a");
        a.put("k", "in a").unwrap();
        b.put("k", "in b").unwrap();
        db.put("k", "in default").unwrap();
        assert_eq!(
            db.open_keyspace("a").unwrap().get("k").unwrap().unwrap(),
            "in a"
        );
        assert_eq!(b.get("k").unwrap().unwrap(), "in b");
        assert_eq!(
            db.default_keyspace().get("k").unwrap().unwrap(),
            "in default"
        );
        assert_eq!(db.open_keyspace("default").unwrap().name(), "default");

        db.drop_keyspace("a").unwrap();
        assert_eq!(db.list_keyspaces(), ["default", "b"]);
        // Recreating gives a fresh, empty keyspace; the old handle stays dead.
        let a2 = db.create_keyspace("a").unwrap();
        assert_eq!(a2.get("k").unwrap(), None);
        assert!(matches!(a.get("k"), Err(Error::KeyspaceDropped(n)) if n == "a"));
    }
}

#[test]
fn keyspace_errors_are_typed() {
    for kind in engines() {
        let (_d, db) = open(kind);
        let ks = db.create_keyspace("ks").unwrap();
        assert!(matches!(db.create_keyspace("ks"), Err(Error::KeyspaceExists(n)) if n == "ks"));
        assert!(matches!(db.open_keyspace("nope"), Err(Error::UnknownKeyspace(n)) if n == "nope"));
        assert!(matches!(
            db.drop_keyspace("nope"),
            Err(Error::UnknownKeyspace(_))
        ));
        assert!(matches!(
            db.drop_keyspace("default"),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            db.create_keyspace(""),
            Err(Error::InvalidArgument(_))
        ));
        db.drop_keyspace("ks").unwrap();
        let dropped = |r: kv_api::Result<()>| matches!(r, Err(Error::KeyspaceDropped(_)));
        assert!(dropped(ks.put("k", "v")));
        assert!(dropped(ks.delete("k")));
        assert!(dropped(ks.get("k").map(drop)));
        assert!(matches!(
            ks.iter().next(),
            Some(Err(Error::KeyspaceDropped(_)))
        ));
        let mut b = WriteBatch::new();
        b.put(&db, "x", "y");
        b.put(&ks, "k", "v");
        assert!(matches!(db.write(b), Err(Error::KeyspaceDropped(_))));
        assert_eq!(db.get("x").unwrap(), None);
        let mut tx = db.transaction();
        assert!(matches!(
            tx.put(&ks, "k", "v"),
            Err(Error::KeyspaceDropped(_))
        ));
        let snap = db.snapshot();
        assert!(matches!(snap.get(&ks, "k"), Err(Error::KeyspaceDropped(_))));
    }
}

#[test]
fn handles_of_another_database_are_refused() {
    for kind in engines() {
        let (_d1, db1) = open(kind);
        let (_d2, db2) = open(kind);
        let mut b = WriteBatch::new();
        b.put(&db2, "k", "v");
        assert!(matches!(db1.write(b), Err(Error::InvalidArgument(_))));
        let tx = db1.transaction();
        assert!(matches!(tx.get(&db2, "k"), Err(Error::InvalidArgument(_))));
        assert!(matches!(
            db1.snapshot().get(&db2, "k"),
            Err(Error::InvalidArgument(_))
        ));
    }
}

#[test]
fn keyspaces_and_their_options_survive_reopen() {
    for kind in engines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let counters_opts = || KeyspaceOptions::new().merge_operator(kv_api::merge::U64Add);
        {
            let db = Db::open_with(&path, opts(kind)).unwrap();
            let logs = db.create_keyspace("logs").unwrap();
            let c = db
                .create_keyspace_with("counters", counters_opts())
                .unwrap();
            logs.put("l1", "x").unwrap();
            c.merge("hits", 5u64.to_le_bytes()).unwrap();
            c.merge("hits", 6u64.to_le_bytes()).unwrap();
            db.close().unwrap();
        }
        let db = Db::open_with(
            &path,
            opts(kind).keyspace_options("counters", counters_opts()),
        )
        .unwrap();
        assert_eq!(db.list_keyspaces(), ["default", "counters", "logs"]);
        let c = db.open_keyspace("counters").unwrap();
        assert_eq!(common::u64_of(&c.get("hits").unwrap().unwrap()), 11);
        c.merge("hits", 1u64.to_le_bytes()).unwrap();
        assert_eq!(common::u64_of(&c.get("hits").unwrap().unwrap()), 12);
        let logs = db.open_keyspace("logs").unwrap();
        assert_eq!(keys(logs.iter()), ["l1"]);
        assert!(matches!(logs.merge("k", [0u8; 8]), Err(Error::NoMergeOperator(n)) if n == "logs"));
    }
}

#[test]
fn batches_and_transactions_span_keyspaces_atomically() {
    for kind in engines() {
        let (_d, db) = open(kind);
        let orders = db.create_keyspace("orders").unwrap();
        let stock = db.create_keyspace("stock").unwrap();
        stock.put("apple", 10u64.to_le_bytes()).unwrap();

        let mut b = WriteBatch::new();
        b.put(&orders, "o1", "apple");
        b.put(&stock, "apple", 9u64.to_le_bytes());
        b.put(&db, "last-order", "o1");
        db.write(b).unwrap();
        assert_eq!(orders.get("o1").unwrap().unwrap(), "apple");

        let mut tx = db.transaction();
        let n = common::u64_of(&tx.get(&stock, "apple").unwrap().unwrap());
        tx.put(&stock, "apple", (n - 1).to_le_bytes()).unwrap();
        tx.put(&orders, "o2", "apple").unwrap();
        assert_eq!(keys(tx.iter(&orders)), ["o1", "o2"]);
        assert_eq!(keys(orders.iter()), ["o1"], "not before commit");
        tx.commit().unwrap();
        assert_eq!(keys(orders.iter()), ["o1", "o2"]);
        assert_eq!(common::u64_of(&stock.get("apple").unwrap().unwrap()), 8);
    }
}
