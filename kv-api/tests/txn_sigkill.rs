//! Black-box SIGKILL crash test of kv-api transactions, on every engine of `common::engines`.
//!
//! The test binary re-executes itself as a child (`child_entry`, ignored unless the parent
//! sets `STRATA_TXN_CHILD_DIR`). The child opens a syncing database (`Always` and `Group`
//! alternate between cycles), creates 20 accounts of 1000 in one transaction, and runs bank
//! transfers from 4 threads — optimistic snapshot, optimistic serializable, pessimistic, and
//! optimistic with `get_for_update` — so commits conflict, deadlock and time out. Each
//! transfer moves a random amount between two accounts, bumps its thread's counter
//! `txn/count/<t>` and writes `log/<id>`. Before each commit the child appends
//! `begin <id> <details>` to a side log and fsyncs it; after it, `ack <id>` (committed) or
//! `abort <id>` (failed, retryable). The parent kills the child with SIGKILL at a random moment,
//! reopens the database and checks, against every side log so far:
//! 1. the accounts are all there or (only before the creation was acknowledged) all absent,
//!    and they sum to exactly 20 × 1000 — no half transaction, no lost update;
//! 2. every acknowledged id has its `log/<id>`;
//! 3. every `log/<id>` was begun with the same details, and none belongs to an aborted commit;
//! 4. each `txn/count/<t>` equals the number of `log/*` keys of thread `t`;
//! 5. each balance is exactly 1000 plus the transfers whose `log/<id>` survived — the writes of
//!    a transaction survive together or not at all.
//!
//! While it runs, the child also audits the accounts from read-only snapshot transactions
//! (they must sum to 20 × 1000 at every snapshot); a failed audit, or any unexpected error,
//! ends the child at once with its reason on stderr, and the parent reports it.
//!
//! Knobs: `STRATA_TXN_SIGKILL_CYCLES` (kills per engine, default 6) and
//! `STRATA_TXN_SIGKILL_SEED` (default 11).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{engines, opts};
use kv_api::{
    Db, EngineKind, Error, IsolationLevel, Options, SyncMode, Transaction, TransactionOptions,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ACCOUNTS: usize = 20;
const START: u64 = 1000;
const THREADS: u64 = 4;
/// Transaction ids of cycle `c` are `c * ID_STRIDE + n`, so no two cycles share one.
const ID_STRIDE: u64 = 1_000_000;
/// A child that is never killed (its parent died) stops on its own after this long.
const CHILD_LIFETIME: Duration = Duration::from_secs(120);

const ENV_DIR: &str = "STRATA_TXN_CHILD_DIR";
const ENV_LOG: &str = "STRATA_TXN_CHILD_LOG";
const ENV_ENGINE: &str = "STRATA_TXN_CHILD_ENGINE";
const ENV_SYNC: &str = "STRATA_TXN_CHILD_SYNC";
const ENV_CYCLE: &str = "STRATA_TXN_CHILD_CYCLE";
const ENV_SEED: &str = "STRATA_TXN_CHILD_SEED";

type BoxErr = Box<dyn std::error::Error + Send + Sync>;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn acct_key(i: usize) -> String {
    format!("acct/{i:02}")
}

fn count_key(thread: u64) -> String {
    format!("txn/count/{thread}")
}

fn log_key(id: u64) -> String {
    format!("log/{id:012}")
}

fn parse_u64(v: &[u8]) -> Result<u64, BoxErr> {
    Ok(std::str::from_utf8(v)?.parse::<u64>()?)
}

/// Small memtable and cache so the LSM flushes and compacts, and the B+ tree evicts pages,
/// while it is being killed.
fn crash_opts(kind: EngineKind, sync: SyncMode) -> Options {
    opts(kind)
        .sync_mode(sync)
        .memtable_size(32 << 10)
        .cache_size(128 << 10)
}

// ---------------------------------------------------------------------------------------------
// Child side.

/// The side log: whole lines, each fsynced before the writer goes on.
struct SideLog(Mutex<File>);

impl SideLog {
    fn line(&self, text: &str) -> Result<(), BoxErr> {
        let mut f = self.0.lock().map_err(|_| "side log mutex poisoned")?;
        // One write per line, so a kill can cut off only the last line.
        f.write_all(format!("{text}\n").as_bytes())?;
        f.sync_data()?;
        Ok(())
    }
}

/// The child's workload; runs only when the parent starts this binary with `STRATA_TXN_CHILD_DIR`.
#[test]
#[ignore = "the child process of the txn_sigkill test; does nothing unless that test starts it"]
fn child_entry() {
    let Ok(dir) = std::env::var(ENV_DIR) else {
        return;
    };
    // A panic in any worker thread must end the process now, where the parent sees it, not
    // leave the others running until the kill.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::exit(3);
    }));
    if let Err(e) = run_child(Path::new(&dir)) {
        eprintln!("txn_sigkill child: {e}");
        std::process::exit(3);
    }
}

fn env_str(name: &str) -> Result<String, BoxErr> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

fn run_child(dir: &Path) -> Result<(), BoxErr> {
    let kind = match env_str(ENV_ENGINE)?.as_str() {
        "lsm" => EngineKind::Lsm,
        "btree" => EngineKind::BTree,
        other => return Err(format!("unknown engine {other}").into()),
    };
    let sync = match env_str(ENV_SYNC)?.as_str() {
        "always" => SyncMode::Always,
        "group" => SyncMode::Group,
        other => return Err(format!("unknown sync mode {other}").into()),
    };
    let cycle: u64 = env_str(ENV_CYCLE)?.parse()?;
    let seed: u64 = env_str(ENV_SEED)?.parse()?;
    let log = SideLog(Mutex::new(
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(env_str(ENV_LOG)?)?,
    ));
    let db = Db::open_with(dir, crash_opts(kind, sync))?;

    // The parent checks that the accounts appear all together or not at all.
    if db.get(acct_key(0))?.is_none() {
        log.line("begin init")?;
        let mut tx = db.transaction();
        for i in 0..ACCOUNTS {
            tx.put(&db, acct_key(i), START.to_string())?;
        }
        tx.commit()?;
        log.line("ack init")?;
    }

    let next = AtomicU64::new(0);
    let deadline = Instant::now() + CHILD_LIFETIME;
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (db, log, next) = (&db, &log, &next);
                s.spawn(move || {
                    let rng = StdRng::seed_from_u64(seed ^ (t << 56));
                    if let Err(e) = worker(db, log, next, cycle, t, rng, deadline) {
                        eprintln!("txn_sigkill child, thread {t}: {e}");
                        std::process::exit(3);
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
    });
    db.close()?;
    Ok(())
}

fn worker(
    db: &Db,
    log: &SideLog,
    next: &AtomicU64,
    cycle: u64,
    t: u64,
    mut rng: StdRng,
    deadline: Instant,
) -> Result<(), BoxErr> {
    let mut round = 0u64;
    while Instant::now() < deadline {
        round += 1;
        if t == 0 && round.is_multiple_of(8) {
            audit(db)?;
            continue;
        }
        let from = rng.gen_range(0..ACCOUNTS);
        let mut to = rng.gen_range(0..ACCOUNTS - 1);
        if to >= from {
            to += 1;
        }
        let n = next.fetch_add(1, Ordering::Relaxed);
        if n >= ID_STRIDE {
            return Err("ran out of transaction ids for this cycle".into());
        }
        let id = cycle * ID_STRIDE + n;
        match transfer(db, log, t, id, from, to, &mut rng) {
            Ok(Outcome::Committed) => log.line(&format!("ack {id}"))?,
            Ok(Outcome::NotBegun) => {}
            Err(Failed::Retryable(true)) => log.line(&format!("abort {id}"))?,
            // Failed before its `begin` line: it never reached commit.
            Err(Failed::Retryable(false)) => {}
            Err(Failed::Fatal(e)) => return Err(e),
        }
    }
    Ok(())
}

enum Outcome {
    Committed,
    /// Nothing to move (empty source account): rolled back before `begin`.
    NotBegun,
}

enum Failed {
    /// Conflict, deadlock or lock timeout; true if the `begin` line was written.
    Retryable(bool),
    Fatal(BoxErr),
}

impl From<Error> for Failed {
    fn from(e: Error) -> Self {
        if e.is_retryable() {
            Failed::Retryable(false)
        } else {
            Failed::Fatal(e.into())
        }
    }
}

impl From<BoxErr> for Failed {
    fn from(e: BoxErr) -> Self {
        Failed::Fatal(e)
    }
}

fn transfer(
    db: &Db,
    log: &SideLog,
    t: u64,
    id: u64,
    from: usize,
    to: usize,
    rng: &mut StdRng,
) -> Result<Outcome, Failed> {
    let short_wait = TransactionOptions::new().lock_timeout(Duration::from_millis(200));
    let mut tx = match t {
        0 => db.transaction(),
        1 => db.transaction_with(short_wait.isolation(IsolationLevel::Serializable)),
        2 => db.transaction_pessimistic_with(short_wait),
        _ => db.transaction_with(short_wait),
    };
    // Threads 2 (pessimistic: plain reads take no lock) and 3 read with intent to write.
    let locking = t >= 2;
    let read = |tx: &mut Transaction, key: &str| -> Result<u64, Failed> {
        let v = if locking {
            tx.get_for_update(db, key)?
        } else {
            tx.get(db, key)?
        };
        match v {
            Some(v) => Ok(parse_u64(&v)?),
            None if key.starts_with("txn/") => Ok(0),
            None => Err(Failed::Fatal(format!("{key} is missing").into())),
        }
    };
    let a = read(&mut tx, &acct_key(from))?;
    let b = read(&mut tx, &acct_key(to))?;
    let count = read(&mut tx, &count_key(t))?;
    if a == 0 {
        return Ok(Outcome::NotBegun);
    }
    let amount = rng.gen_range(1..=a.min(100));
    let details = format!("{from} {to} {amount} {t}");
    tx.put(db, acct_key(from), (a - amount).to_string())?;
    tx.put(db, acct_key(to), (b + amount).to_string())?;
    tx.put(db, count_key(t), (count + 1).to_string())?;
    tx.put(db, log_key(id), &details)?;
    log.line(&format!("begin {id} {details}"))?;
    match tx.commit() {
        Ok(()) => Ok(Outcome::Committed),
        Err(e) if e.is_retryable() => Err(Failed::Retryable(true)),
        Err(e) => Err(Failed::Fatal(e.into())),
    }
}

/// All accounts, read at one snapshot, must hold the whole money.
fn audit(db: &Db) -> Result<(), BoxErr> {
    let tx = db.transaction();
    let (mut n, mut sum) = (0usize, 0u64);
    for item in tx.prefix(db, "acct/") {
        let (_, v) = item?;
        sum += parse_u64(&v)?;
        n += 1;
    }
    if n != ACCOUNTS || sum != ACCOUNTS as u64 * START {
        return Err(format!("audit: a snapshot saw {n} accounts summing to {sum}").into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Parent side.

/// What the side logs of all cycles so far say.
#[derive(Default)]
struct History {
    init_acked: bool,
    /// id -> details of its `begin` line.
    begun: BTreeMap<u64, String>,
    acked: BTreeSet<u64>,
    aborted: BTreeSet<u64>,
}

impl History {
    fn read(&mut self, log: &Path) {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        // A line cut off by the kill (no newline yet) was never completed: ignore it.
        let complete = text.rfind('\n').map_or("", |i| &text[..=i]);
        for line in complete.lines() {
            let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
            match (word, rest) {
                ("begin", "init") => {}
                ("ack", "init") => self.init_acked = true,
                ("begin", rest) => {
                    let (id, details) = rest.split_once(' ').expect("begin line");
                    let old = self.begun.insert(id.parse().unwrap(), details.to_string());
                    assert!(old.is_none(), "id {id} begun twice");
                }
                ("ack", id) => {
                    let id = id.parse().unwrap();
                    assert!(self.begun.contains_key(&id), "ack {id} without begin");
                    self.acked.insert(id);
                }
                ("abort", id) => {
                    let id = id.parse().unwrap();
                    assert!(self.begun.contains_key(&id), "abort {id} without begin");
                    self.aborted.insert(id);
                }
                _ => panic!("bad side log line {line:?}"),
            }
        }
    }
}

/// What the reopened database holds.
#[derive(Default)]
struct Found {
    balances: BTreeMap<usize, u64>,
    counters: BTreeMap<u64, u64>,
    /// id -> value of `log/<id>`.
    logs: BTreeMap<u64, String>,
}

fn read_found(db: &Db) -> Result<Found, String> {
    let mut f = Found::default();
    for item in db.iter() {
        let (k, v) = item.map_err(|e| format!("iterating: {e}"))?;
        let key = String::from_utf8_lossy(&k).into_owned();
        let val = String::from_utf8_lossy(&v).into_owned();
        let num = || {
            val.parse::<u64>()
                .map_err(|_| format!("{key} holds {val:?}"))
        };
        if let Some(i) = key.strip_prefix("acct/") {
            match i.parse::<usize>() {
                Ok(i) if i < ACCOUNTS && key == acct_key(i) => f.balances.insert(i, num()?),
                _ => return Err(format!("unexpected key {key}")),
            };
        } else if let Some(t) = key.strip_prefix("txn/count/") {
            match t.parse::<u64>() {
                Ok(t) if t < THREADS => f.counters.insert(t, num()?),
                _ => return Err(format!("unexpected key {key}")),
            };
        } else if let Some(id) = key.strip_prefix("log/") {
            match id.parse::<u64>() {
                Ok(id) if key == log_key(id) => f.logs.insert(id, val),
                _ => return Err(format!("unexpected key {key}")),
            };
        } else {
            return Err(format!("unexpected key {key}"));
        }
    }
    Ok(f)
}

/// Checks the reopened database against the history; returns the begun-but-unacknowledged
/// transactions it holds (killed between commit and `ack`).
fn verify(db: &Db, h: &History) -> Result<BTreeSet<u64>, String> {
    let f = read_found(db)?;
    if f.balances.is_empty() {
        if h.init_acked {
            return Err("the accounts were acknowledged but are gone".into());
        }
        if !f.logs.is_empty() || !f.counters.is_empty() {
            return Err("transfers without accounts".into());
        }
        return Ok(BTreeSet::new());
    }
    if f.balances.len() != ACCOUNTS {
        return Err(format!(
            "{} of {ACCOUNTS} accounts exist: the creating transaction is torn",
            f.balances.len()
        ));
    }
    let sum: u64 = f.balances.values().sum();
    if sum != ACCOUNTS as u64 * START {
        return Err(format!(
            "the accounts sum to {sum}, not {}",
            ACCOUNTS as u64 * START
        ));
    }
    if let Some(id) = h.acked.iter().find(|id| !f.logs.contains_key(id)) {
        return Err(format!(
            "acknowledged transaction {id} ({}) is missing",
            h.begun[id]
        ));
    }
    let mut expect: Vec<i64> = vec![START as i64; ACCOUNTS];
    let mut per_thread: BTreeMap<u64, u64> = BTreeMap::new();
    for (id, val) in &f.logs {
        match h.begun.get(id) {
            None => return Err(format!("log/{id} = {val:?} was never begun")),
            Some(d) if d != val => {
                return Err(format!("log/{id} = {val:?} but it was begun as {d:?}"))
            }
            Some(_) => {}
        }
        if h.aborted.contains(id) {
            return Err(format!("log/{id} is present but its commit failed"));
        }
        let p: Vec<u64> = val.split(' ').map(|x| x.parse().unwrap()).collect();
        let [from, to, amount, t] = p[..] else {
            return Err(format!("log/{id} = {val:?} is malformed"));
        };
        expect[from as usize] -= amount as i64;
        expect[to as usize] += amount as i64;
        *per_thread.entry(t).or_default() += 1;
    }
    for t in 0..THREADS {
        let (got, want) = (
            f.counters.get(&t).copied().unwrap_or(0),
            per_thread.get(&t).copied().unwrap_or(0),
        );
        if got != want {
            return Err(format!(
                "txn/count/{t} = {got} but {want} log keys of thread {t} exist"
            ));
        }
    }
    for (i, want) in expect.iter().enumerate() {
        let got = f.balances[&i] as i64;
        if got != *want {
            return Err(format!(
                "{} = {got}, but the surviving transfers make it {want}",
                acct_key(i)
            ));
        }
    }
    Ok(f.logs
        .keys()
        .filter(|id| !h.acked.contains(id))
        .copied()
        .collect())
}

fn wait_for_init(child: &mut std::process::Child, log: &Path, stderr: &Path) {
    let give_up = Instant::now() + Duration::from_secs(120);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("ack init\n") {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the child exited ({status}) before creating the accounts: {}",
                std::fs::read_to_string(stderr).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < give_up,
            "the child did not create the accounts"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn sigkill_during_concurrent_transfers_keeps_acknowledged_transactions_and_the_sum() {
    let cycles = env_u64("STRATA_TXN_SIGKILL_CYCLES", 6);
    let seed = env_u64("STRATA_TXN_SIGKILL_SEED", 11);
    let exe = std::env::current_exe().unwrap();
    for (k, kind) in engines().into_iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(k as u64));
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("db");
        let mut h = History::default();
        let mut inflight_applied = BTreeSet::new();
        for cycle in 0..cycles {
            let (sync, sync_name) = if cycle.is_multiple_of(2) {
                (SyncMode::Always, "always")
            } else {
                (SyncMode::Group, "group")
            };
            let log = tmp.path().join(format!("log-{cycle}"));
            let stderr = tmp.path().join(format!("stderr-{cycle}"));
            let ctx = format!("{kind:?}, seed {seed}, cycle {cycle}, sync {sync_name}");
            let mut child = Command::new(&exe)
                .args([
                    "child_entry",
                    "--exact",
                    "--nocapture",
                    "--ignored",
                    "--test-threads=1",
                ])
                .env(ENV_DIR, &dir)
                .env(ENV_LOG, &log)
                .env(ENV_ENGINE, kind.name())
                .env(ENV_SYNC, sync_name)
                .env(ENV_CYCLE, (cycle + 1).to_string())
                .env(ENV_SEED, rng.gen::<u64>().to_string())
                .stdout(Stdio::null())
                .stderr(File::create(&stderr).unwrap())
                .spawn()
                .expect("spawn the child");
            if !h.init_acked {
                // Otherwise every kill could land before there is anything to check.
                wait_for_init(&mut child, &log, &stderr);
            }
            std::thread::sleep(Duration::from_millis(rng.gen_range(20..=300)));
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "{ctx}: the child exited on its own ({status}): {}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
            child.kill().unwrap(); // SIGKILL on Unix
            child.wait().unwrap();

            h.read(&log);
            let db = Db::open_with(&dir, crash_opts(kind, sync))
                .unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
            match verify(&db, &h) {
                Ok(ids) => inflight_applied.extend(ids),
                Err(e) => panic!("{ctx}: {e}"),
            }
            db.close().unwrap();
        }
        assert!(h.init_acked, "{kind:?}: the accounts were never created");
        eprintln!(
            "txn sigkill on {kind:?}: {cycles} kills, {} acknowledged transactions all present, \
             {} failed commits absent, {} unacknowledged commits found applied, sum invariant held",
            h.acked.len(),
            h.aborted.len(),
            inflight_applied.len(),
        );
    }
}
