//! The key lock manager behind pessimistic transactions, with a wait-for graph for deadlock
//! detection.
//!
//! Locks are per `(keyspace, key)`, shared or exclusive, held by an *owner* (a transaction, or a
//! plain write for the duration of its store write). A request that cannot be granted waits on
//! one condition variable until a release, its deadline, or a deadlock:
//!
//! * before each wait the requester records the owners it waits for (the current holders) in
//!   the wait-for graph and searches the graph for a path from those owners back to itself;
//!   if there is one, waiting would close a cycle, so the requester is the victim and gets
//!   [`Error::Deadlock`] at once. Cycle creation and detection happen under one mutex, so of the
//!   transactions in a cycle exactly the one whose request closes it is chosen;
//! * at the deadline the request fails with [`Error::LockTimeout`].
//!
//! A shared lock held only by the requester is upgraded in place; two shared holders that both
//! want to upgrade form a cycle and one of them is the victim.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use lsm_core::KeyspaceId;
use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};

/// Who holds a lock.
pub(crate) type Owner = u64;

/// Lock strength.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum LockMode {
    /// Many holders; keeps writers out.
    Shared,
    /// One holder.
    Exclusive,
}

#[derive(Default)]
struct Entry {
    exclusive: Option<Owner>,
    shared: Vec<Owner>,
    waiters: u32,
}

impl Entry {
    fn grantable(&self, owner: Owner, mode: LockMode) -> bool {
        let excl_ok = self.exclusive.is_none_or(|o| o == owner);
        match mode {
            LockMode::Shared => excl_ok,
            LockMode::Exclusive => excl_ok && self.shared.iter().all(|&o| o == owner),
        }
    }

    fn grant(&mut self, owner: Owner, mode: LockMode) {
        match mode {
            LockMode::Shared => {
                if self.exclusive != Some(owner) && !self.shared.contains(&owner) {
                    self.shared.push(owner);
                }
            }
            LockMode::Exclusive => {
                self.exclusive = Some(owner);
                self.shared.retain(|&o| o != owner);
            }
        }
    }

    fn blockers(&self, owner: Owner) -> Vec<Owner> {
        self.exclusive
            .iter()
            .chain(self.shared.iter())
            .copied()
            .filter(|&o| o != owner)
            .collect()
    }

    fn idle(&self) -> bool {
        self.exclusive.is_none() && self.shared.is_empty() && self.waiters == 0
    }
}

#[derive(Default)]
struct Table {
    locks: HashMap<KeyspaceId, HashMap<Vec<u8>, Entry>>,
    /// Owner → the owners it currently waits for.
    waits_for: HashMap<Owner, Vec<Owner>>,
}

impl Table {
    fn entry(&mut self, ks: KeyspaceId, key: &[u8]) -> &mut Entry {
        self.locks
            .entry(ks)
            .or_default()
            .entry(key.to_vec())
            .or_default()
    }

    fn drop_if_idle(&mut self, ks: KeyspaceId, key: &[u8]) {
        if let Some(m) = self.locks.get_mut(&ks) {
            if m.get(key).is_some_and(Entry::idle) {
                m.remove(key);
                if m.is_empty() {
                    self.locks.remove(&ks);
                }
            }
        }
    }

    /// True if `target` is reachable from any of `from` in the wait-for graph.
    fn reaches(&self, from: &[Owner], target: Owner) -> bool {
        let mut seen = HashSet::new();
        let mut stack: Vec<Owner> = from.to_vec();
        while let Some(o) = stack.pop() {
            if o == target {
                return true;
            }
            if seen.insert(o) {
                if let Some(next) = self.waits_for.get(&o) {
                    stack.extend(next.iter().copied());
                }
            }
        }
        false
    }
}

/// The lock table. One per database.
#[derive(Default)]
pub(crate) struct LockManager {
    table: Mutex<Table>,
    released: Condvar,
}

impl LockManager {
    /// Grants the lock now or returns false (never waits).
    pub fn try_lock(&self, owner: Owner, ks: KeyspaceId, key: &[u8], mode: LockMode) -> bool {
        let mut t = self.table.lock();
        let e = t.entry(ks, key);
        if e.grantable(owner, mode) {
            e.grant(owner, mode);
            true
        } else {
            t.drop_if_idle(ks, key);
            false
        }
    }

    /// Grants the lock, waiting up to `timeout`; fails at once with [`Error::Deadlock`] if
    /// waiting would close a cycle.
    pub fn lock(
        &self,
        owner: Owner,
        ks: KeyspaceId,
        key: &[u8],
        mode: LockMode,
        timeout: Duration,
    ) -> Result<()> {
        let mut t = self.table.lock();
        let e = t.entry(ks, key);
        if e.grantable(owner, mode) {
            e.grant(owner, mode);
            return Ok(());
        }
        e.waiters += 1;
        let deadline = Instant::now().checked_add(timeout);
        let outcome = loop {
            let e = t.entry(ks, key);
            if e.grantable(owner, mode) {
                e.grant(owner, mode);
                break Ok(());
            }
            let blockers = e.blockers(owner);
            if t.reaches(&blockers, owner) {
                break Err(Error::Deadlock);
            }
            t.waits_for.insert(owner, blockers);
            match deadline {
                Some(d) => {
                    if Instant::now() >= d {
                        break Err(Error::LockTimeout);
                    }
                    self.released.wait_until(&mut t, d);
                }
                None => self.released.wait(&mut t),
            }
        };
        t.waits_for.remove(&owner);
        let e = t.entry(ks, key);
        e.waiters -= 1;
        if outcome.is_err() {
            t.drop_if_idle(ks, key);
        }
        outcome
    }

    /// Releases `owner`'s locks on `keys` (keys it does not hold are ignored).
    pub fn unlock<'a>(&self, owner: Owner, keys: impl IntoIterator<Item = (KeyspaceId, &'a [u8])>) {
        let mut t = self.table.lock();
        let mut wake = false;
        for (ks, key) in keys {
            let Some(e) = t.locks.get_mut(&ks).and_then(|m| m.get_mut(key)) else {
                continue;
            };
            if e.exclusive == Some(owner) {
                e.exclusive = None;
            }
            e.shared.retain(|&o| o != owner);
            wake |= e.waiters > 0;
            t.drop_if_idle(ks, key);
        }
        drop(t);
        if wake {
            self.released.notify_all();
        }
    }

    /// Number of keys with a lock entry (held or waited for), for stats and tests.
    pub fn len(&self) -> usize {
        self.table.lock().locks.values().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const KS: KeyspaceId = KeyspaceId(0);
    const LONG: Duration = Duration::from_secs(10);

    #[test]
    fn shared_locks_coexist_and_exclusive_excludes() {
        let m = LockManager::default();
        assert!(m.try_lock(1, KS, b"a", LockMode::Shared));
        assert!(m.try_lock(2, KS, b"a", LockMode::Shared));
        assert!(!m.try_lock(3, KS, b"a", LockMode::Exclusive));
        assert!(
            !m.try_lock(1, KS, b"a", LockMode::Exclusive),
            "2 still shares"
        );
        m.unlock(2, [(KS, &b"a"[..])]);
        assert!(
            m.try_lock(1, KS, b"a", LockMode::Exclusive),
            "sole holder upgrades"
        );
        assert!(m.try_lock(1, KS, b"a", LockMode::Shared), "re-entrant");
        assert!(!m.try_lock(2, KS, b"a", LockMode::Shared));
        m.unlock(1, [(KS, &b"a"[..])]);
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn timeout_and_wakeup() {
        let m = Arc::new(LockManager::default());
        m.lock(1, KS, b"k", LockMode::Exclusive, LONG).unwrap();
        assert!(matches!(
            m.lock(2, KS, b"k", LockMode::Exclusive, Duration::from_millis(20)),
            Err(Error::LockTimeout)
        ));
        let m2 = Arc::clone(&m);
        let h = std::thread::spawn(move || m2.lock(2, KS, b"k", LockMode::Shared, LONG));
        std::thread::sleep(Duration::from_millis(20));
        m.unlock(1, [(KS, &b"k"[..])]);
        h.join().unwrap().unwrap();
        m.unlock(2, [(KS, &b"k"[..])]);
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn a_two_way_cycle_has_exactly_one_victim() {
        let m = Arc::new(LockManager::default());
        m.lock(1, KS, b"a", LockMode::Exclusive, LONG).unwrap();
        m.lock(2, KS, b"b", LockMode::Exclusive, LONG).unwrap();
        let m1 = Arc::clone(&m);
        let t1 = std::thread::spawn(move || {
            let r = m1.lock(1, KS, b"b", LockMode::Exclusive, LONG);
            m1.unlock(1, [(KS, &b"a"[..]), (KS, &b"b"[..])]);
            r
        });
        // Wait until 1 is recorded as waiting, then close the cycle.
        while !m.table.lock().waits_for.contains_key(&1) {
            std::thread::yield_now();
        }
        let start = Instant::now();
        let r2 = m.lock(2, KS, b"a", LockMode::Exclusive, LONG);
        assert!(matches!(r2, Err(Error::Deadlock)), "{r2:?}");
        assert!(start.elapsed() < Duration::from_secs(1));
        m.unlock(2, [(KS, &b"b"[..])]);
        t1.join().unwrap().unwrap();
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn two_shared_holders_upgrading_deadlock() {
        let m = Arc::new(LockManager::default());
        m.lock(1, KS, b"a", LockMode::Shared, LONG).unwrap();
        m.lock(2, KS, b"a", LockMode::Shared, LONG).unwrap();
        let m1 = Arc::clone(&m);
        let t1 = std::thread::spawn(move || {
            let r = m1.lock(1, KS, b"a", LockMode::Exclusive, LONG);
            m1.unlock(1, [(KS, &b"a"[..])]);
            r
        });
        while !m.table.lock().waits_for.contains_key(&1) {
            std::thread::yield_now();
        }
        assert!(matches!(
            m.lock(2, KS, b"a", LockMode::Exclusive, LONG),
            Err(Error::Deadlock)
        ));
        m.unlock(2, [(KS, &b"a"[..])]);
        t1.join().unwrap().unwrap();
    }
}
