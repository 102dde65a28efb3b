//! Options of the B+ tree engine, built with chained setters.

use std::sync::Arc;

use crate::db::SyncMode;
use crate::fs::{FileSystem, OsFs};

use super::page::{MAX_PAGE_SIZE, MIN_PAGE_SIZE};

/// B+ tree engine options. `BTreeOptions::default()` is a sensible configuration.
#[derive(Clone)]
pub struct BTreeOptions {
    pub(crate) fs: Arc<dyn FileSystem>,
    pub(crate) page_size: usize,
    pub(crate) buffer_pool_bytes: usize,
    pub(crate) sync_mode: SyncMode,
    pub(crate) max_key_size: usize,
    pub(crate) max_value_size: usize,
    pub(crate) create_if_missing: bool,
    pub(crate) max_write_group_bytes: usize,
}

impl std::fmt::Debug for BTreeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BTreeOptions")
            .field("page_size", &self.page_size)
            .field("buffer_pool_bytes", &self.buffer_pool_bytes)
            .field("sync_mode", &self.sync_mode)
            .field("max_key_size", &self.max_key_size)
            .field("max_value_size", &self.max_value_size)
            .finish_non_exhaustive()
    }
}

impl Default for BTreeOptions {
    fn default() -> Self {
        BTreeOptions {
            fs: Arc::new(OsFs::new()),
            page_size: 4096,
            buffer_pool_bytes: 64 << 20,
            sync_mode: SyncMode::default(),
            max_key_size: 64 << 10,
            max_value_size: 256 << 20,
            create_if_missing: true,
            max_write_group_bytes: 1 << 20,
        }
    }
}

impl BTreeOptions {
    /// Default options.
    pub fn new() -> BTreeOptions {
        BTreeOptions::default()
    }
    /// The file system all I/O goes through (default: the OS).
    pub fn fs(mut self, fs: Arc<dyn FileSystem>) -> Self {
        self.fs = fs;
        self
    }
    /// Page size of a new database: a power of two from 512 to 16384, rounded down into that
    /// range (default 4096). An existing database keeps the page size it was created with.
    pub fn page_size(mut self, bytes: usize) -> Self {
        let clamped = bytes.clamp(MIN_PAGE_SIZE, MAX_PAGE_SIZE);
        self.page_size = 1 << (usize::BITS - 1 - clamped.leading_zeros());
        self
    }
    /// Memory for cached pages, in bytes (default 64 MiB). A quarter more may hold a large
    /// transaction's dirty pages before they are written early.
    pub fn buffer_pool_bytes(mut self, bytes: usize) -> Self {
        self.buffer_pool_bytes = bytes;
        self
    }
    /// When commits are fsynced (default [`SyncMode::Group`]).
    pub fn sync_mode(mut self, m: SyncMode) -> Self {
        self.sync_mode = m;
        self
    }
    /// Longest key accepted (default 64 KiB).
    pub fn max_key_size(mut self, bytes: usize) -> Self {
        self.max_key_size = bytes;
        self
    }
    /// Longest value accepted (default 256 MiB).
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = bytes;
        self
    }
    /// Create the database if the directory holds none (default true).
    pub fn create_if_missing(mut self, yes: bool) -> Self {
        self.create_if_missing = yes;
        self
    }
    /// Bytes of batches one group commit takes at most under `SyncMode::Group`/`Never`
    /// (default 1 MiB).
    pub fn max_write_group_bytes(mut self, bytes: usize) -> Self {
        self.max_write_group_bytes = bytes.max(1);
        self
    }
}
