//! The write-group queue: how concurrent writers elect a leader and hand it their requests.
//!
//! Protocol. A writer enqueues its request with a fresh id and waits. It is served when its
//! result appears in `done`; it becomes the leader when it is at the front of the queue and no
//! leader is active. The leader takes a group from the front (the caller's `select` decides how
//! many, at least its own), releases the lock, does the work, then publishes one result per
//! member and clears `leader_active`, waking everyone. Invariants (checked by the loom models
//! below): every request gets exactly one result; at most one leader at a time; a leader's
//! group starts with its own request; requests are served in queue order.
//!
//! `exclusive()` takes the leader role without a request (keyspace changes), so no group is in
//! flight while it is held.

use std::collections::{HashMap, VecDeque};

use crate::sync::{self, Condvar, Mutex};

struct State<R, O> {
    pending: VecDeque<(u64, R)>,
    done: HashMap<u64, O>,
    next_id: u64,
    leader_active: bool,
}

/// A queue of requests `R` answered with outputs `O`.
pub(crate) struct GroupQueue<R, O> {
    state: Mutex<State<R, O>>,
    cv: Condvar,
}

/// What [`GroupQueue::join`] hands back.
pub(crate) enum Joined<R, O> {
    /// Another leader served the request.
    Served(O),
    /// The caller leads: `group` (ids and requests, its own first) is now its to execute; it
    /// must call [`GroupQueue::finish`] with one output per member.
    Lead { own: u64, group: Vec<(u64, R)> },
}

impl<R, O> Default for GroupQueue<R, O> {
    fn default() -> Self {
        GroupQueue {
            state: Mutex::new(State {
                pending: VecDeque::new(),
                done: HashMap::new(),
                next_id: 0,
                leader_active: false,
            }),
            cv: Condvar::new(),
        }
    }
}

impl<R, O> GroupQueue<R, O> {
    /// Enqueues `req` and waits until it is served or this caller leads. `select` sees the
    /// queue (front = this caller's request) and returns how many requests to take (clamped to
    /// at least one).
    pub(crate) fn join(
        &self,
        req: R,
        select: impl FnOnce(&VecDeque<(u64, R)>) -> usize,
    ) -> Joined<R, O> {
        let mut st = sync::lock(&self.state);
        let id = st.next_id;
        st.next_id += 1;
        st.pending.push_back((id, req));
        loop {
            if let Some(out) = st.done.remove(&id) {
                return Joined::Served(out);
            }
            if !st.leader_active && st.pending.front().map(|(i, _)| *i) == Some(id) {
                break;
            }
            st = sync::wait(&self.cv, st);
        }
        st.leader_active = true;
        let n = select(&st.pending).clamp(1, st.pending.len());
        let group: Vec<(u64, R)> = st.pending.drain(..n).collect();
        Joined::Lead { own: id, group }
    }

    /// Publishes the group's outputs (the leader's own is returned, not stored) and gives up
    /// the leader role.
    pub(crate) fn finish(&self, own: u64, outputs: Vec<(u64, O)>) -> Option<O> {
        let mut mine = None;
        let mut st = sync::lock(&self.state);
        for (id, out) in outputs {
            if id == own {
                mine = Some(out);
            } else {
                st.done.insert(id, out);
            }
        }
        st.leader_active = false;
        drop(st);
        self.cv.notify_all();
        mine
    }

    /// Takes the leader role without a request, until the guard is dropped.
    pub(crate) fn exclusive(&self) -> Exclusive<'_, R, O> {
        let mut st = sync::lock(&self.state);
        while st.leader_active {
            st = sync::wait(&self.cv, st);
        }
        st.leader_active = true;
        Exclusive { q: self }
    }
}

/// Holds the leader role (see [`GroupQueue::exclusive`]).
pub(crate) struct Exclusive<'a, R, O> {
    q: &'a GroupQueue<R, O>,
}

impl<R, O> Drop for Exclusive<'_, R, O> {
    fn drop(&mut self) {
        sync::lock(&self.q.state).leader_active = false;
        self.q.cv.notify_all();
    }
}

#[cfg(all(test, not(strata_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn every_request_gets_its_own_result_under_contention() {
        let q: Arc<GroupQueue<u64, u64>> = Arc::new(GroupQueue::default());
        let leaders = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for t in 0..8u64 {
                let q = Arc::clone(&q);
                let leaders = Arc::clone(&leaders);
                s.spawn(move || {
                    for i in 0..200u64 {
                        let req = t * 1000 + i;
                        let got = match q.join(req, |p| p.len()) {
                            Joined::Served(o) => o,
                            Joined::Lead { own, group } => {
                                assert_eq!(leaders.fetch_add(1, Ordering::SeqCst), 0, "one leader");
                                assert_eq!(group[0].0, own, "the leader's request comes first");
                                let outs = group.iter().map(|(id, r)| (*id, r * 2)).collect();
                                leaders.fetch_sub(1, Ordering::SeqCst);
                                q.finish(own, outs).expect("own result")
                            }
                        };
                        assert_eq!(got, req * 2);
                    }
                });
            }
        });
    }
}

#[cfg(all(test, strata_loom))]
mod loom_models {
    use super::*;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;

    fn submit(q: &GroupQueue<u32, u32>, leaders: &AtomicUsize, req: u32) -> u32 {
        match q.join(req, |p| p.len()) {
            Joined::Served(o) => o,
            Joined::Lead { own, group } => {
                assert_eq!(
                    leaders.fetch_add(1, Ordering::SeqCst),
                    0,
                    "two leaders at once"
                );
                assert_eq!(group[0].0, own);
                let outs = group.iter().map(|(id, r)| (*id, r + 100)).collect();
                leaders.fetch_sub(1, Ordering::SeqCst);
                q.finish(own, outs).expect("leader's own output")
            }
        }
    }

    /// Three writers: each gets exactly its own answer, whoever leads.
    #[test]
    fn group_commit_queue() {
        loom::model(|| {
            let q = Arc::new(GroupQueue::<u32, u32>::default());
            let leaders = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..2)
                .map(|i| {
                    let q = Arc::clone(&q);
                    let l = Arc::clone(&leaders);
                    loom::thread::spawn(move || assert_eq!(submit(&q, &l, i), i + 100))
                })
                .collect();
            assert_eq!(submit(&q, &leaders, 7), 107);
            for h in handles {
                h.join().unwrap();
            }
        });
    }

    /// A keyspace change (exclusive) never overlaps a write group.
    #[test]
    fn exclusive_excludes_leaders() {
        loom::model(|| {
            let q = Arc::new(GroupQueue::<u32, u32>::default());
            let leaders = Arc::new(AtomicUsize::new(0));
            let (q2, l2) = (Arc::clone(&q), Arc::clone(&leaders));
            let t = loom::thread::spawn(move || submit(&q2, &l2, 1));
            {
                let _x = q.exclusive();
                assert_eq!(leaders.fetch_add(1, Ordering::SeqCst), 0);
                leaders.fetch_sub(1, Ordering::SeqCst);
            }
            assert_eq!(t.join().unwrap(), 101);
        });
    }
}
