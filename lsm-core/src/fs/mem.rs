//! [`MemFs`]: an in-memory file system that models what survives a power cut.
//!
//! The model follows POSIX closely enough to catch the classic durability bugs:
//!
//! * A file is an *inode* (`data`, `synced_len`). Names point at inodes, so a hard link or a
//!   rename shares the bytes, and a [`WritableFile`] keeps writing to its inode after its name is
//!   renamed or removed. [`WritableFile::sync`] makes every byte of the inode durable.
//! * There are two namespaces. `create`, `rename`, `remove` and `link` change the *live* one;
//!   [`FileSystem::sync_dir`] copies the live entries of one directory into the *durable* one
//!   (adding, replacing and removing names). Reads always see the live namespace and live bytes.
//! * [`MemFs::crash_image`] builds a new `MemFs` from the durable namespace only, each file cut
//!   back to its synced bytes (optionally keeping a random prefix of the unsynced tail, a torn
//!   write). Hard links stay shared in the image. Locks are not carried over.
//! * A file opened with [`FileSystem::open_rw`] is written at arbitrary offsets, so "synced
//!   bytes" is no longer a prefix: such an inode keeps its durable bytes apart and logs every
//!   write (and length change) made since its last sync. In a crash image the durable bytes
//!   survive, and each logged write is lost ([`CrashMode::DropUnsynced`]) or, under
//!   [`CrashMode::KeepUnsyncedPrefix`], kept or lost on its own by a seeded coin, replayed in the
//!   order it was made.
//!
//! Simplifications, each on the forgiving side only where the engine never depends on it:
//! * directories are durable as soon as [`FileSystem::create_dir_all`] returns;
//! * `create` on an existing name truncates that inode in place (as `O_TRUNC` does, so hard links
//!   see it) and the truncation is durable at once;
//! * [`FileSystem::open`] takes a snapshot of the bytes at open time (both [`ReadMode`]s behave
//!   the same); the engine only reads files that no longer change, and a snapshot makes later
//!   test-only [`MemFs::corrupt_byte`]/[`MemFs::truncate`] calls invisible to handles already
//!   open, just as a cached block would be.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::os::check_bounds;
use super::{FileLock, FileSystem, RandomAccessFile, RandomRwFile, ReadMode, WritableFile};
use crate::error::{Error, Result};

/// What a simulated power cut does to bytes that were appended but never synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashMode {
    /// Every unsynced byte is lost.
    DropUnsynced,
    /// Each file keeps a pseudo-random prefix (from none to all) of its unsynced tail, chosen
    /// deterministically from `seed`: a write torn by the power cut.
    KeepUnsyncedPrefix {
        /// Seed of the choice; the same seed and the same file system give the same image.
        seed: u64,
    },
}

#[derive(Default)]
struct Inode {
    data: Vec<u8>,
    /// Bytes `[0, synced_len)` survive a crash. Always `<= data.len()`. Unused while `rw` is set.
    synced_len: usize,
    /// Set once the file is written at offsets: what survives is tracked here instead.
    rw: Option<RwLog>,
}

/// Durability of a file written at arbitrary offsets.
struct RwLog {
    /// The bytes as of the last sync.
    durable: Vec<u8>,
    /// Changes since the last sync, oldest first.
    pending: Vec<Pending>,
}

enum Pending {
    Write { offset: usize, data: Vec<u8> },
    SetLen(usize),
}

impl Pending {
    fn apply(&self, buf: &mut Vec<u8>) {
        match self {
            Pending::Write { offset, data } => write_into(buf, *offset, data),
            Pending::SetLen(n) => buf.resize(*n, 0),
        }
    }
}

/// Writes `data` at `offset` of `buf`, zero-filling any gap.
fn write_into(buf: &mut Vec<u8>, offset: usize, data: &[u8]) {
    let end = offset + data.len();
    if buf.len() < end {
        buf.resize(end, 0);
    }
    buf[offset..end].copy_from_slice(data);
}

impl Inode {
    /// Switches to offset-write tracking (idempotent): the synced prefix becomes the durable
    /// bytes and an unsynced tail becomes one pending write.
    fn rw_log(&mut self) -> &mut RwLog {
        let Inode {
            data,
            synced_len,
            rw,
        } = self;
        rw.get_or_insert_with(|| {
            let mut pending = Vec::new();
            if *synced_len < data.len() {
                pending.push(Pending::Write {
                    offset: *synced_len,
                    data: data[*synced_len..].to_vec(),
                });
            }
            RwLog {
                durable: data[..*synced_len].to_vec(),
                pending,
            }
        })
    }

    fn sync(&mut self) {
        if let Some(log) = &mut self.rw {
            for p in log.pending.drain(..) {
                p.apply(&mut log.durable);
            }
        }
        self.synced_len = self.data.len();
    }

    /// The bytes a power cut leaves; `rng` is `None` for [`CrashMode::DropUnsynced`].
    fn surviving(&self, rng: Option<&mut u64>) -> Vec<u8> {
        match (&self.rw, rng) {
            (Some(log), rng) => {
                let mut out = log.durable.clone();
                if let Some(rng) = rng {
                    for p in &log.pending {
                        if splitmix64(rng) & 1 == 1 {
                            p.apply(&mut out);
                        }
                    }
                }
                out
            }
            (None, None) => self.data[..self.synced_len].to_vec(),
            (None, Some(rng)) => {
                let unsynced = (self.data.len() - self.synced_len) as u64;
                let kept = (splitmix64(rng) % (unsynced + 1)) as usize;
                self.data[..self.synced_len + kept].to_vec()
            }
        }
    }
}

type InodeRef = Arc<Mutex<Inode>>;

#[derive(Default)]
struct State {
    live: BTreeMap<PathBuf, InodeRef>,
    durable: BTreeMap<PathBuf, InodeRef>,
    dirs: BTreeSet<PathBuf>,
    locks: HashSet<PathBuf>,
}

impl State {
    fn dir_exists(&self, dir: &Path) -> bool {
        dir.as_os_str().is_empty() || dir.parent().is_none() || self.dirs.contains(dir)
    }

    /// Fails unless the directory that would hold `path` exists and `path` is not a directory.
    fn check_parent(&self, op: &'static str, path: &Path) -> Result<()> {
        if self.dirs.contains(path) {
            return Err(err(op, path, ErrorKind::IsADirectory, "is a directory"));
        }
        match path.parent() {
            Some(dir) if self.dir_exists(dir) => Ok(()),
            _ => Err(err(op, path, ErrorKind::NotFound, "no such directory")),
        }
    }

    fn live_inode(&self, op: &'static str, path: &Path) -> Result<&InodeRef> {
        self.live
            .get(path)
            .ok_or_else(|| err(op, path, ErrorKind::NotFound, "no such file"))
    }
}

fn err(op: &'static str, path: &Path, kind: ErrorKind, msg: &str) -> Error {
    Error::io(op, path, io::Error::new(kind, msg.to_string()))
}

/// True when `path` is directly inside `dir`.
fn in_dir(path: &Path, dir: &Path) -> bool {
    path.parent() == Some(dir)
}

/// An in-memory file system with crash images. Clones share the same files.
#[derive(Clone, Default)]
pub struct MemFs {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for MemFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.lock();
        f.debug_struct("MemFs")
            .field("live_files", &s.live.len())
            .field("durable_files", &s.durable.len())
            .finish()
    }
}

/// splitmix64: a tiny deterministic generator, enough to pick torn-write lengths.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl MemFs {
    /// An empty file system (the root directory exists).
    pub fn new() -> Self {
        Self::default()
    }

    /// What a power cut would leave behind, as a new, independent `MemFs`: the durable namespace,
    /// each file holding its synced bytes plus, under [`CrashMode::KeepUnsyncedPrefix`], part of
    /// its unsynced tail. The image's live namespace equals its durable one and no lock is held.
    pub fn crash_image(&self, mode: CrashMode) -> MemFs {
        let s = self.state.lock();
        let (mut rng, keep) = match mode {
            CrashMode::DropUnsynced => (0, false),
            CrashMode::KeepUnsyncedPrefix { seed } => (seed, true),
        };
        // Keyed by inode identity so that hard links stay one inode in the image.
        let mut copies: HashMap<*const Mutex<Inode>, InodeRef> = HashMap::new();
        let mut files = BTreeMap::new();
        for (path, inode) in &s.durable {
            let copy = copies.entry(Arc::as_ptr(inode)).or_insert_with(|| {
                let data = inode.lock().surviving(keep.then_some(&mut rng));
                Arc::new(Mutex::new(Inode {
                    synced_len: data.len(),
                    data,
                    rw: None,
                }))
            });
            files.insert(path.clone(), Arc::clone(copy));
        }
        MemFs {
            state: Arc::new(Mutex::new(State {
                live: files.clone(),
                durable: files,
                dirs: s.dirs.clone(),
                locks: HashSet::new(),
            })),
        }
    }

    /// Test helper: XORs the byte at `offset` of the live file `path` with `xor`, in both its live
    /// and its durable bytes (and in the durable namespace's file of that name, if it differs).
    /// Handles opened earlier keep their snapshot.
    pub fn corrupt_byte(&self, path: &Path, offset: u64, xor: u8) -> Result<()> {
        let s = self.state.lock();
        let live = s.live_inode("corrupt", path)?;
        let mut targets = vec![live];
        if let Some(d) = s.durable.get(path) {
            if !Arc::ptr_eq(d, live) {
                targets.push(d);
            }
        }
        for (n, inode) in targets.into_iter().enumerate() {
            let mut i = inode.lock();
            if let (Some(log), Ok(o)) = (&mut i.rw, usize::try_from(offset)) {
                if let Some(b) = log.durable.get_mut(o) {
                    *b ^= xor;
                }
            }
            match usize::try_from(offset).ok().filter(|&o| o < i.data.len()) {
                Some(o) => i.data[o] ^= xor,
                // The live file must hold the offset; a shorter durable twin is left alone.
                None if n == 0 => {
                    return Err(err(
                        "corrupt",
                        path,
                        ErrorKind::UnexpectedEof,
                        "offset past end",
                    ))
                }
                None => {}
            }
        }
        Ok(())
    }

    /// Test helper: sets the length of the live file `path` to `len` (cutting it short, or
    /// padding with zeros), durably.
    pub fn truncate(&self, path: &Path, len: u64) -> Result<()> {
        let s = self.state.lock();
        let len = usize::try_from(len).map_err(|_| {
            err(
                "truncate",
                path,
                ErrorKind::InvalidInput,
                "length too large",
            )
        })?;
        let mut i = s.live_inode("truncate", path)?.lock();
        i.data.resize(len, 0);
        i.synced_len = i.synced_len.min(len);
        if let Some(log) = &mut i.rw {
            log.durable.resize(len, 0);
        }
        Ok(())
    }

    /// Test helper: names of the live files directly in `dir`, sorted (directories excluded).
    pub fn file_names(&self, dir: &Path) -> Vec<String> {
        let s = self.state.lock();
        s.live
            .keys()
            .filter(|p| in_dir(p, dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect()
    }

    /// Test helper: total bytes held by live files, counting hard-linked bytes once.
    pub fn total_bytes(&self) -> u64 {
        let s = self.state.lock();
        let mut seen = HashSet::new();
        s.live
            .values()
            .filter(|i| seen.insert(Arc::as_ptr(i)))
            .map(|i| i.lock().data.len() as u64)
            .sum()
    }
}

struct MemWritable {
    inode: InodeRef,
    path: PathBuf,
}

impl WritableFile for MemWritable {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        let mut i = self.inode.lock();
        let offset = i.data.len();
        i.data.extend_from_slice(data);
        if let Some(log) = &mut i.rw {
            log.pending.push(Pending::Write {
                offset,
                data: data.to_vec(),
            });
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.inode.lock().sync();
        Ok(())
    }

    fn len(&self) -> u64 {
        self.inode.lock().data.len() as u64
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

struct MemRw {
    inode: InodeRef,
    path: PathBuf,
}

impl RandomRwFile for MemRw {
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        let i = self.inode.lock();
        check_bounds(&self.path, i.data.len() as u64, offset, len)?;
        let start = offset as usize;
        Ok(Bytes::copy_from_slice(&i.data[start..start + len]))
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        let offset = usize::try_from(offset)
            .ok()
            .filter(|o| o.checked_add(data.len()).is_some())
            .ok_or_else(|| {
                err(
                    "write",
                    &self.path,
                    ErrorKind::InvalidInput,
                    "offset too large",
                )
            })?;
        let mut i = self.inode.lock();
        write_into(&mut i.data, offset, data);
        i.rw_log().pending.push(Pending::Write {
            offset,
            data: data.to_vec(),
        });
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        self.inode.lock().sync();
        Ok(())
    }

    fn len(&self) -> Result<u64> {
        Ok(self.inode.lock().data.len() as u64)
    }

    fn set_len(&self, len: u64) -> Result<()> {
        let len = usize::try_from(len).map_err(|_| {
            err(
                "set_len",
                &self.path,
                ErrorKind::InvalidInput,
                "length too large",
            )
        })?;
        let mut i = self.inode.lock();
        i.data.resize(len, 0);
        i.rw_log().pending.push(Pending::SetLen(len));
        Ok(())
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

struct MemReader {
    data: Bytes,
    path: PathBuf,
}

impl RandomAccessFile for MemReader {
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        check_bounds(&self.path, self.data.len() as u64, offset, len)?;
        let start = offset as usize;
        Ok(self.data.slice(start..start + len))
    }

    fn len(&self) -> u64 {
        self.data.len() as u64
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

struct MemLock {
    state: Arc<Mutex<State>>,
    path: PathBuf,
}

impl FileLock for MemLock {}

impl Drop for MemLock {
    fn drop(&mut self) {
        self.state.lock().locks.remove(&self.path);
    }
}

impl FileSystem for MemFs {
    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        let mut s = self.state.lock();
        s.check_parent("create", path)?;
        let inode = match s.live.get(path) {
            Some(existing) => {
                let mut i = existing.lock();
                i.data.clear();
                i.synced_len = 0;
                i.rw = None;
                Arc::clone(existing)
            }
            None => {
                let fresh = InodeRef::default();
                s.live.insert(path.to_path_buf(), Arc::clone(&fresh));
                fresh
            }
        };
        Ok(Box::new(MemWritable {
            inode,
            path: path.to_path_buf(),
        }))
    }

    fn open_rw(&self, path: &Path) -> Result<Arc<dyn RandomRwFile>> {
        let mut s = self.state.lock();
        s.check_parent("open_rw", path)?;
        let inode = match s.live.get(path) {
            Some(existing) => Arc::clone(existing),
            None => {
                let fresh = InodeRef::default();
                s.live.insert(path.to_path_buf(), Arc::clone(&fresh));
                fresh
            }
        };
        inode.lock().rw_log();
        Ok(Arc::new(MemRw {
            inode,
            path: path.to_path_buf(),
        }))
    }

    fn open(&self, path: &Path, _mode: ReadMode) -> Result<Arc<dyn RandomAccessFile>> {
        let s = self.state.lock();
        let data = Bytes::copy_from_slice(&s.live_inode("open", path)?.lock().data);
        Ok(Arc::new(MemReader {
            data,
            path: path.to_path_buf(),
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let mut s = self.state.lock();
        let inode = Arc::clone(s.live_inode("rename", from)?);
        s.check_parent("rename", to)?;
        s.live.remove(from);
        s.live.insert(to.to_path_buf(), inode);
        Ok(())
    }

    fn remove(&self, path: &Path) -> Result<()> {
        let mut s = self.state.lock();
        s.live
            .remove(path)
            .map(drop)
            .ok_or_else(|| err("remove", path, ErrorKind::NotFound, "no such file"))
    }

    fn link(&self, from: &Path, to: &Path) -> Result<()> {
        let mut s = self.state.lock();
        let inode = Arc::clone(s.live_inode("link", from)?);
        s.check_parent("link", to)?;
        if s.live.contains_key(to) {
            return Err(err("link", to, ErrorKind::AlreadyExists, "file exists"));
        }
        s.live.insert(to.to_path_buf(), inode);
        Ok(())
    }

    /// Files and subdirectories directly in `dir`.
    fn list(&self, dir: &Path) -> Result<Vec<String>> {
        let s = self.state.lock();
        if !s.dir_exists(dir) {
            return Err(err("list", dir, ErrorKind::NotFound, "no such directory"));
        }
        let files = s.live.keys();
        let dirs = s.dirs.iter();
        Ok(files
            .chain(dirs)
            .filter(|p| in_dir(p, dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect())
    }

    fn exists(&self, path: &Path) -> bool {
        let s = self.state.lock();
        s.live.contains_key(path) || s.dir_exists(path)
    }

    fn file_size(&self, path: &Path) -> Result<u64> {
        let s = self.state.lock();
        let len = s.live_inode("stat", path)?.lock().data.len();
        Ok(len as u64)
    }

    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        let mut s = self.state.lock();
        for d in dir.ancestors() {
            if s.live.contains_key(d) {
                return Err(err("create_dir", d, ErrorKind::AlreadyExists, "is a file"));
            }
        }
        for d in dir.ancestors() {
            if !s.dir_exists(d) {
                s.dirs.insert(d.to_path_buf());
            }
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        let mut s = self.state.lock();
        if !s.dir_exists(dir) {
            return Err(err(
                "sync_dir",
                dir,
                ErrorKind::NotFound,
                "no such directory",
            ));
        }
        s.durable.retain(|p, _| !in_dir(p, dir));
        let entries: Vec<_> = s
            .live
            .iter()
            .filter(|(p, _)| in_dir(p, dir))
            .map(|(p, i)| (p.clone(), Arc::clone(i)))
            .collect();
        s.durable.extend(entries);
        Ok(())
    }

    fn lock(&self, path: &Path) -> Result<Box<dyn FileLock>> {
        let mut s = self.state.lock();
        s.check_parent("lock", path)?;
        if s.locks.contains(path) {
            return Err(Error::Locked {
                path: path.to_path_buf(),
            });
        }
        if !s.live.contains_key(path) {
            s.live.insert(path.to_path_buf(), InodeRef::default());
        }
        s.locks.insert(path.to_path_buf());
        Ok(Box::new(MemLock {
            state: Arc::clone(&self.state),
            path: path.to_path_buf(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    fn setup() -> MemFs {
        let fs = MemFs::new();
        fs.create_dir_all(&p("/db")).unwrap();
        fs
    }

    fn write(fs: &MemFs, path: &str, data: &[u8], sync: bool) -> Box<dyn WritableFile> {
        let mut w = fs.create(&p(path)).unwrap();
        w.append(data).unwrap();
        if sync {
            w.sync().unwrap();
        }
        w
    }

    /// The operation and error kind of an `Io` error.
    fn kind<T>(r: Result<T>) -> (&'static str, ErrorKind) {
        match r {
            Err(Error::Io { op, source, .. }) => (op, source.kind()),
            Err(other) => panic!("expected an Io error, got {other:?}"),
            Ok(_) => panic!("expected an Io error, got success"),
        }
    }

    fn read(fs: &MemFs, path: &str) -> Vec<u8> {
        fs.read_all(&p(path)).unwrap().to_vec()
    }

    #[test]
    fn reads_see_live_bytes_in_both_modes() {
        let fs = setup();
        let mut w = write(&fs, "/db/a", b"abc", false);
        w.append(b"def").unwrap();
        assert_eq!(w.len(), 6);
        for mode in [ReadMode::Pread, ReadMode::Mmap] {
            let r = fs.open(&p("/db/a"), mode).unwrap();
            assert_eq!(r.len(), 6);
            assert_eq!(&r.read_at(2, 3).unwrap()[..], b"cde");
            assert_eq!(kind(r.read_at(4, 3)).1, ErrorKind::UnexpectedEof);
            assert!(r.read_at(u64::MAX, 1).is_err());
        }
        assert_eq!(fs.file_size(&p("/db/a")).unwrap(), 6);
    }

    #[test]
    fn unsynced_bytes_are_lost_in_a_crash() {
        let fs = setup();
        let mut w = write(&fs, "/db/1.log", b"synced", true);
        w.append(b"-lost").unwrap();
        fs.sync_dir(&p("/db")).unwrap();
        let img = fs.crash_image(CrashMode::DropUnsynced);
        assert_eq!(read(&img, "/db/1.log"), b"synced");
        // The original is untouched.
        assert_eq!(read(&fs, "/db/1.log"), b"synced-lost");
    }

    #[test]
    fn synced_file_in_unsynced_directory_is_gone() {
        let fs = setup();
        let _w = write(&fs, "/db/2.sst", b"data", true);
        let img = fs.crash_image(CrashMode::DropUnsynced);
        assert!(!img.exists(&p("/db/2.sst")));
        assert!(img.exists(&p("/db")));
        assert!(img.list(&p("/db")).unwrap().is_empty());
    }

    #[test]
    fn rename_without_sync_dir_reverts_and_with_it_sticks() {
        let fs = setup();
        write(&fs, "/db/CURRENT", b"MANIFEST-1\n", true);
        fs.sync_dir(&p("/db")).unwrap();
        write(&fs, "/db/CURRENT.tmp", b"MANIFEST-2\n", true);
        fs.rename(&p("/db/CURRENT.tmp"), &p("/db/CURRENT")).unwrap();
        assert_eq!(read(&fs, "/db/CURRENT"), b"MANIFEST-2\n");

        let img = fs.crash_image(CrashMode::DropUnsynced);
        assert_eq!(read(&img, "/db/CURRENT"), b"MANIFEST-1\n");
        assert!(!img.exists(&p("/db/CURRENT.tmp")));

        fs.sync_dir(&p("/db")).unwrap();
        let img = fs.crash_image(CrashMode::DropUnsynced);
        assert_eq!(read(&img, "/db/CURRENT"), b"MANIFEST-2\n");
        assert_eq!(img.file_names(&p("/db")), vec!["CURRENT"]);
    }

    #[test]
    fn remove_without_sync_dir_comes_back() {
        let fs = setup();
        write(&fs, "/db/3.log", b"wal", true);
        fs.sync_dir(&p("/db")).unwrap();
        fs.remove(&p("/db/3.log")).unwrap();
        assert!(!fs.exists(&p("/db/3.log")));
        assert_eq!(
            read(&fs.crash_image(CrashMode::DropUnsynced), "/db/3.log"),
            b"wal"
        );
        fs.sync_dir(&p("/db")).unwrap();
        assert!(!fs
            .crash_image(CrashMode::DropUnsynced)
            .exists(&p("/db/3.log")));
    }

    #[test]
    fn writer_follows_its_inode_across_rename_and_remove() {
        let fs = setup();
        let mut w = write(&fs, "/db/a", b"one", false);
        fs.rename(&p("/db/a"), &p("/db/b")).unwrap();
        w.append(b"two").unwrap();
        assert_eq!(read(&fs, "/db/b"), b"onetwo");
        fs.remove(&p("/db/b")).unwrap();
        w.append(b"three").unwrap();
        w.sync().unwrap();
        assert_eq!(w.len(), 11);
        assert!(!fs.exists(&p("/db/b")));
        assert_eq!(fs.total_bytes(), 0);
    }

    #[test]
    fn keep_unsynced_prefix_keeps_a_deterministic_prefix() {
        let fs = setup();
        let tail: Vec<u8> = (0..200u8).collect();
        let mut w = write(&fs, "/db/1.log", b"head", true);
        w.append(&tail).unwrap();
        fs.sync_dir(&p("/db")).unwrap();
        let mut lens = BTreeSet::new();
        for seed in 0..32 {
            let img = fs.crash_image(CrashMode::KeepUnsyncedPrefix { seed });
            let got = read(&img, "/db/1.log");
            assert!(got.len() >= 4 && got.len() <= 204);
            assert_eq!(got[..], [&b"head"[..], &tail[..]].concat()[..got.len()]);
            let again = fs.crash_image(CrashMode::KeepUnsyncedPrefix { seed });
            assert_eq!(read(&again, "/db/1.log"), got);
            lens.insert(got.len());
        }
        assert!(lens.len() > 1, "seeds should tear at different places");
    }

    #[test]
    fn hard_link_shares_bytes_and_stays_shared_in_the_image() {
        let fs = setup();
        fs.create_dir_all(&p("/ck")).unwrap();
        let mut w = write(&fs, "/db/5.sst", b"abc", false);
        fs.link(&p("/db/5.sst"), &p("/ck/5.sst")).unwrap();
        w.append(b"def").unwrap();
        assert_eq!(read(&fs, "/ck/5.sst"), b"abcdef");
        assert_eq!(fs.total_bytes(), 6);
        assert!(fs.link(&p("/db/5.sst"), &p("/ck/5.sst")).is_err());
        w.sync().unwrap();
        fs.sync_dir(&p("/db")).unwrap();
        fs.sync_dir(&p("/ck")).unwrap();
        fs.remove(&p("/db/5.sst")).unwrap();
        assert_eq!(read(&fs, "/ck/5.sst"), b"abcdef");

        let img = fs.crash_image(CrashMode::DropUnsynced);
        assert_eq!(img.total_bytes(), 6);
        img.corrupt_byte(&p("/db/5.sst"), 0, 0xff).unwrap();
        assert_eq!(read(&img, "/ck/5.sst")[0], b'a' ^ 0xff);
    }

    #[test]
    fn create_truncates_in_place() {
        let fs = setup();
        write(&fs, "/db/x", b"old", true);
        fs.link(&p("/db/x"), &p("/db/y")).unwrap();
        write(&fs, "/db/x", b"n", false);
        assert_eq!(read(&fs, "/db/y"), b"n");
    }

    #[test]
    fn namespace_errors() {
        let fs = setup();
        let missing = p("/db/missing");
        let nodir = p("/nodir");
        assert_eq!(
            kind(fs.open(&missing, ReadMode::Pread)),
            ("open", ErrorKind::NotFound)
        );
        assert_eq!(kind(fs.remove(&missing)), ("remove", ErrorKind::NotFound));
        assert_eq!(
            kind(fs.rename(&missing, &p("/db/z"))),
            ("rename", ErrorKind::NotFound)
        );
        assert_eq!(
            kind(fs.link(&missing, &p("/db/z"))),
            ("link", ErrorKind::NotFound)
        );
        assert_eq!(kind(fs.file_size(&missing)), ("stat", ErrorKind::NotFound));
        assert_eq!(
            kind(fs.create(&p("/nodir/f"))),
            ("create", ErrorKind::NotFound)
        );
        assert_eq!(
            kind(fs.create(&p("/db"))),
            ("create", ErrorKind::IsADirectory)
        );
        assert_eq!(kind(fs.list(&nodir)), ("list", ErrorKind::NotFound));
        assert_eq!(kind(fs.sync_dir(&nodir)), ("sync_dir", ErrorKind::NotFound));
        write(&fs, "/db/f", b"", false);
        assert!(fs.rename(&p("/db/f"), &p("/nodir/f")).is_err());
        assert!(
            fs.exists(&p("/db/f")),
            "a failed rename leaves the source alone"
        );
        assert!(fs.create_dir_all(&p("/db/f/sub")).is_err());
        // Renaming onto itself is a no-op, as in POSIX.
        fs.rename(&p("/db/f"), &p("/db/f")).unwrap();
        assert!(fs.exists(&p("/db/f")));
    }

    #[test]
    fn list_and_file_names() {
        let fs = setup();
        fs.create_dir_all(&p("/db/sub")).unwrap();
        write(&fs, "/db/b", b"", false);
        write(&fs, "/db/a", b"", false);
        write(&fs, "/db/sub/c", b"", false);
        let mut listed = fs.list(&p("/db")).unwrap();
        listed.sort();
        assert_eq!(listed, vec!["a", "b", "sub"]);
        assert_eq!(fs.file_names(&p("/db")), vec!["a", "b"]);
        assert_eq!(fs.list(&p("/")).unwrap(), vec!["db"]);
    }

    #[test]
    fn lock_is_exclusive_until_dropped_and_not_kept_by_images() {
        let fs = setup();
        let lock = p("/db/LOCK");
        let guard = fs.lock(&lock).unwrap();
        assert!(fs.exists(&lock));
        assert!(matches!(fs.clone().lock(&lock), Err(Error::Locked { .. })));
        fs.sync_dir(&p("/db")).unwrap();
        let img = fs.crash_image(CrashMode::DropUnsynced);
        drop(img.lock(&lock).unwrap());
        drop(guard);
        drop(fs.lock(&lock).unwrap());
        assert!(fs.lock(&p("/nodir/LOCK")).is_err());
    }

    #[test]
    fn corrupt_and_truncate_helpers() {
        let fs = setup();
        write(&fs, "/db/t", b"hello", true);
        fs.sync_dir(&p("/db")).unwrap();
        let before = fs.open(&p("/db/t"), ReadMode::Pread).unwrap();
        fs.corrupt_byte(&p("/db/t"), 1, 0x01).unwrap();
        assert_eq!(read(&fs, "/db/t"), b"hdllo");
        assert_eq!(&before.read_at(0, 5).unwrap()[..], b"hello");
        assert_eq!(
            read(&fs.crash_image(CrashMode::DropUnsynced), "/db/t"),
            b"hdllo"
        );
        assert!(fs.corrupt_byte(&p("/db/t"), 5, 1).is_err());
        assert!(fs.corrupt_byte(&p("/db/none"), 0, 1).is_err());

        fs.truncate(&p("/db/t"), 2).unwrap();
        assert_eq!(read(&fs, "/db/t"), b"hd");
        assert_eq!(
            read(&fs.crash_image(CrashMode::DropUnsynced), "/db/t"),
            b"hd"
        );
        fs.truncate(&p("/db/t"), 4).unwrap();
        assert_eq!(read(&fs, "/db/t"), b"hd\0\0");
        assert!(fs.truncate(&p("/db/none"), 0).is_err());
    }

    #[test]
    fn random_writes_survive_only_after_sync() {
        let fs = setup();
        let f = fs.open_rw(&p("/db/pages")).unwrap();
        f.write_at(0, b"aaaa").unwrap();
        f.write_at(8, b"cccc").unwrap();
        f.sync().unwrap();
        fs.sync_dir(&p("/db")).unwrap();
        assert_eq!(read(&fs, "/db/pages"), b"aaaa\0\0\0\0cccc");
        f.write_at(0, b"AA").unwrap();
        f.write_at(10, b"CCCC").unwrap();
        assert_eq!(f.len().unwrap(), 14);
        assert_eq!(&f.read_at(8, 6).unwrap()[..], b"ccCCCC");
        let img = fs.crash_image(CrashMode::DropUnsynced);
        assert_eq!(read(&img, "/db/pages"), b"aaaa\0\0\0\0cccc");
        // The original keeps its live bytes; a second sync makes them durable.
        f.sync().unwrap();
        let img = fs.crash_image(CrashMode::DropUnsynced);
        assert_eq!(read(&img, "/db/pages"), b"AAaa\0\0\0\0ccCCCC");
    }

    #[test]
    fn unsynced_random_writes_are_kept_or_lost_one_by_one() {
        let fs = setup();
        let f = fs.open_rw(&p("/db/pages")).unwrap();
        f.write_at(0, &[0u8; 16]).unwrap();
        f.sync().unwrap();
        fs.sync_dir(&p("/db")).unwrap();
        for i in 0..4u8 {
            f.write_at(u64::from(i) * 4, &[i + 1; 4]).unwrap();
        }
        let mut seen = BTreeSet::new();
        for seed in 0..64 {
            let img = fs.crash_image(CrashMode::KeepUnsyncedPrefix { seed });
            let got = read(&img, "/db/pages");
            assert_eq!(got.len(), 16);
            let mut kept = Vec::new();
            for (i, chunk) in got.chunks(4).enumerate() {
                // Each write is whole or absent, never torn.
                assert!(chunk == [0; 4] || chunk == [i as u8 + 1; 4], "{got:?}");
                kept.push(chunk[0] != 0);
            }
            let again = fs.crash_image(CrashMode::KeepUnsyncedPrefix { seed });
            assert_eq!(read(&again, "/db/pages"), got, "deterministic per seed");
            seen.insert(kept);
        }
        assert!(
            seen.len() > 4,
            "writes should survive independently: {seen:?}"
        );
    }

    #[test]
    fn random_write_file_set_len_and_reopen() {
        let fs = setup();
        let f = fs.open_rw(&p("/db/pages")).unwrap();
        f.write_at(0, b"0123456789").unwrap();
        f.sync().unwrap();
        fs.sync_dir(&p("/db")).unwrap();
        f.set_len(4).unwrap();
        assert_eq!(read(&fs, "/db/pages"), b"0123");
        assert_eq!(
            read(&fs.crash_image(CrashMode::DropUnsynced), "/db/pages"),
            b"0123456789"
        );
        f.sync().unwrap();
        assert_eq!(
            read(&fs.crash_image(CrashMode::DropUnsynced), "/db/pages"),
            b"0123"
        );
        // An existing file opens with its bytes; a torn-tail helper still works on it.
        let g = fs.open_rw(&p("/db/pages")).unwrap();
        assert_eq!(&g.read_at(0, 4).unwrap()[..], b"0123");
        assert_eq!(kind(g.read_at(2, 3)).1, ErrorKind::UnexpectedEof);
        fs.corrupt_byte(&p("/db/pages"), 1, 0x01).unwrap();
        assert_eq!(
            read(&fs.crash_image(CrashMode::DropUnsynced), "/db/pages"),
            b"0023"
        );
        assert!(fs.open_rw(&p("/nodir/x")).is_err());
        assert!(fs.open_rw(&p("/db")).is_err());
    }

    #[test]
    fn appends_to_a_random_write_file_are_tracked_too() {
        let fs = setup();
        let mut w = write(&fs, "/db/f", b"synced", true);
        w.append(b"-tail").unwrap();
        let f = fs.open_rw(&p("/db/f")).unwrap();
        f.write_at(0, b"S").unwrap();
        w.append(b"!").unwrap();
        fs.sync_dir(&p("/db")).unwrap();
        assert_eq!(
            read(&fs.crash_image(CrashMode::DropUnsynced), "/db/f"),
            b"synced"
        );
        w.sync().unwrap();
        assert_eq!(
            read(&fs.crash_image(CrashMode::DropUnsynced), "/db/f"),
            b"Synced-tail!"
        );
    }

    #[test]
    fn corrupt_reaches_a_different_durable_twin() {
        let fs = setup();
        write(&fs, "/db/CURRENT", b"one", true);
        fs.sync_dir(&p("/db")).unwrap();
        write(&fs, "/db/tmp", b"two", true);
        fs.rename(&p("/db/tmp"), &p("/db/CURRENT")).unwrap();
        fs.corrupt_byte(&p("/db/CURRENT"), 0, 0x20).unwrap();
        assert_eq!(read(&fs, "/db/CURRENT"), b"Two");
        assert_eq!(
            read(&fs.crash_image(CrashMode::DropUnsynced), "/db/CURRENT"),
            b"One"
        );
    }
}
