//! Quick start: open (or create) a database in `./strata-data` (or the directory given as the
//! first argument), write a batch, read it back, iterate, and reopen.
//!
//! ```text
//! cargo run --release -p lsm-core --example engine_tour [DIR]
//! ```

use lsm_core::db::{LsmDb, Options, SyncMode};
use lsm_core::store::{KeyRange, ReadAt, Store};
use lsm_core::wal::WriteBatch;
use lsm_core::KeyspaceId;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "strata-data".into());
    let ks = KeyspaceId::DEFAULT;
    {
        let db = LsmDb::open(&dir, Options::new().sync_mode(SyncMode::Group))?;
        let mut batch = WriteBatch::new();
        for (k, v) in [
            ("apple", "red"),
            ("banana", "yellow"),
            ("cherry", "dark red"),
        ] {
            batch.put(ks, k, v);
        }
        batch.delete(ks, "durian");
        let seq = db.write(batch)?; // atomic and fsynced when it returns
        println!("committed batch up to sequence {seq}");

        let snap = db.snapshot();
        let mut later = WriteBatch::new();
        later.put(ks, "apple", "green");
        db.write(later)?;
        let now = db.get(ks, b"apple", ReadAt::Latest)?;
        let then = db.get(ks, b"apple", ReadAt::Snapshot(&snap))?;
        println!(
            "apple now = {:?}, at the snapshot = {:?}",
            utf8(now),
            utf8(then)
        );
        db.flush()?; // memtable -> L0 table
    }
    // Reopen: everything is still there.
    let db = LsmDb::open(&dir, Options::new())?;
    let mut it = db.iter(ks, KeyRange::all(), ReadAt::Latest)?;
    it.seek_to_first()?;
    while it.valid() {
        println!(
            "{} => {}",
            String::from_utf8_lossy(it.key()),
            String::from_utf8_lossy(it.value())
        );
        it.next()?;
    }
    let stats = db.stats();
    println!(
        "{} live table file(s), {} bytes; data directory: {dir}",
        stats.live_files, stats.live_bytes
    );
    Ok(())
}

fn utf8(v: Option<bytes::Bytes>) -> Option<String> {
    v.map(|b| String::from_utf8_lossy(&b).into_owned())
}
