//! The JSON lines a single-engine child prints and the parent collects (also the format of
//! `results.jsonl`).

use serde::{Deserialize, Serialize};

use crate::engine::EngineInfo;
use crate::metrics::Latency;

/// One line of output.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // a handful of lines per run; boxing buys nothing
pub enum Line {
    /// The engine and its settings (first line of a child).
    Engine(EngineInfo),
    /// One workload's measurements.
    Result(WorkloadResult),
    /// An engine that could not run (or stopped early).
    Failure(Failure),
}

/// An engine failure.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Failure {
    /// Engine name.
    pub engine: String,
    /// What went wrong.
    pub message: String,
}

/// Measurements of one workload on one engine.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WorkloadResult {
    /// Engine name.
    pub engine: String,
    /// Workload name.
    pub workload: String,
    /// `--num`.
    pub num: u64,
    /// Client threads.
    pub threads: usize,
    /// Writes per batch.
    pub batch: usize,
    /// Durable writes.
    pub sync: bool,
    /// Key size.
    pub key_size: usize,
    /// Value size.
    pub value_size: usize,
    /// Operations completed (entries for scans and batched writes).
    pub ops: u64,
    /// Wall time of the measured phase, seconds.
    pub secs: f64,
    /// `ops / secs`.
    pub ops_per_sec: f64,
    /// Latency per operation (per batch for batched writes, per entry for full scans).
    #[serde(flatten)]
    pub latency: Latency,
    /// Reads that found their key (point reads only).
    pub found: u64,
    /// Bytes of keys and values the workload wrote.
    pub user_bytes: u64,
    /// Bytes written to the device during the workload, its final flush and settling.
    pub device_bytes: Option<u64>,
    /// Gross `write_bytes` over the same span, before subtracting the pages of files deleted
    /// or truncated before write-back (`cancelled_write_bytes`).
    #[serde(default)]
    pub gross_write_bytes: Option<u64>,
    /// `device_bytes / user_bytes` (write workloads only).
    pub write_amp: Option<f64>,
    /// Disk space of the database directory afterwards.
    pub dir_bytes: u64,
    /// Live keys × (key size + value size) afterwards.
    pub logical_bytes: u64,
    /// `dir_bytes / logical_bytes`.
    pub space_amp: Option<f64>,
    /// Peak RSS during the workload (KiB); whole-process peak where it cannot be reset.
    pub peak_rss_kib: Option<u64>,
    /// Seconds spent in the untimed flush and settling after the workload.
    pub settle_secs: f64,
    /// `(user_bytes, device_bytes)` samples during the workload (write workloads).
    pub wa_series: Vec<(u64, u64)>,
    /// Free-form remarks (e.g. the writer's rate in readwhilewriting).
    pub note: String,
    /// The error that stopped the workload, if any.
    pub error: Option<String>,
    /// `ops_per_sec` relative to the baseline engine in the same run (set by the parent).
    pub ratio: Option<f64>,
}
