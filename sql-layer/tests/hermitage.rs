//! Hermitage (github.com/ept/hermitage) isolation tests, after the PostgreSQL transcripts in
//! `../shared/corpora/hermitage/postgres.md`: interleaved two- and three-connection
//! transactions, each connection on its own thread so a statement can block on a row lock.
//!
//! For every level Strata claims, each test checks that the anomaly is prevented or — where
//! the level allows it — that the documented behaviour happens. Strata's optimistic levels
//! (REPEATABLE READ, SERIALIZABLE) never block: where PostgreSQL makes the second writer wait
//! and then fail, Strata lets it go on and fails its COMMIT with 40001.

use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::Duration;

use sql_layer::{Database, Error, Outcome};

type Reply = Result<Vec<Outcome>, Error>;

struct Client {
    jobs: Sender<(String, Sender<Reply>)>,
}

struct Pending(Receiver<Reply>);

impl Pending {
    fn wait(self) -> Reply {
        self.0
            .recv_timeout(Duration::from_secs(20))
            .expect("statement hung")
    }
    /// True if the statement is still running after a while (blocked on a lock).
    fn blocked(&self) -> bool {
        matches!(
            self.0.recv_timeout(Duration::from_millis(300)),
            Err(RecvTimeoutError::Timeout)
        )
    }
}

impl Client {
    fn new(db: &Database) -> Client {
        let (jobs, rx) = channel::<(String, Sender<Reply>)>();
        let mut conn = db.connect();
        thread::spawn(move || {
            for (sql, reply) in rx {
                let _ = reply.send(conn.run(&sql));
            }
        });
        Client { jobs }
    }
    fn start(&self, sql: &str) -> Pending {
        let (tx, rx) = channel();
        self.jobs
            .send((sql.to_string(), tx))
            .expect("client thread gone");
        Pending(rx)
    }
    fn run(&self, sql: &str) -> Reply {
        self.start(sql).wait()
    }
    fn ok(&self, sql: &str) {
        if let Err(e) = self.run(sql) {
            panic!("{sql}: {e}");
        }
    }
    fn rows(&self, sql: &str) -> Vec<(i64, i64)> {
        match self.run(sql) {
            Ok(mut out) => match out.pop() {
                Some(Outcome::Rows(r)) => {
                    let mut v: Vec<(i64, i64)> = r
                        .iter()
                        .map(|row| (row.get(0).unwrap(), row.get(1).unwrap()))
                        .collect();
                    v.sort();
                    v
                }
                other => panic!("{sql}: no rows: {other:?}"),
            },
            Err(e) => panic!("{sql}: {e}"),
        }
    }
    fn fails_with(&self, sql: &str, code: &str) {
        match self.run(sql) {
            Err(e) => assert_eq!(e.sqlstate(), code, "{sql}: {e}"),
            Ok(_) => panic!("{sql}: expected SQLSTATE {code}"),
        }
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    db: Database,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let mut c = db.connect();
    c.run("create table test (id int primary key, value int); insert into test (id, value) values (1, 10), (2, 20);").unwrap();
    Setup { _dir: dir, db }
}

fn begin(c: &Client, level: &str) {
    c.ok(&format!("begin; set transaction isolation level {level}"));
}

const RC: &str = "read committed";
const RR: &str = "repeatable read";
const SER: &str = "serializable";

// ---------------------------------------------------------------- G0: write cycles

#[test]
fn g0_read_committed_blocks_second_writer() {
    let s = setup();
    let (t1, t2) = (Client::new(&s.db), Client::new(&s.db));
    begin(&t1, RC);
    begin(&t2, RC);
    t1.ok("update test set value = 11 where id = 1");
    let p = t2.start("update test set value = 12 where id = 1");
    assert!(p.blocked(), "T2 must wait for T1's row lock");
    t1.ok("update test set value = 21 where id = 2");
    t1.ok("commit");
    p.wait().unwrap();
    assert_eq!(t1.rows("select * from test"), [(1, 11), (2, 21)]);
    t2.ok("update test set value = 22 where id = 2");
    t2.ok("commit");
    assert_eq!(t1.rows("select * from test"), [(1, 12), (2, 22)]);
}

fn g0_optimistic(level: &str) {
    let s = setup();
    let (t1, t2) = (Client::new(&s.db), Client::new(&s.db));
    begin(&t1, level);
    begin(&t2, level);
    t1.ok("update test set value = 11 where id = 1");
    t2.ok("update test set value = 12 where id = 1");
    t1.ok("update test set value = 21 where id = 2");
    t1.ok("commit");
    t2.ok("update test set value = 22 where id = 2");
    t2.fails_with("commit", "40001");
    assert_eq!(
        t1.rows("select * from test"),
        [(1, 11), (2, 21)],
        "no interleaving of the two writers"
    );
}

#[test]
fn g0_repeatable_read() {
    g0_optimistic(RR);
}

#[test]
fn g0_serializable() {
    g0_optimistic(SER);
}

// ---------------------------------------------------------------- G1a: aborted reads

fn g1a(level: &str) {
    let s = setup();
    let (t1, t2) = (Client::new(&s.db), Client::new(&s.db));
    begin(&t1, level);
    begin(&t2, level);
    t1.ok("update test set value = 101 where id = 1");
    assert_eq!(t2.rows("select * from test"), [(1, 10), (2, 20)]);
    t1.ok("abort");
    assert_eq!(t2.rows("select * from test"), [(1, 10), (2, 20)]);
    t2.ok("commit");
}

#[test]
fn g1a_all_levels() {
    for l in [RC, RR, SER] {
        g1a(l);
    }
}

// ---------------------------------------------------------------- G1b: intermediate reads

fn g1b(level: &str) {
    let s = setup();
    let (t1, t2) = (Client::new(&s.db), Client::new(&s.db));
    begin(&t1, level);
    begin(&t2, level);
    t1.ok("update test set value = 101 where id = 1");
    assert_eq!(t2.rows("select * from test"), [(1, 10), (2, 20)]);
    t1.ok("update test set value = 11 where id = 1");
    t1.ok("commit");
    let after = t2.rows("select * from test");
    // Never the intermediate 101: read committed sees the final 11, snapshots keep 10.
    let want = if level == RC {
        [(1, 11), (2, 20)]
    } else {
        [(1, 10), (2, 20)]
    };
    assert_eq!(after, want, "{level}");
    t2.ok("commit");
}

#[test]
fn g1b_all_levels() {
    for l in [RC, RR, SER] {
        g1b(l);
    }
}

// ---------------------------------------------------------------- G1c: circular information flow

fn g1c(level: &str) {
    let s = setup();
    let (t1, t2) = (Client::new(&s.db), Client::new(&s.db));
    begin(&t1, level);
    begin(&t2, level);
    t1.ok("update test set value = 11 where id = 1");
    t2.ok("update test set value = 22 where id = 2");
    assert_eq!(t1.rows("select * from test where id = 2"), [(2, 20)]);
    assert_eq!(t2.rows("select * from test where id = 1"), [(1, 10)]);
    t1.ok("commit");
    let r = t2.run("commit");
    // Serializable may refuse T2 (it read id 1, which T1 changed); that is not an anomaly.
    if level != SER {
        r.unwrap();
    }
}

#[test]
fn g1c_all_levels() {
    for l in [RC, RR, SER] {
        g1c(l);
    }
}

// ---------------------------------------------------------------- OTV: observed transaction vanishes

#[test]
fn otv_read_committed() {
    let s = setup();
    let (t1, t2, t3) = (Client::new(&s.db), Client::new(&s.db), Client::new(&s.db));
    begin(&t1, RC);
    begin(&t2, RC);
    begin(&t3, RC);
    t1.ok("update test set value = 11 where id = 1");
    t1.ok("update test set value = 19 where id = 2");
    let p = t2.start("update test set value = 12 where id = 1");
    assert!(p.blocked());
    t1.ok("commit");
    p.wait().unwrap();
    assert_eq!(t3.rows("select * from test where id = 1"), [(1, 11)]);
    t2.ok("update test set value = 18 where id = 2");
    assert_eq!(t3.rows("select * from test where id = 2"), [(2, 19)]);
    t2.ok("commit");
    assert_eq!(t3.rows("select * from test where id = 2"), [(2, 18)]);
    assert_eq!(t3.rows("select * from test where id = 1"), [(1, 12)]);
    t3.ok("commit");
}

fn otv_optimistic(level: &str) {
    let s = setup();
    let (t1, t2, t3) = (Client::new(&s.db), Client::new(&s.db), Client::new(&s.db));
    begin(&t1, level);
    begin(&t2, level);
    begin(&t3, level);
    t1.ok("update test set value = 11 where id = 1");
    t1.ok("update test set value = 19 where id = 2");
    t2.ok("update test set value = 12 where id = 1");
    t1.ok("commit");
    assert_eq!(t3.rows("select * from test where id = 1"), [(1, 11)]);
    t2.ok("update test set value = 18 where id = 2");
    assert_eq!(t3.rows("select * from test where id = 2"), [(2, 19)]);
    t2.fails_with("commit", "40001");
    assert_eq!(t3.rows("select * from test where id = 2"), [(2, 19)]);
    assert_eq!(t3.rows("select * from test where id = 1"), [(1, 11)]);
    t3.ok("commit");
}

#[test]
fn otv_repeatable_read_and_serializable() {
    otv_optimistic(RR);
    otv_optimistic(SER);
}

// ---------------------------------------------------------------- PMP: predicate-many-preceders

#[test]
fn pmp_read_committed_allows() {
    let s = setup();
    let (t1, t2) = (Client::new(&s.db), Client::new(&s.db));
    begin(&t1, RC);
    begin(&t2, RC);
    assert_eq!(t1.rows("select * from test where value = 30"), []);
    t2.ok("insert into test (id, value) values(3, 30)");
    t2.ok("commit");
    assert_eq!(
        t1.rows("select * from test where value % 3 = 0"),
        [(3, 30)],
        "RC sees the new row"
    );
    t1.ok("commit");
}

fn pmp_prevented(level: &str) {
    let s = setup();
    let (t1, t2) = (Client::new(&s.db), Client::new(&s.db));
    begin(&t1, level);
    begin(&t2, level);
    assert_eq!(t1.rows("select * from test where value = 30"), []);
    t2.ok("insert into test (id, value) values(3, 30)");
    t2.ok("commit");
    assert_eq!(
        t1.rows("select * from test where value % 3 = 0"),
        [],
        "{level}"
    );
    t1.ok("commit");
}

#[test]
fn pmp_repeatable_read_and_serializable() {
    pmp_prevented(RR);
    pmp_prevented(SER);
}

#[test]
fn pmp_write_predicate_read_committed_allows() {
    let s = setup();
    let (t1, t2) = (Client::new(&s.db), Client::new(&s.db));
    begin(&t1, RC);
    begin(&t2, RC);
    t1.ok("update test set value = value + 10");
    let p = t2.start("delete from test where value = 20");
    assert!(p.blocked());
    t1.ok("commit");
    p.wait().unwrap();
    assert_eq!(
        t2.rows("select * from test where value = 20"),
        [(1, 20)],
        "re-checked rows: nothing deleted"
    );
    t2.ok("commit");
}

fn pmp_write_prevented(level: &str) {
    let s = setup();
    let (t1, t2) = (Client::new(&s.db), Client::new(&s.db));
    begin(&t1, level);
    begin(&t2, level);
    t1.ok("update test set value = value + 10");
    t2.ok("delete from test where value = 20");
    t1.ok("commit");
    t2.fails_with("commit", "40001");
    assert_eq!(t1.rows("select * from test"), [(1, 20), (2, 30)]);
}

#[test]
fn pmp_write_predicate_repeatable_read_and_serializable() {
    pmp_write_prevented(RR);
    pmp_write_prevented(SER);
}

// ---------------------------------------------------------------- P4: lost update

#[test]
fn p4_read_committed_allows() {
    let s = setup();
    let (t1, t2) = (Client::new(&s.db), Client::new(&s.db));
    begin(&t1, RC);
    begin(&t2, RC);
    t1.rows("select * from test where id = 1");
    t2.rows("select * from test where id = 1");
    t1.ok("update test set value = 11 where id = 1");
    let p = t2.start("update test set value = 11 where id = 1");
    assert!(p.blocked());
    t1.ok("commit");
    p.wait().unwrap();
    t2.ok("commit");
}

fn p4_prevented(level: &str) {
    let s = setup();
    let (t1, t2) = (Client::new(&s.db), Client::new(&s.db));
    begin(&t1, level);
    begin(&t2, level);
    t1.rows("select * from test where id = 1");
    t2.rows("select * from test where id = 1");
    t1.ok("update test set value = 11 where id = 1");
    t2.ok("update test set value = 11 where id = 1");
    t1.ok("commit");
    t2.fails_with("commit", "40001");
}

#[test]
fn p4_repeatable_read_and_serializable() {
    p4_prevented(RR);
    p4_prevented(SER);
}

#[test]
fn p4_read_committed_prevented_with_for_update() {
    // The read-committed remedy: lock the row when reading it.
    let s = setup();
    let (t1, t2) = (Client::new(&s.db), Client::new(&s.db));
    begin(&t1, RC);
    begin(&t2, RC);
    assert_eq!(
        t1.rows("select * from test where id = 1 for update"),
        [(1, 10)]
    );
    let p = t2.start("select * from test where id = 1 for update");
    assert!(p.blocked());
    t1.ok("update test set value = 11 where id = 1");
    t1.ok("commit");
    match p.wait().unwrap().pop() {
        Some(Outcome::Rows(r)) => assert_eq!(
            r.get(0).unwrap().get::<i64>(1).unwrap(),
            11,
            "sees T1's value after the lock"
        ),
        other => panic!("{other:?}"),
    }
    t2.ok("commit");
}

// ---------------------------------------------------------------- G-single: read skew

#[test]
fn g_single_read_committed_allows() {
    let s = setup();
    let (t1, t2) = (Client::new(&s.db), Client::new(&s.db));
    begin(&t1, RC);
    begin(&t2, RC);
    assert_eq!(t1.rows("select * from test where id = 1"), [(1, 10)]);
    t2.rows("select * from test where id = 1");
    t2.rows("select * from test where id = 2");
    t2.ok("update test set value = 12 where id = 1");
    t2.ok("update test set value = 18 where id = 2");
    t2.ok("commit");
    assert_eq!(
        t1.rows("select * from test where id = 2"),
        [(2, 18)],
        "read skew under RC"
    );
    t1.ok("commit");
}

fn g_single_prevented(level: &str) {
    let s = setup();
    let (t1, t2) = (Client::new(&s.db), Client::new(&s.db));
    begin(&t1, level);
    begin(&t2, level);
    assert_eq!(t1.rows("select * from test where id = 1"), [(1, 10)]);
    t2.rows("select * from test where id = 1");
    t2.rows("select * from test where id = 2");
    t2.ok("update test set value = 12 where id = 1");
    t2.ok("update test set value = 18 where id = 2");
    t2.ok("commit");
    assert_eq!(t1.rows("select * from test where id = 2"), [(2, 20)]);
    t1.ok("commit");
}

fn g_single_predicate(level: &str) {
    let s = setup();
    let (t1, t2) = (Client::new(&s.db), Client::new(&s.db));
    begin(&t1, level);
    begin(&t2, level);
    assert_eq!(
        t1.rows("select * from test where value % 5 = 0"),
        [(1, 10), (2, 20)]
    );
    t2.ok("update test set value = 12 where value = 10");
    t2.ok("commit");
    assert_eq!(t1.rows("select * from test where value % 3 = 0"), []);
    t1.ok("commit");
}

fn g_single_write_predicate(level: &str) {
    let s = setup();
    let (t1, t2) = (Client::new(&s.db), Client::new(&s.db));
    begin(&t1, level);
    begin(&t2, level);
    assert_eq!(t1.rows("select * from test where id = 1"), [(1, 10)]);
    t2.rows("select * from test");
    t2.ok("update test set value = 12 where id = 1");
    t2.ok("update test set value = 18 where id = 2");
    t2.ok("commit");
    t1.ok("delete from test where value = 20");
    t1.fails_with("commit", "40001");
    assert_eq!(t2.rows("select * from test"), [(1, 12), (2, 18)]);
}

#[test]
fn g_single_repeatable_read_and_serializable() {
    for l in [RR, SER] {
        g_single_prevented(l);
        g_single_predicate(l);
        g_single_write_predicate(l);
    }
}

// ---------------------------------------------------------------- G2-item: write skew

fn g2_item(level: &str) -> Result<(), Error> {
    let s = setup();
    let (t1, t2) = (Client::new(&s.db), Client::new(&s.db));
    begin(&t1, level);
    begin(&t2, level);
    t1.rows("select * from test where id in (1,2)");
    t2.rows("select * from test where id in (1,2)");
    t1.ok("update test set value = 11 where id = 1");
    t2.ok("update test set value = 21 where id = 2");
    t1.ok("commit");
    t2.run("commit").map(drop)
}

#[test]
fn g2_item_repeatable_read_allows_serializable_prevents() {
    assert!(
        g2_item(RR).is_ok(),
        "write skew is possible under snapshot isolation"
    );
    assert_eq!(g2_item(SER).unwrap_err().sqlstate(), "40001");
}

// ---------------------------------------------------------------- G2: anti-dependency cycles

fn g2(level: &str) -> (Result<(), Error>, Vec<(i64, i64)>) {
    let s = setup();
    let (t1, t2) = (Client::new(&s.db), Client::new(&s.db));
    begin(&t1, level);
    begin(&t2, level);
    t1.rows("select * from test where value % 3 = 0");
    t2.rows("select * from test where value % 3 = 0");
    t1.ok("insert into test (id, value) values(3, 30)");
    t2.ok("insert into test (id, value) values(4, 42)");
    t1.ok("commit");
    let r = t2.run("commit").map(drop);
    (r, t1.rows("select * from test where value % 3 = 0"))
}

#[test]
fn g2_repeatable_read_allows_serializable_prevents() {
    let (r, rows) = g2(RR);
    assert!(r.is_ok());
    assert_eq!(rows, [(3, 30), (4, 42)]);
    let (r, rows) = g2(SER);
    assert_eq!(r.unwrap_err().sqlstate(), "40001");
    assert_eq!(rows, [(3, 30)]);
}

#[test]
fn g2_fekete_serializable() {
    let s = setup();
    let (t1, t2, t3) = (Client::new(&s.db), Client::new(&s.db), Client::new(&s.db));
    begin(&t1, SER);
    assert_eq!(t1.rows("select * from test"), [(1, 10), (2, 20)]);
    begin(&t2, SER);
    t2.ok("update test set value = value + 5 where id = 2");
    t2.ok("commit");
    begin(&t3, SER);
    assert_eq!(t3.rows("select * from test"), [(1, 10), (2, 25)]);
    t3.ok("commit");
    t1.ok("update test set value = 0 where id = 1");
    t1.fails_with("commit", "40001");
}

// ---------------------------------------------------------------- locks: deadlock, SKIP LOCKED

#[test]
fn deadlock_is_40p01() {
    let s = setup();
    let (t1, t2) = (Client::new(&s.db), Client::new(&s.db));
    begin(&t1, RC);
    begin(&t2, RC);
    t1.ok("update test set value = 11 where id = 1");
    t2.ok("update test set value = 22 where id = 2");
    let p1 = t1.start("update test set value = 12 where id = 2");
    assert!(p1.blocked());
    let r2 = t2.run("update test set value = 21 where id = 1");
    let r1 = p1.wait();
    let codes: Vec<&str> = [&r1, &r2]
        .iter()
        .filter_map(|r| r.as_ref().err().map(Error::sqlstate))
        .collect();
    assert_eq!(codes, ["40P01"], "exactly one victim: {r1:?} / {r2:?}");
    t1.run("commit").ok();
    t2.run("commit").ok();
}

#[test]
fn skip_locked_hands_out_distinct_rows() {
    let s = setup();
    let (t1, t2, t3) = (Client::new(&s.db), Client::new(&s.db), Client::new(&s.db));
    begin(&t1, RC);
    begin(&t2, RC);
    begin(&t3, RC);
    let q = "select id, value from test order by id limit 1 for update skip locked";
    assert_eq!(t1.rows(q), [(1, 10)]);
    assert_eq!(t2.rows(q), [(2, 20)]);
    assert_eq!(t3.rows(q), [], "everything is taken");
    t1.ok("commit");
    assert_eq!(t3.rows(q), [(1, 10)]);
    t2.ok("commit");
    t3.ok("commit");
}

#[test]
fn nowait_fails_fast() {
    let s = setup();
    let (t1, t2) = (Client::new(&s.db), Client::new(&s.db));
    begin(&t1, RC);
    begin(&t2, RC);
    t1.rows("select * from test where id = 1 for update");
    t2.fails_with("select * from test where id = 1 for update nowait", "55P03");
    t1.ok("commit");
}
