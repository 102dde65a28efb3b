//! A job queue on pessimistic transactions: producers enqueue jobs; workers claim a few at a
//! time with `scan_for_update_skip_locked` (jobs locked by another worker are skipped, not
//! waited for), process them, and delete them in the same transaction. Every job runs once.
//!
//! Run with `cargo run -p kv-api --example job_queue`.

use std::sync::atomic::{AtomicUsize, Ordering};

use kv_api::{Db, Options, SyncMode};

const JOBS: usize = 100;
const WORKERS: usize = 4;

fn main() -> kv_api::Result<()> {
    let dir = std::env::temp_dir().join(format!("strata-jobs-{}", std::process::id()));
    let db = Db::open_with(&dir, Options::new().sync_mode(SyncMode::Never))?;
    let queue = db.create_keyspace("queue")?;
    let results = db.create_keyspace("results")?;
    for i in 0..JOBS {
        queue.put(format!("job:{i:06}"), format!("square {i}"))?;
    }

    let processed = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for w in 0..WORKERS {
            let (db, queue, results, processed) = (&db, &queue, &results, &processed);
            s.spawn(move || -> kv_api::Result<()> {
                loop {
                    let mut tx = db.transaction_pessimistic();
                    let batch = tx.scan_for_update_skip_locked(queue, "job:".."job;", 5)?;
                    if batch.is_empty() {
                        if queue.iter().next().is_none() {
                            return Ok(()); // queue drained
                        }
                        std::thread::yield_now(); // the rest is claimed by others
                        continue;
                    }
                    for (key, payload) in &batch {
                        let n: u64 = String::from_utf8_lossy(&payload[7..]).parse().unwrap_or(0);
                        tx.put(results, &key[..], format!("{} by worker {w}", n * n))?;
                        tx.delete(queue, key)?;
                    }
                    tx.commit()?;
                    processed.fetch_add(batch.len(), Ordering::Relaxed);
                }
            });
        }
    });

    println!(
        "processed {} jobs, {} results, {} left in the queue",
        processed.load(Ordering::Relaxed),
        results.iter().count(),
        queue.iter().count()
    );
    assert_eq!(results.iter().count(), JOBS);
    db.close()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
