//! Smoke test (CI): every workload on both Strata engines at a tiny size produces sane results,
//! parseable JSON lines, the Markdown report and the plots.

use std::path::Path;
use std::process::Command;

use benches::result::{Line, WorkloadResult};

fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_strata-bench"))
}

fn read_lines(out: &Path) -> Vec<Line> {
    let text = std::fs::read_to_string(out.join("results.jsonl")).expect("results.jsonl");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

#[test]
fn every_workload_on_both_strata_engines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let status = bench()
        .args(["--num", "2000", "--workloads", "all", "--threads", "2"])
        .args(["--engines", "strata-lsm,strata-btree", "--settle-secs", "0"])
        .arg("--out")
        .arg(&out)
        .status()
        .expect("run strata-bench");
    assert!(status.success(), "strata-bench failed: {status}");

    let lines = read_lines(&out);
    let engines: Vec<&str> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Engine(i) => Some(i.name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(engines, ["strata-lsm", "strata-btree"]);
    assert!(
        !lines.iter().any(|l| matches!(l, Line::Failure(_))),
        "no engine may fail"
    );
    let results: Vec<&WorkloadResult> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Result(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 2 * 22, "22 workloads per engine");
    for r in &results {
        let what = format!("{} {}", r.engine, r.workload);
        assert!(r.error.is_none(), "{what}: {:?}", r.error);
        assert!(r.ops > 0 && r.ops_per_sec > 0.0, "{what}: no operations");
        assert!(
            r.latency.p50_ns > 0 && r.latency.p50_ns <= r.latency.p99_ns,
            "{what}"
        );
        assert!(r.latency.p99_ns <= r.latency.p999_ns, "{what}");
        assert!(r.dir_bytes > 0, "{what}: empty directory");
        if r.engine == "strata-lsm" {
            assert!(
                r.ratio.is_some_and(|x| (x - 1.0).abs() < 1e-9),
                "{what}: baseline ratio"
            );
        } else {
            assert!(r.ratio.is_some_and(|x| x > 0.0), "{what}: ratio");
        }
        match r.workload.as_str() {
            "fillseq" | "fillrandom" => {
                assert_eq!(r.ops, 2000, "{what}");
                assert_eq!(r.logical_bytes, 2000 * 116, "{what}");
                assert!(r.write_amp.is_some(), "{what}: write amplification");
            }
            "readrandom" => assert_eq!(r.found, r.ops, "{what}: every key is present"),
            "readmissing" => assert_eq!(r.found, 0, "{what}: no key is present"),
            "readseq" | "readreverse" => assert_eq!(r.ops, 2 * 2000, "{what}: two full scans"),
            _ => {}
        }
    }
    let report = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(report.contains("## Throughput"));
    assert!(report.contains("ycsb-e-uniform"));
    for svg in ["throughput.svg", "latency_cdf.svg", "write_amp.svg"] {
        let text = std::fs::read_to_string(out.join(svg)).expect(svg);
        assert!(
            text.starts_with("<svg") && text.contains("strata-lsm"),
            "{svg}"
        );
    }
    // The databases are removed after the run.
    assert!(!out.join("db").join("strata-lsm").exists());
}

#[test]
fn bad_engine_names_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = bench()
        .args(["--num", "10", "--engines", "nosuch"])
        .arg("--out")
        .arg(dir.path())
        .output()
        .expect("run strata-bench");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown engine"));
    if !cfg!(feature = "peers") {
        let out = bench()
            .args(["--num", "10", "--engines", "rocksdb"])
            .arg("--out")
            .arg(dir.path())
            .output()
            .expect("run strata-bench");
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("--features peers"));
    }
}
