//! scratch
use kv_api::{Db, Options, SyncMode};
use lsm_core::store::Store;
use std::time::Instant;
fn main() {
    let dir = std::env::temp_dir().join(format!("kvdbg-{}", std::process::id()));
    let n = 100_000u64;
    {
        let db = lsm_core::db::LsmDb::open(
            dir.join("raw"),
            lsm_core::db::Options::new().sync_mode(lsm_core::db::SyncMode::Never),
        )
        .unwrap();
        let t = Instant::now();
        for i in 0..n {
            let mut b = lsm_core::wal::WriteBatch::new();
            b.put(
                lsm_core::KeyspaceId::DEFAULT,
                [b"p".as_slice(), &i.to_be_bytes()].concat(),
                [7u8; 17],
            );
            db.write(b).unwrap();
        }
        println!(
            "raw lsm put {:.0} ns",
            t.elapsed().as_nanos() as f64 / n as f64
        );
    }
    let db = Db::open_with(dir.join("kv"), Options::new().sync_mode(SyncMode::Never)).unwrap();
    let t = Instant::now();
    for i in 0..n {
        db.put([b"p".as_slice(), &i.to_be_bytes()].concat(), [7u8; 16])
            .unwrap();
    }
    println!("kv put {:.0} ns", t.elapsed().as_nanos() as f64 / n as f64);
    let _ = std::fs::remove_dir_all(&dir);
}
