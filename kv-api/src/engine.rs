//! Engine dispatch: the one place that knows which engines exist. Everything else in kv-api
//! talks to the [`Store`] trait only.

use std::path::Path;
use std::sync::Arc;

use lsm_core::store::Store;

use crate::codec::MAX_HEADER;
use crate::error::Result;
use crate::options::{Compression, EngineKind, Options, SyncMode};

/// Opens (or creates) the store of kind `opts.engine` in `path`.
pub(crate) fn open_store(path: &Path, opts: &Options) -> Result<Arc<dyn Store>> {
    match opts.engine {
        EngineKind::Lsm => {
            let o = lsm_core::db::Options::new()
                .sync_mode(match opts.sync_mode {
                    SyncMode::Always => lsm_core::db::SyncMode::Always,
                    SyncMode::Group => lsm_core::db::SyncMode::Group,
                    SyncMode::Never => lsm_core::db::SyncMode::Never,
                })
                .memtable_size(opts.memtable_size)
                .block_cache_bytes(opts.cache_size)
                .compression(match opts.compression {
                    Compression::None => lsm_core::sstable::Compression::None,
                    Compression::Zstd => lsm_core::sstable::Compression::Zstd,
                })
                .bloom_bits_per_key(opts.bloom_bits_per_key)
                .background_threads(opts.background_threads)
                .max_key_size(opts.max_key_size)
                // kv-api checks user values itself; the engine sees them with their header.
                .max_value_size(opts.max_value_size.saturating_add(MAX_HEADER))
                .create_if_missing(opts.create_if_missing);
            Ok(Arc::new(lsm_core::db::LsmDb::open(path, o)?))
        }
        EngineKind::BTree => {
            // The B+ tree has no memtable, compression or bloom filters; its cache is the
            // buffer pool.
            let o = lsm_core::btree::BTreeOptions::new()
                .sync_mode(match opts.sync_mode {
                    SyncMode::Always => lsm_core::db::SyncMode::Always,
                    SyncMode::Group => lsm_core::db::SyncMode::Group,
                    SyncMode::Never => lsm_core::db::SyncMode::Never,
                })
                .buffer_pool_bytes(opts.cache_size)
                .max_key_size(opts.max_key_size)
                .max_value_size(opts.max_value_size.saturating_add(MAX_HEADER))
                .create_if_missing(opts.create_if_missing);
            Ok(Arc::new(lsm_core::btree::BTreeStore::open(path, o)?))
        }
    }
}
