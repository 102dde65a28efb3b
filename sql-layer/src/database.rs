//! [`Database`]: opening the kv store, the shared catalog cache and sequence allocation.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use kv_api::{Db, Keyspace, Options, Transaction};

use crate::catalog::{self, keys, Catalog};
use crate::error::{Error, Result};
use crate::exec::Sequences;
use crate::session::{Connection, Isolation};

/// How many sequence values one high-water-mark write reserves.
const SEQ_CACHE: i64 = 64;

/// Options for [`Database::open_with`].
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Options of the underlying kv store.
    pub kv: Options,
    /// How long a statement waits for a row lock before 55P03 (default 5 s).
    pub lock_timeout: Duration,
    /// Isolation level new connections start with (default READ COMMITTED).
    pub default_isolation: Isolation,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            kv: Options::new(),
            lock_timeout: Duration::from_secs(5),
            default_isolation: Isolation::ReadCommitted,
        }
    }
}

pub(crate) struct Shared {
    pub kv: Db,
    pub cat: Keyspace,
    pub data: Keyspace,
    pub catalog: RwLock<Arc<Catalog>>,
    seqs: Mutex<HashMap<Vec<u8>, (i64, i64)>>,
    pub opts: OpenOptions,
}

/// An open SQL database. Cheap to clone; share it between threads and give each thread its
/// own [`Connection`].
#[derive(Clone)]
pub struct Database {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.shared.kv.path())
            .finish()
    }
}

fn keyspace(kv: &Db, name: &str) -> Result<Keyspace> {
    match kv.open_keyspace(name) {
        Ok(k) => Ok(k),
        Err(kv_api::Error::UnknownKeyspace(_)) => Ok(kv.create_keyspace(name)?),
        Err(e) => Err(e.into()),
    }
}

/// Reads the catalog through `get` / `scan` closures (a plain read or a transaction).
fn load_with(
    get: impl Fn(&[u8]) -> Result<Option<Vec<u8>>>,
    scan: impl Fn(u8) -> Result<Vec<Vec<u8>>>,
) -> Result<Catalog> {
    let mut c = Catalog::default();
    if let Some(g) = get(keys::GENERATION)? {
        let (generation, next_id) = catalog::decode_generation(&g)?;
        c.generation = generation;
        c.next_id = next_id;
    } else {
        c.next_id = 1;
    }
    for v in scan(b'T')? {
        let t = catalog::decode_table(&v)?;
        c.tables.insert(t.name.clone(), Arc::new(t));
    }
    for v in scan(b'V')? {
        let t = catalog::decode_view(&v)?;
        c.views.insert(t.name.clone(), Arc::new(t));
    }
    for v in scan(b'S')? {
        let s = catalog::decode_sequence(&v)?;
        c.sequences.insert(s.name.clone(), Arc::new(s));
    }
    Ok(c)
}

impl Shared {
    /// Loads the committed catalog.
    fn load(&self) -> Result<Catalog> {
        load_with(
            |k| Ok(self.cat.get(k)?.map(|v| v.to_vec())),
            |tag| self.cat.prefix([tag]).map(|r| Ok(r?.1.to_vec())).collect(),
        )
    }

    /// Loads the catalog as `txn` sees it.
    pub fn load_in(&self, txn: &Transaction) -> Result<Catalog> {
        load_with(
            |k| Ok(txn.get(&self.cat, k)?.map(|v| v.to_vec())),
            |tag| {
                txn.prefix(&self.cat, [tag])
                    .map(|r| Ok(r?.1.to_vec()))
                    .collect()
            },
        )
    }

    /// The committed catalog as last published.
    pub fn catalog(&self) -> Arc<Catalog> {
        match self.catalog.read() {
            Ok(c) => Arc::clone(&c),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Publishes a catalog a transaction committed (newer generations only).
    pub fn publish(&self, c: Arc<Catalog>) {
        let mut g = match self.catalog.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if c.generation > g.generation {
            *g = c;
        }
    }

    /// Hands out the next value of the counter stored under `hwm_key` (non-transactional).
    pub fn allocate(&self, hwm_key: &[u8], start: i64, increment: i64) -> Result<i64> {
        let mut seqs = match self.seqs.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let overflow = || Error::OutOfRange("sequence reached its limit".into());
        let entry = seqs.get(hwm_key).copied();
        let (next, left) = match entry {
            Some((next, left)) if left > 0 => (next, left),
            _ => {
                let base = match self.cat.get(hwm_key)? {
                    Some(b) => {
                        let a: [u8; 8] = b[..]
                            .try_into()
                            .map_err(|_| Error::Corrupt("sequence high-water mark".into()))?;
                        i64::from_be_bytes(a)
                    }
                    None => start,
                };
                let hwm = base
                    .checked_add(increment.checked_mul(SEQ_CACHE).ok_or_else(overflow)?)
                    .ok_or_else(overflow)?;
                self.cat.put(hwm_key, hwm.to_be_bytes())?;
                (base, SEQ_CACHE)
            }
        };
        let after = next.checked_add(increment).ok_or_else(overflow)?;
        seqs.insert(hwm_key.to_vec(), (after, left - 1));
        Ok(next)
    }

    /// Forgets the cached counter of `hwm_key` (after DROP).
    pub fn forget(&self, hwm_key: &[u8]) {
        if let Ok(mut s) = self.seqs.lock() {
            s.remove(hwm_key);
        }
    }

    /// The next hidden row id of table `id`.
    pub fn next_rowid(&self, table_id: u32) -> Result<i64> {
        self.allocate(&keys::rowid_hwm(table_id), 1, 1)
    }
}

impl Sequences for Shared {
    fn nextval(&self, catalog: &Catalog, name: &str) -> Result<i64> {
        let s = catalog
            .sequences
            .get(name)
            .ok_or_else(|| Error::UndefinedObject {
                kind: "sequence",
                name: name.to_string(),
            })?;
        self.allocate(&keys::sequence_hwm(s.id), s.start, s.increment)
    }
}

impl Database {
    /// Opens (or creates) the database in directory `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Database> {
        Database::open_with(path, OpenOptions::default())
    }

    /// Opens (or creates) the database in `path` with `opts`.
    pub fn open_with(path: impl AsRef<Path>, opts: OpenOptions) -> Result<Database> {
        let kv = Db::open_with(path, opts.kv.clone().lock_timeout(opts.lock_timeout))?;
        let cat = keyspace(&kv, "sql_catalog")?;
        let data = keyspace(&kv, "sql_data")?;
        let shared = Shared {
            kv,
            cat,
            data,
            catalog: RwLock::new(Arc::new(Catalog::default())),
            seqs: Mutex::new(HashMap::new()),
            opts,
        };
        let c = shared.load()?;
        if let Ok(mut g) = shared.catalog.write() {
            *g = Arc::new(c);
        }
        Ok(Database {
            shared: Arc::new(shared),
        })
    }

    /// A new session.
    pub fn connect(&self) -> Connection {
        Connection::new(Arc::clone(&self.shared))
    }

    /// The underlying key-value database (statistics, flush, backups).
    pub fn kv(&self) -> &Db {
        &self.shared.kv
    }

    /// Names of the tables, sorted.
    pub fn table_names(&self) -> Vec<String> {
        self.shared.catalog().tables.keys().cloned().collect()
    }

    /// Names of the views, sorted.
    pub fn view_names(&self) -> Vec<String> {
        self.shared.catalog().views.keys().cloned().collect()
    }

    /// The committed schema as SQL `CREATE` statements (tables, indexes, views).
    pub fn schema_sql(&self, only: Option<&str>) -> Vec<String> {
        crate::ddl::schema_sql(&self.shared.catalog(), only)
    }

    /// Closes the database, making the last writes durable.
    pub fn close(self) -> Result<()> {
        match Arc::try_unwrap(self.shared) {
            Ok(s) => Ok(s.kv.close()?),
            Err(_) => Ok(()),
        }
    }
}
