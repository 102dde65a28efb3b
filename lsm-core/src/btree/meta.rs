//! The two meta pages (pages 0 and 1) of the B+ tree file: the root of everything.
//!
//! Transaction `t` writes its meta page to slot `t % 2`, so the previous transaction's meta page
//! survives a torn write of the new one. Open reads both and takes the valid one with the higher
//! `txn`.
//!
//! ```text
//! meta page (page_size bytes at offset slot * page_size):
//!   0  checksum        u32   low 32 bits of xxh3-64(slot: u64 LE ‖ page[4..page_size])
//!   4  kind            u8    1 (Meta; never renumber)
//!   5  zero            [u8; 3]
//!   8  magic           [u8; 8] "STRATABT"
//!   16 format_version  u32   FORMAT_VERSION
//!   20 page_size       u32   power of two, 512..=16384
//!   24 txn             u64   id of the transaction this page commits
//!   32 last_seq        u64   highest sequence number the transaction made visible
//!   40 page_count      u64   pages in use (the file's high-water mark, metas included)
//!   48 catalog_root    u32   root page of the catalog tree (0 = empty)
//!   52 catalog_height  u8    levels of the catalog tree (0 = empty, 1 = a single leaf)
//!   53 zero            [u8; 3]
//!   56 catalog_gen     u64   gen of the catalog root page
//!   64 freelist_head   u32   first free-list page (0 = empty free list)
//!   68 freelist_len    u32   bytes of the free-list blob
//!   72 freelist_gen    u64   gen of the free-list pages
//!   80 next_keyspace   u32   next keyspace id to hand out (ids are never reused)
//!   84 zero            to the end of the page
//! ```

use std::path::Path;

use crate::error::{Error, Result};
use crate::fs::RandomRwFile;
use crate::util::checksum::checksum32;

use super::page::{PageRef, KIND_META, MAX_PAGE_SIZE, MIN_PAGE_SIZE};

/// Pages 0 and 1 are meta pages.
pub const META_PAGES: u32 = 2;
/// The newest format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
const MAGIC: &[u8; 8] = b"STRATABT";
const META_LEN: usize = 84;

/// A decoded meta page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// Page size of the file.
    pub page_size: u32,
    /// Transaction id.
    pub txn: u64,
    /// Highest visible sequence number.
    pub last_seq: u64,
    /// Pages in use.
    pub page_count: u64,
    /// Catalog tree root.
    pub catalog: PageRef,
    /// Catalog tree height (0 = empty).
    pub catalog_height: u8,
    /// First free-list page (page 0 = none).
    pub freelist: PageRef,
    /// Bytes of the free-list blob.
    pub freelist_len: u32,
    /// Next keyspace id.
    pub next_keyspace: u32,
}

/// Why a page is not a usable meta page.
#[derive(Debug, PartialEq, Eq)]
pub enum MetaError {
    /// No magic: not a meta page at all.
    NotMeta,
    /// Written by a newer format.
    Newer(u32),
    /// Magic present but the page is damaged.
    Bad(String),
}

impl Meta {
    /// Encodes the meta page for `slot`.
    pub fn encode(&self, slot: u32) -> Vec<u8> {
        let mut p = vec![0u8; self.page_size as usize];
        p[4] = KIND_META;
        p[8..16].copy_from_slice(MAGIC);
        p[16..20].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        p[20..24].copy_from_slice(&self.page_size.to_le_bytes());
        p[24..32].copy_from_slice(&self.txn.to_le_bytes());
        p[32..40].copy_from_slice(&self.last_seq.to_le_bytes());
        p[40..48].copy_from_slice(&self.page_count.to_le_bytes());
        p[48..52].copy_from_slice(&self.catalog.page.to_le_bytes());
        p[52] = self.catalog_height;
        p[56..64].copy_from_slice(&self.catalog.gen.to_le_bytes());
        p[64..68].copy_from_slice(&self.freelist.page.to_le_bytes());
        p[68..72].copy_from_slice(&self.freelist_len.to_le_bytes());
        p[72..80].copy_from_slice(&self.freelist.gen.to_le_bytes());
        p[80..84].copy_from_slice(&self.next_keyspace.to_le_bytes());
        let sum = checksum32(&[&u64::from(slot).to_le_bytes(), &p[4..]]);
        p[..4].copy_from_slice(&sum.to_le_bytes());
        p
    }

    /// Decodes a meta page read from `slot`.
    pub fn decode(p: &[u8], slot: u32) -> std::result::Result<Meta, MetaError> {
        if p.len() < MIN_PAGE_SIZE || &p[8..16] != MAGIC {
            return Err(MetaError::NotMeta);
        }
        let u32_at = |o: usize| u32::from_le_bytes([p[o], p[o + 1], p[o + 2], p[o + 3]]);
        let u64_at = |o: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&p[o..o + 8]);
            u64::from_le_bytes(b)
        };
        let version = u32_at(16);
        if version > FORMAT_VERSION {
            return Err(MetaError::Newer(version));
        }
        let sum = checksum32(&[&u64::from(slot).to_le_bytes(), &p[4..]]);
        if sum != u32_at(0) {
            return Err(MetaError::Bad("checksum mismatch".into()));
        }
        if p[4] != KIND_META || version == 0 {
            return Err(MetaError::Bad(format!(
                "kind {} / version {version} is not a meta page",
                p[4]
            )));
        }
        if p[META_LEN..].iter().any(|b| *b != 0) || p[5..8] != [0; 3] || p[53..56] != [0; 3] {
            return Err(MetaError::Bad("reserved bytes are not zero".into()));
        }
        let m = Meta {
            page_size: u32_at(20),
            txn: u64_at(24),
            last_seq: u64_at(32),
            page_count: u64_at(40),
            catalog: PageRef {
                page: u32_at(48),
                gen: u64_at(56),
            },
            catalog_height: p[52],
            freelist: PageRef {
                page: u32_at(64),
                gen: u64_at(72),
            },
            freelist_len: u32_at(68),
            next_keyspace: u32_at(80),
        };
        if m.page_size as usize != p.len() {
            return Err(MetaError::Bad(format!(
                "page size {} does not match its slot",
                m.page_size
            )));
        }
        let in_file =
            |r: PageRef| r.page == 0 || (r.page >= META_PAGES && u64::from(r.page) < m.page_count);
        if m.page_count < u64::from(META_PAGES)
            || m.page_count > u64::from(u32::MAX)
            || !in_file(m.catalog)
            || !in_file(m.freelist)
            || (m.catalog.page == 0) != (m.catalog_height == 0)
            || (m.freelist.page == 0) != (m.freelist_len == 0)
        {
            return Err(MetaError::Bad("inconsistent fields".into()));
        }
        Ok(m)
    }
}

/// The meta pages found in a file.
#[derive(Debug)]
pub struct Found {
    /// The newest valid meta.
    pub meta: Meta,
    /// Damage seen in the other slot (e.g. a torn last commit), for the recovery report.
    pub damaged_slot: Option<(u32, String)>,
}

/// Reads both meta pages of `file`, trying every legal page size (the page size is itself
/// stored in the meta page).
pub fn read_metas(file: &dyn RandomRwFile, path: &Path) -> Result<Found> {
    let len = file.len()?;
    let mut valid: Vec<(u32, Meta)> = Vec::new();
    let mut newer = None;
    let mut damage: Vec<(u32, usize, String)> = Vec::new();
    let mut ps = MIN_PAGE_SIZE;
    while ps <= MAX_PAGE_SIZE {
        for slot in 0..META_PAGES {
            let off = u64::from(slot) * ps as u64;
            if off + ps as u64 > len {
                continue;
            }
            let raw = file.read_at(off, ps)?;
            match Meta::decode(&raw, slot) {
                Ok(m) => valid.push((slot, m)),
                Err(MetaError::Newer(v)) => newer = Some(v),
                Err(MetaError::NotMeta) => {}
                Err(MetaError::Bad(r)) => damage.push((slot, ps, r)),
            }
        }
        ps *= 2;
    }
    let Some((slot, meta)) = valid.iter().copied().max_by_key(|(_, m)| m.txn) else {
        if let Some(found) = newer {
            return Err(Error::UnsupportedVersion {
                file: path.to_path_buf(),
                found,
                supported: FORMAT_VERSION,
            });
        }
        if let Some((slot, ps, reason)) = damage.into_iter().next() {
            return Err(Error::corruption(
                path,
                u64::from(slot) * ps as u64,
                format!("no valid meta page: slot {slot}: {reason}"),
            ));
        }
        return Err(Error::NotADatabase {
            path: path.to_path_buf(),
            reason: "the page file holds no B+ tree meta page".into(),
        });
    };
    let other = 1 - slot;
    let damaged_slot = if valid
        .iter()
        .any(|(s, m)| *s == other && m.page_size == meta.page_size)
    {
        None
    } else {
        let reason = damage
            .iter()
            .find(|(s, p, _)| *s == other && *p == meta.page_size as usize)
            .map(|(_, _, r)| r.clone())
            .unwrap_or_else(|| "missing".into());
        Some((other, reason))
    };
    Ok(Found { meta, damaged_slot })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Meta {
        Meta {
            page_size: 512,
            txn: 9,
            last_seq: 77,
            page_count: 40,
            catalog: PageRef { page: 5, gen: 9 },
            catalog_height: 1,
            freelist: PageRef { page: 7, gen: 8 },
            freelist_len: 30,
            next_keyspace: 3,
        }
    }

    #[test]
    fn round_trip() {
        let m = sample();
        let p = m.encode(1);
        assert_eq!(p.len(), 512);
        assert_eq!(Meta::decode(&p, 1), Ok(m));
        // The slot is part of the checksum: a meta page copied to the other slot is rejected.
        assert!(matches!(Meta::decode(&p, 0), Err(MetaError::Bad(_))));
    }

    #[test]
    fn every_flipped_byte_is_rejected() {
        let p = sample().encode(0);
        for i in 0..p.len() {
            let mut q = p.clone();
            q[i] ^= 0x10;
            assert!(Meta::decode(&q, 0).is_err(), "flip at {i} accepted");
        }
    }

    #[test]
    fn newer_version_and_foreign_pages() {
        let mut p = sample().encode(0);
        p[16..20].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        assert_eq!(
            Meta::decode(&p, 0),
            Err(MetaError::Newer(FORMAT_VERSION + 1))
        );
        assert_eq!(Meta::decode(&[0u8; 512], 0), Err(MetaError::NotMeta));
        assert_eq!(Meta::decode(&[0u8; 16], 0), Err(MetaError::NotMeta));
    }

    #[test]
    fn inconsistent_fields_are_rejected() {
        let mut m = sample();
        m.catalog.page = 40; // == page_count
        assert!(matches!(
            Meta::decode(&m.encode(0), 0),
            Err(MetaError::Bad(_))
        ));
        let mut m = sample();
        m.catalog_height = 0;
        assert!(matches!(
            Meta::decode(&m.encode(0), 0),
            Err(MetaError::Bad(_))
        ));
        let mut m = sample();
        m.freelist.page = 1;
        assert!(matches!(
            Meta::decode(&m.encode(0), 0),
            Err(MetaError::Bad(_))
        ));
    }
}
