//! The one door to the operating system.
//!
//! Every byte the engine reads or writes goes through a [`FileSystem`]. Three implementations:
//!
//! * [`OsFs`]: the real file system (`pread`, or `mmap` when [`ReadMode::Mmap`] is asked for).
//! * [`MemFs`]: an in-memory file system that remembers which bytes and directory entries were
//!   made durable, so [`MemFs::crash_image`] can produce what a power cut would leave behind.
//! * [`FaultFs`]: a wrapper around any file system that injects failures: fail the n-th write or
//!   sync, report a full disk, tear a write, or "cut the power" so every later operation fails.
//!
//! Durability contract (the same one POSIX gives, and the one [`MemFs`] models):
//! * bytes appended to a file are durable only after [`WritableFile::sync`] on that file;
//! * a file's *name* (creation, rename, removal) is durable only after [`FileSystem::sync_dir`]
//!   on its directory;
//! * bytes written at an offset of a [`RandomRwFile`] (the B+ tree's page file) are durable only
//!   after [`RandomRwFile::sync`]; until then a power cut may keep or lose each write
//!   independently of the others.

mod fault;
mod mem;
mod os;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::error::Result;

pub use fault::{FaultFs, FaultKind, FaultRule};
pub use mem::{CrashMode, MemFs};
pub use os::OsFs;

/// How a file opened for random reads is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadMode {
    /// `pread` into a fresh buffer per read. Safe if the file shrinks underneath us.
    #[default]
    Pread,
    /// Map the file; reads are zero-copy slices. A file truncated by someone else raises SIGBUS,
    /// so this is opt-in.
    Mmap,
}

/// A file being written sequentially (WAL, SST under construction, manifest).
pub trait WritableFile: Send + Sync {
    /// Appends `data` at the end of the file.
    fn append(&mut self, data: &[u8]) -> Result<()>;
    /// Makes every appended byte durable (`fdatasync`).
    fn sync(&mut self) -> Result<()>;
    /// Bytes appended so far (including any that existed when the file was opened).
    fn len(&self) -> u64;
    /// True when nothing has been appended.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The file's path, for error messages.
    fn path(&self) -> &Path;
}

/// A file read at arbitrary offsets (SSTs, and WAL/manifest during recovery).
pub trait RandomAccessFile: Send + Sync {
    /// Reads exactly `len` bytes at `offset`. Reading past the end is an `Io` error of kind
    /// `UnexpectedEof`; callers that know the file's length check bounds first and report
    /// corruption instead.
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes>;
    /// The file's length when it was opened.
    fn len(&self) -> u64;
    /// True when the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The file's path, for error messages.
    fn path(&self) -> &Path;
}

/// A file read and written at arbitrary offsets (the B+ tree's page file). All methods take
/// `&self` so that readers and the writer can share one handle.
pub trait RandomRwFile: Send + Sync {
    /// Reads exactly `len` bytes at `offset`; past the end is an `Io` error of kind
    /// `UnexpectedEof`.
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes>;
    /// Writes `data` at `offset`, extending the file (with zeros in any gap) if needed.
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<()>;
    /// Makes every write so far durable (`fdatasync`).
    fn sync(&self) -> Result<()>;
    /// The file's current length.
    fn len(&self) -> Result<u64>;
    /// True when the file is empty.
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Cuts the file to `len` bytes or pads it with zeros (durable after `sync`).
    fn set_len(&self, len: u64) -> Result<()>;
    /// The file's path, for error messages.
    fn path(&self) -> &Path;
}

/// An exclusive lock on a database directory, released on drop.
pub trait FileLock: Send + Sync {}

/// The file-system seam. Paths are full paths; the engine only ever uses one directory level.
pub trait FileSystem: Send + Sync + 'static {
    /// Creates (or truncates) a file for appending.
    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>>;
    /// Opens `path` for reads and writes at any offset, creating it (empty) if missing. The
    /// creation of the name is durable after `sync_dir`.
    fn open_rw(&self, path: &Path) -> Result<Arc<dyn RandomRwFile>>;
    /// Opens a file for random reads.
    fn open(&self, path: &Path, mode: ReadMode) -> Result<Arc<dyn RandomAccessFile>>;
    /// Reads a whole file (small files: `CURRENT`, and WAL/manifest during recovery).
    fn read_all(&self, path: &Path) -> Result<Bytes> {
        let f = self.open(path, ReadMode::Pread)?;
        f.read_at(0, f.len() as usize)
    }
    /// Atomically replaces `to` with `from` (durable after `sync_dir`).
    fn rename(&self, from: &Path, to: &Path) -> Result<()>;
    /// Removes a file (durable after `sync_dir`).
    fn remove(&self, path: &Path) -> Result<()>;
    /// Creates a hard link `to` naming the same bytes as `from` (checkpoints); a file system that
    /// cannot link copies instead.
    fn link(&self, from: &Path, to: &Path) -> Result<()>;
    /// Names of the entries in `dir` (not full paths), in no particular order.
    fn list(&self, dir: &Path) -> Result<Vec<String>>;
    /// True if `path` exists.
    fn exists(&self, path: &Path) -> bool;
    /// Size of the file at `path`.
    fn file_size(&self, path: &Path) -> Result<u64>;
    /// Creates `dir` and its parents if missing.
    fn create_dir_all(&self, dir: &Path) -> Result<()>;
    /// Makes creations, renames and removals in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> Result<()>;
    /// Takes an exclusive lock on `path` (creating it), or fails with `Error::Locked`.
    fn lock(&self, path: &Path) -> Result<Box<dyn FileLock>>;
}

/// Joins a file name onto a directory.
pub fn join(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}
