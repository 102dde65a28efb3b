//! [`FaultFs`]: a wrapper that makes any [`FileSystem`] fail on cue.
//!
//! A test adds [`FaultRule`]s; each rule counts the operations it matches from the moment it was
//! added and fires once, on its `nth` (0-based) match. Rules are checked in the order they were
//! added; the first one to fire decides the operation's fate, and an operation that a rule fails
//! is not counted by the rules after it.
//!
//! | kind | matches | effect |
//! | --- | --- | --- |
//! | `FailWrite` | `append`, `write_at` | nothing written, error |
//! | `DiskFull` | `append`, `write_at` | nothing written, error of kind `StorageFull` |
//! | `TornWrite` | `append`, `write_at` | first half of the data written, then an error |
//! | `FailSync` | `WritableFile::sync`, `RandomRwFile::sync`, `sync_dir` | not synced, error |
//! | `FailRead` | `read_at` of either file kind (so also `read_all`) | error |
//! | `PowerCut` | any mutating operation | that operation and every later one fails |
//!
//! The mutating operations are `create`, `open_rw`, `append`, `write_at`, `set_len`, `sync`,
//! `rename`, `remove`, `link` and `sync_dir`. After a power cut every operation (reads included, and `exists`, which answers
//! `false`) fails until [`FaultFs::clear`]; the crash image of an inner [`super::MemFs`] then
//! shows what survived. Every injected error is an [`Error::Io`] whose message starts with
//! `"injected fault: "`.
//!
//! Handles opened through the wrapper share its state, so rules added after a file was opened
//! still apply to it.

use std::io::{self, ErrorKind};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::{FileLock, FileSystem, RandomAccessFile, RandomRwFile, ReadMode, WritableFile};
use crate::error::{Error, Result};

/// What a rule does when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// An append fails and writes nothing.
    FailWrite,
    /// A file sync or directory sync fails.
    FailSync,
    /// An append fails with `StorageFull` and writes nothing.
    DiskFull,
    /// An append writes the first half of its data, then fails.
    TornWrite,
    /// A `read_at` fails.
    FailRead,
    /// A mutating operation fails and the power stays off: every later operation fails.
    PowerCut,
}

/// Fire `kind` on the `nth` (0-based) matching operation counted from when the rule is added,
/// only on paths containing `path_contains` when set (for `rename` and `link`, either path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    /// What happens.
    pub kind: FaultKind,
    /// Which matching operation fires the rule, counting from 0.
    pub nth: u64,
    /// Only operations on a path containing this string match.
    pub path_contains: Option<String>,
}

impl FaultRule {
    /// A rule firing `kind` on the `nth` matching operation on any path.
    pub fn new(kind: FaultKind, nth: u64) -> Self {
        FaultRule {
            kind,
            nth,
            path_contains: None,
        }
    }

    /// Restricts the rule to paths containing `fragment`.
    pub fn on_path(mut self, fragment: impl Into<String>) -> Self {
        self.path_contains = Some(fragment.into());
        self
    }
}

/// The class of an operation, for matching rules.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Append,
    Sync,
    Read,
    /// `create`, `open_rw`, `set_len`, `rename`, `remove`, `link`.
    OtherMutating,
    /// Everything else. `create_dir_all` and `lock` are here too: they change the namespace, but
    /// the spec counts only the operations the engine's durability depends on.
    NonMutating,
}

impl Op {
    fn is_mutating(self) -> bool {
        matches!(self, Op::Append | Op::Sync | Op::OtherMutating)
    }

    fn matched_by(self, kind: FaultKind) -> bool {
        match kind {
            FaultKind::FailWrite | FaultKind::DiskFull | FaultKind::TornWrite => self == Op::Append,
            FaultKind::FailSync => self == Op::Sync,
            FaultKind::FailRead => self == Op::Read,
            FaultKind::PowerCut => self.is_mutating(),
        }
    }
}

struct Armed {
    rule: FaultRule,
    seen: u64,
}

#[derive(Default)]
struct State {
    rules: Vec<Armed>,
    power_cut: bool,
    mutating_ops: u64,
    faults_fired: u64,
}

fn injected(op: &'static str, path: &Path, kind: ErrorKind, what: &str) -> Error {
    Error::io(
        op,
        path,
        io::Error::new(kind, format!("injected fault: {what}")),
    )
}

type Shared = Arc<Mutex<State>>;

/// Decides whether operation `op` (named `name`, on `paths`) proceeds. `Ok(None)`: go ahead;
/// `Ok(Some(kind))`: a rule of that kind fired and the caller carries out its effect; `Err`: the
/// power is (now) off.
fn check(state: &Shared, name: &'static str, op: Op, paths: &[&Path]) -> Result<Option<FaultKind>> {
    let mut s = state.lock();
    let path = paths.first().copied().unwrap_or(Path::new(""));
    if s.power_cut {
        return Err(injected(name, path, ErrorKind::Other, "the power was cut"));
    }
    if op.is_mutating() {
        s.mutating_ops += 1;
    }
    let mut fired = None;
    for (idx, armed) in s.rules.iter_mut().enumerate() {
        let on_path = match &armed.rule.path_contains {
            None => true,
            Some(frag) => paths
                .iter()
                .any(|p| p.to_string_lossy().contains(frag.as_str())),
        };
        if !on_path || !op.matched_by(armed.rule.kind) {
            continue;
        }
        if armed.seen == armed.rule.nth {
            fired = Some(idx);
            break;
        }
        armed.seen += 1;
    }
    let Some(idx) = fired else {
        return Ok(None);
    };
    let kind = s.rules.remove(idx).rule.kind;
    s.faults_fired += 1;
    if kind == FaultKind::PowerCut {
        s.power_cut = true;
        return Err(injected(name, path, ErrorKind::Other, "power cut"));
    }
    Ok(Some(kind))
}

/// Wraps a file system and injects the faults its rules ask for. Clones share rules and counters.
#[derive(Clone)]
pub struct FaultFs {
    inner: Arc<dyn FileSystem>,
    state: Shared,
}

impl std::fmt::Debug for FaultFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.lock();
        f.debug_struct("FaultFs")
            .field("rules", &s.rules.len())
            .field("power_cut", &s.power_cut)
            .field("mutating_ops", &s.mutating_ops)
            .field("faults_fired", &s.faults_fired)
            .finish()
    }
}

impl FaultFs {
    /// Wraps `inner` with no rules.
    pub fn new(inner: Arc<dyn FileSystem>) -> Self {
        FaultFs {
            inner,
            state: Arc::default(),
        }
    }

    /// The wrapped file system.
    pub fn inner(&self) -> &Arc<dyn FileSystem> {
        &self.inner
    }

    /// Arms `rule`; its count of matching operations starts now.
    pub fn add_rule(&self, rule: FaultRule) {
        self.state.lock().rules.push(Armed { rule, seen: 0 });
    }

    /// Removes every rule and turns the power back on. Counters are kept.
    pub fn clear(&self) {
        let mut s = self.state.lock();
        s.rules.clear();
        s.power_cut = false;
    }

    /// Mutating operations attempted so far while the power was on (including any a fault
    /// failed). Run a workload once to learn `n`, then cut the power at each `k < n`.
    pub fn mutating_ops(&self) -> u64 {
        self.state.lock().mutating_ops
    }

    /// True once a `PowerCut` rule has fired (until [`FaultFs::clear`]).
    pub fn is_power_cut(&self) -> bool {
        self.state.lock().power_cut
    }

    /// How many rules have fired.
    pub fn faults_fired(&self) -> u64 {
        self.state.lock().faults_fired
    }

    fn check(&self, name: &'static str, op: Op, paths: &[&Path]) -> Result<Option<FaultKind>> {
        check(&self.state, name, op, paths)
    }

    /// For operations whose only possible faults are the power being off or cut.
    fn gate(&self, name: &'static str, op: Op, paths: &[&Path]) -> Result<()> {
        self.check(name, op, paths).map(drop)
    }
}

struct FaultWritable {
    inner: Box<dyn WritableFile>,
    state: Shared,
}

impl WritableFile for FaultWritable {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        let fault = check(&self.state, "append", Op::Append, &[self.inner.path()])?;
        let (kind, what) = match fault {
            None => return self.inner.append(data),
            Some(FaultKind::DiskFull) => (ErrorKind::StorageFull, "disk full".to_string()),
            Some(FaultKind::TornWrite) => {
                let half = data.len() / 2;
                self.inner.append(&data[..half])?;
                let what = format!("torn write ({half} of {} bytes written)", data.len());
                (ErrorKind::Other, what)
            }
            Some(_) => (ErrorKind::Other, "write failed".to_string()),
        };
        Err(injected("append", self.inner.path(), kind, &what))
    }

    fn sync(&mut self) -> Result<()> {
        match check(&self.state, "sync", Op::Sync, &[self.inner.path()])? {
            None => self.inner.sync(),
            Some(_) => Err(injected(
                "sync",
                self.inner.path(),
                ErrorKind::Other,
                "sync failed",
            )),
        }
    }

    fn len(&self) -> u64 {
        self.inner.len()
    }

    fn path(&self) -> &Path {
        self.inner.path()
    }
}

struct FaultReader {
    inner: Arc<dyn RandomAccessFile>,
    state: Shared,
}

impl RandomAccessFile for FaultReader {
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        let path = self.inner.path();
        match check(&self.state, "read", Op::Read, &[path])? {
            None => self.inner.read_at(offset, len),
            Some(_) => Err(injected("read", path, ErrorKind::Other, "read failed")),
        }
    }

    fn len(&self) -> u64 {
        self.inner.len()
    }

    fn path(&self) -> &Path {
        self.inner.path()
    }
}

struct FaultRw {
    inner: Arc<dyn RandomRwFile>,
    state: Shared,
}

impl RandomRwFile for FaultRw {
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        let path = self.inner.path();
        match check(&self.state, "read", Op::Read, &[path])? {
            None => self.inner.read_at(offset, len),
            Some(_) => Err(injected("read", path, ErrorKind::Other, "read failed")),
        }
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        let path = self.inner.path();
        let (kind, what) = match check(&self.state, "write", Op::Append, &[path])? {
            None => return self.inner.write_at(offset, data),
            Some(FaultKind::DiskFull) => (ErrorKind::StorageFull, "disk full".to_string()),
            Some(FaultKind::TornWrite) => {
                let half = data.len() / 2;
                self.inner.write_at(offset, &data[..half])?;
                let what = format!("torn write ({half} of {} bytes written)", data.len());
                (ErrorKind::Other, what)
            }
            Some(_) => (ErrorKind::Other, "write failed".to_string()),
        };
        Err(injected("write", path, kind, &what))
    }

    fn sync(&self) -> Result<()> {
        let path = self.inner.path();
        match check(&self.state, "sync", Op::Sync, &[path])? {
            None => self.inner.sync(),
            Some(_) => Err(injected("sync", path, ErrorKind::Other, "sync failed")),
        }
    }

    fn len(&self) -> Result<u64> {
        check(&self.state, "stat", Op::NonMutating, &[self.inner.path()])?;
        self.inner.len()
    }

    fn set_len(&self, len: u64) -> Result<()> {
        check(
            &self.state,
            "set_len",
            Op::OtherMutating,
            &[self.inner.path()],
        )?;
        self.inner.set_len(len)
    }

    fn path(&self) -> &Path {
        self.inner.path()
    }
}

impl FileSystem for FaultFs {
    fn open_rw(&self, path: &Path) -> Result<Arc<dyn RandomRwFile>> {
        self.gate("open_rw", Op::OtherMutating, &[path])?;
        Ok(Arc::new(FaultRw {
            inner: self.inner.open_rw(path)?,
            state: Arc::clone(&self.state),
        }))
    }

    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        self.gate("create", Op::OtherMutating, &[path])?;
        Ok(Box::new(FaultWritable {
            inner: self.inner.create(path)?,
            state: Arc::clone(&self.state),
        }))
    }

    fn open(&self, path: &Path, mode: ReadMode) -> Result<Arc<dyn RandomAccessFile>> {
        self.gate("open", Op::NonMutating, &[path])?;
        Ok(Arc::new(FaultReader {
            inner: self.inner.open(path, mode)?,
            state: Arc::clone(&self.state),
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.gate("rename", Op::OtherMutating, &[from, to])?;
        self.inner.rename(from, to)
    }

    fn remove(&self, path: &Path) -> Result<()> {
        self.gate("remove", Op::OtherMutating, &[path])?;
        self.inner.remove(path)
    }

    fn link(&self, from: &Path, to: &Path) -> Result<()> {
        self.gate("link", Op::OtherMutating, &[from, to])?;
        self.inner.link(from, to)
    }

    fn list(&self, dir: &Path) -> Result<Vec<String>> {
        self.gate("list", Op::NonMutating, &[dir])?;
        self.inner.list(dir)
    }

    fn exists(&self, path: &Path) -> bool {
        // Cannot report an error: after a power cut nothing is reachable.
        self.gate("exists", Op::NonMutating, &[path]).is_ok() && self.inner.exists(path)
    }

    fn file_size(&self, path: &Path) -> Result<u64> {
        self.gate("stat", Op::NonMutating, &[path])?;
        self.inner.file_size(path)
    }

    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        self.gate("create_dir", Op::NonMutating, &[dir])?;
        self.inner.create_dir_all(dir)
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        match self.check("sync_dir", Op::Sync, &[dir])? {
            None => self.inner.sync_dir(dir),
            Some(_) => Err(injected("sync_dir", dir, ErrorKind::Other, "sync failed")),
        }
    }

    fn lock(&self, path: &Path) -> Result<Box<dyn FileLock>> {
        self.gate("lock", Op::NonMutating, &[path])?;
        self.inner.lock(path)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::fs::mem::CrashMode;
    use crate::fs::MemFs;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    fn setup() -> (MemFs, FaultFs) {
        let mem = MemFs::new();
        mem.create_dir_all(&p("/db")).unwrap();
        let fs = FaultFs::new(Arc::new(mem.clone()));
        (mem, fs)
    }

    /// The `io::Error` inside an injected fault, checking its message.
    fn injected_source(e: Error) -> io::Error {
        match e {
            Error::Io { source, .. } => {
                assert!(
                    source.to_string().starts_with("injected fault: "),
                    "not injected: {source}"
                );
                source
            }
            other => panic!("expected an injected Io error, got {other:?}"),
        }
    }

    #[test]
    fn fail_write_fires_on_exactly_the_nth_append() {
        let (mem, fs) = setup();
        let mut w = fs.create(&p("/db/1.log")).unwrap();
        w.append(b"before").unwrap();
        fs.add_rule(FaultRule::new(FaultKind::FailWrite, 2));
        w.append(b"a").unwrap();
        w.append(b"b").unwrap();
        injected_source(w.append(b"c").unwrap_err());
        w.append(b"d").unwrap();
        assert_eq!(&mem.read_all(&p("/db/1.log")).unwrap()[..], b"beforeabd");
        assert_eq!(fs.faults_fired(), 1);
    }

    #[test]
    fn path_filter_only_counts_matching_paths() {
        let (mem, fs) = setup();
        let mut log = fs.create(&p("/db/1.log")).unwrap();
        let mut sst = fs.create(&p("/db/2.sst")).unwrap();
        fs.add_rule(FaultRule::new(FaultKind::FailWrite, 1).on_path(".sst"));
        log.append(b"x").unwrap();
        sst.append(b"0").unwrap();
        log.append(b"y").unwrap();
        injected_source(sst.append(b"1").unwrap_err());
        log.append(b"z").unwrap();
        sst.append(b"2").unwrap();
        assert_eq!(&mem.read_all(&p("/db/1.log")).unwrap()[..], b"xyz");
        assert_eq!(&mem.read_all(&p("/db/2.sst")).unwrap()[..], b"02");
    }

    #[test]
    fn disk_full_writes_nothing_and_torn_write_writes_half() {
        let (mem, fs) = setup();
        let mut w = fs.create(&p("/db/f")).unwrap();
        fs.add_rule(FaultRule::new(FaultKind::DiskFull, 0));
        let e = injected_source(w.append(b"abcd").unwrap_err());
        assert_eq!(e.kind(), ErrorKind::StorageFull);
        assert_eq!(w.len(), 0);
        fs.add_rule(FaultRule::new(FaultKind::TornWrite, 0));
        injected_source(w.append(b"abcdefg").unwrap_err());
        assert_eq!(&mem.read_all(&p("/db/f")).unwrap()[..], b"abc");
        assert_eq!(w.len(), 3);
        assert_eq!(fs.faults_fired(), 2);
    }

    #[test]
    fn fail_sync_matches_file_and_directory_syncs() {
        let (mem, fs) = setup();
        let mut w = fs.create(&p("/db/f")).unwrap();
        w.append(b"data").unwrap();
        fs.add_rule(FaultRule::new(FaultKind::FailSync, 1));
        fs.sync_dir(&p("/db")).unwrap();
        injected_source(w.sync().unwrap_err());
        // The failed sync made nothing durable.
        let img = mem.crash_image(CrashMode::DropUnsynced);
        assert!(img.read_all(&p("/db/f")).unwrap().is_empty());
        w.sync().unwrap();
        fs.add_rule(FaultRule::new(FaultKind::FailSync, 0).on_path("/db"));
        injected_source(fs.sync_dir(&p("/db")).unwrap_err());
        fs.sync_dir(&p("/db")).unwrap();
    }

    #[test]
    fn fail_read_applies_to_handles_opened_before_the_rule() {
        let (_mem, fs) = setup();
        let mut w = fs.create(&p("/db/f")).unwrap();
        w.append(b"hello").unwrap();
        let r = fs.open(&p("/db/f"), ReadMode::Pread).unwrap();
        fs.add_rule(FaultRule::new(FaultKind::FailRead, 1));
        assert_eq!(&r.read_at(0, 2).unwrap()[..], b"he");
        injected_source(r.read_at(0, 2).unwrap_err());
        assert_eq!(&r.read_at(2, 3).unwrap()[..], b"llo");
        assert_eq!(r.len(), 5);
        fs.add_rule(FaultRule::new(FaultKind::FailRead, 0));
        injected_source(fs.read_all(&p("/db/f")).unwrap_err());
    }

    #[test]
    fn rules_of_other_kinds_do_not_count_unrelated_ops() {
        let (_mem, fs) = setup();
        fs.add_rule(FaultRule::new(FaultKind::FailRead, 0));
        let mut w = fs.create(&p("/db/f")).unwrap();
        w.append(b"x").unwrap();
        w.sync().unwrap();
        fs.sync_dir(&p("/db")).unwrap();
        assert_eq!(fs.faults_fired(), 0);
        injected_source(fs.read_all(&p("/db/f")).unwrap_err());
    }

    #[test]
    fn an_op_failed_by_one_rule_is_not_counted_by_later_rules() {
        let (_mem, fs) = setup();
        let mut w = fs.create(&p("/db/f")).unwrap();
        fs.add_rule(FaultRule::new(FaultKind::FailWrite, 0));
        fs.add_rule(FaultRule::new(FaultKind::DiskFull, 0));
        let first = injected_source(w.append(b"a").unwrap_err());
        assert_eq!(first.kind(), ErrorKind::Other);
        let second = injected_source(w.append(b"a").unwrap_err());
        assert_eq!(second.kind(), ErrorKind::StorageFull);
        w.append(b"a").unwrap();
    }

    #[test]
    fn power_cut_fails_everything_until_clear() {
        let (mem, fs) = setup();
        let mut w = fs.create(&p("/db/1.log")).unwrap();
        w.append(b"durable").unwrap();
        w.sync().unwrap();
        fs.sync_dir(&p("/db")).unwrap();
        let r = fs.open(&p("/db/1.log"), ReadMode::Pread).unwrap();
        fs.add_rule(FaultRule::new(FaultKind::PowerCut, 1));
        w.append(b"-volatile").unwrap();
        assert!(!fs.is_power_cut());
        injected_source(w.sync().unwrap_err());
        assert!(fs.is_power_cut());
        let ops = fs.mutating_ops();

        injected_source(w.append(b"x").unwrap_err());
        injected_source(w.sync().unwrap_err());
        injected_source(r.read_at(0, 1).unwrap_err());
        injected_source(fs.create(&p("/db/2.log")).err().unwrap());
        injected_source(fs.open(&p("/db/1.log"), ReadMode::Mmap).err().unwrap());
        injected_source(fs.read_all(&p("/db/1.log")).unwrap_err());
        injected_source(fs.rename(&p("/db/1.log"), &p("/db/x")).unwrap_err());
        injected_source(fs.remove(&p("/db/1.log")).unwrap_err());
        injected_source(fs.link(&p("/db/1.log"), &p("/db/y")).unwrap_err());
        injected_source(fs.list(&p("/db")).unwrap_err());
        injected_source(fs.file_size(&p("/db/1.log")).unwrap_err());
        injected_source(fs.create_dir_all(&p("/db2")).unwrap_err());
        injected_source(fs.sync_dir(&p("/db")).unwrap_err());
        injected_source(fs.lock(&p("/db/LOCK")).err().unwrap());
        assert!(!fs.exists(&p("/db/1.log")));
        assert_eq!(fs.mutating_ops(), ops, "ops after the cut are not counted");
        assert_eq!(fs.faults_fired(), 1);

        let img = mem.crash_image(CrashMode::DropUnsynced);
        assert_eq!(&img.read_all(&p("/db/1.log")).unwrap()[..], b"durable");

        fs.clear();
        assert!(!fs.is_power_cut());
        assert!(fs.exists(&p("/db/1.log")));
        w.append(b"!").unwrap();
    }

    #[test]
    fn power_cut_at_every_mutating_op_leaves_only_synced_data() {
        fn workload(fs: &FaultFs) -> Result<()> {
            let mut w = fs.create(&p("/db/1.log"))?;
            w.append(b"aa")?;
            w.sync()?;
            fs.sync_dir(&p("/db"))?;
            w.append(b"bb")?;
            w.sync()?;
            let mut t = fs.create(&p("/db/CURRENT.tmp"))?;
            t.append(b"M1")?;
            t.sync()?;
            fs.rename(&p("/db/CURRENT.tmp"), &p("/db/CURRENT"))?;
            fs.sync_dir(&p("/db"))?;
            w.append(b"cc")
        }
        let (_, probe) = setup();
        workload(&probe).unwrap();
        let n = probe.mutating_ops();
        assert_eq!(n, 12);
        for k in 0..n {
            let (mem, fs) = setup();
            fs.add_rule(FaultRule::new(FaultKind::PowerCut, k));
            assert!(workload(&fs).is_err());
            assert!(fs.is_power_cut());
            let img = mem.crash_image(CrashMode::DropUnsynced);
            let log = img.read_all(&p("/db/1.log")).map(|b| b.to_vec());
            let current = img.read_all(&p("/db/CURRENT")).map(|b| b.to_vec());
            // Ops: 0 create, 1 append, 2 sync, 3 sync_dir, 4 append, 5 sync, 6 create,
            // 7 append, 8 sync, 9 rename, 10 sync_dir, 11 append.
            match k {
                0..=3 => assert!(log.is_err(), "k={k}"),
                4 | 5 => assert_eq!(log.unwrap(), b"aa", "k={k}"),
                _ => assert_eq!(log.unwrap(), b"aabb", "k={k}"),
            }
            if k <= 10 {
                assert!(current.is_err(), "k={k}");
            } else {
                assert_eq!(current.unwrap(), b"M1");
            }
            assert!(!img.exists(&p("/db/CURRENT.tmp")));
        }
    }

    #[test]
    fn random_write_files_get_every_fault_kind() {
        let (mem, fs) = setup();
        let f = fs.open_rw(&p("/db/pages")).unwrap();
        f.write_at(0, b"00000000").unwrap();
        fs.add_rule(FaultRule::new(FaultKind::FailWrite, 0));
        injected_source(f.write_at(0, b"AAAA").unwrap_err());
        fs.add_rule(FaultRule::new(FaultKind::DiskFull, 0));
        let e = injected_source(f.write_at(0, b"AAAA").unwrap_err());
        assert_eq!(e.kind(), ErrorKind::StorageFull);
        fs.add_rule(FaultRule::new(FaultKind::TornWrite, 0));
        injected_source(f.write_at(2, b"BBBB").unwrap_err());
        assert_eq!(&mem.read_all(&p("/db/pages")).unwrap()[..], b"00BB0000");
        fs.add_rule(FaultRule::new(FaultKind::FailSync, 0));
        injected_source(f.sync().unwrap_err());
        fs.add_rule(FaultRule::new(FaultKind::FailRead, 0));
        injected_source(f.read_at(0, 1).unwrap_err());
        assert_eq!(&f.read_at(0, 2).unwrap()[..], b"00");
        f.set_len(4).unwrap();
        assert_eq!(f.len().unwrap(), 4);
        assert_eq!(fs.faults_fired(), 5);
    }

    #[test]
    fn power_cut_stops_random_writes_and_keeps_synced_pages() {
        let (mem, fs) = setup();
        let f = fs.open_rw(&p("/db/pages")).unwrap();
        f.write_at(0, b"page0").unwrap();
        f.sync().unwrap();
        fs.sync_dir(&p("/db")).unwrap();
        let before = fs.mutating_ops();
        assert_eq!(before, 4, "open_rw, write_at, sync, sync_dir");
        fs.add_rule(FaultRule::new(FaultKind::PowerCut, 1));
        f.write_at(0, b"PAGE0").unwrap();
        injected_source(f.write_at(5, b"page1").unwrap_err());
        injected_source(f.sync().unwrap_err());
        injected_source(f.set_len(0).unwrap_err());
        injected_source(f.read_at(0, 1).unwrap_err());
        injected_source(f.len().unwrap_err());
        injected_source(fs.open_rw(&p("/db/other")).err().unwrap());
        let img = mem.crash_image(CrashMode::DropUnsynced);
        assert_eq!(&img.read_all(&p("/db/pages")).unwrap()[..], b"page0");
    }

    #[test]
    fn wraps_the_real_file_system_too() {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultFs::new(Arc::new(crate::fs::OsFs::new()));
        let path = dir.path().join("f");
        fs.add_rule(FaultRule::new(FaultKind::TornWrite, 0));
        let mut w = fs.create(&path).unwrap();
        injected_source(w.append(b"1234").unwrap_err());
        w.sync().unwrap();
        assert_eq!(&fs.read_all(&path).unwrap()[..], b"12");
        let _guard = fs.lock(&dir.path().join("LOCK")).unwrap();
        assert!(matches!(
            fs.lock(&dir.path().join("LOCK")),
            Err(Error::Locked { .. })
        ));
    }
}
