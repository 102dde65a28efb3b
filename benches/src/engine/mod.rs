//! The one adapter trait every benchmarked engine implements, the shared configuration that
//! keeps them comparable, and the registry that opens an engine by name.
//!
//! Fairness rules every adapter follows (RESULTS.md repeats them):
//! * durability: without `--sync` no engine fsyncs on a write (each writes its log to the OS
//!   page cache, or for redb commits with `Durability::None`); with `--sync` every
//!   acknowledged write is on stable storage (group commit where the engine has it);
//! * cache: `--cache-mb` sizes each engine's own block/page cache (LMDB has none: it reads
//!   through the OS page cache);
//! * compression: none for every engine (Strata has zstd only, redb and LMDB have none, and
//!   the benchmark values are random bytes anyway);
//! * a read copies the value into the caller's buffer, a scan hands each entry to a callback:
//!   every engine pays the same copy.

mod strata;

#[cfg(any(
    feature = "peer-rocksdb",
    feature = "peer-fjall",
    feature = "peer-redb",
    feature = "peer-lmdb"
))]
mod peers;

use std::path::PathBuf;

/// Errors from an engine, as text (each engine has its own error type).
pub type EngineError = Box<dyn std::error::Error + Send + Sync>;
/// Result of an engine operation.
pub type EngineResult<T> = std::result::Result<T, EngineError>;

/// One write of a batch: a put (`Some(value)`) or a delete (`None`).
#[derive(Clone, Copy, Debug)]
pub struct BatchOp<'a> {
    /// Key.
    pub key: &'a [u8],
    /// Value, or `None` for a delete.
    pub value: Option<&'a [u8]>,
}

/// The operations the workloads need, over any engine.
pub trait Engine: Send + Sync {
    /// Writes one key.
    fn put(&self, key: &[u8], value: &[u8]) -> EngineResult<()> {
        self.write_batch(&[BatchOp {
            key,
            value: Some(value),
        }])
    }
    /// Reads `key`, copying its value into `out`; false if absent.
    fn get(&self, key: &[u8], out: &mut Vec<u8>) -> EngineResult<bool>;
    /// Deletes one key.
    fn delete(&self, key: &[u8]) -> EngineResult<()> {
        self.write_batch(&[BatchOp { key, value: None }])
    }
    /// Applies `ops` atomically.
    fn write_batch(&self, ops: &[BatchOp<'_>]) -> EngineResult<()>;
    /// Visits up to `limit` entries in key order (descending if `reverse`), starting at the
    /// first key `>= start` (or the last `<= start` in reverse; the first/last key when `start`
    /// is `None`). Returns how many entries were visited.
    fn scan(
        &self,
        start: Option<&[u8]>,
        reverse: bool,
        limit: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> EngineResult<usize>;
    /// Makes everything written so far durable in the engine's main files (memtables flushed,
    /// pages written back), so directory size and device bytes cover it.
    fn flush(&self) -> EngineResult<()>;
}

/// What all engines are configured from.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Directory of the database (created if missing).
    pub dir: PathBuf,
    /// Fsync every acknowledged write.
    pub sync: bool,
    /// Cache budget in bytes.
    pub cache_bytes: usize,
    /// Bytes of buffered writes before a flush (memtable / write buffer), where configurable.
    pub write_buffer_bytes: usize,
}

/// An engine's identity and settings, reported with its results.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct EngineInfo {
    /// Name as given to `--engines`.
    pub name: String,
    /// Crate (and library) version.
    pub version: String,
    /// The settings used, in words.
    pub settings: String,
}

/// Copies a looked-up value into the caller's buffer: `true` if there was one. Every engine's
/// `get` ends here, so all of them pay the same copy.
pub(crate) fn copy_found(found: Option<&[u8]>, out: &mut Vec<u8>) -> bool {
    match found {
        Some(v) => {
            out.clear();
            out.extend_from_slice(v);
            true
        }
        None => false,
    }
}

/// Names of the engines this build can run.
pub fn available() -> Vec<&'static str> {
    let mut v = vec!["strata-lsm", "strata-btree"];
    if cfg!(feature = "peer-rocksdb") {
        v.push("rocksdb");
    }
    if cfg!(feature = "peer-fjall") {
        v.push("fjall");
    }
    if cfg!(feature = "peer-redb") {
        v.push("redb");
    }
    if cfg!(feature = "peer-lmdb") {
        v.push("lmdb");
    }
    v
}

/// Every engine name the suite knows, built or not.
pub const ALL_ENGINES: &[&str] = &[
    "strata-lsm",
    "strata-btree",
    "rocksdb",
    "fjall",
    "redb",
    "lmdb",
];

/// Opens engine `name` with `cfg`.
pub fn open(name: &str, cfg: &EngineConfig) -> EngineResult<(Box<dyn Engine>, EngineInfo)> {
    match name {
        "strata-lsm" => strata::open_lsm(cfg),
        "strata-btree" => strata::open_btree(cfg),
        other if available().contains(&other) => open_peer(other, cfg),
        other if ALL_ENGINES.contains(&other) => {
            Err(format!("engine {other} is a peer engine: rebuild with `--features peers`").into())
        }
        other => Err(format!("unknown engine {other} (known: {})", ALL_ENGINES.join(", ")).into()),
    }
}

#[cfg(any(
    feature = "peer-rocksdb",
    feature = "peer-fjall",
    feature = "peer-redb",
    feature = "peer-lmdb"
))]
fn open_peer(name: &str, cfg: &EngineConfig) -> EngineResult<(Box<dyn Engine>, EngineInfo)> {
    peers::open(name, cfg)
}

#[cfg(not(any(
    feature = "peer-rocksdb",
    feature = "peer-fjall",
    feature = "peer-redb",
    feature = "peer-lmdb"
)))]
fn open_peer(name: &str, _cfg: &EngineConfig) -> EngineResult<(Box<dyn Engine>, EngineInfo)> {
    Err(format!("engine {name} is not built in").into())
}
