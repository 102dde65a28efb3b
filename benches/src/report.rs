//! Human-readable output: the terminal table, the Markdown report, and the machine description.

use std::fmt::Write as _;

use crate::args::Args;
use crate::driver::results;
use crate::result::{Line, WorkloadResult};

/// What the report needs besides the lines.
pub struct Context {
    /// The command line, reconstructed.
    pub command: String,
    /// The options of the run.
    pub args: Args,
    /// Engines in run order.
    pub engines: Vec<String>,
    /// The baseline engine.
    pub baseline: String,
    /// Whether plots were written.
    pub plots: bool,
}

/// `1.23M`, `45.6K`, `789`.
pub fn human_rate(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}K", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// A latency in the largest unit that keeps it readable.
pub fn human_ns(ns: u64) -> String {
    let x = ns as f64;
    if x >= 1e9 {
        format!("{:.2} s", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.2} ms", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} µs", x / 1e3)
    } else {
        format!("{ns} ns")
    }
}

fn mib(b: u64) -> String {
    format!("{:.1}", b as f64 / (1024.0 * 1024.0))
}

fn opt2(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into())
}

/// One progress line per finished workload (printed while the run goes on).
pub fn one_line(r: &WorkloadResult) -> String {
    let mut s = format!(
        "{:>13} {:<18} {:>9} ops/s  p50 {:>9}  p99 {:>9}  p99.9 {:>9}",
        r.engine,
        r.workload,
        human_rate(r.ops_per_sec),
        human_ns(r.latency.p50_ns),
        human_ns(r.latency.p99_ns),
        human_ns(r.latency.p999_ns)
    );
    if let Some(wa) = r.write_amp {
        let _ = write!(s, "  WA {wa:.2}");
    }
    if let Some(e) = &r.error {
        let _ = write!(s, "  ERROR: {e}");
    }
    s
}

fn workloads_in_order(lines: &[Line]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for r in results(lines) {
        if !v.contains(&r.workload) {
            v.push(r.workload.clone());
        }
    }
    v
}

fn find<'a>(lines: &'a [Line], engine: &str, workload: &str) -> Option<&'a WorkloadResult> {
    results(lines).find(|r| r.engine == engine && r.workload == workload)
}

fn cell(r: Option<&WorkloadResult>) -> String {
    match r {
        None => "-".into(),
        Some(r) if r.error.is_some() => "error".into(),
        Some(r) => match r.ratio {
            Some(x) => format!("{} ({x:.2}x)", human_rate(r.ops_per_sec)),
            None => human_rate(r.ops_per_sec),
        },
    }
}

/// The summary matrix (workloads × engines, ops/s and ratio to the baseline) for the terminal.
pub fn terminal_table(ctx: &Context, lines: &[Line]) -> String {
    let wls = workloads_in_order(lines);
    let width = 18;
    let mut s = format!("ops/s (x {} in this run)\n", ctx.baseline);
    let _ = write!(s, "{:<18}", "workload");
    for e in &ctx.engines {
        let _ = write!(s, " {e:>width$}");
    }
    s.push('\n');
    for w in &wls {
        let _ = write!(s, "{w:<18}");
        for e in &ctx.engines {
            let _ = write!(s, " {:>width$}", cell(find(lines, e, w)));
        }
        s.push('\n');
    }
    for l in lines {
        if let Line::Failure(f) = l {
            let _ = writeln!(s, "FAILED {}: {}", f.engine, f.message);
        }
    }
    s
}

/// A description of this machine: CPU model, cores, memory, kernel.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|r| r.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kib| format!("{:.1} GiB", kib as f64 / (1024.0 * 1024.0)))
        .unwrap_or_else(|| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    format!("{cpu}, {cores} cores, {mem} RAM, Linux {kernel}")
}

/// The Markdown report.
pub fn markdown(ctx: &Context, lines: &[Line]) -> String {
    let a = &ctx.args;
    let mut s = String::new();
    let _ = writeln!(s, "# Strata benchmark report\n");
    let _ = writeln!(s, "- command: `{}`", ctx.command);
    let _ = writeln!(s, "- machine: {}", machine());
    let _ = writeln!(
        s,
        "- {} keys of {} bytes, values of {} bytes; {} ops per workload ({} for ycsb-e); {} thread(s), batch {}, sync {}, cache {} MiB, write buffer {} MiB, seed {}",
        a.num,
        a.key_size,
        a.value_size,
        a.ops(),
        a.scan_ops(),
        a.threads,
        a.batch,
        a.sync,
        a.cache_mb,
        a.write_buffer_mb,
        a.seed
    );
    let _ = writeln!(s, "- baseline for ratios: {}\n", ctx.baseline);

    let _ = writeln!(s, "## Engines\n");
    let _ = writeln!(s, "| engine | version | settings |\n| --- | --- | --- |");
    for l in lines {
        if let Line::Engine(i) = l {
            let _ = writeln!(s, "| {} | {} | {} |", i.name, i.version, i.settings);
        }
    }

    let wls = workloads_in_order(lines);
    let _ = writeln!(s, "\n## Throughput (ops/s, x {})\n", ctx.baseline);
    let _ = write!(s, "| workload |");
    for e in &ctx.engines {
        let _ = write!(s, " {e} |");
    }
    let _ = write!(s, "\n| --- |");
    for _ in &ctx.engines {
        let _ = write!(s, " ---: |");
    }
    s.push('\n');
    for w in &wls {
        let _ = write!(s, "| {w} |");
        for e in &ctx.engines {
            let _ = write!(s, " {} |", cell(find(lines, e, w)));
        }
        s.push('\n');
    }

    let _ = writeln!(s, "\n## Per workload\n");
    let _ = writeln!(
        s,
        "Latency is per operation (per batch for batched writes, per entry for readseq/readreverse). Device bytes are `write_bytes - cancelled_write_bytes` from `/proc/self/io` (gross: `write_bytes` alone, which also counts pages of files deleted before write-back, e.g. a WAL dropped right after its flush) and include the untimed flush and settling after a write workload; WA = device bytes / user bytes; SA = directory size / (live keys x (key + value)); RSS is the peak during the workload.\n"
    );
    for w in &wls {
        let _ = writeln!(s, "### {w}\n");
        let _ = writeln!(
            s,
            "| engine | ops/s | x base | p50 | p99 | p99.9 | max | device MiB | gross MiB | WA | dir MiB | SA | peak RSS MiB | found | note |"
        );
        let _ = writeln!(
            s,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        );
        for e in &ctx.engines {
            let Some(r) = find(lines, e, w) else {
                continue;
            };
            let note = match &r.error {
                Some(err) => format!("ERROR: {err}"),
                None => r.note.clone(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.engine,
                human_rate(r.ops_per_sec),
                opt2(r.ratio),
                human_ns(r.latency.p50_ns),
                human_ns(r.latency.p99_ns),
                human_ns(r.latency.p999_ns),
                human_ns(r.latency.max_ns),
                r.device_bytes.map(mib).unwrap_or_else(|| "-".into()),
                r.gross_write_bytes.map(mib).unwrap_or_else(|| "-".into()),
                opt2(r.write_amp),
                mib(r.dir_bytes),
                opt2(r.space_amp),
                r.peak_rss_kib
                    .map(|k| format!("{:.0}", k as f64 / 1024.0))
                    .unwrap_or_else(|| "-".into()),
                r.found,
                note.replace('|', "/")
            );
        }
        s.push('\n');
    }

    let failures: Vec<String> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Failure(f) => Some(format!("- {}: {}", f.engine, f.message)),
            Line::Result(r) => r
                .error
                .as_ref()
                .map(|e| format!("- {} {}: {e}", r.engine, r.workload)),
            _ => None,
        })
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(s, "## Failures\n\n{}\n", failures.join("\n"));
    }
    if ctx.plots {
        let _ = writeln!(s, "## Plots\n");
        let _ = writeln!(s, "![throughput per workload](throughput.svg)\n");
        let _ = writeln!(s, "![latency CDF](latency_cdf.svg)\n");
        let _ = writeln!(s, "![write amplification over data size](write_amp.svg)");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanize() {
        assert_eq!(human_rate(1_234_567.0), "1.23M");
        assert_eq!(human_rate(45_600.0), "45.6K");
        assert_eq!(human_rate(789.0), "789");
        assert_eq!(human_ns(999), "999 ns");
        assert_eq!(human_ns(1_500), "1.5 µs");
        assert_eq!(human_ns(2_500_000), "2.50 ms");
        assert_eq!(human_ns(3_000_000_000), "3.00 s");
        assert!(machine().contains("cores"));
    }
}
