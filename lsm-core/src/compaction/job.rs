//! Executing a compaction: merge the inputs, keep what some reader can still see, write the
//! outputs cut at the target size.
//!
//! Version rules, per user key (versions arrive newest first). Live snapshots split the
//! sequence space into *stripes*: stripe `i` holds the sequences in `(s[i-1], s[i]]`, and the
//! last stripe everything above the newest snapshot. A reader sees, of each stripe, at most the
//! newest version, so:
//! * a version with a newer version (or a range tombstone covering it) in its own stripe is
//!   dropped;
//! * a point tombstone is dropped when the output is the bottommost data for its key range and
//!   no snapshot is older than it (then nothing older survives either);
//! * merge operands of one stripe are folded into a put when their base (a put, a delete, or —
//!   at the bottommost level — nothing) is in the same stripe; otherwise they are kept;
//! * the compaction filter sees the newest version of a key when it is in the last stripe
//!   (no snapshot can see it any other way) and may drop it (a tombstone takes its place) or
//!   change its value;
//! * range tombstones are kept unless the output is bottommost and no snapshot predates them;
//!   each output file gets the kept tombstones clipped to its own key partition, so files of one
//!   level never overlap.
//!
//! A key's versions never straddle two output files (point reads search one file per level).

use std::path::Path;
use std::sync::Arc;

use crate::error::Result;
use crate::fs::FileSystem;
use crate::iter::merging::MergingIterator;
use crate::iter::range_del::RangeTombstones;
use crate::iter::InternalIterator;
use crate::key::{encode_internal_key, parse_internal_key};
use crate::manifest::FileMeta;
use crate::sstable::{Table, TableBuilder, TableOptions};
use crate::store::{CompactionFilter, FilterDecision, MergeOperator};
use crate::types::{FileNumber, SeqNo, ValueKind};
use crate::util::filename;
use crate::Error;

/// What a compaction needs besides its inputs.
pub struct JobContext<'a> {
    /// Where outputs are written.
    pub fs: &'a dyn FileSystem,
    /// The database directory.
    pub dir: &'a Path,
    /// Table options for the output level.
    pub table: TableOptions,
    /// Outputs are cut once they reach this size.
    pub target_file_size: u64,
    /// Live snapshot sequence numbers, ascending.
    pub snapshots: Vec<SeqNo>,
    /// The output holds the bottommost data for its key range.
    pub bottommost: bool,
    /// The keyspace's merge operator.
    pub merge: Option<Arc<dyn MergeOperator>>,
    /// The keyspace's compaction filter.
    pub filter: Option<Arc<dyn CompactionFilter>>,
    /// Allocates file numbers for outputs.
    pub new_file_number: &'a (dyn Fn() -> FileNumber + Sync),
}

/// What a compaction produced.
#[derive(Debug, Default)]
pub struct JobOutput {
    /// The new tables, in key order.
    pub files: Vec<FileMeta>,
    /// Bytes of input tables.
    pub bytes_read: u64,
    /// Bytes of output tables.
    pub bytes_written: u64,
    /// Entries dropped (shadowed, deleted, expired, folded).
    pub dropped: u64,
}

type Tombstone = (Vec<u8>, Vec<u8>, SeqNo);

struct Outputs<'a, 'c> {
    ctx: &'c JobContext<'a>,
    builder: Option<(TableBuilder, FileNumber)>,
    /// Lower bound (inclusive user key) of the current file's partition; `None` = unbounded.
    lo: Option<Vec<u8>>,
    tombstones: Vec<Tombstone>,
    out: JobOutput,
    key_buf: Vec<u8>,
}

impl Outputs<'_, '_> {
    fn builder(&mut self) -> Result<&mut TableBuilder> {
        if self.builder.is_none() {
            let number = (self.ctx.new_file_number)();
            let file = self
                .ctx
                .fs
                .create(&filename::table_path(self.ctx.dir, number))?;
            self.builder = Some((TableBuilder::new(file, self.ctx.table.clone()), number));
        }
        match self.builder.as_mut() {
            Some((b, _)) => Ok(b),
            None => Err(Error::InvalidArgument("no output table".into())),
        }
    }

    /// Called before the first version of each user key: cuts the file if it is full.
    fn start_key(&mut self, key: &[u8]) -> Result<()> {
        let full = self
            .builder
            .as_ref()
            .is_some_and(|(b, _)| b.estimated_size() >= self.ctx.target_file_size);
        if full {
            self.finish_file(Some(key))?;
            self.lo = Some(key.to_vec());
        }
        Ok(())
    }

    fn add(&mut self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) -> Result<()> {
        let mut k = std::mem::take(&mut self.key_buf);
        k.clear();
        encode_internal_key(&mut k, key, seq, kind);
        let r = self.builder().and_then(|b| b.add(&k, value));
        self.key_buf = k;
        r
    }

    /// Finishes the current file with the tombstones clipped to `[lo, hi)`.
    fn finish_file(&mut self, hi: Option<&[u8]>) -> Result<()> {
        let lo = self.lo.clone();
        let mut clipped = Vec::new();
        for (s, e, seq) in &self.tombstones {
            let s = match &lo {
                Some(l) if l.as_slice() > s.as_slice() => l.clone(),
                _ => s.clone(),
            };
            let e = match hi {
                Some(h) if h < e.as_slice() => h.to_vec(),
                _ => e.clone(),
            };
            if s < e {
                clipped.push((s, e, *seq));
            }
        }
        if self.builder.is_none() && clipped.is_empty() {
            return Ok(());
        }
        for (s, e, seq) in &clipped {
            self.builder()?.add_range_tombstone(s, e, *seq)?;
        }
        if let Some((b, number)) = self.builder.take() {
            if b.num_entries() == 0 && clipped.is_empty() {
                b.abandon();
                let _ = self
                    .ctx
                    .fs
                    .remove(&filename::table_path(self.ctx.dir, number));
                return Ok(());
            }
            let props = b.finish()?;
            self.out.bytes_written += props.file_size;
            self.out.files.push(FileMeta {
                number,
                size: props.file_size,
                smallest: props.smallest_key,
                largest: props.largest_key,
                smallest_seq: props.smallest_seq,
                largest_seq: props.largest_seq,
                num_entries: props.num_entries,
            });
        }
        Ok(())
    }
}

/// Runs a compaction over `tables` (all inputs, any order). On error, outputs written so far are
/// removed.
pub fn run(tables: &[Arc<Table>], ctx: &JobContext<'_>) -> Result<JobOutput> {
    let mut outputs = Outputs {
        ctx,
        builder: None,
        lo: None,
        tombstones: Vec::new(),
        out: JobOutput::default(),
        key_buf: Vec::new(),
    };
    let r = run_into(tables, ctx, &mut outputs);
    if r.is_err() {
        if let Some((b, n)) = outputs.builder.take() {
            b.abandon();
            let _ = ctx.fs.remove(&filename::table_path(ctx.dir, n));
        }
        for f in &outputs.out.files {
            let _ = ctx.fs.remove(&filename::table_path(ctx.dir, f.number));
        }
    }
    r.map(|()| outputs.out)
}

fn run_into(tables: &[Arc<Table>], ctx: &JobContext<'_>, out: &mut Outputs<'_, '_>) -> Result<()> {
    out.out.bytes_read = tables.iter().map(|t| t.properties().file_size).sum();
    let mut all_tombstones: Vec<Tombstone> = tables
        .iter()
        .flat_map(|t| t.range_tombstone_slice().iter().cloned())
        .collect();
    all_tombstones.sort();
    all_tombstones.dedup();
    let cover = RangeTombstones::new(all_tombstones.iter().cloned(), SeqNo::MAX);
    let oldest_snapshot = ctx.snapshots.first().copied();
    out.tombstones = all_tombstones
        .into_iter()
        .filter(|(_, _, seq)| !(ctx.bottommost && oldest_snapshot.is_none_or(|s| s >= *seq)))
        .collect();

    let children: Vec<Box<dyn InternalIterator>> = tables
        .iter()
        .map(|t| Box::new(t.iter()) as Box<dyn InternalIterator>)
        .collect();
    let mut it = MergingIterator::new(children);
    it.seek_to_first()?;
    let mut key: Vec<u8> = Vec::new();
    let mut versions: Vec<(SeqNo, ValueKind, Vec<u8>)> = Vec::new();
    while it.valid() {
        let p = parse_internal_key(it.key()).ok_or_else(|| {
            Error::corruption(ctx.dir, 0, "malformed internal key in compaction input")
        })?;
        if p.user_key != key.as_slice() && !versions.is_empty() {
            process(&key, &versions, ctx, &cover, out)?;
            versions.clear();
        }
        if versions.is_empty() {
            key.clear();
            key.extend_from_slice(p.user_key);
        }
        versions.push((p.seq, p.kind, it.value().to_vec()));
        it.next()?;
    }
    if !versions.is_empty() {
        process(&key, &versions, ctx, &cover, out)?;
    }
    out.finish_file(None)
}

/// Index of the stripe holding `seq`, and that stripe's upper bound.
fn stripe(snapshots: &[SeqNo], seq: SeqNo) -> (usize, SeqNo) {
    let i = snapshots.partition_point(|s| *s < seq);
    (i, snapshots.get(i).copied().unwrap_or(SeqNo::MAX))
}

/// Decides the fate of one key's versions (newest first) and writes the survivors.
fn process(
    key: &[u8],
    versions: &[(SeqNo, ValueKind, Vec<u8>)],
    ctx: &JobContext<'_>,
    cover: &RangeTombstones,
    out: &mut Outputs<'_, '_>,
) -> Result<()> {
    out.start_key(key)?;
    let snaps = &ctx.snapshots;
    let last_stripe = snaps.len();
    let no_older_snapshot = |seq: SeqNo| snaps.first().is_none_or(|s| *s >= seq);
    let mut prev_stripe: Option<usize> = None;
    let mut i = 0;
    while i < versions.len() {
        let (seq, kind, value) = &versions[i];
        let (st, upper) = stripe(snaps, *seq);
        if prev_stripe == Some(st) || cover.covers_within(key, *seq, upper) {
            prev_stripe = Some(st);
            out.out.dropped += 1;
            i += 1;
            continue;
        }
        match kind {
            ValueKind::Put => {
                let decision = match (&ctx.filter, st == last_stripe) {
                    (Some(f), true) => f.filter(key, value),
                    _ => FilterDecision::Keep,
                };
                match decision {
                    FilterDecision::Keep => out.add(key, *seq, ValueKind::Put, value)?,
                    FilterDecision::ChangeValue(v) => out.add(key, *seq, ValueKind::Put, &v)?,
                    FilterDecision::Remove => {
                        out.out.dropped += 1;
                        if !(ctx.bottommost && no_older_snapshot(*seq)) {
                            out.add(key, *seq, ValueKind::Delete, &[])?;
                        }
                    }
                }
                prev_stripe = Some(st);
                i += 1;
            }
            ValueKind::Delete | ValueKind::RangeDelete => {
                if ctx.bottommost && no_older_snapshot(*seq) {
                    out.out.dropped += 1;
                } else {
                    out.add(key, *seq, ValueKind::Delete, &[])?;
                }
                prev_stripe = Some(st);
                i += 1;
            }
            ValueKind::Merge => {
                // Operands of this stripe, newest first, down to their base.
                let mut operands: Vec<&[u8]> = vec![value];
                let mut base: Option<Option<&[u8]>> = None;
                let mut j = i + 1;
                while j < versions.len() && stripe(snaps, versions[j].0).0 == st {
                    let (s, k, v) = &versions[j];
                    if cover.covers_within(key, *s, upper) {
                        base = Some(None);
                        break;
                    }
                    match k {
                        ValueKind::Merge => operands.push(v),
                        ValueKind::Put => {
                            base = Some(Some(v));
                            break;
                        }
                        ValueKind::Delete | ValueKind::RangeDelete => {
                            base = Some(None);
                            break;
                        }
                    }
                    j += 1;
                }
                if base.is_none() && j == versions.len() && ctx.bottommost {
                    base = Some(None);
                }
                let folded = match (base, &ctx.merge) {
                    (Some(b), Some(op)) => {
                        let oldest_first: Vec<&[u8]> = operands.iter().rev().copied().collect();
                        op.full_merge(key, b, &oldest_first).ok()
                    }
                    _ => None,
                };
                match folded {
                    Some(v) => {
                        out.add(key, *seq, ValueKind::Put, &v)?;
                        out.out.dropped += operands.len() as u64;
                        prev_stripe = Some(st);
                        // Skip the operands and the base they were folded onto.
                        i = if base.is_some() && j < versions.len() {
                            j + 1
                        } else {
                            j
                        };
                    }
                    None => {
                        // Cannot fold (base below this compaction, or no operator, or the
                        // operator refused): keep the operands as they are; the base, if any,
                        // is handled by the loop like any other version.
                        for (s, _, v) in &versions[i..j] {
                            out.add(key, *s, ValueKind::Merge, v)?;
                        }
                        i = j;
                    }
                }
            }
        }
    }
    Ok(())
}
