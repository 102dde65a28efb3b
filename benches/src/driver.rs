//! The parent process: runs each engine in a child process of this same binary (hidden
//! `--single ENGINE`), collects their JSON lines, compares with the baseline, and writes the
//! terminal table, `results.jsonl`, `report.md` and the plots.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use clap::Parser;

use crate::args::Args;
use crate::engine;
use crate::report;
use crate::result::{Failure, Line, WorkloadResult};
use crate::runner::Runner;
use crate::workload::Workload;

/// Entry point shared by `strata-bench` and `strata bench`: `argv` is the full argument list
/// (program name first); `reexec_prefix` is what the binary needs before the benchmark's own
/// arguments to get back here (empty for `strata-bench`, `["bench"]` for `strata`).
pub fn main_with_args(argv: Vec<OsString>, reexec_prefix: &[&str]) -> std::process::ExitCode {
    let args = Args::parse_from(argv.iter().cloned());
    let outcome = match &args.single {
        Some(engine) => child(&args, engine),
        None => parent(&args, argv.get(1..).unwrap_or(&[]), reexec_prefix),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strata-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn emit(line: &Line) {
    let mut out = std::io::stdout().lock();
    if let Ok(s) = serde_json::to_string(line) {
        let _ = writeln!(out, "{s}");
        let _ = out.flush();
    }
}

/// Runs every workload on one engine, printing JSON lines.
fn child(args: &Args, engine: &str) -> Result<(), String> {
    let workloads = Workload::parse_list(&args.workloads)?;
    let mut runner = Runner::new(args, engine);
    match runner.open_fresh() {
        Ok(info) => emit(&Line::Engine(info)),
        Err(e) => {
            let message = format!("cannot open: {e}");
            emit(&Line::Failure(Failure {
                engine: engine.to_string(),
                message: message.clone(),
            }));
            runner.finish();
            return Err(message);
        }
    }
    for w in workloads {
        let r = runner.run(w);
        emit(&Line::Result(r));
    }
    runner.finish();
    Ok(())
}

/// Resolves `--engines` against what this build has.
fn resolve_engines(requested: &[String]) -> Result<Vec<String>, String> {
    let available = engine::available();
    let mut out: Vec<String> = Vec::new();
    let names: Vec<String> = if requested.is_empty() {
        available.iter().map(|s| s.to_string()).collect()
    } else {
        requested.iter().map(|s| s.trim().to_string()).collect()
    };
    for name in names {
        if name.is_empty() {
            continue;
        }
        let expanded: Vec<String> = if name == "all" {
            available.iter().map(|s| s.to_string()).collect()
        } else if available.contains(&name.as_str()) {
            vec![name]
        } else if engine::ALL_ENGINES.contains(&name.as_str()) {
            return Err(format!(
                "engine {name} is a peer engine and this binary was built without them: \
                 cargo build --release -p benches --features peers"
            ));
        } else {
            return Err(format!(
                "unknown engine {name:?} (known: {})",
                engine::ALL_ENGINES.join(", ")
            ));
        };
        for e in expanded {
            if !out.contains(&e) {
                out.push(e);
            }
        }
    }
    if out.is_empty() {
        return Err("no engines given".into());
    }
    Ok(out)
}

fn parent(args: &Args, passthrough: &[OsString], reexec_prefix: &[&str]) -> Result<(), String> {
    args.validate()?;
    Workload::parse_list(&args.workloads)?;
    let engines = resolve_engines(&args.engines)?;
    let baseline = match &args.baseline {
        Some(b) if engines.contains(b) => b.clone(),
        Some(b) => return Err(format!("--baseline {b} is not among the engines run")),
        None if engines.iter().any(|e| e == "rocksdb") => "rocksdb".to_string(),
        None => engines[0].clone(),
    };
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("creating {}: {e}", args.out.display()))?;
    let exe = std::env::current_exe().map_err(|e| format!("locating this binary: {e}"))?;
    let mut lines: Vec<Line> = Vec::new();
    for name in &engines {
        eprintln!("== {name}");
        let mut child = Command::new(&exe)
            .args(reexec_prefix)
            .args(passthrough)
            .args(["--single", name])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting the {name} run: {e}"))?;
        let mut saw_result = false;
        if let Some(out) = child.stdout.take() {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                match serde_json::from_str::<Line>(&line) {
                    Ok(l) => {
                        if let Line::Result(r) = &l {
                            saw_result = true;
                            eprintln!("{}", report::one_line(r));
                        }
                        lines.push(l);
                    }
                    Err(_) => eprintln!("[{name}] {line}"),
                }
            }
        }
        let status = child
            .wait()
            .map_err(|e| format!("waiting for the {name} run: {e}"))?;
        if !status.success() {
            let already = lines
                .iter()
                .any(|l| matches!(l, Line::Failure(f) if &f.engine == name));
            if !already {
                lines.push(Line::Failure(Failure {
                    engine: name.clone(),
                    message: format!(
                        "child process {status}{}",
                        if saw_result {
                            " after some workloads"
                        } else {
                            " before any result"
                        }
                    ),
                }));
            }
        }
    }
    // Each child removed its database; drop the (now empty) root too if we made it.
    let _ = std::fs::remove_dir(args.db_root());
    apply_ratios(&mut lines, &baseline);
    let mut jsonl = String::new();
    for l in &lines {
        if let Ok(s) = serde_json::to_string(l) {
            jsonl.push_str(&s);
            jsonl.push('\n');
        }
    }
    let write = |file: &str, text: &str| {
        let path = args.out.join(file);
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))
    };
    write("results.jsonl", &jsonl)?;
    let command = std::iter::once("strata-bench".to_string())
        .chain(passthrough.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    let ctx = report::Context {
        command,
        args: args.clone(),
        engines: engines.clone(),
        baseline: baseline.clone(),
        plots: !args.no_plots,
    };
    write("report.md", &report::markdown(&ctx, &lines))?;
    println!("{}", report::terminal_table(&ctx, &lines));
    if !args.no_plots {
        if let Err(e) = crate::plot::all(&args.out, &engines, &lines) {
            eprintln!("strata-bench: plots not written: {e}");
        }
    }
    eprintln!("results in {}", args.out.display());
    Ok(())
}

/// Sets each result's throughput ratio to the baseline's result of the same workload.
pub fn apply_ratios(lines: &mut [Line], baseline: &str) {
    let base: Vec<(String, f64)> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Result(r) if r.engine == baseline && r.error.is_none() => {
                Some((r.workload.clone(), r.ops_per_sec))
            }
            _ => None,
        })
        .collect();
    for l in lines.iter_mut() {
        if let Line::Result(r) = l {
            r.ratio = base
                .iter()
                .find(|(w, _)| *w == r.workload)
                .filter(|(_, b)| *b > 0.0)
                .map(|(_, b)| r.ops_per_sec / b);
        }
    }
}

/// The results among `lines`.
pub fn results(lines: &[Line]) -> impl Iterator<Item = &WorkloadResult> {
    lines.iter().filter_map(|l| match l {
        Line::Result(r) => Some(r),
        _ => None,
    })
}
