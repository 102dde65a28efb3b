//! Peer engines (cargo feature `peers`, or one of `peer-rocksdb`, `peer-fjall`, `peer-redb`,
//! `peer-lmdb`): RocksDB (rust-rocksdb, bundled C++ build), fjall, redb and LMDB (heed), each
//! configured to the fairness rules in `engine/mod.rs`.

use super::{BatchOp, Engine, EngineConfig, EngineInfo, EngineResult};

// Versions of the peer crates as pinned in `Cargo.lock` (update with the lock file).
#[cfg(feature = "peer-rocksdb")]
const ROCKSDB_VERSION: &str = "rust-rocksdb 0.25.0 (librocksdb-sys 0.19.0+11.8.1)";
#[cfg(feature = "peer-fjall")]
const FJALL_VERSION: &str = "fjall 3.1.13 (lsm-tree 3.1.10)";
#[cfg(feature = "peer-redb")]
const REDB_VERSION: &str = "redb 4.6.0";
#[cfg(feature = "peer-lmdb")]
const LMDB_VERSION: &str = "heed 0.23.1 (lmdb-master-sys 0.2.6)";

/// Opens peer engine `name`.
pub fn open(name: &str, cfg: &EngineConfig) -> EngineResult<(Box<dyn Engine>, EngineInfo)> {
    match name {
        #[cfg(feature = "peer-rocksdb")]
        "rocksdb" => rocks::open(cfg),
        #[cfg(feature = "peer-fjall")]
        "fjall" => fjall_engine::open(cfg),
        #[cfg(feature = "peer-redb")]
        "redb" => redb_engine::open(cfg),
        #[cfg(feature = "peer-lmdb")]
        "lmdb" => lmdb::open(cfg),
        other => Err(format!("not a peer engine: {other}").into()),
    }
}

fn info(name: &str, version: &str, settings: String) -> EngineInfo {
    EngineInfo {
        name: name.into(),
        version: version.into(),
        settings,
    }
}

// ---------------------------------------------------------------------------------------------
// RocksDB

#[cfg(feature = "peer-rocksdb")]
mod rocks {
    use super::*;

    struct Rocks {
        db: rocksdb::DB,
        wo: rocksdb::WriteOptions,
    }

    pub fn open(cfg: &EngineConfig) -> EngineResult<(Box<dyn Engine>, EngineInfo)> {
        use rocksdb::{BlockBasedOptions, Cache, DBCompressionType, Options, WriteOptions};
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_compression_type(DBCompressionType::None);
        opts.set_write_buffer_size(cfg.write_buffer_bytes);
        opts.set_max_background_jobs(2);
        opts.set_level_compaction_dynamic_level_bytes(true);
        let mut table = BlockBasedOptions::default();
        let cache = Cache::new_lru_cache(cfg.cache_bytes);
        table.set_block_cache(&cache);
        table.set_block_size(4096);
        table.set_bloom_filter(10.0, false);
        opts.set_block_based_table_factory(&table);
        let db = rocksdb::DB::open(&opts, &cfg.dir)?;
        let mut wo = WriteOptions::default();
        wo.set_sync(cfg.sync);
        let settings = format!(
            "WAL on, WriteOptions.sync={}, write_buffer_size {} MiB, LRU block cache {} MiB, 4 KiB blocks, no compression, bloom 10 bits/key, max_background_jobs 2, leveled compaction with dynamic level bytes (defaults otherwise)",
            cfg.sync,
            cfg.write_buffer_bytes >> 20,
            cfg.cache_bytes >> 20
        );
        Ok((
            Box::new(Rocks { db, wo }),
            info("rocksdb", ROCKSDB_VERSION, settings),
        ))
    }

    impl Engine for Rocks {
        fn put(&self, key: &[u8], value: &[u8]) -> EngineResult<()> {
            Ok(self.db.put_opt(key, value, &self.wo)?)
        }

        fn get(&self, key: &[u8], out: &mut Vec<u8>) -> EngineResult<bool> {
            let found = self.db.get_pinned(key)?;
            Ok(crate::engine::copy_found(
                found.as_ref().map(|v| &v[..]),
                out,
            ))
        }

        fn delete(&self, key: &[u8]) -> EngineResult<()> {
            Ok(self.db.delete_opt(key, &self.wo)?)
        }

        fn write_batch(&self, ops: &[BatchOp<'_>]) -> EngineResult<()> {
            let mut b = rocksdb::WriteBatch::default();
            for op in ops {
                match op.value {
                    Some(v) => b.put(op.key, v),
                    None => b.delete(op.key),
                }
            }
            Ok(self.db.write_opt(b, &self.wo)?)
        }

        fn scan(
            &self,
            start: Option<&[u8]>,
            reverse: bool,
            limit: usize,
            visit: &mut dyn FnMut(&[u8], &[u8]),
        ) -> EngineResult<usize> {
            let mut it = self.db.raw_iterator();
            match (start, reverse) {
                (Some(k), false) => it.seek(k),
                (Some(k), true) => it.seek_for_prev(k),
                (None, false) => it.seek_to_first(),
                (None, true) => it.seek_to_last(),
            }
            let mut n = 0;
            while n < limit && it.valid() {
                if let (Some(k), Some(v)) = (it.key(), it.value()) {
                    visit(k, v);
                }
                n += 1;
                if reverse {
                    it.prev();
                } else {
                    it.next();
                }
            }
            it.status()?;
            Ok(n)
        }

        fn flush(&self) -> EngineResult<()> {
            Ok(self.db.flush()?)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// fjall

#[cfg(feature = "peer-fjall")]
mod fjall_engine {
    use super::*;

    struct Fjall {
        db: fjall::Database,
        ks: fjall::Keyspace,
        sync: bool,
    }

    pub fn open(cfg: &EngineConfig) -> EngineResult<(Box<dyn Engine>, EngineInfo)> {
        use fjall::config::CompressionPolicy;
        use fjall::{CompressionType, Database, KeyspaceCreateOptions};
        let db = Database::builder(&cfg.dir)
            .cache_size(cfg.cache_bytes as u64)
            .worker_threads(2)
            .open()?;
        let memtable = cfg.write_buffer_bytes as u64;
        let ks = db.keyspace("bench", || {
            KeyspaceCreateOptions::default()
                .max_memtable_size(memtable)
                .data_block_compression_policy(CompressionPolicy::all(CompressionType::None))
        })?;
        let settings = format!(
            "journal persisted with {} per write, max_memtable_size {} MiB, cache {} MiB, 4 KiB blocks (default), no compression (crate built without lz4), default bloom policy, 2 worker threads, leveled compaction (defaults otherwise)",
            if cfg.sync {
                "PersistMode::SyncData"
            } else {
                "PersistMode::Buffer (OS page cache)"
            },
            cfg.write_buffer_bytes >> 20,
            cfg.cache_bytes >> 20
        );
        Ok((
            Box::new(Fjall {
                db,
                ks,
                sync: cfg.sync,
            }),
            info("fjall", FJALL_VERSION, settings),
        ))
    }

    impl Engine for Fjall {
        fn put(&self, key: &[u8], value: &[u8]) -> EngineResult<()> {
            if self.sync {
                return self.write_batch(&[BatchOp {
                    key,
                    value: Some(value),
                }]);
            }
            Ok(self.ks.insert(key, value)?)
        }

        fn get(&self, key: &[u8], out: &mut Vec<u8>) -> EngineResult<bool> {
            let found = self.ks.get(key)?;
            Ok(crate::engine::copy_found(
                found.as_ref().map(|v| &v[..]),
                out,
            ))
        }

        fn delete(&self, key: &[u8]) -> EngineResult<()> {
            if self.sync {
                return self.write_batch(&[BatchOp { key, value: None }]);
            }
            Ok(self.ks.remove(key)?)
        }

        fn write_batch(&self, ops: &[BatchOp<'_>]) -> EngineResult<()> {
            let mut b = self.db.batch();
            if self.sync {
                b = b.durability(Some(fjall::PersistMode::SyncData));
            }
            for op in ops {
                match op.value {
                    Some(v) => b.insert(&self.ks, op.key, v),
                    None => b.remove(&self.ks, op.key),
                }
            }
            Ok(b.commit()?)
        }

        fn scan(
            &self,
            start: Option<&[u8]>,
            reverse: bool,
            limit: usize,
            visit: &mut dyn FnMut(&[u8], &[u8]),
        ) -> EngineResult<usize> {
            let iter: Box<dyn Iterator<Item = fjall::Guard>> = match (start, reverse) {
                (Some(k), false) => Box::new(self.ks.range::<&[u8], _>(k..)),
                (Some(k), true) => Box::new(self.ks.range::<&[u8], _>(..=k).rev()),
                (None, false) => Box::new(self.ks.iter()),
                (None, true) => Box::new(self.ks.iter().rev()),
            };
            let mut n = 0;
            for guard in iter.take(limit) {
                let (k, v) = guard.into_inner()?;
                visit(&k, &v);
                n += 1;
            }
            Ok(n)
        }

        fn flush(&self) -> EngineResult<()> {
            self.ks.rotate_memtable_and_wait()?;
            self.db.persist(fjall::PersistMode::SyncAll)?;
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// redb

#[cfg(feature = "peer-redb")]
mod redb_engine {
    use std::ops::Bound;

    use super::*;

    const REDB_TABLE: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("bench");

    struct Redb {
        db: redb::Database,
        durability: redb::Durability,
    }

    pub fn open(cfg: &EngineConfig) -> EngineResult<(Box<dyn Engine>, EngineInfo)> {
        std::fs::create_dir_all(&cfg.dir)?;
        let db = redb::Database::builder()
            .set_cache_size(cfg.cache_bytes)
            .create(cfg.dir.join("bench.redb"))?;
        let durability = if cfg.sync {
            redb::Durability::Immediate
        } else {
            redb::Durability::None
        };
        let engine = Redb { db, durability };
        // Create the table so readers find it.
        let tx = engine.db.begin_write()?;
        tx.open_table(REDB_TABLE)?;
        tx.commit()?;
        let settings = format!(
            "one write transaction per batch, Durability::{} (redb's non-durable commits are lost on a crash, a weaker promise than the others' unsynced writes), cache {} MiB (defaults otherwise)",
            if cfg.sync { "Immediate" } else { "None" },
            cfg.cache_bytes >> 20
        );
        Ok((Box::new(engine), info("redb", REDB_VERSION, settings)))
    }

    impl Engine for Redb {
        fn get(&self, key: &[u8], out: &mut Vec<u8>) -> EngineResult<bool> {
            use redb::ReadableDatabase;
            let tx = self.db.begin_read()?;
            let table = tx.open_table(REDB_TABLE)?;
            let found = table.get(key)?;
            Ok(crate::engine::copy_found(
                found.as_ref().map(|v| v.value()),
                out,
            ))
        }

        fn write_batch(&self, ops: &[BatchOp<'_>]) -> EngineResult<()> {
            let mut tx = self.db.begin_write()?;
            tx.set_durability(self.durability)?;
            {
                let mut table = tx.open_table(REDB_TABLE)?;
                for op in ops {
                    match op.value {
                        Some(v) => {
                            table.insert(op.key, v)?;
                        }
                        None => {
                            table.remove(op.key)?;
                        }
                    }
                }
            }
            tx.commit()?;
            Ok(())
        }

        fn scan(
            &self,
            start: Option<&[u8]>,
            reverse: bool,
            limit: usize,
            visit: &mut dyn FnMut(&[u8], &[u8]),
        ) -> EngineResult<usize> {
            use redb::ReadableDatabase;
            let tx = self.db.begin_read()?;
            let table = tx.open_table(REDB_TABLE)?;
            let range = match (start, reverse) {
                (Some(k), false) => table.range::<&[u8]>((Bound::Included(k), Bound::Unbounded))?,
                (Some(k), true) => table.range::<&[u8]>((Bound::Unbounded, Bound::Included(k)))?,
                (None, _) => table.range::<&[u8]>(..)?,
            };
            let mut n = 0;
            let mut each = |item: Result<_, redb::StorageError>| -> EngineResult<()> {
                let (k, v): (redb::AccessGuard<&[u8]>, redb::AccessGuard<&[u8]>) = item?;
                visit(k.value(), v.value());
                Ok(())
            };
            if reverse {
                for item in range.rev().take(limit) {
                    each(item)?;
                    n += 1;
                }
            } else {
                for item in range.take(limit) {
                    each(item)?;
                    n += 1;
                }
            }
            Ok(n)
        }

        fn flush(&self) -> EngineResult<()> {
            // A durable commit persists every earlier non-durable one.
            let mut tx = self.db.begin_write()?;
            tx.set_durability(redb::Durability::Immediate)?;
            tx.commit()?;
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// LMDB

#[cfg(feature = "peer-lmdb")]
mod lmdb {
    use std::ops::Bound;

    use super::*;

    struct Lmdb {
        env: heed::Env,
        db: heed::Database<'static, heed::types::Bytes, heed::types::Bytes>,
    }

    pub fn open(cfg: &EngineConfig) -> EngineResult<(Box<dyn Engine>, EngineInfo)> {
        use heed::{CommitOrAbort, EnvFlags, EnvOpenOptions};
        std::fs::create_dir_all(&cfg.dir)?;
        let mut builder = EnvOpenOptions::new();
        builder.map_size(64 << 30).max_readers(256);
        if !cfg.sync {
            // SAFETY: NO_SYNC only skips fsync; it is sound for any use, at the cost of losing the
            // last transactions (never consistency, on a file system that keeps write order) at a
            // power cut — the same promise as the other engines' unsynced mode.
            #[allow(unsafe_code)]
            unsafe {
                builder.flags(EnvFlags::NO_SYNC);
            }
        }
        // SAFETY: the directory is fresh and private to this process, which opens it once; nothing
        // else maps or truncates the file while the environment lives.
        #[allow(unsafe_code)]
        let env = unsafe { builder.open(&cfg.dir)? };
        let wtxn = env.write_txn()?;
        let db = env
            .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
                let db =
                    opener.create_database::<heed::types::Bytes, heed::types::Bytes>(wtxn, None)?;
                Ok(CommitOrAbort::<_, ()>::Commit(db))
            })?
            .unwrap_commit();
        let settings = format!(
            "one write transaction per batch, {}, map size 64 GiB; no cache of its own: reads go through the OS page cache (--cache-mb does not apply)",
            if cfg.sync {
                "fsync per commit"
            } else {
                "MDB_NOSYNC"
            }
        );
        Ok((
            Box::new(Lmdb { env, db }),
            info("lmdb", LMDB_VERSION, settings),
        ))
    }

    impl Engine for Lmdb {
        fn get(&self, key: &[u8], out: &mut Vec<u8>) -> EngineResult<bool> {
            let rtxn = self.env.read_txn()?;
            let found = self.db.get(&rtxn, key)?;
            Ok(crate::engine::copy_found(found.as_ref().map(|v| *v), out))
        }

        fn write_batch(&self, ops: &[BatchOp<'_>]) -> EngineResult<()> {
            let mut wtxn = self.env.write_txn()?;
            for op in ops {
                match op.value {
                    Some(v) => self.db.put(&mut wtxn, op.key, v)?,
                    None => {
                        self.db.delete(&mut wtxn, op.key)?;
                    }
                }
            }
            wtxn.commit()?;
            Ok(())
        }

        fn scan(
            &self,
            start: Option<&[u8]>,
            reverse: bool,
            limit: usize,
            visit: &mut dyn FnMut(&[u8], &[u8]),
        ) -> EngineResult<usize> {
            let rtxn = self.env.read_txn()?;
            let mut n = 0;
            let lower = match start {
                Some(k) if !reverse => Bound::Included(k),
                _ => Bound::Unbounded,
            };
            let upper = match start {
                Some(k) if reverse => Bound::Included(k),
                _ => Bound::Unbounded,
            };
            let bounds: (Bound<&[u8]>, Bound<&[u8]>) = (lower, upper);
            if reverse {
                for item in self.db.rev_range(&rtxn, &bounds)?.take(limit) {
                    let (k, v) = item?;
                    visit(k, v);
                    n += 1;
                }
            } else {
                for item in self.db.range(&rtxn, &bounds)?.take(limit) {
                    let (k, v) = item?;
                    visit(k, v);
                    n += 1;
                }
            }
            Ok(n)
        }

        fn flush(&self) -> EngineResult<()> {
            Ok(self.env.force_sync()?)
        }
    }
}
