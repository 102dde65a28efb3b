//! Leveled compaction: what to compact ([`pick`], a pure function of a version and the options)
//! and how ([`job`], which does the I/O).
//!
//! Level sizing is dynamic, as RocksDB's `level_compaction_dynamic_level_bytes`: the last level's
//! target is its actual size, each level above is `multiplier` times smaller, up to the first
//! level whose target fits in `base_bytes`; the levels above it stay empty. The shallowest used level is
//! the *base level*; L0 compacts into it. Small databases therefore compact L0 straight into
//! the last level, and write amplification stays near `multiplier` per level actually used.
//!
//! Scores: L0 = file count / `l0_trigger`; a level above the base that holds files = 10 (must
//! move down); other levels = size / target. The highest score `>= 1` wins.

pub mod job;

use std::sync::Arc;

use crate::db::version::{KeyspaceVersion, Version, NUM_LEVELS};
use crate::key::user_key;
use crate::manifest::FileMeta;
use crate::sstable::{Compression, TableOptions};
use crate::types::KeyspaceId;

/// Whether the last level's tables carry bloom filters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LastLevelFilters {
    /// Build them (default).
    #[default]
    Build,
    /// Skip them: most of the data (and filter memory) is in the last level, and a read for a
    /// key that exists is answered there anyway.
    Skip,
}

/// Compaction and write-stall settings (set through `db::Options`).
#[derive(Clone, Debug)]
pub struct CompactionOptions {
    /// L0 files that trigger an L0 compaction.
    pub l0_trigger: usize,
    /// L0 files at which writes slow down.
    pub l0_slowdown: usize,
    /// L0 files at which writes stop.
    pub l0_stop: usize,
    /// Output tables are cut at this size.
    pub target_file_size: u64,
    /// Target size of the base level.
    pub base_bytes: u64,
    /// Size ratio between levels.
    pub multiplier: u64,
    /// Pending compaction bytes at which writes slow down.
    pub pending_soft: u64,
    /// Pending compaction bytes at which writes stop.
    pub pending_hard: u64,
    /// Compression per level (the last entry repeats).
    pub compression_per_level: Vec<Compression>,
    /// Bloom filters on the last level.
    pub last_level_filters: LastLevelFilters,
}

impl Default for CompactionOptions {
    fn default() -> Self {
        CompactionOptions {
            l0_trigger: 4,
            l0_slowdown: 20,
            l0_stop: 36,
            target_file_size: 64 << 20,
            base_bytes: 256 << 20,
            multiplier: 10,
            pending_soft: 64 << 30,
            pending_hard: 256 << 30,
            compression_per_level: vec![Compression::None, Compression::None, Compression::Zstd],
            last_level_filters: LastLevelFilters::Build,
        }
    }
}

impl CompactionOptions {
    /// Table options for files written to `level`.
    pub fn table_options(&self, base: &TableOptions, level: usize) -> TableOptions {
        let mut t = base.clone();
        if let Some(c) = self
            .compression_per_level
            .get(level)
            .or(self.compression_per_level.last())
        {
            t.compression = *c;
        }
        if level == NUM_LEVELS - 1 && self.last_level_filters == LastLevelFilters::Skip {
            t.bloom_bits_per_key = 0;
        }
        t
    }
}

/// What to compact.
#[derive(Clone, Debug)]
pub struct CompactionTask {
    /// The keyspace.
    pub ks: KeyspaceId,
    /// The level the inputs come from.
    pub level: usize,
    /// Where the outputs go (equal to `level` only for a manual last-level rewrite).
    pub output_level: usize,
    /// Files taken from `level`.
    pub inputs: Vec<Arc<FileMeta>>,
    /// Files of `output_level` overlapping the inputs (merged with them).
    pub overlaps: Vec<Arc<FileMeta>>,
    /// No data in deeper levels overlaps the inputs: tombstones may be dropped.
    pub bottommost: bool,
    /// A single file with nothing to merge: move it down without rewriting.
    pub trivial_move: bool,
    /// The score that chose it (for statistics).
    pub score: f64,
}

fn level_size(files: &[Arc<FileMeta>]) -> u64 {
    files.iter().map(|f| f.size).sum()
}

/// The base level and the target size of every level (0 for levels that should be empty;
/// index 0 unused).
pub fn level_targets(ks: &KeyspaceVersion, opts: &CompactionOptions) -> (usize, Vec<u64>) {
    let last = NUM_LEVELS - 1;
    let mut targets = vec![0u64; NUM_LEVELS];
    let largest = ks.levels[1..]
        .iter()
        .map(|l| level_size(l))
        .max()
        .unwrap_or(0);
    // Walk up from the last level, dividing by the multiplier, until a level's target fits in
    // `base_bytes`: that level is the base, so its target lies in (base/multiplier, base].
    let mut t = largest.max(1);
    let mut base = last;
    targets[last] = t.max(opts.base_bytes);
    while t > opts.base_bytes && base > 1 {
        t /= opts.multiplier;
        base -= 1;
        targets[base] = t.max(1);
    }
    // L0 must never compact *below* data that is still in a shallower level: that older data
    // would then shadow the newer. When the data shrank and the computed base moved down, L0
    // keeps going to the shallowest non-empty level until those levels drain downwards.
    if let Some(first) = (1..=last).find(|l| !ks.levels[*l].is_empty()) {
        if first < base {
            base = first;
        }
    }
    (base, targets)
}

/// User-key range `[lo, hi]` of a set of files.
fn key_range(files: &[Arc<FileMeta>]) -> Option<(Vec<u8>, Vec<u8>)> {
    let lo = files.iter().map(|f| user_key(&f.smallest)).min()?;
    let hi = files.iter().map(|f| user_key(&f.largest)).max()?;
    Some((lo.to_vec(), hi.to_vec()))
}

/// Files of `files` whose user-key range meets `[lo, hi]`.
pub fn overlapping(files: &[Arc<FileMeta>], lo: &[u8], hi: &[u8]) -> Vec<Arc<FileMeta>> {
    files
        .iter()
        .filter(|f| user_key(&f.smallest) <= hi && user_key(&f.largest) >= lo)
        .cloned()
        .collect()
}

/// True if no level deeper than `level` holds data within `[lo, hi]`.
pub fn is_bottommost(ks: &KeyspaceVersion, level: usize, lo: &[u8], hi: &[u8]) -> bool {
    ks.levels[level + 1..]
        .iter()
        .all(|files| overlapping(files, lo, hi).is_empty())
}

/// Builds a task moving `inputs` from `level` into `output_level`.
pub fn task_for(
    ks_id: KeyspaceId,
    ks: &KeyspaceVersion,
    level: usize,
    output_level: usize,
    inputs: Vec<Arc<FileMeta>>,
    score: f64,
) -> Option<CompactionTask> {
    let (lo, hi) = key_range(&inputs)?;
    let overlaps = if output_level == level {
        Vec::new()
    } else {
        overlapping(&ks.levels[output_level], &lo, &hi)
    };
    let mut all = inputs.clone();
    all.extend(overlaps.iter().cloned());
    let (alo, ahi) = key_range(&all)?;
    let bottommost = is_bottommost(ks, output_level, &alo, &ahi);
    let trivial_move = output_level != level && inputs.len() == 1 && overlaps.is_empty();
    Some(CompactionTask {
        ks: ks_id,
        level,
        output_level,
        inputs,
        overlaps,
        bottommost,
        trivial_move,
        score,
    })
}

/// Compaction debt: bytes that compactions still have to move, estimated per level as the
/// excess over its target (L0: everything once past the trigger).
pub fn pending_bytes(v: &Version, opts: &CompactionOptions) -> u64 {
    let mut total = 0;
    for ks in v.keyspaces.values() {
        let (base, targets) = level_targets(ks, opts);
        if ks.levels[0].len() >= opts.l0_trigger {
            total += level_size(&ks.levels[0]);
        }
        for (l, target) in targets.iter().enumerate().take(NUM_LEVELS - 1).skip(1) {
            let size = level_size(&ks.levels[l]);
            let target = if l < base { 0 } else { *target };
            total += size.saturating_sub(target);
        }
    }
    total
}

/// Picks the most urgent compaction, if any level's score reaches 1. `cursor(ks, level)` gives
/// the user key after which the previous compaction of that level stopped (round robin over
/// the key space).
pub fn pick(
    v: &Version,
    opts: &CompactionOptions,
    cursor: &dyn Fn(KeyspaceId, usize) -> Option<Vec<u8>>,
) -> Option<CompactionTask> {
    let mut best: Option<(f64, KeyspaceId, usize)> = None;
    for (id, ks) in &v.keyspaces {
        let (base, targets) = level_targets(ks, opts);
        let mut consider = |score: f64, level: usize| {
            if score >= 1.0 && best.is_none_or(|(s, _, _)| score > s) {
                best = Some((score, *id, level));
            }
        };
        consider(ks.levels[0].len() as f64 / opts.l0_trigger as f64, 0);
        for (l, target) in targets.iter().enumerate().take(NUM_LEVELS - 1).skip(1) {
            let size = level_size(&ks.levels[l]);
            if size == 0 {
                continue;
            }
            let score = if l < base {
                10.0
            } else {
                size as f64 / (*target).max(1) as f64
            };
            consider(score, l);
        }
    }
    let (score, id, level) = best?;
    let ks = v.keyspaces.get(&id)?;
    let (base, _) = level_targets(ks, opts);
    if level == 0 {
        return task_for(id, ks, 0, base, ks.levels[0].clone(), score);
    }
    // Round robin: the first file past the cursor, else the first file.
    let files = &ks.levels[level];
    let after = cursor(id, level);
    let file = after
        .and_then(|c| {
            files
                .iter()
                .find(|f| user_key(&f.smallest) > c.as_slice())
                .cloned()
        })
        .or_else(|| files.first().cloned())?;
    task_for(id, ks, level, level + 1, vec![file], score)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::internal_key;
    use crate::types::{FileNumber, SeqNo, ValueKind};

    fn file(n: u64, lo: &str, hi: &str, size: u64) -> Arc<FileMeta> {
        Arc::new(FileMeta {
            number: FileNumber(n),
            size,
            smallest: internal_key(lo.as_bytes(), SeqNo(n), ValueKind::Put),
            largest: internal_key(hi.as_bytes(), SeqNo(n), ValueKind::Put),
            smallest_seq: SeqNo(n),
            largest_seq: SeqNo(n),
            num_entries: 1,
        })
    }

    fn version(levels: Vec<Vec<Arc<FileMeta>>>) -> Version {
        let mut ks = KeyspaceVersion {
            name: "default".into(),
            log_number: FileNumber(0),
            levels: vec![Vec::new(); NUM_LEVELS],
        };
        for (i, l) in levels.into_iter().enumerate() {
            ks.levels[i] = l;
        }
        let mut v = Version::default();
        v.keyspaces.insert(KeyspaceId::DEFAULT, ks);
        v
    }

    fn opts() -> CompactionOptions {
        CompactionOptions {
            base_bytes: 1000,
            ..CompactionOptions::default()
        }
    }

    #[test]
    fn small_databases_use_only_the_last_level() {
        let v = version(vec![
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![file(1, "a", "z", 500)],
        ]);
        let (base, targets) = level_targets(&v.keyspaces[&KeyspaceId::DEFAULT], &opts());
        assert_eq!(base, 6);
        assert_eq!(targets[6], 1000);
    }

    #[test]
    fn base_level_moves_up_as_the_last_level_grows() {
        let v = version(vec![
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![file(1, "a", "z", 50_000)],
        ]);
        let (base, targets) = level_targets(&v.keyspaces[&KeyspaceId::DEFAULT], &opts());
        assert_eq!(base, 4, "{targets:?}");
        assert_eq!(targets[4], 500);
        assert_eq!(targets[5], 5_000);
    }

    #[test]
    fn four_l0_files_compact_into_the_base_level_with_overlaps() {
        let l0 = vec![
            file(10, "a", "f", 10),
            file(11, "b", "c", 10),
            file(12, "d", "e", 10),
            file(13, "a", "z", 10),
        ];
        let l6 = vec![file(2, "a", "m", 100), file(3, "n", "z", 100)];
        let v = version(vec![l0, vec![], vec![], vec![], vec![], vec![], l6]);
        let t = pick(&v, &opts(), &|_, _| None).expect("L0 reached the trigger");
        assert_eq!((t.level, t.output_level), (0, 6));
        assert_eq!(t.inputs.len(), 4);
        assert_eq!(t.overlaps.len(), 2);
        assert!(t.bottommost && !t.trivial_move);
    }

    #[test]
    fn three_l0_files_are_not_enough() {
        let l0 = vec![
            file(10, "a", "f", 10),
            file(11, "b", "c", 10),
            file(12, "d", "e", 10),
        ];
        let v = version(vec![l0]);
        assert!(pick(&v, &opts(), &|_, _| None).is_none());
    }

    #[test]
    fn an_oversized_level_moves_one_file_round_robin_and_trivially_when_nothing_overlaps() {
        // L5 target is 1/10 of L6 (100_000) = 10_000; L5 holds 30_000.
        let l5 = vec![
            file(4, "a", "c", 10_000),
            file(5, "d", "f", 10_000),
            file(6, "g", "i", 10_000),
        ];
        let l6 = vec![file(2, "a", "b", 50_000), file(3, "h", "z", 50_000)];
        let v = version(vec![vec![], vec![], vec![], vec![], vec![], l5, l6]);
        let t = pick(&v, &opts(), &|_, _| Some(b"c".to_vec())).unwrap();
        assert_eq!(t.level, 5);
        assert_eq!(
            t.inputs[0].number,
            FileNumber(5),
            "the file after the cursor"
        );
        assert!(t.trivial_move, "nothing in L6 overlaps d..f");
        let t = pick(&v, &opts(), &|_, _| None).unwrap();
        assert_eq!(t.inputs[0].number, FileNumber(4));
        assert!(!t.trivial_move);
        assert_eq!(t.overlaps.len(), 1);
    }

    /// Regression (found by the long model test): after deletes shrank the last level, the
    /// computed base level moved below a still non-empty level, and L0 compacted its newer data
    /// *under* older data, which then shadowed it on reads.
    #[test]
    fn l0_never_compacts_below_a_non_empty_level() {
        let l0 = vec![
            file(20, "a", "z", 10),
            file(21, "a", "z", 10),
            file(22, "a", "z", 10),
            file(23, "a", "z", 10),
        ];
        let l5 = vec![file(5, "a", "m", 10)];
        let l6 = vec![file(2, "a", "z", 100)];
        let v = version(vec![l0, vec![], vec![], vec![], vec![], l5, l6]);
        let ks = &v.keyspaces[&KeyspaceId::DEFAULT];
        let (base, _) = level_targets(ks, &opts());
        assert_eq!(
            base, 5,
            "the shallowest non-empty level, not the computed 6"
        );
        // The stranded level drains first (it has no target), then L0 goes to the last level.
        let t = pick(&v, &opts(), &|_, _| None).unwrap();
        assert_eq!((t.level, t.output_level), (5, 6));
        let l0 = vec![
            file(20, "a", "z", 10),
            file(21, "a", "z", 10),
            file(22, "a", "z", 10),
            file(23, "a", "z", 10),
        ];
        let v = version(vec![
            l0,
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![file(2, "a", "z", 100)],
        ]);
        let t = pick(&v, &opts(), &|_, _| None).unwrap();
        assert_eq!((t.level, t.output_level), (0, 6));
    }

    #[test]
    fn per_level_compression_repeats_the_last_entry() {
        let o = CompactionOptions::default();
        let base = TableOptions::default();
        assert_eq!(o.table_options(&base, 0).compression, Compression::None);
        assert_eq!(o.table_options(&base, 2).compression, Compression::Zstd);
        assert_eq!(o.table_options(&base, 6).compression, Compression::Zstd);
        let skip = CompactionOptions {
            last_level_filters: LastLevelFilters::Skip,
            ..CompactionOptions::default()
        };
        assert_eq!(skip.table_options(&base, 6).bloom_bits_per_key, 0);
        assert_eq!(
            skip.table_options(&base, 5).bloom_bits_per_key,
            base.bloom_bits_per_key
        );
    }
}
