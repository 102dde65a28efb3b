//! A tour of the kv-api basics: open, put/get/delete, keyspaces, batches, scans, snapshots,
//! TTL, merge counters and a transaction.
//!
//! Run with `cargo run --release -p kv-api --example quickstart [DIR]` (default `./strata-data`).
//! The data stays: run it again and the visit counter goes up.

use std::time::Duration;

use kv_api::merge::U64Add;
use kv_api::{Db, KeyspaceOptions, Options, WriteBatch};

fn main() -> kv_api::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "strata-data".to_string());
    let db = Db::open_with(
        &dir,
        Options::new()
            .merge_operator(U64Add)
            .keyspace_options("stats", KeyspaceOptions::new().merge_operator(U64Add)),
    )?;
    println!("database in {dir}");

    // Point reads and writes on the default keyspace.
    db.put("greeting", "hello")?;
    println!("greeting = {:?}", db.get("greeting")?);

    // Keyspaces are separate, ordered key spaces.
    let users = match db.open_keyspace("users") {
        Ok(ks) => ks,
        Err(_) => db.create_keyspace("users")?,
    };
    let stats = match db.open_keyspace("stats") {
        Ok(ks) => ks,
        Err(_) => {
            db.create_keyspace_with("stats", KeyspaceOptions::new().merge_operator(U64Add))?
        }
    };

    // A batch writes to several keyspaces atomically.
    let mut batch = WriteBatch::new();
    for (id, name) in [(1, "ada"), (2, "grace"), (3, "barbara")] {
        batch.put(&users, format!("user:{id:04}"), name);
    }
    batch.merge(&stats, "users", U64Add::encode(3));
    db.write(batch)?;

    // Ordered scans, forwards and backwards.
    for entry in users.prefix("user:").rev() {
        let (k, v) = entry?;
        println!(
            "{} -> {}",
            String::from_utf8_lossy(&k),
            String::from_utf8_lossy(&v)
        );
    }

    // A snapshot keeps seeing the past.
    let snap = db.snapshot();
    users.delete("user:0002")?;
    println!(
        "grace now: {:?}, in the snapshot: {:?}",
        users.get("user:0002")?,
        snap.get(&users, "user:0002")?
    );

    // TTL and merge counters.
    db.put_with_ttl("session", "token", Duration::from_secs(3600))?;
    stats.merge("users", U64Add::encode(1))?;
    println!(
        "user count: {:?}",
        U64Add::decode(&stats.get("users")?.unwrap_or_default())
    );

    // An optimistic transaction.
    let mut tx = db.transaction();
    let visits = tx
        .get(&db, "visits")?
        .and_then(|v| U64Add::decode(&v))
        .unwrap_or(0);
    tx.put(&db, "visits", U64Add::encode(visits + 1))?;
    tx.commit()?;
    println!("visits (across runs): {}", visits + 1);

    drop(snap);
    db.close()?;
    Ok(())
}
