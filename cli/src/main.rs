//! `strata`: the command-line tool. Subcommands so far: `strata bench ...` (the benchmark
//! suite, same options as `strata-bench`).

use std::ffi::OsString;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "bench") {
        // The bench driver re-executes this binary as `strata bench ... --single ENGINE`.
        let rest = args.iter().skip(2).cloned();
        let argv = std::iter::once(OsString::from("strata bench")).chain(rest);
        return benches::main_with_args(argv.collect(), &["bench"]);
    }
    eprintln!("usage: strata bench [OPTIONS]   (strata bench --help for the options)");
    ExitCode::FAILURE
}
