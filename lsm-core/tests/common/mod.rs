//! Helpers shared by the integration tests: the model, iteration collectors, env knobs.
#![allow(dead_code)] // each test binary uses a different subset

pub mod engines;

use std::collections::BTreeMap;
use std::ops::Bound;

use lsm_core::store::{KeyRange, StoreIter};
use lsm_core::KeyspaceId;

/// The oracle: latest value per (keyspace, key).
pub type Model = BTreeMap<(KeyspaceId, Vec<u8>), Vec<u8>>;

/// Reads a numeric knob from the environment (long runs), with the CI default.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Everything a cursor yields from `seek_to_first` on.
pub fn collect_forward(it: &mut dyn StoreIter) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    it.seek_to_first().expect("seek_to_first");
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.next().expect("next");
    }
    out
}

/// Everything a cursor yields from `seek_to_last` on, returned in ascending order.
pub fn collect_backward(it: &mut dyn StoreIter) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    it.seek_to_last().expect("seek_to_last");
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.prev().expect("prev");
    }
    out.reverse();
    out
}

/// The model's view of one keyspace within a range.
pub fn expected(model: &Model, ks: KeyspaceId, range: &KeyRange) -> Vec<(Vec<u8>, Vec<u8>)> {
    let lo = match &range.lower {
        Bound::Included(k) => Bound::Included((ks, k.clone())),
        Bound::Excluded(k) => Bound::Excluded((ks, k.clone())),
        Bound::Unbounded => Bound::Included((ks, Vec::new())),
    };
    model
        .range((lo, Bound::Unbounded))
        .take_while(|((k, key), _)| *k == ks && !range.is_above(key))
        .map(|((_, k), v)| (k.clone(), v.clone()))
        .collect()
}

/// Shows keys readably in assertion failures.
pub fn show(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<String> {
    entries
        .iter()
        .map(|(k, v)| format!("{}={}", String::from_utf8_lossy(k), v.len()))
        .collect()
}
