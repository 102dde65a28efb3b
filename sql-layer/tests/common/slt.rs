//! A sqllogictest runner for the SQL layer: SQLite's `.test` format (statement ok/error,
//! query with type letters and sort modes, hash-threshold, skipif/onlyif/halt), formatting
//! values the way SQLite's own harness does (`I` → `%d`, `R` → `%.3f`, `T` → text with
//! `(empty)` for '' and `@` for unprintable characters, `NULL`), with hash threshold 8 by
//! default. `statement error 23505` additionally checks the SQLSTATE.

#![allow(dead_code)]

use std::path::Path;
use std::time::Instant;

use md5::{Digest, Md5};
use sql_layer::{Connection, Database, OpenOptions, Outcome, Value};

/// Which engine label we answer to in `skipif` / `onlyif`.
pub const LABELS: &[&str] = &["sqlite", "strata"];

#[derive(Debug)]
enum Expect {
    Ok,
    Error(Option<String>),
    Query {
        types: String,
        sort: Sort,
        expected: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Sort {
    No,
    Row,
    Value,
}

#[derive(Debug)]
struct Record {
    line: usize,
    sql: String,
    expect: Expect,
}

/// Result of running one file.
#[derive(Debug, Default)]
pub struct FileReport {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub failures: Vec<String>,
    pub seconds: f64,
}

impl FileReport {
    pub fn total(&self) -> usize {
        self.passed + self.failed
    }
    pub fn rate(&self) -> f64 {
        if self.total() == 0 {
            100.0
        } else {
            100.0 * self.passed as f64 / self.total() as f64
        }
    }
}

enum Item {
    Record(Record),
    HashThreshold(usize),
    Halt,
    Skipped,
}

fn applies(conds: &[(bool, String)]) -> bool {
    conds.iter().all(|(only, label)| {
        let ours = LABELS.contains(&label.as_str());
        if *only {
            ours
        } else {
            !ours
        }
    })
}

fn parse(text: &str) -> Vec<(usize, Item)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut items = Vec::new();
    let mut i = 0;
    let mut conds: Vec<(bool, String)> = Vec::new();
    while i < lines.len() {
        let line = lines[i].trim_end();
        let start = i + 1;
        i += 1;
        let head = line.split('#').next().unwrap_or("").trim();
        if head.is_empty() {
            continue;
        }
        let words: Vec<&str> = head.split_whitespace().collect();
        match words[0] {
            "skipif" | "onlyif" => {
                conds.push((
                    words[0] == "onlyif",
                    words.get(1).unwrap_or(&"").to_string(),
                ));
                continue;
            }
            "halt" => {
                if applies(&conds) {
                    items.push((start, Item::Halt));
                    break;
                }
                conds.clear();
                continue;
            }
            "hash-threshold" => {
                items.push((
                    start,
                    Item::HashThreshold(words.get(1).and_then(|w| w.parse().ok()).unwrap_or(0)),
                ));
                conds.clear();
                continue;
            }
            "statement" | "query" => {}
            _ => {
                conds.clear();
                continue;
            }
        }
        // SQL lines until a blank line or `----`.
        let mut sql = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() && lines[i].trim() != "----" {
            sql.push(lines[i]);
            i += 1;
        }
        let sql = sql.join("\n");
        let expect = if words[0] == "statement" {
            match words.get(1).copied() {
                Some("ok") => Expect::Ok,
                _ => Expect::Error(words.get(2).map(|s| s.to_string())),
            }
        } else {
            let types = words.get(1).unwrap_or(&"").to_string();
            let sort = match words.get(2).copied() {
                Some("rowsort") => Sort::Row,
                Some("valuesort") => Sort::Value,
                _ => Sort::No,
            };
            let mut expected = Vec::new();
            if i < lines.len() && lines[i].trim() == "----" {
                i += 1;
                while i < lines.len() && !lines[i].trim().is_empty() {
                    expected.push(lines[i].trim_end().to_string());
                    i += 1;
                }
            }
            Expect::Query {
                types,
                sort,
                expected,
            }
        };
        let item = if applies(&conds) {
            Item::Record(Record {
                line: start,
                sql,
                expect,
            })
        } else {
            Item::Skipped
        };
        conds.clear();
        items.push((start, item));
    }
    items
}

fn int_prefix(s: &str) -> i64 {
    let t = s.trim_start();
    let mut end = 0;
    for (i, c) in t.char_indices() {
        if c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+')) {
            end = i + c.len_utf8();
        } else {
            break;
        }
    }
    t[..end].parse().unwrap_or(0)
}

fn format(v: &Value, ty: char) -> String {
    if v.is_null() {
        return "NULL".into();
    }
    match ty {
        'I' => match v {
            Value::Int(i) => i.to_string(),
            Value::Bool(b) => i64::from(*b).to_string(),
            Value::Text(s) => int_prefix(s).to_string(),
            other => match other.as_f64() {
                Some(f) => (f.trunc() as i64).to_string(),
                None => "0".into(),
            },
        },
        'R' => match v {
            Value::Text(s) => format!("{:.3}", s.trim().parse::<f64>().unwrap_or(0.0)),
            Value::Bool(b) => format!("{:.3}", f64::from(u8::from(*b))),
            other => format!("{:.3}", other.as_f64().unwrap_or(0.0)),
        },
        _ => {
            let s = v.to_string();
            if s.is_empty() {
                "(empty)".into()
            } else {
                s.chars()
                    .map(|c| if (' '..='~').contains(&c) { c } else { '@' })
                    .collect()
            }
        }
    }
}

fn check(
    rec: &Record,
    conn: &mut Connection,
    threshold: usize,
    lenient: bool,
) -> Result<(), String> {
    match &rec.expect {
        Expect::Ok => conn
            .run(&rec.sql)
            .map(drop)
            .map_err(|e| format!("statement failed: {e} [{}]", e.sqlstate())),
        Expect::Error(code) => match conn.run(&rec.sql) {
            Ok(_) => Err("statement succeeded but an error was expected".into()),
            Err(e) => match code {
                Some(c)
                    if c.len() == 5
                        && c.chars().all(|x| x.is_ascii_alphanumeric())
                        && c != e.sqlstate() =>
                {
                    Err(format!("expected SQLSTATE {c}, got {} ({e})", e.sqlstate()))
                }
                _ => Ok(()),
            },
        },
        Expect::Query {
            types,
            sort,
            expected,
        } => {
            let out = conn
                .run(&rec.sql)
                .map_err(|e| format!("query failed: {e} [{}]", e.sqlstate()))?;
            let rows = match out.into_iter().last() {
                Some(Outcome::Rows(r)) => r,
                _ => return Err("query returned no rows object".into()),
            };
            let mut tys: Vec<char> = types.chars().collect();
            // Own files may write one `T` for any number of columns.
            if lenient && tys == ['T'] {
                tys = vec!['T'; rows.columns().len()];
            }
            if !tys.is_empty() && rows.columns().len() != tys.len() {
                return Err(format!(
                    "expected {} columns, got {}",
                    tys.len(),
                    rows.columns().len()
                ));
            }
            let mut formatted: Vec<Vec<String>> = rows
                .values()
                .iter()
                .map(|r| {
                    r.iter()
                        .enumerate()
                        .map(|(i, v)| format(v, tys.get(i).copied().unwrap_or('T')))
                        .collect()
                })
                .collect();
            if *sort == Sort::Row {
                formatted.sort();
            }
            let row_lines: Vec<String> = formatted.iter().map(|r| r.join(" ")).collect();
            let mut values: Vec<String> = formatted.into_iter().flatten().collect();
            if *sort == Sort::Value {
                values.sort();
            }
            let hashed = expected.len() == 1 && expected[0].contains(" values hashing to ");
            if hashed || (threshold > 0 && values.len() > threshold) {
                let mut h = Md5::new();
                for v in &values {
                    h.update(v.as_bytes());
                    h.update(b"\n");
                }
                let digest: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
                let got = format!("{} values hashing to {digest}", values.len());
                let want = expected.join("\n");
                if got == want {
                    return Ok(());
                }
                if !hashed {
                    // The expectation lists the values though we would hash: compare them.
                    let exp: Vec<String> = expected
                        .iter()
                        .flat_map(|l| l.split_whitespace().map(str::to_string))
                        .collect();
                    if exp == values {
                        return Ok(());
                    }
                }
                return Err(format!("got {got}, expected {want}"));
            }
            // Expected values may be listed one per line or a row per line.
            let exp: Vec<String> = if expected.len() == values.len() {
                expected.clone()
            } else {
                expected
                    .iter()
                    .flat_map(|l| l.split_whitespace().map(str::to_string))
                    .collect()
            };
            if exp == values || (*sort != Sort::Value && *expected == row_lines) {
                return Ok(());
            }
            if matches!(sort, Sort::No) {
                values.truncate(40);
            }
            Err(format!(
                "got {values:?}, expected {:?}",
                exp.iter().take(40).collect::<Vec<_>>()
            ))
        }
    }
}

/// Runs one file against a fresh database. `default_threshold` is used until the file sets
/// its own.
pub fn run_file(
    path: &Path,
    default_threshold: usize,
    max_failures_listed: usize,
    lenient: bool,
) -> FileReport {
    let start = Instant::now();
    let mut rep = FileReport::default();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            rep.failed = 1;
            rep.failures.push(format!("cannot read: {e}"));
            return rep;
        }
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = OpenOptions {
        kv: kv_api::Options::new().sync_mode(kv_api::SyncMode::Never),
        ..OpenOptions::default()
    };
    let db = Database::open_with(dir.path(), opts).expect("open");
    let mut conn = db.connect();
    let mut threshold = default_threshold;
    for (_, item) in parse(&text) {
        match item {
            Item::Halt => break,
            Item::HashThreshold(n) => threshold = n,
            Item::Skipped => rep.skipped += 1,
            Item::Record(rec) => match check(&rec, &mut conn, threshold, lenient) {
                Ok(()) => rep.passed += 1,
                Err(why) => {
                    rep.failed += 1;
                    if rep.failures.len() < max_failures_listed {
                        let sql: String = rec.sql.chars().take(300).collect();
                        rep.failures.push(format!(
                            "line {}: {why}\n    SQL: {}",
                            rec.line,
                            sql.replace('\n', " ")
                        ));
                    }
                }
            },
        }
    }
    rep.seconds = start.elapsed().as_secs_f64();
    rep
}
