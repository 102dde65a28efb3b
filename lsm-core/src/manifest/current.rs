//! `CURRENT`: the one-line file naming the live manifest.
//!
//! ```text
//! CURRENT := "MANIFEST-" digits "\n"      ASCII; digits is the file number, zero-padded to at
//!                                         least 6 places when written, any length when read
//! ```
//!
//! It is replaced atomically: the new content goes to `CURRENT.tmp`, which is synced, renamed
//! over `CURRENT`, and the directory synced. A crash leaves either the old or the new name, and
//! at worst a stray `CURRENT.tmp` (which the engine removes on open).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fs::FileSystem;
use crate::types::FileNumber;
use crate::util::filename::{manifest_name, parse, FileKind, CURRENT};

fn current_tmp_path(dir: &Path) -> PathBuf {
    dir.join(format!("{CURRENT}.tmp"))
}

/// Points `CURRENT` in `dir` at `MANIFEST-<number>`, durably. The manifest must already be
/// durable (see [`super::ManifestWriter::create`]).
pub fn set_current(fs: &dyn FileSystem, dir: &Path, number: FileNumber) -> Result<()> {
    let tmp = current_tmp_path(dir);
    let mut f = fs.create(&tmp)?;
    f.append(format!("{}\n", manifest_name(number)).as_bytes())?;
    f.sync()?;
    drop(f);
    fs.rename(&tmp, &dir.join(CURRENT))?;
    fs.sync_dir(dir)
}

/// The manifest number `CURRENT` in `dir` names; `None` when there is no `CURRENT` (a
/// directory that was never a database, or one whose creation never reached step 2).
pub fn read_current(fs: &dyn FileSystem, dir: &Path) -> Result<Option<FileNumber>> {
    let path = dir.join(CURRENT);
    if !fs.exists(&path) {
        return Ok(None);
    }
    let data = fs.read_all(&path)?;
    let Some(line) = data.strip_suffix(b"\n") else {
        return Err(Error::corruption(
            &path,
            data.len() as u64,
            "CURRENT does not end with a newline",
        ));
    };
    let name = std::str::from_utf8(line).ok();
    match name.and_then(parse) {
        Some(FileKind::Manifest(n)) => Ok(Some(n)),
        _ => Err(Error::corruption(
            &path,
            0,
            format!(
                "CURRENT holds {:?}, not a manifest name",
                String::from_utf8_lossy(&line[..line.len().min(64)])
            ),
        )),
    }
}
