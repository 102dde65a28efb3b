//! Strata's two engines, both driven through the engine-neutral `lsm_core::store::Store` trait:
//! the LSM (`LsmDb`) and the B+ tree (`BTreeStore`).

use lsm_core::btree::{BTreeOptions, BTreeStore};
use lsm_core::db::{LsmDb, Options, SyncMode};
use lsm_core::sstable::Compression;
use lsm_core::store::{KeyRange, ReadAt, Store};
use lsm_core::wal::WriteBatch;
use lsm_core::KeyspaceId;

use super::{BatchOp, Engine, EngineConfig, EngineInfo, EngineResult};

const KS: KeyspaceId = KeyspaceId::DEFAULT;

/// Any [`Store`], closed when the adapter is dropped.
struct StrataEngine<S: Store> {
    store: S,
}

impl<S: Store> Drop for StrataEngine<S> {
    fn drop(&mut self) {
        // Best effort: the directory is discarded after the run anyway.
        let _ = self.store.close();
    }
}

fn sync_mode(cfg: &EngineConfig) -> SyncMode {
    if cfg.sync {
        // Group commit: concurrent writers share one WAL append and one fsync.
        SyncMode::Group
    } else {
        SyncMode::Never
    }
}

/// Opens the LSM engine.
pub fn open_lsm(cfg: &EngineConfig) -> EngineResult<(Box<dyn Engine>, EngineInfo)> {
    let opts = Options::new()
        .sync_mode(sync_mode(cfg))
        .memtable_size(cfg.write_buffer_bytes)
        .block_cache_bytes(cfg.cache_bytes)
        .compression(Compression::None)
        .bloom_bits_per_key(10);
    let settings = format!(
        "LsmDb, SyncMode::{:?}, memtable {} MiB, block cache {} MiB, 4 KiB blocks, no compression, bloom 10 bits/key, 2 background threads (defaults otherwise)",
        sync_mode(cfg),
        cfg.write_buffer_bytes >> 20,
        cfg.cache_bytes >> 20
    );
    let store = LsmDb::open(&cfg.dir, opts)?;
    Ok((
        Box::new(StrataEngine { store }),
        EngineInfo {
            name: "strata-lsm".into(),
            version: format!("lsm-core {}", env!("CARGO_PKG_VERSION")),
            settings,
        },
    ))
}

/// Opens the B+ tree engine.
pub fn open_btree(cfg: &EngineConfig) -> EngineResult<(Box<dyn Engine>, EngineInfo)> {
    let opts = BTreeOptions::new()
        .sync_mode(sync_mode(cfg))
        .buffer_pool_bytes(cfg.cache_bytes)
        .page_size(4096);
    let settings = format!(
        "BTreeStore, SyncMode::{:?}, 4 KiB pages, buffer pool {} MiB (defaults otherwise)",
        sync_mode(cfg),
        cfg.cache_bytes >> 20
    );
    let store = BTreeStore::open(&cfg.dir, opts)?;
    Ok((
        Box::new(StrataEngine { store }),
        EngineInfo {
            name: "strata-btree".into(),
            version: format!("lsm-core {}", env!("CARGO_PKG_VERSION")),
            settings,
        },
    ))
}

impl<S: Store> Engine for StrataEngine<S> {
    fn put(&self, key: &[u8], value: &[u8]) -> EngineResult<()> {
        let mut b = WriteBatch::new();
        b.put(KS, key, value);
        self.store.write(b)?;
        Ok(())
    }

    fn get(&self, key: &[u8], out: &mut Vec<u8>) -> EngineResult<bool> {
        let found = self.store.get(KS, key, ReadAt::Latest)?;
        Ok(crate::engine::copy_found(found.as_deref(), out))
    }

    fn delete(&self, key: &[u8]) -> EngineResult<()> {
        let mut b = WriteBatch::new();
        b.delete(KS, key);
        self.store.write(b)?;
        Ok(())
    }

    fn write_batch(&self, ops: &[BatchOp<'_>]) -> EngineResult<()> {
        let mut b = WriteBatch::new();
        for op in ops {
            match op.value {
                Some(v) => b.put(KS, op.key, v),
                None => b.delete(KS, op.key),
            }
        }
        self.store.write(b)?;
        Ok(())
    }

    fn scan(
        &self,
        start: Option<&[u8]>,
        reverse: bool,
        limit: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> EngineResult<usize> {
        let mut it = self.store.iter(KS, KeyRange::all(), ReadAt::Latest)?;
        match (start, reverse) {
            (Some(k), false) => it.seek(k)?,
            (Some(k), true) => it.seek_for_prev(k)?,
            (None, false) => it.seek_to_first()?,
            (None, true) => it.seek_to_last()?,
        }
        let mut n = 0;
        while n < limit && it.valid() {
            visit(it.key(), it.value());
            n += 1;
            if reverse {
                it.prev()?;
            } else {
                it.next()?;
            }
        }
        Ok(n)
    }

    fn flush(&self) -> EngineResult<()> {
        self.store.flush()?;
        Ok(())
    }
}
