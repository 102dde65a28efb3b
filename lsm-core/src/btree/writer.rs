//! The writer's state, the commit protocol and opening a page file.
//!
//! Commit of transaction `t` (one write group, or one keyspace change):
//! 1. update the catalog tree with every keyspace whose root or counters changed;
//! 2. free the previous free-list chain, record the pages `t` freed as pending under `t`, drop
//!    free pages at the end of the file, and write the new free-list blob to fresh pages;
//! 3. write every dirty page (neighbouring pages coalesced into one write);
//! 4. fsync the page file (unless `SyncMode::Never`);
//! 5. write the meta page for `t` into slot `t % 2`;
//! 6. fsync again (unless `SyncMode::Never`).
//!
//! Until step 5 reaches the disk, both meta pages describe older, intact states: nothing a
//! transaction writes overlaps a page either of them can reach (see `freelist.rs`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Weak};

use crate::error::{Error, Result};
use crate::types::KeyspaceId;

use super::catalog::{self, KsInfo};
use super::freelist::FreeList;
use super::meta::{Meta, META_PAGES};
use super::node::ValRef;
use super::page::{check_page, put_header, seal, Header, Loc, PageRef, HEADER_LEN, KIND_FREELIST};
use super::pool::Pager;
use super::tree::{Cursor, PageSource, Root};
use super::txn::Txn;
use super::Version;

/// State only the writer (the group-commit leader) touches.
pub struct Writer {
    /// Last committed transaction.
    pub txn: u64,
    /// Last visible sequence number.
    pub last_seq: u64,
    /// Pages in use.
    pub page_count: u64,
    /// Free pages.
    pub fl: FreeList,
    /// The committed free-list chain (its pages are freed by the next commit).
    pub chain: Vec<u32>,
    /// The catalog tree.
    pub catalog: Root,
    /// Keyspaces (working copy while a transaction runs).
    pub keyspaces: BTreeMap<KeyspaceId, KsInfo>,
    /// Next keyspace id.
    pub next_keyspace: u32,
    /// Published versions, to find the oldest one a reader still holds.
    pub versions: Vec<Weak<Version>>,
    /// Set by the first write-path failure: writes are refused from then on.
    pub failed: Option<String>,
    /// Bytes a transaction's dirty pages may take before they are written early.
    pub dirty_limit: usize,
}

impl Writer {
    /// Starts the next transaction, first releasing the pages no reader and no meta page needs.
    pub fn begin<'a>(&mut self, pager: &'a Pager) -> Txn<'a> {
        let id = self.txn + 1;
        self.versions.retain(|v| v.strong_count() > 0);
        let oldest = self
            .versions
            .iter()
            .filter_map(|v| v.upgrade().map(|v| v.txn))
            .min()
            .unwrap_or(self.txn);
        // Released pages hold nothing anyone can reach: stop caching them.
        for p in self.fl.release(oldest.min(id.saturating_sub(2))) {
            pager.forget(p);
        }
        Txn::new(
            pager,
            id,
            self.page_count,
            std::mem::take(&mut self.fl),
            self.dirty_limit,
        )
    }

    /// Commits `txn`; `changed` keyspaces get new catalog records, `dropped` lose theirs.
    pub fn commit(
        &mut self,
        mut txn: Txn<'_>,
        changed: &[KeyspaceId],
        dropped: &[KeyspaceId],
        sync: bool,
    ) -> Result<()> {
        let pager = txn.pager;
        let mut catalog = self.catalog;
        for id in changed {
            if let Some(info) = self.keyspaces.get(id) {
                catalog = txn
                    .insert(catalog, &catalog::key(*id), &catalog::encode(info))?
                    .0;
            }
        }
        for id in dropped {
            catalog = txn.delete(catalog, &catalog::key(*id))?.0;
        }
        for p in std::mem::take(&mut self.chain) {
            txn.free_page(p);
        }
        let freed = std::mem::take(&mut txn.freed);
        txn.fl.defer(txn.id, freed);
        txn.fl.trim_tail(&mut txn.page_count);
        // The chain's own pages come out of the free list, which changes the blob; allocate
        // until the blob fits (it never grows by more than a byte per page taken).
        let usable = pager.geo.usable();
        let mut chain: Vec<u32> = Vec::new();
        let blob = loop {
            let blob = txn.fl.encode(txn.id);
            if chain.len() * usable >= blob.len() {
                break blob;
            }
            chain.push(txn.alloc()?);
        };
        let mut images = Vec::with_capacity(chain.len());
        for (i, p) in chain.iter().enumerate() {
            let mut page = vec![0u8; pager.geo.page_size];
            let body = blob
                .get(i * usable..((i + 1) * usable).min(blob.len()))
                .unwrap_or(&[]);
            page[HEADER_LEN..HEADER_LEN + body.len()].copy_from_slice(body);
            let next = chain.get(i + 1).map(|n| PageRef {
                page: *n,
                gen: txn.id,
            });
            put_header(
                &mut page,
                &Header {
                    kind: KIND_FREELIST,
                    level: 0,
                    count: 0,
                    gen: txn.id,
                    link: next.unwrap_or_default(),
                    body_len: body.len(),
                },
            );
            seal(&mut page, *p);
            images.push((*p, page));
        }
        txn.write_dirty()?;
        txn.write_images(images)?;
        if sync {
            pager.sync()?;
        }
        let meta = Meta {
            page_size: pager.geo.page_size as u32,
            txn: txn.id,
            last_seq: self.last_seq,
            page_count: txn.page_count,
            catalog: catalog.at,
            catalog_height: catalog.height,
            freelist: chain
                .first()
                .map(|p| PageRef {
                    page: *p,
                    gen: txn.id,
                })
                .unwrap_or_default(),
            freelist_len: blob.len() as u32,
            next_keyspace: self.next_keyspace,
        };
        let slot = (txn.id % 2) as u32;
        pager.write_pages(slot, &meta.encode(slot))?;
        if sync {
            pager.sync()?;
        }
        self.txn = txn.id;
        self.page_count = txn.page_count;
        self.fl = txn.fl;
        self.chain = chain;
        self.catalog = catalog;
        Ok(())
    }

    /// Abandons a transaction that has not changed anything yet.
    pub fn abort(&mut self, txn: Txn<'_>) {
        self.fl = txn.fl;
    }

    /// The version readers should see now.
    pub fn version(&self) -> Version {
        Version {
            txn: self.txn,
            last_seq: self.last_seq,
            page_count: self.page_count,
            next_keyspace: self.next_keyspace,
            keyspaces: Arc::new(self.keyspaces.clone()),
        }
    }
}

/// A source over a committed state, for open.
struct Committed<'a> {
    pager: &'a Pager,
    page_count: u64,
}

impl PageSource for Committed<'_> {
    fn node(&self, r: PageRef, level: u8) -> Result<Arc<super::node::Node>> {
        self.pager.load(r, level, self.page_count)
    }
    fn value(&self, v: ValRef<'_>) -> Result<bytes::Bytes> {
        match v {
            ValRef::Inline(b) => Ok(bytes::Bytes::copy_from_slice(b)),
            ValRef::Spilled { at, len } => self
                .pager
                .read_run(at, len, self.page_count)
                .map(bytes::Bytes::from),
        }
    }
}

/// Reads the writer's state from the meta page `meta`.
pub fn load(pager: &Pager, meta: &Meta, dirty_limit: usize) -> Result<Writer> {
    let path: &Path = &pager.path;
    // The free list.
    let mut blob = Vec::with_capacity((meta.freelist_len as usize).min(1 << 20));
    let mut chain = Vec::new();
    let mut next = meta.freelist;
    while next.page != 0 {
        if chain.len() as u64 >= meta.page_count
            || next.page < META_PAGES
            || u64::from(next.page) >= meta.page_count
        {
            return Err(Error::corruption(
                path,
                pager.geo.offset(next.page),
                "free-list chain leaves the file or loops",
            ));
        }
        let raw = pager.read_raw(next.page, 1)?;
        let loc = Loc {
            path,
            page: next.page,
            offset: pager.geo.offset(next.page),
        };
        let h = check_page(&raw, loc, KIND_FREELIST, next.gen)?;
        blob.extend_from_slice(&raw[HEADER_LEN..HEADER_LEN + h.body_len]);
        chain.push(next.page);
        next = h.link;
    }
    let fl_offset = pager.geo.offset(meta.freelist.page);
    if blob.len() != meta.freelist_len as usize {
        return Err(Error::corruption(
            path,
            fl_offset,
            format!(
                "free-list chain holds {} bytes, meta page says {}",
                blob.len(),
                meta.freelist_len
            ),
        ));
    }
    let fl = FreeList::decode(&blob, meta.page_count, path, fl_offset)?;
    // The catalog.
    let catalog = Root {
        at: meta.catalog,
        height: meta.catalog_height,
    };
    let src = Committed {
        pager,
        page_count: meta.page_count,
    };
    let mut keyspaces = BTreeMap::new();
    let mut c = Cursor::new(catalog);
    c.seek_first(&src)?;
    let cat_offset = pager.geo.offset(meta.catalog.page);
    while let Some(e) = c.entry() {
        let v = src.value(e.val)?;
        let (id, info) = catalog::decode(e.key, &v, path, cat_offset)?;
        if id.0 >= meta.next_keyspace && id != KeyspaceId::DEFAULT {
            return Err(Error::corruption(
                path,
                cat_offset,
                format!(
                    "keyspace id {id} is not below the next id {}",
                    meta.next_keyspace
                ),
            ));
        }
        keyspaces.insert(id, info);
        c.next(&src)?;
    }
    if !keyspaces.contains_key(&KeyspaceId::DEFAULT) {
        return Err(Error::corruption(
            path,
            cat_offset,
            "catalog has no default keyspace",
        ));
    }
    Ok(Writer {
        txn: meta.txn,
        last_seq: meta.last_seq,
        page_count: meta.page_count,
        fl,
        chain,
        catalog,
        keyspaces,
        next_keyspace: meta.next_keyspace,
        versions: Vec::new(),
        failed: None,
        dirty_limit,
    })
}

/// Writes a new, empty database (the default keyspace only) into `pager`'s file: transaction 1
/// in slot 1, and the same state as transaction 0 in slot 0 so that both slots are valid.
pub fn create(pager: &Pager, dirty_limit: usize) -> Result<()> {
    let mut w = Writer {
        txn: 0,
        last_seq: 0,
        page_count: u64::from(META_PAGES),
        fl: FreeList::default(),
        chain: Vec::new(),
        catalog: Root::default(),
        keyspaces: BTreeMap::new(),
        next_keyspace: 1,
        versions: Vec::new(),
        failed: None,
        dirty_limit,
    };
    w.keyspaces.insert(
        KeyspaceId::DEFAULT,
        KsInfo::new(crate::store::DEFAULT_KEYSPACE),
    );
    let txn = w.begin(pager);
    w.commit(txn, &[KeyspaceId::DEFAULT], &[], false)?;
    let raw = pager
        .file
        .read_at(pager.geo.offset(1), pager.geo.page_size)?;
    let mut meta = Meta::decode(&raw, 1)
        .map_err(|e| Error::InvalidArgument(format!("internal error: fresh meta page: {e:?}")))?;
    meta.txn = 0;
    pager.write_pages(0, &meta.encode(0))?;
    pager.sync()
}
