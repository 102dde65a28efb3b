//! Helpers shared by the kv-api integration tests. Every test runs once per engine returned by
//! [`engines`]: add `EngineKind::BTree` there when the B+ tree is wired in `src/engine.rs`.
#![allow(dead_code)] // each test binary uses a different subset

use kv_api::{Db, EngineKind, Options, SyncMode};
use tempfile::TempDir;

/// The engines every test runs against.
pub fn engines() -> Vec<EngineKind> {
    vec![EngineKind::Lsm, EngineKind::BTree]
}

/// Small, fast options for `kind` (no fsync: the tests do not simulate power loss).
pub fn opts(kind: EngineKind) -> Options {
    Options::new()
        .engine(kind)
        .sync_mode(SyncMode::Never)
        .memtable_size(256 << 10)
        .cache_size(1 << 20)
        .background_threads(1)
}

/// A fresh database of `kind` in a new temporary directory (kept alive by the returned guard).
pub fn open(kind: EngineKind) -> (TempDir, Db) {
    open_with(kind, opts(kind))
}

/// Like [`open`] with explicit options (the engine kind is forced to `kind`).
pub fn open_with(kind: EngineKind, o: Options) -> (TempDir, Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open_with(dir.path().join("db"), o.engine(kind)).expect("open");
    (dir, db)
}

/// Decodes an 8-byte little-endian u64.
pub fn u64_of(v: &[u8]) -> u64 {
    u64::from_le_bytes(v.try_into().expect("8-byte value"))
}

/// Collects an iterator of `Result<(Key, Value)>` into (key, value) byte vectors.
pub fn pairs<I, K, V>(it: I) -> Vec<(Vec<u8>, Vec<u8>)>
where
    I: Iterator<Item = kv_api::Result<(K, V)>>,
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    it.map(|r| {
        let (k, v) = r.expect("iteration");
        (k.as_ref().to_vec(), v.as_ref().to_vec())
    })
    .collect()
}

/// Keys only, as strings.
pub fn keys<I, K, V>(it: I) -> Vec<String>
where
    I: Iterator<Item = kv_api::Result<(K, V)>>,
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    pairs(it)
        .into_iter()
        .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
        .collect()
}
