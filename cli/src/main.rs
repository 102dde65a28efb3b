//! `strata`: the command-line tool.
//!
//! * `strata [DIR]` — opens (or creates) the SQL database in `DIR` (default `./strata-data`)
//!   and runs an interactive SQL shell; reads a script from stdin when it is not a terminal.
//! * `strata DIR -c "SQL"` — runs SQL and exits.
//! * `strata bench ...` — the benchmark suite (same options as `strata-bench`).

mod shell;

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
    let mut rest = Vec::new();
    for a in args.iter().skip(1) {
        match a.to_str() {
            Some(s) => rest.push(s.to_string()),
            None => {
                eprintln!("strata: arguments must be UTF-8");
                return ExitCode::from(2);
            }
        }
    }
    shell::main(&rest)
}
