//! Command-line options of `strata-bench` (and `strata bench`).

use std::path::PathBuf;

use clap::Parser;

/// db_bench- and YCSB-style workloads over Strata's engines and peer engines.
///
/// Each engine runs in its own child process (so peak memory is per engine); results are
/// printed as a table and written to `--out` as JSON lines, a Markdown report and SVG plots.
#[derive(Parser, Clone, Debug)]
#[command(name = "strata-bench", version)]
pub struct Args {
    /// Keys loaded by the fill workloads (and the key space of the others).
    #[arg(long, default_value_t = 1_000_000)]
    pub num: u64,
    /// Operations per non-fill workload [default: --num].
    #[arg(long)]
    pub ops: Option<u64>,
    /// Operations of the scan-heavy YCSB E [default: --ops / 10].
    #[arg(long)]
    pub scan_ops: Option<u64>,
    /// Bytes per key (decimal, zero-padded like db_bench).
    #[arg(long, default_value_t = 16)]
    pub key_size: usize,
    /// Bytes per value (random, incompressible).
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Client threads per workload.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Writes per batch in the write workloads.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Make every acknowledged write durable (fsync; group commit where the engine has it).
    #[arg(long)]
    pub sync: bool,
    /// Cache budget per engine (block cache / page cache / buffer pool), MiB.
    #[arg(long, default_value_t = 64)]
    pub cache_mb: usize,
    /// Write buffer (memtable) size for the LSM engines, MiB.
    #[arg(long, default_value_t = 64)]
    pub write_buffer_mb: usize,
    /// Engines, comma-separated: strata-lsm, strata-btree, and with `--features peers`
    /// rocksdb, fjall, redb, lmdb; or `all` [default: all that this build has].
    #[arg(long, value_delimiter = ',')]
    pub engines: Vec<String>,
    /// Workloads, comma-separated, run in order on one database per engine (a fill starts a
    /// fresh one). Names: fillseq, fillrandom, overwrite, readrandom, readmissing, readseq,
    /// readreverse, seekrandom, deleterandom, readwhilewriting, ycsb-a ... ycsb-f (zipfian;
    /// D is "latest"), ycsb-a-uniform ... ycsb-f-uniform; groups: `default`, `dbbench`,
    /// `ycsb`, `ycsb-uniform`, `all`.
    #[arg(long, value_delimiter = ',', default_value = "default")]
    pub workloads: Vec<String>,
    /// Seed of every random choice (keys, values, operation mixes).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output directory (results.jsonl, report.md, *.svg).
    #[arg(long, default_value = "bench-out")]
    pub out: PathBuf,
    /// Where the databases live during the run [default: <out>/db]; removed afterwards.
    #[arg(long)]
    pub db_dir: Option<PathBuf>,
    /// Engine the others are compared with [default: rocksdb if run, else the first engine].
    #[arg(long)]
    pub baseline: Option<String>,
    /// After a write workload, wait up to this long for background flushes and compactions to
    /// go quiet, so their device writes are charged to the workload that caused them.
    #[arg(long, default_value_t = 30)]
    pub settle_secs: u64,
    /// Skip the SVG plots.
    #[arg(long)]
    pub no_plots: bool,
    /// Internal: run one engine in this process and print JSON lines on stdout.
    #[arg(long, hide = true)]
    pub single: Option<String>,
}

impl Args {
    /// Operations of a non-fill workload.
    pub fn ops(&self) -> u64 {
        self.ops.unwrap_or(self.num)
    }

    /// Operations of YCSB E.
    pub fn scan_ops(&self) -> u64 {
        self.scan_ops.unwrap_or((self.ops() / 10).max(1))
    }

    /// The database directory root.
    pub fn db_root(&self) -> PathBuf {
        self.db_dir.clone().unwrap_or_else(|| self.out.join("db"))
    }

    /// Checks values that would make the run meaningless.
    pub fn validate(&self) -> Result<(), String> {
        if self.num == 0 {
            return Err("--num must be at least 1".into());
        }
        if self.threads == 0 || self.batch == 0 {
            return Err("--threads and --batch must be at least 1".into());
        }
        // Keys of inserted records go up to about num + ops; they must fit the key size.
        let max_index = self.num.saturating_add(self.ops()).saturating_mul(2);
        let need = crate::gen::KeyFormat::digits_for(max_index);
        if self.key_size < need || self.key_size > 4096 {
            return Err(format!(
                "--key-size must be between {need} (digits of the largest key index) and 4096"
            ));
        }
        if self.value_size == 0 || self.value_size > 1 << 20 {
            return Err("--value-size must be between 1 and 1048576".into());
        }
        Ok(())
    }
}
