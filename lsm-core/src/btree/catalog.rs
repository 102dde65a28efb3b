//! The catalog: one record per keyspace, kept in a B+ tree of its own (the meta page names its
//! root) whose keys are keyspace ids.
//!
//! ```text
//! catalog key    := id: u32 BE                  (big-endian, so the tree sorts by id)
//! catalog record := name: varint len ‖ bytes    1..=255 bytes of UTF-8
//!                   root_page: u32 LE           0 = empty tree
//!                   root_gen: u64 LE
//!                   height: u8                  0 = empty tree
//!                   entries: varint             live keys
//!                   logical_bytes: varint       sum of key and value lengths
//! ```

use std::path::Path;

use crate::error::{Error, Result};
use crate::types::KeyspaceId;
use crate::util::coding::{
    get_length_prefixed, get_u32, get_u64, get_u8, get_varint, put_length_prefixed, put_varint,
};

use super::page::PageRef;
use super::tree::Root;

/// What the engine knows about one keyspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KsInfo {
    /// Its name.
    pub name: String,
    /// Its tree.
    pub root: Root,
    /// Live keys.
    pub entries: u64,
    /// Sum of key and value lengths of the live keys.
    pub logical_bytes: u64,
}

impl KsInfo {
    /// An empty keyspace.
    pub fn new(name: &str) -> KsInfo {
        KsInfo {
            name: name.to_string(),
            root: Root::default(),
            entries: 0,
            logical_bytes: 0,
        }
    }
}

/// The catalog key of a keyspace.
pub fn key(id: KeyspaceId) -> [u8; 4] {
    id.0.to_be_bytes()
}

/// Encodes a record.
pub fn encode(info: &KsInfo) -> Vec<u8> {
    let mut b = Vec::with_capacity(info.name.len() + 32);
    put_length_prefixed(&mut b, info.name.as_bytes());
    b.extend_from_slice(&info.root.at.page.to_le_bytes());
    b.extend_from_slice(&info.root.at.gen.to_le_bytes());
    b.push(info.root.height);
    put_varint(&mut b, info.entries);
    put_varint(&mut b, info.logical_bytes);
    b
}

/// Decodes a catalog entry; errors name `path` and `offset` (the catalog leaf's page).
pub fn decode(k: &[u8], v: &[u8], path: &Path, offset: u64) -> Result<(KeyspaceId, KsInfo)> {
    let bad = |why: &str| Error::corruption(path, offset, format!("catalog: {why}"));
    let id = <[u8; 4]>::try_from(k)
        .map(|b| KeyspaceId(u32::from_be_bytes(b)))
        .map_err(|_| bad("key is not a keyspace id"))?;
    let mut r = v;
    let parse = |r: &mut &[u8]| -> Option<KsInfo> {
        let name = std::str::from_utf8(get_length_prefixed(r)?)
            .ok()?
            .to_string();
        let page = get_u32(r)?;
        let gen = get_u64(r)?;
        let height = get_u8(r)?;
        let entries = get_varint(r)?;
        let logical_bytes = get_varint(r)?;
        Some(KsInfo {
            name,
            root: Root {
                at: PageRef { page, gen },
                height,
            },
            entries,
            logical_bytes,
        })
    };
    let info = parse(&mut r).ok_or_else(|| bad("truncated record"))?;
    if !r.is_empty() || info.name.is_empty() || info.name.len() > 255 {
        return Err(bad("malformed record"));
    }
    if (info.root.height == 0) != (info.root.at.page == 0) {
        return Err(bad("root and height disagree"));
    }
    Ok((id, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let info = KsInfo {
            name: "users".into(),
            root: Root {
                at: PageRef { page: 9, gen: 4 },
                height: 2,
            },
            entries: 1000,
            logical_bytes: 123_456,
        };
        let v = encode(&info);
        let p = Path::new("f");
        assert_eq!(
            decode(&key(KeyspaceId(7)), &v, p, 0).unwrap(),
            (KeyspaceId(7), info)
        );
        for cut in 0..v.len() {
            assert!(decode(&key(KeyspaceId(7)), &v[..cut], p, 0).is_err());
        }
        let mut long = v.clone();
        long.push(0);
        assert!(decode(&key(KeyspaceId(7)), &long, p, 0).is_err());
        assert!(decode(b"abc", &v, p, 0).is_err());
        let empty = KsInfo::new("x");
        let mut bad = encode(&empty);
        let n = bad.len();
        bad[n - 3] = 1; // height 1 with page 0
        assert!(decode(&key(KeyspaceId(1)), &bad, p, 0).is_err());
    }
}
