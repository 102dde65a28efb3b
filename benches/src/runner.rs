//! Runs workloads against one engine in this process (the `--single` child): opens the engine,
//! drives client threads, times every operation, and measures device writes, space and memory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::Args;
use crate::engine::{self, BatchOp, Engine, EngineConfig, EngineInfo, EngineResult};
use crate::gen::{permutation, KeyChooser, KeyFormat, Rng64, ValuePool};
use crate::metrics::{self, Latency};
use crate::result::WorkloadResult;
use crate::workload::{Workload, Ycsb};

/// Which keys exist, so space amplification is measured against the true logical size.
struct LiveSet {
    words: Vec<AtomicU64>,
    count: AtomicU64,
}

impl LiveSet {
    fn new(capacity: u64) -> LiveSet {
        LiveSet {
            words: (0..capacity.div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
            count: AtomicU64::new(0),
        }
    }
    fn set(&self, i: u64) {
        if let Some(w) = self.words.get((i / 64) as usize) {
            let bit = 1u64 << (i % 64);
            if w.fetch_or(bit, Ordering::Relaxed) & bit == 0 {
                self.count.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    fn clear(&self, i: u64) {
        if let Some(w) = self.words.get((i / 64) as usize) {
            let bit = 1u64 << (i % 64);
            if w.fetch_and(!bit, Ordering::Relaxed) & bit != 0 {
                self.count.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
    fn reset(&self) {
        for w in &self.words {
            w.store(0, Ordering::Relaxed);
        }
        self.count.store(0, Ordering::Relaxed);
    }
    fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// One client thread's tallies.
struct Rec {
    hist: Histogram<u64>,
    /// When this thread started and finished its operations.
    span: Option<(Instant, Instant)>,
    ops: u64,
    user_bytes: u64,
    found: u64,
}

impl Rec {
    fn new() -> Rec {
        Rec {
            hist: metrics::new_histogram(),
            span: None,
            ops: 0,
            user_bytes: 0,
            found: 0,
        }
    }
    fn record(&mut self, since: Instant) {
        self.hist
            .saturating_record(since.elapsed().as_nanos().max(1) as u64);
    }
}

/// Shared between the client threads of one workload.
struct Ctl {
    stop: AtomicBool,
    error: Mutex<Option<String>>,
    done: AtomicU64,
    pb: ProgressBar,
}

impl Ctl {
    fn tick(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
        self.pb.inc(n);
    }
    fn fail(&self, e: String) {
        self.stop.store(true, Ordering::Relaxed);
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(e);
    }
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Drives the workloads of one engine.
pub struct Runner {
    args: Args,
    name: String,
    cfg: EngineConfig,
    engine: Option<Box<dyn Engine>>,
    keys: KeyFormat,
    values: ValuePool,
    live: LiveSet,
    /// Keys `0..next_insert` have been inserted at some point (YCSB inserts take new indices).
    next_insert: AtomicU64,
    loaded: bool,
}

impl Runner {
    /// Prepares engine `name` (opened lazily, on a fresh directory).
    pub fn new(args: &Args, name: &str) -> Runner {
        let dir: PathBuf = args.db_root().join(name);
        let cfg = EngineConfig {
            dir,
            sync: args.sync,
            cache_bytes: args.cache_mb << 20,
            write_buffer_bytes: args.write_buffer_mb << 20,
        };
        Runner {
            args: args.clone(),
            name: name.to_string(),
            cfg,
            engine: None,
            keys: KeyFormat {
                size: args.key_size,
            },
            values: ValuePool::new(args.value_size, args.seed),
            live: LiveSet::new(args.num + args.ops() + 1024),
            next_insert: AtomicU64::new(0),
            loaded: false,
        }
    }

    /// Opens the engine on an empty directory (closing and deleting any previous one).
    pub fn open_fresh(&mut self) -> EngineResult<EngineInfo> {
        self.engine = None;
        if self.cfg.dir.exists() {
            std::fs::remove_dir_all(&self.cfg.dir)?;
        }
        std::fs::create_dir_all(&self.cfg.dir)?;
        let (engine, info) = engine::open(&self.name, &self.cfg)?;
        self.engine = Some(engine);
        self.live.reset();
        self.next_insert.store(0, Ordering::Relaxed);
        self.loaded = false;
        Ok(info)
    }

    /// Closes the engine and deletes its directory.
    pub fn finish(mut self) {
        self.engine = None;
        let _ = std::fs::remove_dir_all(&self.cfg.dir);
    }

    fn engine(&self) -> &dyn Engine {
        // `open_fresh` runs before any workload; a missing engine is a bug in this file.
        self.engine.as_deref().expect("engine opened")
    }

    /// Loads `num` keys in random order, in batches of 1000, untimed (for runs that start with
    /// a non-fill workload).
    fn preload(&mut self) -> EngineResult<()> {
        let perm = permutation(self.args.num, self.args.seed);
        let mut rng = Rng64::for_stream(self.args.seed, "preload", 0);
        let mut rec = Rec::new();
        for chunk in perm.chunks(1000) {
            self.write_indices(chunk, &mut rng, &mut rec)?;
        }
        self.next_insert.store(self.args.num, Ordering::Relaxed);
        self.engine().flush()?;
        self.settle();
        self.loaded = true;
        Ok(())
    }

    /// Puts the keys of `idxs` (one batch if more than one) with random values.
    fn write_indices(&self, idxs: &[u64], rng: &mut Rng64, rec: &mut Rec) -> EngineResult<()> {
        let ks = self.keys.size;
        let mut flat = Vec::with_capacity(idxs.len() * ks);
        let mut k = Vec::with_capacity(ks);
        for &i in idxs {
            self.keys.write(i, &mut k);
            flat.extend_from_slice(&k);
        }
        let start = Instant::now();
        if idxs.len() == 1 {
            self.engine().put(&flat, self.values.value(rng))?;
        } else {
            let ops: Vec<BatchOp<'_>> = flat
                .chunks(ks)
                .map(|key| BatchOp {
                    key,
                    value: Some(self.values.value(rng)),
                })
                .collect();
            self.engine().write_batch(&ops)?;
        }
        rec.record(start);
        for &i in idxs {
            self.live.set(i);
        }
        rec.ops += idxs.len() as u64;
        rec.user_bytes += (idxs.len() * (ks + self.args.value_size)) as u64;
        Ok(())
    }

    /// Deletes the keys of `idxs` (one batch if more than one).
    fn delete_indices(&self, idxs: &[u64], rec: &mut Rec) -> EngineResult<()> {
        let ks = self.keys.size;
        let mut flat = Vec::with_capacity(idxs.len() * ks);
        let mut k = Vec::with_capacity(ks);
        for &i in idxs {
            self.keys.write(i, &mut k);
            flat.extend_from_slice(&k);
        }
        let start = Instant::now();
        if idxs.len() == 1 {
            self.engine().delete(&flat)?;
        } else {
            let ops: Vec<BatchOp<'_>> = flat
                .chunks(ks)
                .map(|key| BatchOp { key, value: None })
                .collect();
            self.engine().write_batch(&ops)?;
        }
        rec.record(start);
        for &i in idxs {
            self.live.clear(i);
        }
        rec.ops += idxs.len() as u64;
        rec.user_bytes += (idxs.len() * ks) as u64;
        Ok(())
    }

    /// Waits (bounded by `--settle-secs`) until this process stops writing to the device:
    /// background flushes and compactions are then charged to the workload that caused them.
    fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(self.args.settle_secs);
        let mut last = metrics::device_write_bytes();
        let mut quiet = 0;
        while Instant::now() < deadline && quiet < 3 {
            std::thread::sleep(Duration::from_millis(200));
            let now = metrics::device_write_bytes();
            if now == last {
                quiet += 1;
            } else {
                quiet = 0;
                last = now;
            }
        }
    }

    /// Runs one workload and returns its measurements (errors are recorded in the result).
    pub fn run(&mut self, w: Workload) -> WorkloadResult {
        let mut res = WorkloadResult {
            engine: self.name.clone(),
            workload: w.name(),
            num: self.args.num,
            threads: self.args.threads,
            batch: self.args.batch,
            sync: self.args.sync,
            key_size: self.args.key_size,
            value_size: self.args.value_size,
            ..WorkloadResult::default()
        };
        let prepared = if w.is_fill() {
            self.open_fresh().map(|_| ())
        } else if !self.loaded {
            self.preload()
        } else {
            Ok(())
        };
        if let Err(e) = prepared {
            res.error = Some(format!("preparing {}: {e}", w.name()));
            return res;
        }
        metrics::reset_peak_rss();
        let io0 = metrics::device_write_bytes();
        let gross0 = metrics::io_write_bytes().map(|(w, _)| w);
        let total = self.expected_ops(w);
        let pb = ProgressBar::new(total);
        pb.set_style(
            ProgressStyle::with_template("{prefix:>24} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb.set_prefix(format!("{} {}", self.name, w.name()));
        let ctl = Ctl {
            stop: AtomicBool::new(false),
            error: Mutex::new(None),
            done: AtomicU64::new(0),
            pb,
        };
        let bytes_per_op = (self.args.key_size + self.args.value_size) as u64;
        // Every operation of these writes one key, so `done` converts to user bytes.
        let samples_wa = matches!(
            w,
            Workload::FillSeq | Workload::FillRandom | Workload::Overwrite
        );
        let sampling = AtomicBool::new(samples_wa);
        let mut series = Vec::new();
        let (recs, secs, note) = std::thread::scope(|s| {
            let sampler = s.spawn(|| {
                let mut pts = Vec::new();
                let mut tick = 0u32;
                while sampling.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(10));
                    tick += 1;
                    if !tick.is_multiple_of(10) {
                        continue;
                    }
                    if let (Some(a), Some(b)) = (io0, metrics::device_write_bytes()) {
                        pts.push((
                            ctl.done.load(Ordering::Relaxed) * bytes_per_op,
                            b.saturating_sub(a),
                        ));
                    }
                }
                pts
            });
            let out = self.drive(w, &ctl);
            sampling.store(false, Ordering::Relaxed);
            series = sampler.join().unwrap_or_default();
            out
        });
        ctl.pb.finish_and_clear();
        let mut hist = metrics::new_histogram();
        for r in &recs {
            let _ = hist.add(&r.hist);
            res.ops += r.ops;
            res.user_bytes += r.user_bytes;
            res.found += r.found;
        }
        res.secs = secs;
        res.ops_per_sec = if secs > 0.0 {
            res.ops as f64 / secs
        } else {
            0.0
        };
        res.latency = Latency::of(&hist);
        res.note = note;
        res.error = ctl.error.lock().unwrap_or_else(|p| p.into_inner()).take();
        if w.is_fill() {
            self.next_insert.store(self.args.num, Ordering::Relaxed);
            self.loaded = true;
        }
        let settle_start = Instant::now();
        if w.writes() {
            if let Err(e) = self.engine().flush() {
                res.error.get_or_insert(format!("flush: {e}"));
            }
            self.settle();
        }
        res.settle_secs = settle_start.elapsed().as_secs_f64();
        if let (Some(a), Some((b, _))) = (gross0, metrics::io_write_bytes()) {
            res.gross_write_bytes = Some(b.saturating_sub(a));
        }
        if let (Some(a), Some(b)) = (io0, metrics::device_write_bytes()) {
            res.device_bytes = Some(b.saturating_sub(a));
            if w.writes() && res.user_bytes > 0 {
                res.write_amp = Some(b.saturating_sub(a) as f64 / res.user_bytes as f64);
                if samples_wa {
                    series.push((res.user_bytes, b.saturating_sub(a)));
                    res.wa_series = series;
                }
            }
        }
        res.dir_bytes = metrics::dir_bytes(&self.cfg.dir);
        res.logical_bytes = self.live.count() * bytes_per_op;
        if res.logical_bytes > 0 {
            res.space_amp = Some(res.dir_bytes as f64 / res.logical_bytes as f64);
        }
        res.peak_rss_kib = metrics::peak_rss_kib();
        res
    }

    fn expected_ops(&self, w: Workload) -> u64 {
        match w {
            Workload::FillSeq | Workload::FillRandom => self.args.num,
            Workload::ReadSeq | Workload::ReadReverse => {
                self.live.count().max(self.args.num) * self.args.threads as u64
            }
            Workload::Ycsb(Ycsb::E, _) => self.args.scan_ops(),
            _ => self.args.ops(),
        }
    }

    /// Runs the client threads of `w`; returns their tallies, the measured seconds, a note.
    fn drive(&self, w: Workload, ctl: &Ctl) -> (Vec<Rec>, f64, String) {
        let threads = self.args.threads;
        let with_writer = w == Workload::ReadWhileWriting;
        let barrier = Barrier::new(threads + 1 + usize::from(with_writer));
        let writer_ops = AtomicU64::new(0);
        let readers_done = AtomicBool::new(false);
        let perm = match w {
            Workload::FillRandom => permutation(self.args.num, self.args.seed),
            _ => Vec::new(),
        };
        std::thread::scope(|s| {
            let writer = with_writer.then(|| {
                s.spawn(|| {
                    let mut rng = Rng64::for_stream(self.args.seed, "rww-writer", 0);
                    let mut rec = Rec::new();
                    barrier.wait();
                    while !readers_done.load(Ordering::Relaxed) && !ctl.stopped() {
                        let i = rng.below(self.args.num);
                        if let Err(e) = self.write_indices(&[i], &mut rng, &mut rec) {
                            ctl.fail(format!("writer: {e}"));
                        }
                        writer_ops.fetch_add(1, Ordering::Relaxed);
                    }
                    rec
                })
            });
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let barrier = &barrier;
                    let perm = &perm;
                    s.spawn(move || {
                        let mut rec = Rec::new();
                        let mut rng = Rng64::for_stream(self.args.seed, &w.name(), t);
                        barrier.wait();
                        let start = Instant::now();
                        if let Err(e) = self.client(w, t, perm, &mut rng, &mut rec, ctl) {
                            ctl.fail(e.to_string());
                        }
                        rec.span = Some((start, Instant::now()));
                        rec
                    })
                })
                .collect();
            barrier.wait();
            let mut recs: Vec<Rec> = handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Rec::new()))
                .collect();
            readers_done.store(true, Ordering::Relaxed);
            // From the first client's start to the last one's end, as each thread saw it.
            let first = recs.iter().filter_map(|r| r.span.map(|s| s.0)).min();
            let last = recs.iter().filter_map(|r| r.span.map(|s| s.1)).max();
            let secs = match (first, last) {
                (Some(a), Some(b)) => (b - a).as_secs_f64(),
                _ => 0.0,
            };
            let mut note = String::new();
            if let Some(h) = writer {
                let wrec = h.join().unwrap_or_else(|_| Rec::new());
                let n = writer_ops.load(Ordering::Relaxed);
                note = format!(
                    "writer thread: {n} overwrites, {:.0}/s while reading",
                    n as f64 / secs.max(1e-9)
                );
                // Only the reads are the workload's operations; the writer's bytes count for
                // write amplification.
                let mut bytes_only = Rec::new();
                bytes_only.user_bytes = wrec.user_bytes;
                recs.push(bytes_only);
            }
            (recs, secs, note)
        })
    }

    /// One client thread's loop.
    fn client(
        &self,
        w: Workload,
        t: usize,
        perm: &[u64],
        rng: &mut Rng64,
        rec: &mut Rec,
        ctl: &Ctl,
    ) -> EngineResult<()> {
        let threads = self.args.threads as u64;
        let share = |total: u64| -> (u64, u64) {
            let per = total / threads;
            let lo = per * t as u64;
            let hi = if t as u64 == threads - 1 {
                total
            } else {
                lo + per
            };
            (lo, hi)
        };
        let batch = self.args.batch as u64;
        let num = self.args.num;
        let mut key = Vec::with_capacity(self.keys.size);
        let mut val = Vec::with_capacity(self.args.value_size);
        let mut idxs = Vec::with_capacity(batch as usize);
        match w {
            Workload::FillSeq | Workload::FillRandom => {
                let (lo, hi) = share(num);
                let mut i = lo;
                while i < hi && !ctl.stopped() {
                    let end = (i + batch).min(hi);
                    idxs.clear();
                    if w == Workload::FillSeq {
                        idxs.extend(i..end);
                    } else {
                        idxs.extend_from_slice(&perm[i as usize..end as usize]);
                    }
                    self.write_indices(&idxs, rng, rec)?;
                    ctl.tick(end - i);
                    i = end;
                }
            }
            Workload::Overwrite | Workload::DeleteRandom => {
                let (lo, hi) = share(self.args.ops());
                let mut i = lo;
                while i < hi && !ctl.stopped() {
                    let end = (i + batch).min(hi);
                    idxs.clear();
                    idxs.extend((i..end).map(|_| rng.below(num)));
                    if w == Workload::Overwrite {
                        self.write_indices(&idxs, rng, rec)?;
                    } else {
                        self.delete_indices(&idxs, rec)?;
                    }
                    ctl.tick(end - i);
                    i = end;
                }
            }
            Workload::ReadRandom | Workload::ReadMissing | Workload::ReadWhileWriting => {
                let (lo, hi) = share(self.args.ops());
                for n in lo..hi {
                    let i = rng.below(num);
                    if w == Workload::ReadMissing {
                        self.keys.write_missing(i, &mut key);
                    } else {
                        self.keys.write(i, &mut key);
                    }
                    let start = Instant::now();
                    let found = self.engine().get(&key, &mut val)?;
                    rec.record(start);
                    rec.ops += 1;
                    rec.found += u64::from(found);
                    if n % 256 == 255 {
                        ctl.tick(256);
                        if ctl.stopped() {
                            break;
                        }
                    }
                }
            }
            Workload::ReadSeq | Workload::ReadReverse => {
                let mut last = Instant::now();
                let mut n = 0u64;
                let hist = &mut rec.hist;
                let visited = self.engine().scan(
                    None,
                    w == Workload::ReadReverse,
                    usize::MAX,
                    &mut |k, v| {
                        let now = Instant::now();
                        hist.saturating_record((now - last).as_nanos().max(1) as u64);
                        last = now;
                        n += 1;
                        std::hint::black_box((k.len(), v.len()));
                        if n.is_multiple_of(1024) {
                            ctl.tick(1024);
                        }
                    },
                )?;
                rec.ops += visited as u64;
            }
            Workload::SeekRandom => {
                let (lo, hi) = share(self.args.ops());
                let existing = self.next_insert.load(Ordering::Relaxed).max(1);
                for n in lo..hi {
                    self.keys.write(rng.below(existing), &mut key);
                    let start = Instant::now();
                    let got = self.engine().scan(Some(&key), false, 11, &mut |k, v| {
                        std::hint::black_box((k.len(), v.len()));
                    })?;
                    rec.record(start);
                    rec.ops += 1;
                    rec.found += u64::from(got > 0);
                    if n % 256 == 255 {
                        ctl.tick(256);
                        if ctl.stopped() {
                            break;
                        }
                    }
                }
            }
            Workload::Ycsb(y, dist) => {
                self.ycsb(y, dist, share, rng, rec, ctl, &mut key, &mut val)?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn ycsb(
        &self,
        y: Ycsb,
        dist: crate::gen::Distribution,
        share: impl Fn(u64) -> (u64, u64),
        rng: &mut Rng64,
        rec: &mut Rec,
        ctl: &Ctl,
        key: &mut Vec<u8>,
        val: &mut Vec<u8>,
    ) -> EngineResult<()> {
        let [read, update, insert, scan, _rmw] = y.mix();
        let total = if y == Ycsb::E {
            self.args.scan_ops()
        } else {
            self.args.ops()
        };
        let (lo, hi) = share(total);
        let loaded = self.next_insert.load(Ordering::Relaxed);
        let expected_new = (total as f64 * insert * 2.0) as u64;
        let mut chooser = KeyChooser::new(dist, loaded, expected_new);
        let vsize = (self.keys.size + self.args.value_size) as u64;
        for n in lo..hi {
            let existing = self.next_insert.load(Ordering::Relaxed);
            let r = rng.next_f64();
            if r < read + update + scan {
                let i = chooser.next(rng, existing);
                self.keys.write(i, key);
                let start = Instant::now();
                if r < read {
                    rec.found += u64::from(self.engine().get(key, val)?);
                } else if r < read + update {
                    self.engine().put(key, self.values.value(rng))?;
                    rec.user_bytes += vsize;
                } else {
                    let len = 1 + rng.below(100) as usize;
                    let got = self.engine().scan(Some(key), false, len, &mut |k, v| {
                        std::hint::black_box((k.len(), v.len()));
                    })?;
                    rec.found += u64::from(got > 0);
                }
                rec.record(start);
                rec.ops += 1;
            } else if r < read + update + scan + insert {
                let i = self.next_insert.fetch_add(1, Ordering::Relaxed);
                self.keys.write(i, key);
                let start = Instant::now();
                self.engine().put(key, self.values.value(rng))?;
                rec.record(start);
                self.live.set(i);
                rec.ops += 1;
                rec.user_bytes += vsize;
            } else {
                // Read-modify-write: read the record, then write a new value, timed together.
                let i = chooser.next(rng, existing);
                self.keys.write(i, key);
                let start = Instant::now();
                rec.found += u64::from(self.engine().get(key, val)?);
                self.engine().put(key, self.values.value(rng))?;
                rec.record(start);
                rec.ops += 1;
                rec.user_bytes += vsize;
            }
            if n % 256 == 255 {
                ctl.tick(256);
                if ctl.stopped() {
                    break;
                }
            }
        }
        Ok(())
    }
}
