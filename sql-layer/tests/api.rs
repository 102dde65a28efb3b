//! The public API: parameters, typed row access, errors, persistence across reopen, and
//! concurrent connections.

use sql_layer::{params, Database, Error, Outcome, Value};

#[test]
fn parameters_are_values_not_sql() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let mut c = db.connect();
    c.execute(
        "CREATE TABLE users (id SERIAL PRIMARY KEY, name TEXT, age INT)",
        &[],
    )
    .unwrap();
    let evil = "x'); DROP TABLE users; --";
    c.execute(
        "INSERT INTO users (name, age) VALUES ($1, $2)",
        &params![evil, 30],
    )
    .unwrap();
    let r = c
        .query(
            "SELECT id, name, age FROM users WHERE name = $1",
            &params![evil],
        )
        .unwrap();
    assert_eq!(r.len(), 1);
    let row = r.get(0).unwrap();
    assert_eq!(row.get::<i64>("id").unwrap(), 1);
    assert_eq!(row.get::<String>("name").unwrap(), evil);
    assert_eq!(row.get::<i32>(2).unwrap(), 30);
    assert_eq!(row.get::<Option<i64>>("age").unwrap(), Some(30));
    assert!(row.get::<String>("nope").is_err());
    // Text parameters convert to the column's type; NULL parameters work.
    c.execute(
        "INSERT INTO users (name, age) VALUES ($1, $2)",
        &[Value::from("bob"), Value::Null],
    )
    .unwrap();
    c.execute(
        "UPDATE users SET age = $1 WHERE name = $2",
        &params!["41", "bob"],
    )
    .unwrap();
    let r = c
        .query("SELECT age FROM users WHERE name = 'bob'", &[])
        .unwrap();
    assert_eq!(r.get(0).unwrap().get::<i64>(0).unwrap(), 41);
    let e = c.query("SELECT $2::int", &params![1]).unwrap_err();
    assert_eq!(e.sqlstate(), "42P02");
}

#[test]
fn errors_carry_sqlstates_and_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let mut c = db.connect();
    c.execute(
        "CREATE TABLE t (a INT PRIMARY KEY, b VARCHAR(3) NOT NULL)",
        &[],
    )
    .unwrap();
    let cases: &[(&str, &str)] = &[
        ("SELEC 1", "42601"),
        ("SELECT * FROM missing", "42P01"),
        ("SELECT zz FROM t", "42703"),
        ("INSERT INTO t VALUES (1, 'toolong')", "22001"),
        ("INSERT INTO t VALUES (1, NULL)", "23502"),
        ("INSERT INTO t VALUES (99999999999, 'x')", "22003"),
        ("SELECT 1/0", "22012"),
        ("INSERT INTO t VALUES ('x', 'y')", "22P02"),
        ("SELECT lower(1, 2)", "42883"),
        ("CREATE TABLE x (a INT[])", "0A000"),
        ("INSERT INTO t (a) VALUES (1, 2)", "42601"),
    ];
    for (sql, code) in cases {
        match c.run(sql) {
            Err(e) => assert_eq!(e.sqlstate(), *code, "{sql}: {e}"),
            Ok(o) => panic!("{sql} succeeded: {o:?}"),
        }
    }
    // Odd but valid or invalid inputs: none may panic.
    for sql in [
        "",
        ";;",
        "SELECT",
        "SELECT ((((1))))",
        "SELECT 'a' LIKE 'a\\'",
        "SELECT -(-9223372036854775807 - 1)",
        "SELECT CAST('2024-13-01' AS DATE)",
        "SELECT 1 LIMIT -1",
        "SELECT repeat('x', 100000000000)",
    ] {
        let _ = c.run(sql);
    }
}

#[test]
fn catalog_and_data_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path()).unwrap();
        let mut c = db.connect();
        c.run("CREATE TABLE p (id INT PRIMARY KEY, n TEXT UNIQUE); CREATE TABLE q (id SERIAL PRIMARY KEY, pid INT REFERENCES p ON DELETE CASCADE); CREATE INDEX q_pid ON q (pid); CREATE VIEW v AS SELECT n FROM p; INSERT INTO p VALUES (1, 'a'), (2, 'b'); INSERT INTO q (pid) VALUES (1), (1), (2);").unwrap();
        db.close().unwrap();
    }
    let db = Database::open(dir.path()).unwrap();
    let mut c = db.connect();
    assert_eq!(db.table_names(), ["p", "q"]);
    assert_eq!(
        c.query("SELECT count(*) FROM v", &[])
            .unwrap()
            .get(0)
            .unwrap()
            .get::<i64>(0)
            .unwrap(),
        2
    );
    // The sequence continues after its cached range; the unique index and FK still work.
    c.execute("INSERT INTO q (pid) VALUES (2)", &[]).unwrap();
    let ids: Vec<i64> = c
        .query("SELECT id FROM q ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    assert_eq!(ids.len(), 4);
    assert!(ids[3] > ids[2], "{ids:?}");
    assert_eq!(
        c.run("INSERT INTO p VALUES (3, 'a')")
            .unwrap_err()
            .sqlstate(),
        "23505"
    );
    assert_eq!(
        c.run("INSERT INTO q (pid) VALUES (7)")
            .unwrap_err()
            .sqlstate(),
        "23503"
    );
    c.execute("DELETE FROM p WHERE id = 1", &[]).unwrap();
    assert_eq!(
        c.query("SELECT count(*) FROM q", &[])
            .unwrap()
            .get(0)
            .unwrap()
            .get::<i64>(0)
            .unwrap(),
        2
    );
    assert!(c
        .explain("SELECT * FROM q WHERE pid = 2")
        .unwrap()
        .contains("Index Scan using q_pid"));
}

#[test]
fn concurrent_increments_do_not_lose_updates() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    db.connect()
        .run("CREATE TABLE c (id INT PRIMARY KEY, n INT); INSERT INTO c VALUES (1, 0);")
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut c = db.connect();
                for _ in 0..25 {
                    c.execute("UPDATE c SET n = n + 1 WHERE id = 1", &[])
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut c = db.connect();
    assert_eq!(
        c.query("SELECT n FROM c", &[])
            .unwrap()
            .get(0)
            .unwrap()
            .get::<i64>(0)
            .unwrap(),
        100
    );
    // Same under snapshot isolation: autocommit statements retry their serialization failures.
    c.execute("UPDATE c SET n = 0", &[]).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut c = db.connect();
                c.set_default_isolation(sql_layer::Isolation::RepeatableRead);
                for _ in 0..25 {
                    c.execute("UPDATE c SET n = n + 1 WHERE id = 1", &[])
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        c.query("SELECT n FROM c", &[])
            .unwrap()
            .get(0)
            .unwrap()
            .get::<i64>(0)
            .unwrap(),
        100
    );
}

#[test]
fn outcomes_and_tags() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let mut c = db.connect();
    let out = c.run("CREATE TABLE t (a INT); INSERT INTO t VALUES (1), (2); UPDATE t SET a = 3; SELECT a FROM t").unwrap();
    let tags: Vec<String> = out
        .iter()
        .map(|o| match o {
            Outcome::Command { tag, .. } => tag.clone(),
            Outcome::Rows(r) => format!("{} rows", r.len()),
        })
        .collect();
    assert_eq!(tags, ["CREATE TABLE", "INSERT 0 2", "UPDATE 2", "2 rows"]);
    assert!(matches!(
        c.query("CREATE TABLE u (a INT)", &[]),
        Err(Error::InvalidStatement(_))
    ));
}
