//! The project's own sqllogictest files (`tests/slt/*.slt`, golden style): every record must
//! pass.

mod common;

use std::path::Path;

#[test]
fn own_slt_files() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/slt"));
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut failed = 0;
    for f in &files {
        let rep = common::slt::run_file(f, 0, 50, true);
        println!(
            "{:30} {:4} passed {:3} failed",
            f.file_name().unwrap().to_string_lossy(),
            rep.passed,
            rep.failed
        );
        for why in &rep.failures {
            println!("    FAIL {why}");
        }
        assert!(rep.passed > 0, "{}: no records ran", f.display());
        failed += rep.failed;
    }
    assert_eq!(failed, 0, "own .slt records failed (see above)");
}
