//! What a run measures besides time: device writes (`/proc/self/io`), peak memory
//! (`/proc/self/status`), directory size, and latency histograms.
//!
//! Linux charges a write to `write_bytes` when the page is dirtied, to the process that dirtied
//! it, so background flush and compaction threads count, and a workload is charged for the
//! bytes it caused even before write-back. Where `/proc` is missing the figures read as `None`.

use std::path::Path;

use hdrhistogram::Histogram;

/// Bytes this process caused to be written to storage so far (`write_bytes` minus
/// `cancelled_write_bytes`: pages of files truncated or deleted before write-back never reach
/// the device).
pub fn device_write_bytes() -> Option<u64> {
    io_write_bytes().map(|(written, cancelled)| written.saturating_sub(cancelled))
}

/// `(write_bytes, cancelled_write_bytes)` of this process so far.
pub fn io_write_bytes() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/io").ok()?;
    let field = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().parse().ok())
    };
    let written = field("write_bytes:")?;
    let cancelled = field("cancelled_write_bytes:").unwrap_or(0);
    Some((written, cancelled))
}

/// Peak resident set size of this process in KiB (`VmHWM`).
pub fn peak_rss_kib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resets the peak RSS to the current RSS (Linux >= 4.0: write `5` to `clear_refs`), so each
/// workload reports its own peak. Returns false where that is not possible.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Disk space used under `dir`: allocated blocks, so sparse and preallocated files count by
/// what they occupy, not by their length.
pub fn dir_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if meta.is_dir() {
            total += dir_bytes(&entry.path());
        } else {
            total += meta.blocks() * 512;
        }
    }
    total
}

/// A latency histogram in nanoseconds (1 ns to 10 minutes, 3 significant digits).
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts; failure would be a programming error.
    Histogram::new_with_bounds(1, 600_000_000_000, 3).expect("valid histogram bounds")
}

/// Quantiles at which the latency CDF is sampled for the report and plots: every 2.5% up to
/// 95%, then the tail.
fn cdf_quantiles() -> Vec<f64> {
    let mut q: Vec<f64> = (0..=38).map(|i| f64::from(i) * 0.025).collect();
    q.extend([
        0.96, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999, 1.0,
    ]);
    q
}

/// Summary of a latency histogram.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Latency {
    /// Mean, ns.
    pub mean_ns: f64,
    /// Median, ns.
    pub p50_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// 99.9th percentile, ns.
    pub p999_ns: u64,
    /// Maximum, ns.
    pub max_ns: u64,
    /// `(latency_ns, quantile)` points of the cumulative distribution.
    pub cdf: Vec<(u64, f64)>,
}

impl Latency {
    /// Summarizes `h` (all zeros when it is empty).
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            mean_ns: h.mean(),
            p50_ns: h.value_at_quantile(0.5),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            max_ns: h.max(),
            cdf: cdf_quantiles()
                .into_iter()
                .map(|q| (h.value_at_quantile(q).max(1), q))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_figures_are_readable_on_linux() {
        if !Path::new("/proc/self/io").exists() {
            return;
        }
        let before = device_write_bytes().expect("write_bytes");
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("f");
        std::fs::write(&f, vec![7u8; 1 << 20]).expect("write");
        // Dirtying pages is charged at once (no fsync needed).
        let after = device_write_bytes().expect("write_bytes");
        assert!(after >= before);
        assert!(peak_rss_kib().expect("VmHWM") > 0);
        assert!(dir_bytes(dir.path()) >= 1 << 20);
    }

    #[test]
    fn latency_summary() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1000).expect("record");
        }
        let l = Latency::of(&h);
        assert!((l.p50_ns as f64 - 500_000.0).abs() < 1000.0);
        assert!(l.p99_ns >= 989_000 && l.p99_ns <= 991_000);
        assert_eq!(l.cdf.len(), cdf_quantiles().len());
        assert!(l.cdf.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(Latency::of(&new_histogram()).p50_ns, 0);
    }
}
