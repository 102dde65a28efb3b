use kv_api::{Db, Options, SyncMode};
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicU64, Ordering};
fn main() {
    let dir = std::env::temp_dir().join(format!("kvdbg-{}", std::process::id()));
    let db = Db::open_with(&dir, Options::new().sync_mode(SyncMode::Never)).unwrap();
    for i in 0..1000u64 { db.put(format!("acct:{i:06}"), 1000u64.to_le_bytes()).unwrap(); }
    let retries = AtomicU64::new(0);
    let same = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..8u64 {
            let (db, retries, same) = (&db, &retries, &same);
            s.spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(t);
                for _ in 0..5000 {
                    let from = rng.gen_range(0..1000u64);
                    let to = (from + rng.gen_range(1..1000u64)) % 1000;
                    let (a, b) = (format!("acct:{from:06}"), format!("acct:{to:06}"));
                    loop {
                        let mut tx = db.transaction();
                        let snap = db.snapshot().seq();
                        let x = u64::from_le_bytes(tx.get_for_update(db, &a).unwrap().unwrap()[..].try_into().unwrap());
                        let y = u64::from_le_bytes(tx.get_for_update(db, &b).unwrap().unwrap()[..].try_into().unwrap());
                        tx.put(db, &a, (x.wrapping_sub(1)).to_le_bytes()).unwrap();
                        tx.put(db, &b, (y + 1).to_le_bytes()).unwrap();
                        match tx.commit() { Ok(()) => break, Err(e) => { retries.fetch_add(1, Ordering::Relaxed); let _ = (e, snap); } }
                    }
                }
                let _ = same;
            });
        }
    });
    println!("retries {} stats {:?}", retries.load(Ordering::Relaxed), db.stats());
    let _ = std::fs::remove_dir_all(&dir);
}
