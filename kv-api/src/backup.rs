//! Incremental, engine-agnostic backups: [`crate::Db::backup`], [`list_backups`], [`restore`],
//! [`restore_backup`], [`delete_backup`].
//!
//! A backup is a checkpoint ([`lsm_core::store::Store::checkpoint`], taken into a temporary
//! directory inside the backup directory) whose files are copied into a content-addressed
//! store, skipping the ones already there, plus a metadata file listing them. Engine files are
//! immutable once written (tables) or small (manifest, log), so successive backups share most
//! of their bytes.
//!
//! ## Layout
//! ```text
//! <backup_dir>/
//!   blobs/<xxh3:016x>-<size>-<file name>   file contents; the name is the identity
//!   meta/<id:010>.backup                   one per backup, written last (temp + rename)
//!   tmp-checkpoint-<pid>-<n>/              transient; removed when the backup ends
//! ```
//!
//! ## Metadata grammar (UTF-8 text, one item per `\n`-terminated line)
//! ```text
//! strata-backup 1
//! id <u64>
//! created_ms <u64>                         wall clock, ms since the Unix epoch
//! files <count>
//! file <size> <xxh3:016x> <blob> <path>    `count` lines; path relative, '/'-separated, last
//! checksum <xxh3:016x>                     xxh3 of every byte before this line
//! ```
//! A restore checks the metadata checksum, every file's size and hash, and refuses paths that
//! would leave the target directory. One backup at a time per backup directory.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use crate::error::{Error, Result};

const MAGIC_LINE: &str = "strata-backup 1";
const BLOBS: &str = "blobs";
const META: &str = "meta";
const META_EXT: &str = ".backup";

/// One file of a backup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupFile {
    /// Path relative to the database directory, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// xxh3-64 of the contents.
    pub hash: u64,
    /// Name of the blob holding the contents, in `blobs/`.
    pub blob: String,
}

/// A backup's metadata, and for a backup just made, what it copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupInfo {
    /// Identifier (1, 2, ... in creation order).
    pub id: u64,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: u64,
    /// The files of the backup.
    pub files: Vec<BackupFile>,
    /// Files this backup had to copy (0 when listed later).
    pub copied_files: usize,
    /// Bytes this backup had to copy (0 when listed later).
    pub copied_bytes: u64,
}

impl BackupInfo {
    /// Total size of the backup's files.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

fn io<T>(op: &'static str, path: &Path, r: std::io::Result<T>) -> Result<T> {
    r.map_err(|e| Error::io(op, path, e))
}

fn sync_dir(dir: &Path) -> Result<()> {
    // Directories cannot be opened for syncing on every platform; where they can, do it.
    if let Ok(f) = File::open(dir) {
        let _ = f.sync_all();
    }
    Ok(())
}

/// Hashes a file: (size, xxh3).
fn hash_file(path: &Path) -> Result<(u64, u64)> {
    let mut f = io("open", path, File::open(path))?;
    let mut h = Xxh3::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut size = 0u64;
    loop {
        let n = io("read", path, f.read(&mut buf))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, h.digest()))
}

/// Copies `from` to the new file `to`, returning (size, xxh3) of what was copied; syncs `to`.
fn copy_hashing(from: &Path, to: &Path) -> Result<(u64, u64)> {
    let mut src = io("open", from, File::open(from))?;
    let mut dst = io(
        "create",
        to,
        File::options().write(true).create_new(true).open(to),
    )?;
    let mut h = Xxh3::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut size = 0u64;
    loop {
        let n = io("read", from, src.read(&mut buf))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        io("write", to, dst.write_all(&buf[..n]))?;
        size += n as u64;
    }
    io("sync", to, dst.sync_all())?;
    Ok((size, h.digest()))
}

/// Every regular file under `root`, as (relative '/'-path, absolute path), sorted.
fn walk(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), root.to_path_buf())];
    while let Some((rel, dir)) = stack.pop() {
        for entry in io("list", &dir, fs::read_dir(&dir))? {
            let entry = io("list", &dir, entry)?;
            let path = entry.path();
            let name = entry
                .file_name()
                .into_string()
                .map_err(|n| Error::backup(&path, format!("file name {n:?} is not UTF-8")))?;
            if name.contains('\n') {
                return Err(Error::backup(&path, "file name contains a newline"));
            }
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let ty = io("stat", &path, entry.file_type())?;
            if ty.is_dir() {
                stack.push((rel, path));
            } else {
                out.push((rel, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn blob_name(rel: &str, size: u64, hash: u64) -> String {
    let base = rel.rsplit('/').next().unwrap_or(rel);
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{hash:016x}-{size}-{clean}")
}

fn meta_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(META).join(format!("{id:010}{META_EXT}"))
}

fn encode_meta(info: &BackupInfo) -> String {
    let mut s = format!(
        "{MAGIC_LINE}\nid {}\ncreated_ms {}\nfiles {}\n",
        info.id,
        info.created_ms,
        info.files.len()
    );
    for f in &info.files {
        s.push_str(&format!(
            "file {} {:016x} {} {}\n",
            f.size, f.hash, f.blob, f.path
        ));
    }
    let sum = xxh3_64(s.as_bytes());
    s.push_str(&format!("checksum {sum:016x}\n"));
    s
}

fn decode_meta(path: &Path, text: &str) -> Result<BackupInfo> {
    let bad = |line: usize, why: &str| Error::backup(path, format!("line {line}: {why}"));
    let body_end = text
        .rfind("checksum ")
        .ok_or_else(|| Error::backup(path, "no checksum line (truncated?)"))?;
    let (body, tail) = text.split_at(body_end);
    let want = tail
        .strip_prefix("checksum ")
        .and_then(|t| t.strip_suffix('\n'))
        .and_then(|t| u64::from_str_radix(t, 16).ok())
        .ok_or_else(|| Error::backup(path, "malformed checksum line"))?;
    if xxh3_64(body.as_bytes()) != want {
        return Err(Error::backup(path, "metadata checksum mismatch"));
    }
    let mut lines = body.lines().enumerate().map(|(i, l)| (i + 1, l));
    let mut field = |name: &str| -> Result<u64> {
        let (n, l) = lines.next().ok_or_else(|| bad(0, "truncated"))?;
        if name.is_empty() {
            return if l == MAGIC_LINE {
                Ok(0)
            } else {
                Err(bad(n, "not a Strata backup (or a newer format)"))
            };
        }
        l.strip_prefix(name)
            .and_then(|v| v.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad(n, &format!("expected `{name} <number>`")))
    };
    field("")?;
    let id = field("id")?;
    let created_ms = field("created_ms")?;
    let count = field("files")?;
    let mut files = Vec::new();
    for (n, l) in lines {
        let mut parts = l.splitn(5, ' ');
        let (Some("file"), Some(size), Some(hash), Some(blob), Some(rel)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad(n, "expected `file <size> <hash> <blob> <path>`"));
        };
        let size = size.parse().map_err(|_| bad(n, "bad size"))?;
        let hash = u64::from_str_radix(hash, 16).map_err(|_| bad(n, "bad hash"))?;
        if blob.contains('/') || blob.contains('\\') || blob.starts_with('.') {
            return Err(bad(n, "bad blob name"));
        }
        files.push(BackupFile {
            path: rel.to_string(),
            size,
            hash,
            blob: blob.to_string(),
        });
    }
    if files.len() as u64 != count {
        return Err(Error::backup(
            path,
            format!("lists {} files, header says {count}", files.len()),
        ));
    }
    Ok(BackupInfo {
        id,
        created_ms,
        files,
        copied_files: 0,
        copied_bytes: 0,
    })
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Makes a backup: `checkpoint` writes a checkpoint into the directory it is given.
pub(crate) fn create(
    dir: &Path,
    checkpoint: impl FnOnce(&PathBuf) -> Result<()>,
) -> Result<BackupInfo> {
    io("create dir", dir, fs::create_dir_all(dir.join(BLOBS)))?;
    io("create dir", dir, fs::create_dir_all(dir.join(META)))?;
    let tmp = dir.join(format!(
        "tmp-checkpoint-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let r = checkpoint(&tmp).and_then(|()| copy_in(dir, &tmp));
    let _ = fs::remove_dir_all(&tmp);
    r
}

fn copy_in(dir: &Path, checkpoint: &Path) -> Result<BackupInfo> {
    let blobs = dir.join(BLOBS);
    let mut info = BackupInfo {
        id: list_backups(dir)?.last().map_or(1, |b| b.id + 1),
        created_ms: crate::clock::Clock::now_millis(&crate::clock::SystemClock),
        files: Vec::new(),
        copied_files: 0,
        copied_bytes: 0,
    };
    for (rel, abs) in walk(checkpoint)? {
        let (size, hash) = hash_file(&abs)?;
        let blob = blob_name(&rel, size, hash);
        let target = blobs.join(&blob);
        let present = fs::metadata(&target).is_ok_and(|m| m.len() == size);
        if !present {
            let part = blobs.join(format!(".{blob}.part"));
            let _ = fs::remove_file(&part);
            let (n, h) = copy_hashing(&abs, &part)?;
            if (n, h) != (size, hash) {
                return Err(Error::backup(&abs, "file changed while being backed up"));
            }
            io("rename", &part, fs::rename(&part, &target))?;
            info.copied_files += 1;
            info.copied_bytes += size;
        }
        info.files.push(BackupFile {
            path: rel,
            size,
            hash,
            blob,
        });
    }
    sync_dir(&blobs)?;
    let meta = meta_path(dir, info.id);
    let part = meta.with_extension("part");
    {
        let mut f = io("create", &part, File::create(&part))?;
        io("write", &part, f.write_all(encode_meta(&info).as_bytes()))?;
        io("sync", &part, f.sync_all())?;
    }
    io("rename", &part, fs::rename(&part, &meta))?;
    sync_dir(&dir.join(META))?;
    Ok(info)
}

/// Every backup in `backup_dir`, oldest first (empty if the directory holds none).
pub fn list_backups(backup_dir: impl AsRef<Path>) -> Result<Vec<BackupInfo>> {
    let meta_dir = backup_dir.as_ref().join(META);
    if !meta_dir.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in io("list", &meta_dir, fs::read_dir(&meta_dir))? {
        let path = io("list", &meta_dir, entry)?.path();
        if path.extension().and_then(|e| e.to_str()) != Some(&META_EXT[1..]) {
            continue;
        }
        let text = io("read", &path, fs::read_to_string(&path))?;
        out.push(decode_meta(&path, &text)?);
    }
    out.sort_by_key(|b| b.id);
    Ok(out)
}

/// Restores the latest backup of `backup_dir` into `target_dir` (which must not exist or be
/// empty). Open the result with [`crate::Db::open`].
pub fn restore(backup_dir: impl AsRef<Path>, target_dir: impl AsRef<Path>) -> Result<BackupInfo> {
    let dir = backup_dir.as_ref();
    let latest = list_backups(dir)?
        .pop()
        .ok_or_else(|| Error::backup(dir, "holds no backup"))?;
    restore_backup(dir, latest.id, target_dir)
}

/// Restores backup `id` of `backup_dir` into `target_dir` (which must not exist or be empty),
/// checking every file's size and hash.
pub fn restore_backup(
    backup_dir: impl AsRef<Path>,
    id: u64,
    target_dir: impl AsRef<Path>,
) -> Result<BackupInfo> {
    let (dir, target) = (backup_dir.as_ref(), target_dir.as_ref());
    let meta = meta_path(dir, id);
    if !meta.exists() {
        return Err(Error::backup(dir, format!("has no backup {id}")));
    }
    let info = decode_meta(&meta, &io("read", &meta, fs::read_to_string(&meta))?)?;
    if target.exists() && io("list", target, fs::read_dir(target))?.next().is_some() {
        return Err(Error::InvalidArgument(format!(
            "restore target {} exists and is not empty",
            target.display()
        )));
    }
    io("create dir", target, fs::create_dir_all(target))?;
    for f in &info.files {
        let rel = Path::new(&f.path);
        if f.path.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(Error::backup(&meta, format!("unsafe path {:?}", f.path)));
        }
        let to = target.join(rel);
        if let Some(parent) = to.parent() {
            io("create dir", parent, fs::create_dir_all(parent))?;
        }
        let from = dir.join(BLOBS).join(&f.blob);
        let (size, hash) = copy_hashing(&from, &to)?;
        if (size, hash) != (f.size, f.hash) {
            return Err(Error::backup(
                &from,
                format!("content does not match the metadata of {}", f.path),
            ));
        }
    }
    sync_dir(target)?;
    Ok(info)
}

/// Deletes backup `id` and the blobs no other backup uses.
pub fn delete_backup(backup_dir: impl AsRef<Path>, id: u64) -> Result<()> {
    let dir = backup_dir.as_ref();
    let all = list_backups(dir)?;
    let Some(victim) = all.iter().find(|b| b.id == id) else {
        return Err(Error::backup(dir, format!("has no backup {id}")));
    };
    let meta = meta_path(dir, id);
    io("remove", &meta, fs::remove_file(&meta))?;
    let used: std::collections::HashSet<&str> = all
        .iter()
        .filter(|b| b.id != id)
        .flat_map(|b| b.files.iter().map(|f| f.blob.as_str()))
        .collect();
    for f in &victim.files {
        if !used.contains(f.blob.as_str()) {
            let p = dir.join(BLOBS).join(&f.blob);
            io("remove", &p, fs::remove_file(&p))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> BackupInfo {
        BackupInfo {
            id: 7,
            created_ms: 123,
            files: vec![
                BackupFile {
                    path: "CURRENT".into(),
                    size: 16,
                    hash: 0xabc,
                    blob: blob_name("CURRENT", 16, 0xabc),
                },
                BackupFile {
                    path: "sub dir/000001.sst".into(),
                    size: 0,
                    hash: 0,
                    blob: blob_name("sub dir/000001.sst", 0, 0),
                },
            ],
            copied_files: 0,
            copied_bytes: 0,
        }
    }

    #[test]
    fn metadata_round_trips() {
        let i = info();
        let text = encode_meta(&i);
        assert_eq!(decode_meta(Path::new("m"), &text).unwrap(), i);
        assert_eq!(i.files[1].blob, "0000000000000000-0-000001.sst");
    }

    #[test]
    fn damaged_metadata_is_refused() {
        let text = encode_meta(&info());
        let flipped = text.replacen("file 16 ", "file 17 ", 1);
        assert_ne!(flipped, text);
        assert!(matches!(
            decode_meta(Path::new("m"), &flipped),
            Err(Error::Backup { .. })
        ));
        let cut = &text[..text.len() / 2];
        assert!(decode_meta(Path::new("m"), cut).is_err());
        assert!(decode_meta(Path::new("m"), "").is_err());
    }

    #[test]
    fn unsafe_paths_are_refused_on_restore() {
        let tmp = tempfile::tempdir().unwrap();
        let mut i = info();
        i.files = vec![BackupFile {
            path: "../escape".into(),
            size: 0,
            hash: 0,
            blob: "x".into(),
        }];
        fs::create_dir_all(tmp.path().join(META)).unwrap();
        fs::write(meta_path(tmp.path(), 7), encode_meta(&i)).unwrap();
        let e = restore_backup(tmp.path(), 7, tmp.path().join("out")).unwrap_err();
        assert!(e.to_string().contains("unsafe path"), "{e}");
    }

    #[test]
    fn missing_backups_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(list_backups(tmp.path()).unwrap().is_empty());
        assert!(restore(tmp.path(), tmp.path().join("x")).is_err());
        assert!(restore_backup(tmp.path(), 1, tmp.path().join("x")).is_err());
        assert!(delete_backup(tmp.path(), 1).is_err());
    }
}
