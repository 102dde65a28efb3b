//! The interactive SQL shell: `strata [DIR]` (line editing and history when stdin is a
//! terminal, a script otherwise) and `strata DIR -c "SQL"`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;
use sql_layer::{Connection, Database, Outcome, Rows, Value};

const HELP: &str = "\
Enter SQL statements terminated by a semicolon. Meta-commands:
  .tables              list tables and views
  .schema [NAME]       show CREATE statements (of one table or view)
  .explain SQL         show the plan of a statement
  .stats               engine and transaction counters
  .timing on|off       print how long each statement took
  .help                this text
  .quit / .exit        leave (Ctrl-D works too)
";

struct Shell {
    db: Database,
    conn: Connection,
    timing: bool,
    errors: usize,
}

/// True when `buf` holds complete statements: it ends with `;` outside quotes and comments.
pub fn complete(buf: &str) -> bool {
    let mut in_single = false;
    let mut in_double = false;
    let mut last_significant = None;
    let mut chars = buf.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if !in_double => in_single = !in_single,
            '"' if !in_single => in_double = !in_double,
            '-' if !in_single && !in_double && chars.peek() == Some(&'-') => {
                // A line comment: skip to the end of the line.
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
                continue;
            }
            _ => {}
        }
        if !c.is_whitespace() {
            last_significant = Some((c, in_single || in_double));
        }
    }
    matches!(last_significant, Some((';', false))) && !in_single && !in_double
}

fn format_value(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Renders rows as an aligned table in the style of psql.
pub fn render(rows: &Rows) -> String {
    let cols = rows.columns();
    let cells: Vec<Vec<String>> = rows
        .values()
        .iter()
        .map(|r| r.iter().map(format_value).collect())
        .collect();
    let mut widths: Vec<usize> = cols.iter().map(|c| c.name.chars().count()).collect();
    for r in &cells {
        for (i, c) in r.iter().enumerate() {
            for line in c.lines() {
                widths[i] = widths[i].max(line.chars().count());
            }
        }
    }
    let numeric: Vec<bool> = cols.iter().map(|c| c.ty.is_numeric()).collect();
    let mut out = String::new();
    let header: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| center(&c.name, widths[i]))
        .collect();
    out.push(' ');
    out.push_str(header.join(" | ").trim_end());
    out.push('\n');
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
    out.push_str(&rule.join("+"));
    out.push('\n');
    for r in &cells {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let c = c.replace('\n', "\\n");
                let pad = widths[i].saturating_sub(c.chars().count());
                if numeric[i] {
                    format!("{}{c}", " ".repeat(pad))
                } else {
                    format!("{c}{}", " ".repeat(pad))
                }
            })
            .collect();
        out.push(' ');
        out.push_str(line.join(" | ").trim_end());
        out.push('\n');
    }
    let n = rows.len();
    out.push_str(&format!("({n} row{})\n", if n == 1 { "" } else { "s" }));
    out
}

fn center(s: &str, w: usize) -> String {
    let len = s.chars().count();
    let left = w.saturating_sub(len) / 2;
    format!(
        "{}{s}{}",
        " ".repeat(left),
        " ".repeat(w.saturating_sub(len) - left)
    )
}

impl Shell {
    fn run_sql(&mut self, sql: &str, out: &mut impl Write) {
        let start = Instant::now();
        // Statements run one at a time so each prints its result and an error stops only
        // the statement it belongs to.
        let stmts = match split_statements(sql) {
            Ok(s) => s,
            Err(e) => {
                self.report(&e);
                return;
            }
        };
        for s in stmts {
            match self.conn.run(&s) {
                Ok(outcomes) => {
                    for o in outcomes {
                        let _ = match o {
                            Outcome::Rows(r) => write!(out, "{}", render(&r)),
                            Outcome::Command { tag, .. } => writeln!(out, "{tag}"),
                        };
                    }
                }
                Err(e) => self.report(&e),
            }
        }
        if self.timing {
            let _ = writeln!(out, "Time: {:.3} ms", start.elapsed().as_secs_f64() * 1e3);
        }
    }

    fn report(&mut self, e: &sql_layer::Error) {
        self.errors += 1;
        eprintln!("ERROR:  {e} (SQLSTATE {})", e.sqlstate());
    }

    /// Handles a meta-command; returns false to quit.
    fn meta(&mut self, line: &str, out: &mut impl Write) -> bool {
        let mut parts = line.trim().splitn(2, char::is_whitespace);
        let cmd = parts.next().unwrap_or("");
        let arg = parts
            .next()
            .unwrap_or("")
            .trim()
            .trim_end_matches(';')
            .trim();
        match cmd {
            ".quit" | ".exit" | ".q" => return false,
            ".help" | ".h" => {
                let _ = write!(out, "{HELP}");
            }
            ".tables" => {
                for t in self.db.table_names() {
                    let _ = writeln!(out, "{t}");
                }
                for v in self.db.view_names() {
                    let _ = writeln!(out, "{v} (view)");
                }
            }
            ".schema" => {
                let only = (!arg.is_empty()).then_some(arg);
                let s = self.db.schema_sql(only);
                if s.is_empty() && only.is_some() {
                    eprintln!("ERROR:  no table or view named {arg}");
                    self.errors += 1;
                }
                for stmt in s {
                    let _ = writeln!(out, "{stmt}");
                }
            }
            ".explain" => match self.conn.explain(arg) {
                Ok(p) => {
                    let _ = write!(out, "{p}");
                }
                Err(e) => self.report(&e),
            },
            ".stats" => {
                let s = self.db.kv().stats();
                let _ = writeln!(out, "engine:             {}", s.engine.name());
                let _ = writeln!(out, "commits:            {}", s.commits);
                let _ = writeln!(out, "rollbacks:          {}", s.rollbacks);
                let _ = writeln!(out, "conflicts:          {}", s.conflicts);
                let _ = writeln!(out, "deadlocks:          {}", s.deadlocks);
                let _ = writeln!(out, "lock timeouts:      {}", s.lock_timeouts);
                let _ = writeln!(out, "live transactions:  {}", s.live_transactions);
                let _ = writeln!(out, "locked keys:        {}", s.locked_keys);
                let _ = writeln!(out, "tables:             {}", self.db.table_names().len());
                let _ = writeln!(out, "{:#?}", s.store);
            }
            ".timing" => match arg {
                "on" => self.timing = true,
                "off" => self.timing = false,
                "" => self.timing = !self.timing,
                _ => eprintln!("usage: .timing on|off"),
            },
            other => {
                eprintln!("ERROR:  unknown command {other} (try .help)");
                self.errors += 1;
            }
        }
        true
    }

    /// Feeds one input line; returns false when the shell should stop.
    fn line(&mut self, buf: &mut String, line: &str, out: &mut impl Write) -> bool {
        if buf.trim().is_empty() && line.trim_start().starts_with('.') {
            return self.meta(line, out);
        }
        buf.push_str(line);
        buf.push('\n');
        if complete(buf) {
            let sql = std::mem::take(buf);
            self.run_sql(&sql, out);
        }
        true
    }
}

/// Splits a script into statements (on `;` outside quotes and comments).
fn split_statements(sql: &str) -> Result<Vec<String>, sql_layer::Error> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut sq, mut dq) = (false, false);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if !dq => sq = !sq,
            '"' if !sq => dq = !dq,
            '-' if !sq && !dq && chars.peek() == Some(&'-') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
                cur.push('\n');
                continue;
            }
            ';' if !sq && !dq => {
                if !cur.trim().is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    Ok(out)
}

fn history_path(dir: &Path) -> PathBuf {
    dir.join(".strata_history")
}

/// Entry point for `strata [DIR] [-c SQL]`.
pub fn main(args: &[String]) -> ExitCode {
    let mut dir: Option<String> = None;
    let mut command: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-c" | "--command" => match it.next() {
                Some(c) => command = Some(c.clone()),
                None => {
                    eprintln!("strata: -c needs an SQL argument");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("usage: strata [DIR] [-c SQL]\n       strata bench [OPTIONS]\n\nOpens (or creates) the database in DIR (default ./strata-data) and runs an SQL shell.\n\n{HELP}");
                return ExitCode::SUCCESS;
            }
            other if other.starts_with('-') => {
                eprintln!("strata: unknown option {other} (try --help)");
                return ExitCode::from(2);
            }
            other => {
                if dir.is_some() {
                    eprintln!("strata: more than one directory given");
                    return ExitCode::from(2);
                }
                dir = Some(other.to_string());
            }
        }
    }
    let dir = PathBuf::from(dir.unwrap_or_else(|| "strata-data".into()));
    let db = match Database::open(&dir) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("strata: cannot open {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    let conn = db.connect();
    let mut shell = Shell {
        db: db.clone(),
        conn,
        timing: false,
        errors: 0,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Some(sql) = command {
        shell.run_sql(&sql, &mut out);
    } else if std::io::stdin().is_terminal() {
        shell.timing = true;
        let _ = out.flush();
        drop(out);
        interactive(&mut shell, &dir);
    } else {
        let mut buf = String::new();
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if !shell.line(&mut buf, &line, &mut out) {
                break;
            }
        }
        if !buf.trim().is_empty() {
            shell.run_sql(&buf, &mut out);
        }
    }
    let failed = shell.errors > 0;
    drop(shell);
    if let Err(e) = db.close() {
        eprintln!("strata: closing: {e}");
        return ExitCode::FAILURE;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn interactive(shell: &mut Shell, dir: &Path) {
    let mut rl = match DefaultEditor::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("strata: no line editor: {e}");
            return;
        }
    };
    let hist = history_path(dir);
    let _ = rl.load_history(&hist);
    println!(
        "strata {} — SQL shell on {}. Type .help for help, .quit to leave.",
        env!("CARGO_PKG_VERSION"),
        dir.display()
    );
    let mut buf = String::new();
    loop {
        let prompt = if !buf.trim().is_empty() {
            "   ...> "
        } else if shell.conn.transaction_failed() {
            "strata!> "
        } else if shell.conn.in_transaction() {
            "strata*> "
        } else {
            "strata> "
        };
        match rl.readline(prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = rl.add_history_entry(line.as_str());
                }
                let stdout = std::io::stdout();
                let mut out = stdout.lock();
                if !shell.line(&mut buf, &line, &mut out) {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => {
                buf.clear();
                println!("^C");
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("strata: {e}");
                break;
            }
        }
    }
    let _ = rl.save_history(&hist);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_completion() {
        assert!(complete("select 1;"));
        assert!(!complete("select 1"));
        assert!(!complete("select ';"));
        assert!(complete("select ';';  "));
        assert!(complete("select 1; -- done"));
        assert!(complete("select 1 -- x;\n;"));
    }

    #[test]
    fn splitting() {
        let v = split_statements("select 1; select ';'; -- c;\n select 2").unwrap();
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn renders_aligned_tables() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        let mut c = db.connect();
        let r = c
            .query(
                "SELECT 1 AS id, 'ada' AS name UNION ALL SELECT 22, NULL",
                &[],
            )
            .unwrap();
        assert_eq!(
            render(&r),
            " id | name\n----+------\n  1 | ada\n 22 |\n(2 rows)\n"
        );
    }
}
