//! Checkpoints under concurrent writes, and incremental backups: a second backup copies only
//! new files, either backup restores, damaged backups are detected.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{engines, open, opts, pairs};
use kv_api::{list_backups, restore, restore_backup, Db, Error, WriteBatch};

#[test]
fn checkpoint_under_concurrent_writes_reopens_consistent() {
    for kind in engines() {
        let (dir, db) = open(kind);
        for i in 0..200u32 {
            let mut b = WriteBatch::new();
            b.put(&db, format!("a{i:05}"), i.to_be_bytes());
            b.put(&db, format!("b{i:05}"), i.to_be_bytes());
            db.write(b).unwrap();
        }
        let stop = AtomicBool::new(false);
        let cp = dir.path().join("cp");
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut i = 200u32;
                while !stop.load(Ordering::Acquire) {
                    let mut b = WriteBatch::new();
                    b.put(&db, format!("a{i:05}"), i.to_be_bytes());
                    b.put(&db, format!("b{i:05}"), i.to_be_bytes());
                    db.write(b).unwrap();
                    i += 1;
                }
            });
            std::thread::sleep(std::time::Duration::from_millis(5));
            db.checkpoint(&cp).unwrap();
            stop.store(true, Ordering::Release);
        });
        assert!(
            db.checkpoint(&cp).is_err(),
            "the target must be new or empty"
        );
        let copy = Db::open_with(&cp, opts(kind)).unwrap();
        let all = pairs(copy.iter());
        let a: Vec<_> = all.iter().filter(|(k, _)| k[0] == b'a').collect();
        let b: Vec<_> = all.iter().filter(|(k, _)| k[0] == b'b').collect();
        assert!(a.len() >= 200, "every write before the checkpoint is in it");
        assert_eq!(a.len(), b.len(), "batches are whole");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.0[1..], y.0[1..]);
            assert_eq!(x.1, y.1);
        }
        // The copy is independent of the original.
        copy.put("only-in-copy", "x").unwrap();
        assert_eq!(db.get("only-in-copy").unwrap(), None);
    }
}

#[test]
fn incremental_backups_copy_only_new_files_and_restore_either() {
    for kind in engines() {
        let (dir, db) = open(kind);
        let backups = dir.path().join("backups");
        let ks = db.create_keyspace("ks").unwrap();
        for i in 0..300u32 {
            db.put(format!("first{i:04}"), [1u8; 64]).unwrap();
        }
        ks.put("k", "v1").unwrap();
        db.flush().unwrap();
        let first = db.backup(&backups).unwrap();
        assert_eq!(first.id, 1);
        assert_eq!(
            first.copied_files,
            first.files.len(),
            "a first backup copies all"
        );
        assert_eq!(first.copied_bytes, first.total_bytes());

        let again = db.backup(&backups).unwrap();
        assert_eq!(again.id, 2);
        let first_blobs: HashSet<_> = first.files.iter().map(|f| f.blob.clone()).collect();
        let new = |b: &kv_api::BackupInfo| {
            b.files
                .iter()
                .filter(|f| !first_blobs.contains(&f.blob))
                .count()
        };
        assert_eq!(again.copied_files, new(&again));
        assert!(
            again.copied_files < again.files.len(),
            "no new data: tables reused"
        );

        for i in 0..300u32 {
            db.put(format!("second{i:04}"), [2u8; 64]).unwrap();
        }
        ks.put("k", "v2").unwrap();
        db.flush().unwrap();
        let second = db.backup(&backups).unwrap();
        assert_eq!(second.id, 3);
        // Incremental at file granularity: the LSM's immutable tables are reused; the B+ tree
        // keeps everything in one page file, which changes with any write and is copied whole.
        if kind == kv_api::EngineKind::Lsm {
            let reused = second.files.len() - second.copied_files;
            assert!(
                reused > 0,
                "the first backup's tables are reused: {second:?}"
            );
            assert!(second.copied_bytes < second.total_bytes());
        }

        let listed = list_backups(&backups).unwrap();
        assert_eq!(listed.iter().map(|b| b.id).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(listed[2].files, second.files);

        let old_dir = dir.path().join("restored-1");
        restore_backup(&backups, 1, &old_dir).unwrap();
        let old = Db::open_with(&old_dir, opts(kind)).unwrap();
        assert_eq!(old.prefix("first").count(), 300);
        assert_eq!(old.prefix("second").count(), 0);
        assert_eq!(
            old.open_keyspace("ks").unwrap().get("k").unwrap().unwrap(),
            "v1"
        );

        let new_dir = dir.path().join("restored-latest");
        let info = restore(&backups, &new_dir).unwrap();
        assert_eq!(info.id, 3);
        let latest = Db::open_with(&new_dir, opts(kind)).unwrap();
        assert_eq!(latest.prefix("second").count(), 300);
        assert_eq!(
            latest
                .open_keyspace("ks")
                .unwrap()
                .get("k")
                .unwrap()
                .unwrap(),
            "v2"
        );

        assert!(
            matches!(restore(&backups, &new_dir), Err(Error::InvalidArgument(_))),
            "the target must be empty"
        );

        kv_api::delete_backup(&backups, 1).unwrap();
        assert_eq!(list_backups(&backups).unwrap().len(), 2);
        let again_dir = dir.path().join("restored-again");
        restore(&backups, &again_dir).unwrap();
        let again = Db::open_with(&again_dir, opts(kind)).unwrap();
        assert_eq!(again.prefix("first").count(), 300, "shared blobs were kept");
    }
}

#[test]
fn a_damaged_backup_is_detected_on_restore() {
    for kind in engines() {
        let (dir, db) = open(kind);
        let backups = dir.path().join("backups");
        for i in 0..100u32 {
            db.put(i.to_be_bytes(), [3u8; 50]).unwrap();
        }
        let info = db.backup(&backups).unwrap();
        let biggest = info.files.iter().max_by_key(|f| f.size).unwrap();
        let blob = backups.join("blobs").join(&biggest.blob);
        let mut bytes = std::fs::read(&blob).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        std::fs::write(&blob, bytes).unwrap();
        match restore(&backups, dir.path().join("r")) {
            Err(Error::Backup { reason, .. }) => {
                assert!(reason.contains("does not match"), "{reason}")
            }
            other => panic!("expected a Backup error, got {other:?}"),
        }
    }
}
