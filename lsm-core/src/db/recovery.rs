//! Opening a database: lock, read the manifest, replay the WALs, write a fresh manifest.
//!
//! Steps, in this order:
//! 1. create the directory if needed and take `LOCK` (a second opener gets `Error::Locked`);
//! 2. no `CURRENT`: a directory holding only our leftovers (a crash during creation) is created
//!    afresh; one holding foreign files, or WALs/tables without a manifest, is refused;
//! 3. replay every edit of the manifest `CURRENT` names into a `Version`;
//! 4. replay the WALs each keyspace still needs (numbers `>=` its log number), oldest first,
//!    into fresh memtables; a torn tail of the newest WAL is dropped, damage elsewhere is an
//!    error (or, under `WalRecovery::PointInTime`, the end of recovery, reported);
//! 5. flush the recovered memtables to L0 tables, create the new WAL, write a new manifest
//!    holding the whole version, and switch `CURRENT` to it;
//! 6. only then delete the old manifest, the replayed WALs, orphan tables and temp files.
//!
//! A crash at any point leaves either the old `CURRENT` (with every file it needs: nothing is
//! deleted before step 6) or the new one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Condvar, Mutex, RwLock};

use crate::error::{Error, Result};
use crate::manifest::{self, ManifestWriter, VersionEdit, FORMAT_VERSION};
use crate::memtable::Memtable;
use crate::sstable::{BlockCache, TableCache};
use crate::store::DEFAULT_KEYSPACE;
use crate::types::{FileNumber, KeyspaceId, Level, SeqNo};
use crate::util::filename::{self, FileKind};
use crate::wal::batch::parse_unsynced_predecessor_marker;
use crate::wal::{LogReader, LogWriter, TailPolicy, WriteBatch};

use super::version::{SuperVersion, Version};
use super::{
    Counters, DbState, Inner, Options, RecoveryReport, SnapshotList, WalRecovery, WalState,
};

/// State read back from disk before the engine starts.
struct Recovered {
    version: Version,
    next_file: u64,
    last_seq: SeqNo,
    old_manifest: Option<FileNumber>,
}

pub(super) fn open(dir: &Path, opts: Options) -> Result<Inner> {
    let fs = Arc::clone(&opts.fs);
    fs.create_dir_all(dir)?;
    let lock = fs.lock(&dir.join(filename::LOCK))?;
    let names = fs.list(dir)?;
    let mut report = RecoveryReport::default();

    let mut rec = match manifest::read_current(&*fs, dir)? {
        Some(number) => read_version(&*fs, dir, number)?,
        None => fresh(&*fs, dir, &opts, &names)?,
    };

    // Every table the version names must exist.
    let present: std::collections::BTreeSet<FileNumber> = names
        .iter()
        .filter_map(|n| match filename::parse(n) {
            Some(FileKind::Table(t)) => Some(t),
            _ => None,
        })
        .collect();
    if let Some(missing) = rec.version.live_files().difference(&present).next() {
        return Err(Error::corruption(
            filename::table_path(dir, *missing),
            0,
            "table file named by the manifest is missing",
        ));
    }

    // Every WAL a keyspace's log number names was created before the manifest recorded it and
    // is deleted only after a later edit moves past it. If it is gone, the manifest lost an edit
    // (a damaged last record read as a torn tail) or a file was deleted behind our back:
    // replaying would silently lose writes.
    for ks in rec.version.keyspaces.values() {
        let needed = ks.log_number;
        if needed.0 > 0
            && !names
                .iter()
                .any(|n| filename::parse(n) == Some(FileKind::Wal(needed)))
        {
            return Err(Error::corruption(
                filename::wal_path(dir, needed),
                0,
                format!(
                    "WAL {needed} named by the manifest for keyspace {} is missing",
                    ks.name
                ),
            ));
        }
    }

    let block_cache =
        (opts.block_cache_bytes > 0).then(|| Arc::new(BlockCache::new(opts.block_cache_bytes)));
    let table_cache = TableCache::new(
        Arc::clone(&fs),
        dir.to_path_buf(),
        opts.read_mode,
        block_cache.clone(),
        opts.max_open_files,
    );

    // Replay the WALs into one memtable per keyspace.
    let min_log = rec.version.min_log_number();
    let mut wals: Vec<FileNumber> = names
        .iter()
        .filter_map(|n| match filename::parse(n) {
            Some(FileKind::Wal(w)) if w >= min_log => Some(w),
            _ => None,
        })
        .collect();
    wals.sort();
    let mems: BTreeMap<KeyspaceId, Arc<Memtable>> = rec
        .version
        .keyspaces
        .keys()
        .map(|k| (*k, Arc::new(Memtable::new())))
        .collect();
    let mut max_seq = rec.last_seq;
    let mut next_data = match wals.first() {
        Some(w) => Some(fs.read_all(&filename::wal_path(dir, *w))?),
        None => None,
    };
    for (i, w) in wals.iter().enumerate() {
        let path = filename::wal_path(dir, *w);
        let data = next_data.take().unwrap_or_default();
        next_data = match wals.get(i + 1) {
            Some(n) => Some(fs.read_all(&filename::wal_path(dir, *n))?),
            None => None,
        };
        // A WAL closed without an fsync (`SyncMode::Never`) may end torn even though a newer
        // one exists: the newer one then opens with a synced marker naming the length this one
        // had, or (a crash between creating it and syncing the marker) holds no complete record
        // at all. Such a WAL is read up to its damage, or checked against that length, and if
        // it falls short the history ends with it: later WALs are not replayed.
        let successor = match (&next_data, wals.get(i + 1)) {
            (Some(next), Some(n)) => first_record(next, &filename::wal_path(dir, *n)),
            _ => Successor::Data,
        };
        let may_end_torn = successor != Successor::Data;
        let short = matches!(successor, Successor::Marker(len) if (data.len() as u64) < len);
        let newest = i + 1 == wals.len();
        let policy = match (opts.wal_recovery, newest, may_end_torn) {
            (WalRecovery::PointInTime, _, _) => TailPolicy::StopAtDamage,
            (WalRecovery::TolerateTornTail, true, _) => TailPolicy::TolerateTornTail,
            (WalRecovery::TolerateTornTail, false, true) => TailPolicy::StopAtDamage,
            (WalRecovery::TolerateTornTail, false, false) => TailPolicy::Strict,
        };
        let data_len = data.len() as u64;
        let mut reader = LogReader::new(data, path.clone(), policy);
        while let Some((offset, record)) = reader.next_record()? {
            if parse_unsynced_predecessor_marker(&record).is_some() {
                continue;
            }
            let batch = WriteBatch::from_bytes(record.to_vec(), &path, offset)?;
            let mut seq = batch.seq().0;
            for op in batch.iter() {
                let op = op?;
                let needed = rec
                    .version
                    .keyspaces
                    .get(&op.keyspace)
                    .is_some_and(|k| *w >= k.log_number);
                if needed {
                    if let Some(m) = mems.get(&op.keyspace) {
                        m.insert(op.key, SeqNo(seq), op.kind, op.value);
                    }
                }
                seq += 1;
            }
            if batch.count() > 0 {
                max_seq = max_seq.max(SeqNo(seq - 1));
            }
            report.batches_replayed += 1;
        }
        report.wals_replayed += 1;
        if let Some(t) = reader.torn_tail() {
            report.torn_tail = Some((path.clone(), t));
        }
        if let Some(d) = reader.dropped() {
            report.dropped = Some((path.clone(), d.offset, d.bytes_dropped, d.reason.clone()));
            // Later WALs continue a history that now has a hole: they are not replayed.
            break;
        }
        if short {
            // Cut at a record boundary: it reads as whole, but the marker knew better.
            report.torn_tail = Some((path.clone(), data_len));
            break;
        }
    }

    // Flush what the WALs held, so the replayed WALs can go.
    let mut version = rec.version;
    let mut edit = VersionEdit::default();
    for (ks, mem) in &mems {
        let number = FileNumber(rec.next_file);
        let table_opts = opts.compaction.table_options(&opts.table, 0);
        if let Some(meta) = super::flush::build_table(&*fs, dir, &table_opts, number, mem)? {
            rec.next_file += 1;
            edit.new_files.push((*ks, Level(0), meta));
        }
    }
    if !edit.new_files.is_empty() {
        fs.sync_dir(dir)?;
        version = version.apply(&edit, dir)?;
    }

    // New WAL, then the new manifest naming it, then CURRENT.
    let new_wal = FileNumber(rec.next_file);
    let manifest_number = FileNumber(rec.next_file + 1);
    rec.next_file += 2;
    for ks in version.keyspaces.values_mut() {
        ks.log_number = new_wal;
    }
    let wal_file = fs.create(&filename::wal_path(dir, new_wal))?;
    fs.sync_dir(dir)?;
    let mut snapshot = version.snapshot_edit();
    snapshot.format_version = Some(FORMAT_VERSION);
    snapshot.next_file_number = Some(FileNumber(rec.next_file));
    snapshot.last_seq = Some(max_seq);
    let manifest = ManifestWriter::create(&*fs, dir, manifest_number, &snapshot)?;
    manifest::set_current(&*fs, dir, manifest_number)?;

    let version = Arc::new(version);
    let inner = Inner {
        dir: dir.to_path_buf(),
        fs: Arc::clone(&fs),
        table_cache,
        block_cache,
        sv: RwLock::new(Arc::new(SuperVersion {
            mems: version
                .keyspaces
                .keys()
                .map(|k| (*k, Arc::new(Memtable::new())))
                .collect(),
            imms: Vec::new(),
            version: Arc::clone(&version),
        })),
        visible_seq: AtomicU64::new(max_seq.0),
        allocated_seq: AtomicU64::new(max_seq.0),
        next_file: AtomicU64::new(rec.next_file),
        queue: Default::default(),
        wal: Mutex::new(WalState {
            writer: LogWriter::new(wal_file),
            number: new_wal,
        }),
        state: Mutex::new(DbState {
            manifest,
            version: Arc::clone(&version),
            bg_error: None,
            shutdown: false,
            flush_epoch: 0,
        }),
        state_cv: Condvar::new(),
        snapshots: Arc::new(SnapshotList::default()),
        counters: Counters::default(),
        closed: AtomicBool::new(false),
        lock: Mutex::new(Some(lock)),
        report: RecoveryReport::default(),
        merge_ops: RwLock::new(BTreeMap::new()),
        filters: RwLock::new(BTreeMap::new()),
        stall_l0: AtomicU64::new(0),
        stall_pending: AtomicU64::new(0),
        has_bg_error: AtomicBool::new(false),
        compaction_lock: Mutex::new(()),
        compaction_cursors: Mutex::new(BTreeMap::new()),
        obsolete: Mutex::new(Vec::new()),
        opts,
    };
    let mut inner = inner;
    inner.update_stall_inputs(&version);
    report.orphans_removed =
        remove_obsolete(&inner, &version, new_wal, manifest_number, rec.old_manifest)?;
    inner.report = report;
    Ok(inner)
}

/// Reads the manifest numbered `number` into a version.
fn read_version(
    fs: &dyn crate::fs::FileSystem,
    dir: &Path,
    number: FileNumber,
) -> Result<Recovered> {
    let path = filename::manifest_path(dir, number);
    let edits = manifest::read_manifest(fs, dir, number)?;
    let mut version = Version::default();
    let mut next_file = number.0 + 1;
    let mut last_seq = SeqNo::ZERO;
    for e in &edits {
        version = version.apply(e, &path)?;
        if let Some(n) = e.next_file_number {
            next_file = next_file.max(n.0);
        }
        if let Some(s) = e.last_seq {
            last_seq = last_seq.max(s);
        }
    }
    if !version.keyspaces.contains_key(&KeyspaceId::DEFAULT) {
        return Err(Error::corruption(
            path,
            0,
            "manifest has no default keyspace",
        ));
    }
    // Files may carry numbers the manifest's counter has not caught up with (a crash between
    // creating a file and logging the next edit): never reuse one.
    for f in version.live_files() {
        next_file = next_file.max(f.0 + 1);
    }
    Ok(Recovered {
        version,
        next_file,
        last_seq,
        old_manifest: Some(number),
    })
}

/// A directory without `CURRENT`: new database, or refusal.
fn fresh(
    fs: &dyn crate::fs::FileSystem,
    dir: &Path,
    opts: &Options,
    names: &[String],
) -> Result<Recovered> {
    let foreign: Vec<&String> = names
        .iter()
        .filter(|n| filename::parse(n).is_none())
        .collect();
    if !foreign.is_empty() {
        return Err(Error::NotADatabase {
            path: dir.to_path_buf(),
            reason: format!(
                "no CURRENT file, and it holds files that are not Strata's (e.g. {})",
                foreign[0]
            ),
        });
    }
    // A creation interrupted after its first WAL was made (and before `CURRENT` named the first
    // manifest) leaves an *empty* WAL behind: nothing was ever acknowledged into it. Tables, or
    // a WAL holding data, mean a real database whose `CURRENT` is gone.
    for n in names {
        let holds_data = match filename::parse(n) {
            Some(FileKind::Table(_)) => true,
            Some(FileKind::Wal(_)) => fs.file_size(&dir.join(n))? > 0,
            _ => false,
        };
        if holds_data {
            return Err(Error::NotADatabase {
                path: dir.to_path_buf(),
                reason: format!(
                    "{n} holds data but there is no CURRENT: the manifest pointer is lost"
                ),
            });
        }
    }
    if !opts.create_if_missing {
        return Err(Error::InvalidArgument(format!(
            "no database at {} and create_if_missing is off",
            dir.display()
        )));
    }
    let mut version = Version::default();
    let mut edit = VersionEdit {
        keyspaces_added: vec![(KeyspaceId::DEFAULT, DEFAULT_KEYSPACE.to_string())],
        ..VersionEdit::default()
    };
    edit.log_numbers.push((KeyspaceId::DEFAULT, FileNumber(0)));
    version = version.apply(&edit, dir)?;
    // Leftover manifests from a creation that crashed before CURRENT was written must not
    // collide with the numbers we hand out now.
    let next_file = names
        .iter()
        .filter_map(|n| match filename::parse(n) {
            Some(FileKind::Manifest(m) | FileKind::Wal(m)) => Some(m.0 + 1),
            _ => None,
        })
        .max()
        .unwrap_or(1);
    Ok(Recovered {
        version,
        next_file,
        last_seq: SeqNo::ZERO,
        old_manifest: None,
    })
}

/// Deletes files no longer needed: old manifests, WALs below `wal`, tables not in `version`,
/// temp files. Returns the names of orphan tables removed.
fn remove_obsolete(
    inner: &Inner,
    version: &Version,
    wal: FileNumber,
    manifest_number: FileNumber,
    _old_manifest: Option<FileNumber>,
) -> Result<Vec<String>> {
    let live = version.live_files();
    let mut orphans = Vec::new();
    let mut removed = false;
    for name in inner.fs.list(&inner.dir)? {
        let remove = match filename::parse(&name) {
            Some(FileKind::Manifest(m)) => m != manifest_number,
            Some(FileKind::Wal(w)) => w < wal,
            Some(FileKind::Table(t)) => {
                let orphan = !live.contains(&t);
                if orphan {
                    orphans.push(name.clone());
                }
                orphan
            }
            Some(FileKind::Temp) => true,
            _ => false,
        };
        if remove {
            let path: PathBuf = inner.dir.join(&name);
            inner.fs.remove(&path)?;
            removed = true;
        }
    }
    if removed {
        inner.fs.sync_dir(&inner.dir)?;
    }
    Ok(orphans)
}

/// What a WAL's first record says about its predecessor.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Successor {
    /// A batch: the predecessor was closed complete (fsynced under a syncing mode).
    Data,
    /// The "predecessor unsynced" marker, with the length the predecessor had.
    Marker(u64),
    /// No complete record: the crash came before the marker was synced.
    Nothing,
}

fn first_record(data: &Bytes, path: &Path) -> Successor {
    let mut reader = LogReader::new(data.clone(), path.to_path_buf(), TailPolicy::StopAtDamage);
    match reader.next_record() {
        Ok(Some((_, record))) => match parse_unsynced_predecessor_marker(&record) {
            Some(len) => Successor::Marker(len),
            None => Successor::Data,
        },
        _ => Successor::Nothing,
    }
}
