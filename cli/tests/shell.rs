//! The `strata` binary driven as a person would: a piped script, `-c`, errors and exit codes,
//! and persistence across runs.

use std::io::Write;
use std::process::{Command, Stdio};

fn strata(dir: &std::path::Path, args: &[&str], stdin: &str) -> (String, String, bool) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run strata");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
        out.status.success(),
    )
}

#[test]
fn piped_script_then_command_on_the_same_directory() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let script = "CREATE TABLE t (id INT PRIMARY KEY, name TEXT);\n\
                  INSERT INTO t VALUES (1, 'ada'),\n  (2, 'grace');\n\
                  SELECT * FROM t ORDER BY id;\n.tables\n";
    let (out, err, ok) = strata(&db, &[], script);
    assert!(ok, "{err}");
    assert!(out.contains("CREATE TABLE\nINSERT 0 2\n id | name\n----+-------\n  1 | ada\n  2 | grace\n(2 rows)\nt\n"), "{out}");
    // A second process sees the data: the catalog and rows persisted.
    let (out, err, ok) = strata(&db, &["-c", "SELECT count(*) AS n FROM t"], "");
    assert!(ok, "{err}");
    assert_eq!(out, " n\n---\n 2\n(1 row)\n");
}

#[test]
fn errors_are_reported_with_sqlstate_and_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let (out, err, ok) = strata(
        &dir.path().join("db"),
        &[],
        "SELECT 1/0;\nSELECT 'still running' AS s;\nSELEKT;\n.bogus\n",
    );
    assert!(!ok);
    assert!(err.contains("division by zero (SQLSTATE 22012)"), "{err}");
    assert!(err.contains("SQLSTATE 42601"), "{err}");
    assert!(err.contains("unknown command .bogus"), "{err}");
    assert!(out.contains("still running"), "{out}");
}

#[test]
fn schema_explain_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let script = "CREATE TABLE p (id SERIAL PRIMARY KEY, v INT);\nCREATE INDEX p_v ON p (v);\n.schema p\n.explain SELECT * FROM p WHERE v = 3\n.help\n";
    let (out, err, ok) = strata(&dir.path().join("db"), &[], script);
    assert!(ok, "{err}");
    assert!(out.contains("CREATE INDEX p_v ON p (v);"), "{out}");
    assert!(out.contains("Index Scan using p_v on p"), "{out}");
    assert!(out.contains(".quit"), "{out}");
}
