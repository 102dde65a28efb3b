//! Versions: the immutable set of live table files per keyspace and level, and the
//! `SuperVersion` that pairs it with the memtables readers must consult.
//!
//! Invariants:
//! * a `Version` is never modified; applying an edit yields a new one;
//! * level 0 is ordered newest first (by largest sequence number, then file number); levels
//!   1.. are ordered by smallest key and their files do not overlap;
//! * a `SuperVersion` is swapped atomically, so a reader sees an immutable memtable either
//!   still in `imms` or already flushed into `version`, never neither.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::key::{compare_internal, user_key};
use crate::manifest::{FileMeta, VersionEdit};
use crate::memtable::Memtable;
use crate::types::{FileNumber, KeyspaceId, Level};

/// Number of levels in every keyspace.
pub const NUM_LEVELS: usize = 7;

/// One keyspace's files.
#[derive(Clone, Debug)]
pub struct KeyspaceVersion {
    /// The keyspace's name.
    pub name: String,
    /// WALs numbered below this hold nothing this keyspace still needs.
    pub log_number: FileNumber,
    /// Files per level.
    pub levels: Vec<Vec<Arc<FileMeta>>>,
}

impl KeyspaceVersion {
    fn new(name: String) -> KeyspaceVersion {
        KeyspaceVersion {
            name,
            log_number: FileNumber(0),
            levels: vec![Vec::new(); NUM_LEVELS],
        }
    }
}

/// The live files of every keyspace.
#[derive(Clone, Debug, Default)]
pub struct Version {
    /// Live keyspaces.
    pub keyspaces: BTreeMap<KeyspaceId, KeyspaceVersion>,
    /// The next keyspace id to hand out (ids are never reused).
    pub next_keyspace: u32,
}

impl Version {
    /// Applies `edit`, returning the new version. Deleting a file that is not there, or adding
    /// one to an unknown keyspace, means the manifest is inconsistent: corruption.
    pub fn apply(&self, edit: &VersionEdit, manifest: &Path) -> Result<Version> {
        let mut v = self.clone();
        let bad = |reason: String| Error::corruption(manifest, 0, reason);
        for (id, name) in &edit.keyspaces_added {
            v.keyspaces.insert(*id, KeyspaceVersion::new(name.clone()));
            v.next_keyspace = v.next_keyspace.max(id.0 + 1);
        }
        for id in &edit.keyspaces_dropped {
            v.keyspaces.remove(id);
            v.next_keyspace = v.next_keyspace.max(id.0 + 1);
        }
        for (id, log) in &edit.log_numbers {
            if let Some(ks) = v.keyspaces.get_mut(id) {
                ks.log_number = ks.log_number.max(*log);
            }
        }
        // Files an edit deletes and adds again (a trivial move) keep their `Arc`: readers of
        // older versions hold the same allocation, so its reference count keeps telling whether
        // anyone still needs the file (see the obsolete-file purge).
        let mut moved: BTreeMap<(KeyspaceId, FileNumber), Arc<FileMeta>> = BTreeMap::new();
        for (id, level, number) in &edit.deleted_files {
            let ks = v
                .keyspaces
                .get_mut(id)
                .ok_or_else(|| bad(format!("edit deletes a file of unknown keyspace {id}")))?;
            let files = ks
                .levels
                .get_mut(level.0 as usize)
                .ok_or_else(|| bad(format!("edit names level {}", level.0)))?;
            let Some(i) = files.iter().position(|f| f.number == *number) else {
                return Err(bad(format!("edit deletes file {number} which is not live")));
            };
            moved.insert((*id, *number), files.remove(i));
        }
        for (id, level, meta) in &edit.new_files {
            let Some(ks) = v.keyspaces.get_mut(id) else {
                // A flush that finished after its keyspace was dropped: nothing to add.
                continue;
            };
            let files = ks
                .levels
                .get_mut(level.0 as usize)
                .ok_or_else(|| bad(format!("edit names level {}", level.0)))?;
            match moved.remove(&(*id, meta.number)) {
                Some(same) => files.push(same),
                None => files.push(Arc::new(meta.clone())),
            }
        }
        for ks in v.keyspaces.values_mut() {
            sort_levels(&mut ks.levels);
        }
        Ok(v)
    }

    /// One edit that recreates this whole version (the first record of a new manifest).
    pub fn snapshot_edit(&self) -> VersionEdit {
        let mut e = VersionEdit::default();
        for (id, ks) in &self.keyspaces {
            e.keyspaces_added.push((*id, ks.name.clone()));
            e.log_numbers.push((*id, ks.log_number));
            for (level, files) in ks.levels.iter().enumerate() {
                for f in files {
                    e.new_files.push((*id, Level(level as u8), (**f).clone()));
                }
            }
        }
        // Record the highest id ever used, so a dropped id is not handed out again after the
        // manifest is rewritten: add it and drop it in the same edit.
        if self.next_keyspace > 0 {
            let top = KeyspaceId(self.next_keyspace - 1);
            if !self.keyspaces.contains_key(&top) {
                e.keyspaces_added.push((top, String::new()));
                e.keyspaces_dropped.push(top);
            }
        }
        e
    }

    /// Numbers of every live table file.
    pub fn live_files(&self) -> BTreeSet<FileNumber> {
        self.keyspaces
            .values()
            .flat_map(|ks| ks.levels.iter().flatten().map(|f| f.number))
            .collect()
    }

    /// The smallest log number over all keyspaces (WALs below it are obsolete).
    pub fn min_log_number(&self) -> FileNumber {
        self.keyspaces
            .values()
            .map(|k| k.log_number)
            .min()
            .unwrap_or(FileNumber(0))
    }

    /// Files that may hold `key` in keyspace `ks`, in the order a point read must consult them.
    pub fn files_for_key<'a>(
        &'a self,
        ks: KeyspaceId,
        key: &'a [u8],
    ) -> impl Iterator<Item = &'a Arc<FileMeta>> + 'a {
        let levels = self
            .keyspaces
            .get(&ks)
            .map(|k| k.levels.as_slice())
            .unwrap_or(&[]);
        levels.iter().enumerate().flat_map(move |(level, files)| {
            let candidates: Box<dyn Iterator<Item = &'a Arc<FileMeta>> + 'a> = if level == 0 {
                Box::new(files.iter().filter(move |f| covers(f, key)))
            } else {
                // Non-overlapping in internal-key order, but two neighbours can share a user key
                // at a boundary (a range tombstone clipped at the next file's first key): take
                // every file from the first whose largest user key reaches `key` while it covers.
                let i = files.partition_point(|f| user_key(&f.largest) < key);
                Box::new(files[i..].iter().take_while(move |f| covers(f, key)))
            };
            candidates
        })
    }
}

fn covers(f: &FileMeta, key: &[u8]) -> bool {
    user_key(&f.smallest) <= key && key <= user_key(&f.largest)
}

fn sort_levels(levels: &mut [Vec<Arc<FileMeta>>]) {
    if let Some(l0) = levels.first_mut() {
        l0.sort_by(|a, b| {
            b.largest_seq
                .cmp(&a.largest_seq)
                .then(b.number.cmp(&a.number))
        });
    }
    for files in levels.iter_mut().skip(1) {
        files.sort_by(|a, b| compare_internal(&a.smallest, &b.smallest));
    }
}

/// Memtables that were switched out together and are waiting to be flushed.
pub struct ImmutableSet {
    /// One memtable per keyspace.
    pub mems: BTreeMap<KeyspaceId, Arc<Memtable>>,
    /// The WAL their writes were logged in.
    pub wal: FileNumber,
    /// The WAL that was started when they were switched out.
    pub next_wal: FileNumber,
}

/// Everything a reader needs, swapped as one.
pub struct SuperVersion {
    /// Active memtables, one per live keyspace.
    pub mems: BTreeMap<KeyspaceId, Arc<Memtable>>,
    /// Immutable memtables, newest first.
    pub imms: Vec<Arc<ImmutableSet>>,
    /// Live files.
    pub version: Arc<Version>,
}

impl SuperVersion {
    /// Total bytes in the active memtables.
    pub fn active_size(&self) -> usize {
        self.mems.values().map(|m| m.approximate_size()).sum()
    }
}

/// A model of the read-visibility protocol (writer inserts then publishes the visible sequence;
/// memtable switches swap the `SuperVersion`; a reader loads the sequence *before* taking the
/// `SuperVersion`), checked by loom over every interleaving. The real types use parking_lot and
/// crossbeam, which loom cannot see into, so the protocol is modelled with loom's primitives.
#[cfg(all(test, strata_loom))]
mod loom_models {
    use loom::sync::atomic::{AtomicU64, Ordering};
    use loom::sync::{Arc, Mutex};

    type Mem = Arc<Mutex<Vec<u64>>>;

    struct Sv {
        mems: Vec<Mem>,
    }

    #[test]
    fn memtable_switch_never_hides_a_visible_write() {
        loom::model(|| {
            let first: Mem = Arc::new(Mutex::new(Vec::new()));
            let slot = Arc::new(Mutex::new(Arc::new(Sv { mems: vec![first] })));
            let visible = Arc::new(AtomicU64::new(0));

            let (ws, wv) = (Arc::clone(&slot), Arc::clone(&visible));
            let writer = loom::thread::spawn(move || {
                for seq in 1..=2u64 {
                    if seq == 2 {
                        // Switch: a new active memtable, the old one stays readable.
                        let mut s = ws.lock().unwrap();
                        let mut mems = vec![Arc::new(Mutex::new(Vec::new()))];
                        mems.extend(s.mems.iter().cloned());
                        *s = Arc::new(Sv { mems });
                    }
                    let sv = Arc::clone(&ws.lock().unwrap());
                    sv.mems[0].lock().unwrap().push(seq);
                    wv.store(seq, Ordering::Release);
                }
            });

            // Reader: sequence first, then the SuperVersion.
            let seq = visible.load(Ordering::Acquire);
            let sv = Arc::clone(&slot.lock().unwrap());
            for s in 1..=seq {
                let found = sv.mems.iter().any(|m| m.lock().unwrap().contains(&s));
                assert!(
                    found,
                    "write {s} is visible but not in the SuperVersion read after it"
                );
            }
            writer.join().unwrap();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::internal_key;
    use crate::types::{SeqNo, ValueKind};

    /// Regression (found by the long model test): a trivial move re-created the moved file's
    /// `Arc`, so once the moved file was compacted away its new `Arc` reached a count of one
    /// while readers of older versions still held the old one — and the purge unlinked a file
    /// they were about to open.
    #[test]
    fn a_trivial_move_keeps_the_files_arc() {
        let meta = FileMeta {
            number: FileNumber(7),
            size: 10,
            smallest: internal_key(b"a", SeqNo(1), ValueKind::Put),
            largest: internal_key(b"b", SeqNo(1), ValueKind::Put),
            smallest_seq: SeqNo(1),
            largest_seq: SeqNo(1),
            num_entries: 1,
        };
        let ks = KeyspaceId::DEFAULT;
        let add = VersionEdit {
            keyspaces_added: vec![(ks, "default".into())],
            new_files: vec![(ks, Level(5), meta.clone())],
            ..VersionEdit::default()
        };
        let v1 = Version::default().apply(&add, Path::new("m")).unwrap();
        let mv = VersionEdit {
            deleted_files: vec![(ks, Level(5), FileNumber(7))],
            new_files: vec![(ks, Level(6), meta)],
            ..VersionEdit::default()
        };
        let v2 = v1.apply(&mv, Path::new("m")).unwrap();
        assert!(Arc::ptr_eq(
            &v1.keyspaces[&ks].levels[5][0],
            &v2.keyspaces[&ks].levels[6][0]
        ));
    }
}
