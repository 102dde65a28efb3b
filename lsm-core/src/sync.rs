//! The synchronisation primitives the engine's own concurrency protocols use, swappable for
//! loom's model-checked versions with `RUSTFLAGS="--cfg strata_loom"` (a project-specific cfg,
//! because a plain `cfg(loom)` would also reach dependencies).
//!
//! Only protocols we design ourselves go through here (the write-group queue, the snapshot
//! list); loom cannot see inside crossbeam-skiplist or parking_lot, so those stay as they are.
//! The API is std's (guards returned by value), with lock poisoning mapped away: a panic while
//! holding one of these locks is a bug, and the data they guard stays consistent at every
//! unlock point.

#[cfg(strata_loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(strata_loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

/// Locks `m`, ignoring poisoning.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Waits on `cv`, ignoring poisoning.
pub(crate) fn wait<'a, T>(cv: &Condvar, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(g).unwrap_or_else(|p| p.into_inner())
}
