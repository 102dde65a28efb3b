//! [`Options`] for opening a [`crate::Db`], per-keyspace [`KeyspaceOptions`], and
//! [`TransactionOptions`]. All are builders: setters take and return `self`.
//!
//! The engine-tuning knobs are engine-neutral here; [`crate::engine`] translates them for the
//! engine that [`EngineKind`] picks.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::merge::MergeOperator;

/// Which storage engine holds the data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EngineKind {
    /// The log-structured merge tree (write-optimized). The default.
    #[default]
    Lsm,
    /// The copy-on-write B+ tree (read-optimized; one page file). A directory created by one
    /// engine is refused by the other (`NotADatabase`).
    BTree,
}

impl EngineKind {
    /// A short lowercase name (`"lsm"`, `"btree"`).
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Lsm => "lsm",
            EngineKind::BTree => "btree",
        }
    }
}

/// When a write is made durable before it is acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SyncMode {
    /// Every write is fsynced on its own before it returns.
    Always,
    /// Concurrent writers share one fsync (group commit); each returns after it. The default.
    #[default]
    Group,
    /// Never fsync on the write path: survives a process crash, not a power loss.
    Never,
}

/// Compression of on-disk blocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Stored as is.
    None,
    /// zstd. The default.
    #[default]
    Zstd,
}

/// How an optimistic transaction is validated at commit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IsolationLevel {
    /// Snapshot isolation: commit fails if a key the transaction *wrote* was committed by
    /// someone else after its snapshot. Prevents lost updates; allows write skew. The default.
    #[default]
    Snapshot,
    /// Serializable: commit also fails if a key or range the transaction *read* was changed
    /// after its snapshot. Prevents write skew as well.
    Serializable,
}

/// Options of one keyspace.
///
/// ```
/// use kv_api::{merge::U64Add, KeyspaceOptions};
/// let opts = KeyspaceOptions::new().merge_operator(U64Add);
/// # let _ = opts;
/// ```
#[derive(Clone, Default)]
pub struct KeyspaceOptions {
    pub(crate) merge: Option<Arc<dyn MergeOperator>>,
}

impl KeyspaceOptions {
    /// Default options: no merge operator.
    pub fn new() -> KeyspaceOptions {
        KeyspaceOptions::default()
    }

    /// The merge operator of the keyspace (needed for `merge`, and for reading keys that hold
    /// merge operands; register it at every open).
    pub fn merge_operator(mut self, op: impl MergeOperator) -> Self {
        self.merge = Some(Arc::new(op));
        self
    }
}

impl fmt::Debug for KeyspaceOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyspaceOptions")
            .field("merge", &self.merge.as_ref().map(|m| m.name().to_string()))
            .finish()
    }
}

/// Options for [`crate::Db::open_with`]. `Options::new()` is a sensible default.
///
/// ```
/// use kv_api::{EngineKind, Options, SyncMode};
/// let opts = Options::new()
///     .engine(EngineKind::Lsm)
///     .sync_mode(SyncMode::Never)
///     .memtable_size(8 << 20)
///     .cache_size(32 << 20)
///     .max_value_size(1 << 20);
/// # let _ = opts;
/// ```
#[derive(Clone)]
pub struct Options {
    pub(crate) engine: EngineKind,
    pub(crate) sync_mode: SyncMode,
    pub(crate) memtable_size: usize,
    pub(crate) cache_size: usize,
    pub(crate) compression: Compression,
    pub(crate) bloom_bits_per_key: u32,
    pub(crate) background_threads: usize,
    pub(crate) max_key_size: usize,
    pub(crate) max_value_size: usize,
    pub(crate) create_if_missing: bool,
    pub(crate) lock_timeout: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) keyspaces: BTreeMap<String, KeyspaceOptions>,
}

/// Name of the default keyspace.
pub const DEFAULT_KEYSPACE: &str = lsm_core::store::DEFAULT_KEYSPACE;

impl Default for Options {
    fn default() -> Self {
        Options {
            engine: EngineKind::default(),
            sync_mode: SyncMode::default(),
            memtable_size: 64 << 20,
            cache_size: 64 << 20,
            compression: Compression::default(),
            bloom_bits_per_key: 10,
            background_threads: 2,
            max_key_size: 64 << 10,
            max_value_size: 256 << 20,
            create_if_missing: true,
            lock_timeout: Duration::from_secs(1),
            clock: Arc::new(SystemClock),
            keyspaces: BTreeMap::new(),
        }
    }
}

impl Options {
    /// Default options (same as `Options::default()`).
    pub fn new() -> Options {
        Options::default()
    }
    /// Which engine stores the data (default [`EngineKind::Lsm`]). Fixed when the database is
    /// created: open an existing database with the engine that created it.
    pub fn engine(mut self, kind: EngineKind) -> Self {
        self.engine = kind;
        self
    }
    /// When writes are fsynced (default [`SyncMode::Group`]).
    pub fn sync_mode(mut self, m: SyncMode) -> Self {
        self.sync_mode = m;
        self
    }
    /// Bytes of writes buffered in memory before they go to disk (default 64 MiB).
    pub fn memtable_size(mut self, bytes: usize) -> Self {
        self.memtable_size = bytes;
        self
    }
    /// Block/page cache capacity in bytes; 0 disables it (default 64 MiB).
    pub fn cache_size(mut self, bytes: usize) -> Self {
        self.cache_size = bytes;
        self
    }
    /// Compression of on-disk blocks (default [`Compression::Zstd`]).
    pub fn compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }
    /// Bloom filter bits per key; 0 disables filters (default 10).
    pub fn bloom_bits_per_key(mut self, bits: u32) -> Self {
        self.bloom_bits_per_key = bits;
        self
    }
    /// Threads for background flushes and compactions (default 2).
    pub fn background_threads(mut self, n: usize) -> Self {
        self.background_threads = n.max(1);
        self
    }
    /// Longest key accepted (default 64 KiB). Empty keys are allowed.
    pub fn max_key_size(mut self, bytes: usize) -> Self {
        self.max_key_size = bytes;
        self
    }
    /// Longest value or merge operand accepted (default 256 MiB).
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = bytes;
        self
    }
    /// Create the database if the directory holds none (default true).
    pub fn create_if_missing(mut self, yes: bool) -> Self {
        self.create_if_missing = yes;
        self
    }
    /// How long a pessimistic lock request (and a plain write meeting a pessimistic lock) waits
    /// before [`crate::Error::LockTimeout`] (default 1 s). Per-transaction override:
    /// [`TransactionOptions::lock_timeout`].
    pub fn lock_timeout(mut self, d: Duration) -> Self {
        self.lock_timeout = d;
        self
    }
    /// The clock TTL expiry is judged by (default the system clock).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }
    /// The merge operator of the default keyspace.
    pub fn merge_operator(self, op: impl MergeOperator) -> Self {
        self.keyspace_options(DEFAULT_KEYSPACE, KeyspaceOptions::new().merge_operator(op))
    }
    /// Options for the keyspace `name`, applied when it is opened (now, if it exists) or
    /// created in this session.
    pub fn keyspace_options(mut self, name: &str, opts: KeyspaceOptions) -> Self {
        self.keyspaces.insert(name.to_string(), opts);
        self
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("engine", &self.engine)
            .field("sync_mode", &self.sync_mode)
            .field("memtable_size", &self.memtable_size)
            .field("cache_size", &self.cache_size)
            .field("compression", &self.compression)
            .field("bloom_bits_per_key", &self.bloom_bits_per_key)
            .field("background_threads", &self.background_threads)
            .field("max_key_size", &self.max_key_size)
            .field("max_value_size", &self.max_value_size)
            .field("lock_timeout", &self.lock_timeout)
            .field("keyspaces", &self.keyspaces)
            .finish_non_exhaustive()
    }
}

/// Options of one transaction.
///
/// ```
/// use std::time::Duration;
/// use kv_api::{IsolationLevel, TransactionOptions};
/// let t = TransactionOptions::new()
///     .isolation(IsolationLevel::Serializable)
///     .lock_timeout(Duration::from_millis(50));
/// # let _ = t;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TransactionOptions {
    pub(crate) isolation: IsolationLevel,
    pub(crate) lock_timeout: Option<Duration>,
}

impl TransactionOptions {
    /// Snapshot isolation, the database's lock timeout.
    pub fn new() -> TransactionOptions {
        TransactionOptions::default()
    }
    /// Isolation level of an optimistic transaction (pessimistic transactions get their
    /// guarantees from locks and ignore it).
    pub fn isolation(mut self, level: IsolationLevel) -> Self {
        self.isolation = level;
        self
    }
    /// Lock wait timeout of a pessimistic transaction (default: [`Options::lock_timeout`]).
    pub fn lock_timeout(mut self, d: Duration) -> Self {
        self.lock_timeout = Some(d);
        self
    }
}
