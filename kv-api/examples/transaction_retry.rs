//! Optimistic transactions with a retry loop: several threads move money between accounts;
//! a commit that loses a race fails with `Error::Conflict` and the transfer is simply run
//! again. The total never changes.
//!
//! Run with `cargo run -p kv-api --example transaction_retry`.

use kv_api::{Db, Options, SyncMode, Transaction};

const ACCOUNTS: u64 = 5;

fn balance(tx: &Transaction, db: &Db, account: &str) -> kv_api::Result<u64> {
    let v = tx.get(db, account)?.unwrap_or_default();
    Ok(u64::from_le_bytes(v[..].try_into().unwrap_or([0; 8])))
}

/// Runs `body` in a fresh transaction until it commits or fails with a non-retryable error.
fn with_retry<T>(
    db: &Db,
    mut body: impl FnMut(&mut Transaction) -> kv_api::Result<T>,
) -> kv_api::Result<(T, u32)> {
    let mut retries = 0;
    loop {
        let mut tx = db.transaction();
        let result = body(&mut tx).and_then(|v| tx.commit().map(|()| v));
        match result {
            Ok(v) => return Ok((v, retries)),
            Err(e) if e.is_retryable() => retries += 1,
            Err(e) => return Err(e),
        }
    }
}

fn main() -> kv_api::Result<()> {
    let dir = std::env::temp_dir().join(format!("strata-retry-{}", std::process::id()));
    let db = Db::open_with(&dir, Options::new().sync_mode(SyncMode::Never))?;
    for i in 0..ACCOUNTS {
        db.put(format!("acct:{i}"), 100u64.to_le_bytes())?;
    }

    let total_retries = std::thread::scope(|s| -> kv_api::Result<u32> {
        let workers: Vec<_> = (0..4u64)
            .map(|t| {
                let db = &db;
                s.spawn(move || -> kv_api::Result<u32> {
                    let mut retries = 0;
                    for i in 0..200u64 {
                        let from = format!("acct:{}", (t + i) % ACCOUNTS);
                        let to = format!("acct:{}", (t + i + 1) % ACCOUNTS);
                        let ((), r) = with_retry(db, |tx| {
                            let (a, b) = (balance(tx, db, &from)?, balance(tx, db, &to)?);
                            if a == 0 {
                                return Ok(());
                            }
                            tx.put(db, &from, (a - 1).to_le_bytes())?;
                            tx.put(db, &to, (b + 1).to_le_bytes())
                        })?;
                        retries += r;
                    }
                    Ok(retries)
                })
            })
            .collect();
        let mut sum = 0;
        for w in workers {
            sum += w.join().expect("worker panicked")?;
        }
        Ok(sum)
    })?;

    let total: u64 = db
        .prefix("acct:")
        .map(|r| r.map(|(_, v)| u64::from_le_bytes(v[..].try_into().unwrap_or([0; 8]))))
        .sum::<kv_api::Result<u64>>()?;
    println!(
        "total = {total} (expected {}), retries = {total_retries}",
        ACCOUNTS * 100
    );
    assert_eq!(total, ACCOUNTS * 100);
    db.close()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
