//! [`OsFs`]: the real file system.
//!
//! Appends go straight to the file with `write_all` (the engine buffers above this layer), `sync`
//! is `fdatasync`, and `sync_dir` opens the directory and `fsync`s it, which is what makes
//! creations, renames and removals durable on Linux.
//!
//! Reads use `pread` ([`ReadMode::Pread`]) or a read-only mapping ([`ReadMode::Mmap`]) whose
//! reads are zero-copy slices of one shared [`Bytes`]. Either way a read is bounds-checked against
//! the length seen at open, so a read past the end is an `UnexpectedEof` I/O error rather than a
//! short buffer or a fault.
//!
//! The database lock is an `flock` on the `LOCK` file, held by the open [`File`] inside the guard.
//! `flock` locks belong to an open file description, so a second `lock` from the same process is
//! refused just like one from another process.

use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::{FileLock, FileSystem, RandomAccessFile, RandomRwFile, ReadMode, WritableFile};
use crate::error::{Error, Result};

/// The operating system's file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsFs;

impl OsFs {
    /// The real file system.
    pub fn new() -> Self {
        OsFs
    }
}

/// Checks that `[offset, offset + len)` lies within a file of `file_len` bytes.
pub(super) fn check_bounds(path: &Path, file_len: u64, offset: u64, len: usize) -> Result<()> {
    let end = offset.checked_add(len as u64);
    match end {
        Some(end) if end <= file_len => Ok(()),
        _ => Err(Error::io(
            "read",
            path,
            io::Error::new(
                ErrorKind::UnexpectedEof,
                format!("read of {len} bytes at offset {offset} passes the end of a {file_len}-byte file"),
            ),
        )),
    }
}

struct OsWritable {
    file: File,
    path: PathBuf,
    len: u64,
}

impl WritableFile for OsWritable {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        self.file
            .write_all(data)
            .map_err(|e| Error::io("append", &self.path, e))?;
        self.len += data.len() as u64;
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| Error::io("sync", &self.path, e))
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

struct PreadFile {
    file: File,
    path: PathBuf,
    len: u64,
}

impl RandomAccessFile for PreadFile {
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        // Checked before allocating, so a corrupt length cannot ask for a huge buffer.
        check_bounds(&self.path, self.len, offset, len)?;
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, offset)
            .map_err(|e| Error::io("read", &self.path, e))?;
        Ok(Bytes::from(buf))
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// A page file: `pread`/`pwrite` on one shared descriptor.
struct OsRwFile {
    file: File,
    path: PathBuf,
}

impl RandomRwFile for OsRwFile {
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        check_bounds(&self.path, self.len()?, offset, len)?;
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, offset)
            .map_err(|e| Error::io("read", &self.path, e))?;
        Ok(Bytes::from(buf))
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        self.file
            .write_all_at(data, offset)
            .map_err(|e| Error::io("write", &self.path, e))
    }

    fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| Error::io("sync", &self.path, e))
    }

    fn len(&self) -> Result<u64> {
        Ok(self
            .file
            .metadata()
            .map_err(|e| Error::io("stat", &self.path, e))?
            .len())
    }

    fn set_len(&self, len: u64) -> Result<()> {
        self.file
            .set_len(len)
            .map_err(|e| Error::io("set_len", &self.path, e))
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

struct MmapFile {
    data: Bytes,
    path: PathBuf,
}

impl RandomAccessFile for MmapFile {
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        check_bounds(&self.path, self.data.len() as u64, offset, len)?;
        // In bounds, so both fit in usize.
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

fn map_file(file: &File, path: &Path, len: u64) -> Result<Bytes> {
    if len == 0 {
        // mmap(2) rejects zero-length mappings.
        return Ok(Bytes::new());
    }
    // SAFETY: a mapping is only sound while nobody modifies or truncates the file beneath it.
    // The engine maps only files that are immutable once written: SSTs are written in full,
    // synced and only then opened for reading, and are never written again (compaction writes
    // new files; obsolete ones are unlinked, which keeps the inode alive while it is mapped).
    // Another process truncating the file would raise SIGBUS; that is why `ReadMode::Mmap` is
    // opt-in and `Pread` is the default.
    #[allow(unsafe_code)]
    let map = unsafe { memmap2::Mmap::map(file) }.map_err(|e| Error::io("mmap", path, e))?;
    Ok(Bytes::from_owner(map))
}

struct OsLock {
    // Closing the file releases the flock.
    _file: File,
}

impl FileLock for OsLock {}

/// Link errors after which copying is a sensible substitute (the file system cannot link).
fn link_unsupported(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::CrossesDevices | ErrorKind::Unsupported | ErrorKind::PermissionDenied
    )
}

/// Copies `from` to a new file `to` and syncs it, so the copy is as durable as a link would be.
fn copy_file(from: &Path, to: &Path) -> Result<()> {
    let mut src = File::open(from).map_err(|e| Error::io("link", from, e))?;
    let mut dst = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(|e| Error::io("link", to, e))?;
    io::copy(&mut src, &mut dst).map_err(|e| Error::io("link", to, e))?;
    dst.sync_all().map_err(|e| Error::io("link", to, e))
}

impl FileSystem for OsFs {
    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| Error::io("create", path, e))?;
        Ok(Box::new(OsWritable {
            file,
            path: path.to_path_buf(),
            len: 0,
        }))
    }

    fn open_rw(&self, path: &Path) -> Result<Arc<dyn RandomRwFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io("open_rw", path, e))?;
        Ok(Arc::new(OsRwFile {
            file,
            path: path.to_path_buf(),
        }))
    }

    fn open(&self, path: &Path, mode: ReadMode) -> Result<Arc<dyn RandomAccessFile>> {
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("open", path, e))?
            .len();
        let path = path.to_path_buf();
        Ok(match mode {
            ReadMode::Pread => Arc::new(PreadFile { file, path, len }),
            ReadMode::Mmap => {
                let data = map_file(&file, &path, len)?;
                Arc::new(MmapFile { data, path })
            }
        })
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        std::fs::rename(from, to).map_err(|e| Error::io("rename", from, e))
    }

    fn remove(&self, path: &Path) -> Result<()> {
        std::fs::remove_file(path).map_err(|e| Error::io("remove", path, e))
    }

    fn link(&self, from: &Path, to: &Path) -> Result<()> {
        match std::fs::hard_link(from, to) {
            Ok(()) => Ok(()),
            Err(e) if link_unsupported(&e) => copy_file(from, to),
            Err(e) => Err(Error::io("link", from, e)),
        }
    }

    /// Entries whose names are not valid UTF-8 are skipped: the engine never creates them.
    fn list(&self, dir: &Path) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
            let entry = entry.map_err(|e| Error::io("list", dir, e))?;
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        path.try_exists().unwrap_or(false)
    }

    fn file_size(&self, path: &Path) -> Result<u64> {
        Ok(std::fs::metadata(path)
            .map_err(|e| Error::io("stat", path, e))?
            .len())
    }

    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create_dir", dir, e))
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io("sync_dir", dir, e))
    }

    fn lock(&self, path: &Path) -> Result<Box<dyn FileLock>> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io("lock", path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(OsLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked {
                path: path.to_path_buf(),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock", path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_file(fs: &OsFs, path: &Path, chunks: &[&[u8]]) {
        let mut w = fs.create(path).unwrap();
        for c in chunks {
            w.append(c).unwrap();
        }
        w.sync().unwrap();
    }

    fn eof_kind(err: Error) -> ErrorKind {
        match err {
            Error::Io { source, .. } => source.kind(),
            other => panic!("expected an Io error, got {other:?}"),
        }
    }

    #[test]
    fn create_append_sync_and_read_in_both_modes() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFs::new();
        let path = dir.path().join("000001.sst");
        let mut w = fs.create(&path).unwrap();
        assert!(w.is_empty());
        w.append(b"hello ").unwrap();
        w.append(b"").unwrap();
        w.append(b"world").unwrap();
        assert_eq!(w.len(), 11);
        assert_eq!(w.path(), path.as_path());
        w.sync().unwrap();
        drop(w);

        for mode in [ReadMode::Pread, ReadMode::Mmap] {
            let r = fs.open(&path, mode).unwrap();
            assert_eq!(r.len(), 11);
            assert_eq!(&r.read_at(0, 11).unwrap()[..], b"hello world");
            assert_eq!(&r.read_at(6, 5).unwrap()[..], b"world");
            assert_eq!(&r.read_at(11, 0).unwrap()[..], b"");
            assert_eq!(
                eof_kind(r.read_at(6, 6).unwrap_err()),
                ErrorKind::UnexpectedEof
            );
            assert_eq!(
                eof_kind(r.read_at(12, 0).unwrap_err()),
                ErrorKind::UnexpectedEof
            );
            assert_eq!(
                eof_kind(r.read_at(u64::MAX, 2).unwrap_err()),
                ErrorKind::UnexpectedEof
            );
        }
        assert_eq!(&fs.read_all(&path).unwrap()[..], b"hello world");
        assert_eq!(fs.file_size(&path).unwrap(), 11);
    }

    #[test]
    fn empty_file_opens_in_both_modes() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFs::new();
        let path = dir.path().join("empty");
        write_file(&fs, &path, &[]);
        for mode in [ReadMode::Pread, ReadMode::Mmap] {
            let r = fs.open(&path, mode).unwrap();
            assert!(r.is_empty());
            assert!(r.read_at(0, 0).unwrap().is_empty());
            assert_eq!(
                eof_kind(r.read_at(0, 1).unwrap_err()),
                ErrorKind::UnexpectedEof
            );
        }
    }

    #[test]
    fn create_truncates_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFs::new();
        let path = dir.path().join("f");
        write_file(&fs, &path, &[b"long old contents"]);
        write_file(&fs, &path, &[b"new"]);
        assert_eq!(&fs.read_all(&path).unwrap()[..], b"new");
    }

    #[test]
    fn rename_remove_list_exists() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFs::new();
        let a = dir.path().join("CURRENT.tmp");
        let b = dir.path().join("CURRENT");
        write_file(&fs, &a, &[b"one"]);
        write_file(&fs, &b, &[b"old"]);
        fs.rename(&a, &b).unwrap();
        fs.sync_dir(dir.path()).unwrap();
        assert!(!fs.exists(&a));
        assert_eq!(&fs.read_all(&b).unwrap()[..], b"one");
        assert_eq!(fs.list(dir.path()).unwrap(), vec!["CURRENT".to_string()]);
        fs.remove(&b).unwrap();
        assert!(!fs.exists(&b));
        assert!(fs.list(dir.path()).unwrap().is_empty());
        assert!(matches!(fs.remove(&b), Err(Error::Io { op: "remove", .. })));
        assert!(matches!(
            fs.rename(&a, &b),
            Err(Error::Io { op: "rename", .. })
        ));
        assert!(matches!(
            fs.open(&b, ReadMode::Pread),
            Err(Error::Io { op: "open", .. })
        ));
        assert!(matches!(
            fs.file_size(&b),
            Err(Error::Io { op: "stat", .. })
        ));
    }

    #[test]
    fn create_dir_all_and_list_missing_dir() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFs::new();
        let nested = dir.path().join("a/b/c");
        assert!(matches!(
            fs.list(&nested),
            Err(Error::Io { op: "list", .. })
        ));
        fs.create_dir_all(&nested).unwrap();
        fs.create_dir_all(&nested).unwrap();
        assert!(fs.exists(&nested));
        fs.sync_dir(&nested).unwrap();
        assert!(fs.list(&nested).unwrap().is_empty());
        let missing = dir.path().join("nope");
        assert!(matches!(
            fs.sync_dir(&missing),
            Err(Error::Io { op: "sync_dir", .. })
        ));
    }

    #[test]
    fn hard_link_shares_contents_and_refuses_existing_target() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFs::new();
        let a = dir.path().join("000005.sst");
        let b = dir.path().join("checkpoint-000005.sst");
        write_file(&fs, &a, &[b"table bytes"]);
        fs.link(&a, &b).unwrap();
        fs.remove(&a).unwrap();
        assert_eq!(&fs.read_all(&b).unwrap()[..], b"table bytes");
        write_file(&fs, &a, &[b"x"]);
        assert!(matches!(fs.link(&a, &b), Err(Error::Io { op: "link", .. })));
        let missing = dir.path().join("missing");
        assert!(matches!(
            fs.link(&missing, &dir.path().join("z")),
            Err(Error::Io { op: "link", .. })
        ));
    }

    #[test]
    fn copy_fallback_copies_and_refuses_existing_target() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFs::new();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        write_file(&fs, &a, &[b"copied"]);
        copy_file(&a, &b).unwrap();
        assert_eq!(&fs.read_all(&b).unwrap()[..], b"copied");
        assert!(copy_file(&a, &b).is_err());
    }

    #[test]
    fn lock_twice_is_refused_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFs::new();
        let path = dir.path().join("LOCK");
        let guard = fs.lock(&path).unwrap();
        assert!(fs.exists(&path));
        match fs.lock(&path) {
            Err(Error::Locked { path: p }) => assert_eq!(p, path),
            other => panic!("expected Locked, got {:?}", other.map(|_| ())),
        }
        drop(guard);
        let again = fs.lock(&path).unwrap();
        drop(again);
    }

    #[test]
    fn lock_in_missing_dir_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope/LOCK");
        assert!(matches!(
            OsFs::new().lock(&path),
            Err(Error::Io { op: "lock", .. })
        ));
    }

    #[test]
    fn random_rw_file_reads_writes_and_resizes() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFs::new();
        let path = dir.path().join("pages");
        let f = fs.open_rw(&path).unwrap();
        assert_eq!(f.len().unwrap(), 0);
        f.write_at(4, b"tail").unwrap();
        f.write_at(0, b"head").unwrap();
        f.sync().unwrap();
        assert_eq!(f.len().unwrap(), 8);
        assert_eq!(&f.read_at(0, 8).unwrap()[..], b"headtail");
        assert_eq!(
            eof_kind(f.read_at(6, 3).unwrap_err()),
            ErrorKind::UnexpectedEof
        );
        f.set_len(2).unwrap();
        assert_eq!(&fs.read_all(&path).unwrap()[..], b"he");
        drop(f);
        // Reopening keeps the bytes.
        let f = fs.open_rw(&path).unwrap();
        assert_eq!(&f.read_at(0, 2).unwrap()[..], b"he");
        assert_eq!(f.path(), path.as_path());
        assert!(fs.open_rw(&dir.path().join("no/such")).is_err());
    }

    #[test]
    fn mmap_reads_outlive_the_file_handle_and_name() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFs::new();
        let path = dir.path().join("t.sst");
        write_file(&fs, &path, &[&[7u8; 4096], &[9u8; 10]]);
        let r = fs.open(&path, ReadMode::Mmap).unwrap();
        let slice = r.read_at(4090, 12).unwrap();
        fs.remove(&path).unwrap();
        drop(r);
        assert_eq!(&slice[..6], &[7u8; 6]);
        assert_eq!(&slice[6..], &[9u8; 6]);
    }
}
