//! `strata-bench`: see the `benches` library docs and `benches/RESULTS.md`.

fn main() -> std::process::ExitCode {
    benches::main_with_args(std::env::args_os().collect(), &[])
}
