//! [`Connection`]: a session — statement dispatch, autocommit, transaction blocks,
//! savepoints, isolation levels and row locking (`SELECT ... FOR UPDATE`).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use kv_api::{IsolationLevel, Transaction, TransactionOptions};
use sqlparser::ast;

use crate::bind::{Binder, QueryPlan};
use crate::catalog::Catalog;
use crate::database::Shared;
use crate::error::{Error, Result};
use crate::exec::{self, Cursor, Cx};
use crate::parse;
use crate::plan::Plan;
use crate::rows::{Column, Outcome, Rows};
use crate::store::{self, Row};
use crate::types::Value;

/// Transaction isolation levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// Each read sees the latest committed data; written rows are locked (pessimistic).
    ReadCommitted,
    /// Snapshot isolation (optimistic).
    RepeatableRead,
    /// Serializable (optimistic, read sets validated at commit).
    Serializable,
}

impl Isolation {
    fn from_ast(l: &ast::TransactionIsolationLevel) -> Result<Isolation> {
        use ast::TransactionIsolationLevel as L;
        Ok(match l {
            L::ReadUncommitted | L::ReadCommitted => Isolation::ReadCommitted,
            L::RepeatableRead | L::Snapshot => Isolation::RepeatableRead,
            L::Serializable => Isolation::Serializable,
        })
    }

    fn from_name(s: &str) -> Result<Isolation> {
        match s.trim().to_lowercase().replace('_', " ").as_str() {
            "read uncommitted" | "read committed" => Ok(Isolation::ReadCommitted),
            "repeatable read" | "snapshot" => Ok(Isolation::RepeatableRead),
            "serializable" => Ok(Isolation::Serializable),
            other => Err(Error::InvalidParameter(format!(
                "unknown isolation level {other}"
            ))),
        }
    }

    /// The SQL name of the level.
    pub fn name(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "read committed",
            Isolation::RepeatableRead => "repeatable read",
            Isolation::Serializable => "serializable",
        }
    }
}

struct Savepoint {
    name: String,
    depth: usize,
    catalog: Option<Arc<Catalog>>,
}

struct Tx {
    kv: Option<Transaction>,
    iso: Isolation,
    explicit: bool,
    catalog: Option<Arc<Catalog>>,
    savepoints: Vec<Savepoint>,
    kv_depth: usize,
    failed: bool,
}

/// A session on a [`crate::Database`]. Not shared between threads (it is `Send`: move it).
pub struct Connection {
    shared: Arc<Shared>,
    tx: Option<Tx>,
    default_iso: Isolation,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("in_transaction", &self.tx.is_some())
            .finish()
    }
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn tag_for(stmt: &ast::Statement) -> &'static str {
    match stmt {
        ast::Statement::CreateTable(_) => "CREATE TABLE",
        ast::Statement::CreateIndex(_) => "CREATE INDEX",
        ast::Statement::CreateView(_) => "CREATE VIEW",
        ast::Statement::CreateSequence { .. } => "CREATE SEQUENCE",
        ast::Statement::AlterTable(_) => "ALTER TABLE",
        ast::Statement::Drop { object_type, .. } => match object_type {
            ast::ObjectType::Table => "DROP TABLE",
            ast::ObjectType::Index => "DROP INDEX",
            ast::ObjectType::View => "DROP VIEW",
            ast::ObjectType::Sequence => "DROP SEQUENCE",
            _ => "DROP",
        },
        _ => "OK",
    }
}

/// Everything a DML or DDL statement works with.
pub(crate) struct StmtCtx<'a> {
    pub shared: &'a Shared,
    pub kv: &'a mut Transaction,
    pub catalog: &'a Catalog,
    pub params: &'a [Value],
    pub now: i64,
}

impl StmtCtx<'_> {
    /// An evaluation context reading through the transaction.
    pub fn cx(&self) -> Cx<'_> {
        Cx::new(
            self.kv,
            &self.shared.data,
            self.params,
            self.catalog,
            self.shared,
            self.now,
        )
    }
}

/// Checks that every `$n` the statement uses has a value.
pub(crate) fn check_params(b: &Binder<'_>, params: &[Value]) -> Result<()> {
    if b.max_param > params.len() {
        return Err(Error::Parameter(format!(
            "statement uses ${} but {} parameter(s) were given",
            b.max_param,
            params.len()
        )));
    }
    Ok(())
}

impl Connection {
    pub(crate) fn new(shared: Arc<Shared>) -> Connection {
        let default_iso = shared.opts.default_isolation;
        Connection {
            shared,
            tx: None,
            default_iso,
        }
    }

    /// True inside `BEGIN ... COMMIT`.
    pub fn in_transaction(&self) -> bool {
        self.tx.is_some()
    }

    /// True if the open transaction block failed and only accepts ROLLBACK.
    pub fn transaction_failed(&self) -> bool {
        self.tx.as_ref().is_some_and(|t| t.failed)
    }

    /// The isolation level the next transaction (or the open one) uses.
    pub fn isolation(&self) -> Isolation {
        self.tx.as_ref().map_or(self.default_iso, |t| t.iso)
    }

    /// Sets the session's default isolation level.
    pub fn set_default_isolation(&mut self, iso: Isolation) {
        self.default_iso = iso;
    }

    /// Runs every statement of `sql`; returns the rows affected (or returned) by the last.
    pub fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let out = self.run_with(sql, params)?;
        Ok(match out.last() {
            Some(Outcome::Rows(r)) => r.len() as u64,
            Some(Outcome::Command { rows, .. }) => *rows,
            None => 0,
        })
    }

    /// Runs `sql` and returns the rows of its last statement (SELECT, or DML with RETURNING).
    pub fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows> {
        match self.run_with(sql, params)?.pop() {
            Some(Outcome::Rows(r)) => Ok(r),
            _ => Err(Error::InvalidStatement(
                "the statement returns no rows".into(),
            )),
        }
    }

    /// Runs a script without parameters; one [`Outcome`] per statement. Stops at the first
    /// error (earlier statements keep their effect).
    pub fn run(&mut self, sql: &str) -> Result<Vec<Outcome>> {
        self.run_with(sql, &[])
    }

    /// Runs a script with parameters.
    pub fn run_with(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Outcome>> {
        let stmts = parse::parse(sql)?;
        let mut out = Vec::with_capacity(stmts.len());
        for s in &stmts {
            out.push(self.statement(s, params)?);
        }
        Ok(out)
    }

    /// The plan of a query or DML statement, as EXPLAIN prints it.
    pub fn explain(&mut self, sql: &str) -> Result<String> {
        let stmts = parse::parse(sql)?;
        let [stmt] = stmts.as_slice() else {
            return Err(Error::InvalidStatement(
                "EXPLAIN takes one statement".into(),
            ));
        };
        let catalog = self
            .tx
            .as_ref()
            .and_then(|t| t.catalog.clone())
            .unwrap_or_else(|| self.shared.catalog());
        crate::dml::explain(&catalog, stmt)
    }

    fn statement(&mut self, stmt: &ast::Statement, params: &[Value]) -> Result<Outcome> {
        use ast::Statement as S;
        let cmd = |tag: &str| Outcome::Command {
            tag: tag.to_string(),
            rows: 0,
        };
        match stmt {
            S::StartTransaction { modes, .. } => {
                if self.tx.is_none() {
                    self.tx = Some(self.new_tx(true));
                }
                self.apply_modes(modes)?;
                Ok(cmd("BEGIN"))
            }
            S::Commit { .. } => {
                let Some(tx) = &self.tx else {
                    return Ok(cmd("COMMIT"));
                };
                if tx.failed {
                    self.end_tx(false)?;
                    return Ok(cmd("ROLLBACK"));
                }
                self.end_tx(true)?;
                Ok(cmd("COMMIT"))
            }
            S::Rollback {
                savepoint: None, ..
            } => {
                if self.tx.is_some() {
                    self.end_tx(false)?;
                }
                Ok(cmd("ROLLBACK"))
            }
            S::Rollback {
                savepoint: Some(name),
                ..
            } => {
                self.rollback_to(&crate::bind::ident(name))?;
                Ok(cmd("ROLLBACK"))
            }
            S::Savepoint { name } => {
                let name = crate::bind::ident(name);
                let tx = self.open_block("SAVEPOINT")?;
                if tx.failed {
                    return Err(Error::TransactionAborted);
                }
                if let Some(kv) = tx.kv.as_mut() {
                    kv.set_savepoint()?;
                    tx.kv_depth += 1;
                }
                tx.savepoints.push(Savepoint {
                    name,
                    depth: tx.kv_depth,
                    catalog: tx.catalog.clone(),
                });
                Ok(cmd("SAVEPOINT"))
            }
            S::ReleaseSavepoint { name } => {
                let name = crate::bind::ident(name);
                let tx = self.open_block("RELEASE SAVEPOINT")?;
                if tx.failed {
                    return Err(Error::TransactionAborted);
                }
                let i = tx
                    .savepoints
                    .iter()
                    .rposition(|s| s.name == name)
                    .ok_or(Error::NoSuchSavepoint(name))?;
                // kv-api has no "release": the kv savepoint stays on its stack, harmlessly.
                tx.savepoints.truncate(i);
                Ok(cmd("RELEASE"))
            }
            S::Set(ast::Set::SetTransaction { modes, session, .. }) => {
                if *session {
                    for m in modes {
                        if let ast::TransactionMode::IsolationLevel(l) = m {
                            self.default_iso = Isolation::from_ast(l)?;
                        }
                    }
                } else {
                    self.apply_modes(modes)?;
                }
                Ok(cmd("SET"))
            }
            S::Set(ast::Set::SingleAssignment {
                variable, values, ..
            }) => {
                let name = variable.to_string().to_lowercase();
                let value = match values.as_slice() {
                    [ast::Expr::Value(v)] => v
                        .value
                        .clone()
                        .into_string()
                        .unwrap_or_else(|| v.to_string()),
                    [ast::Expr::Identifier(i)] => i.value.clone(),
                    other => return Err(Error::Unsupported(format!("SET {name} = {other:?}"))),
                };
                match name.as_str() {
                    "default_transaction_isolation" => {
                        self.default_iso = Isolation::from_name(&value)?
                    }
                    "transaction_isolation" => {
                        let iso = Isolation::from_name(&value)?;
                        self.set_tx_isolation(iso)?;
                    }
                    _ => return Err(Error::Unsupported(format!("SET {name}"))),
                }
                Ok(cmd("SET"))
            }
            _ => self.data_statement(stmt, params),
        }
    }

    fn new_tx(&self, explicit: bool) -> Tx {
        Tx {
            kv: None,
            iso: self.default_iso,
            explicit,
            catalog: None,
            savepoints: Vec::new(),
            kv_depth: 0,
            failed: false,
        }
    }

    fn open_block(&mut self, what: &str) -> Result<&mut Tx> {
        match self.tx.as_mut() {
            Some(t) if t.explicit => Ok(t),
            _ => Err(Error::TransactionState(format!(
                "{what} can only be used in transaction blocks"
            ))),
        }
    }

    fn apply_modes(&mut self, modes: &[ast::TransactionMode]) -> Result<()> {
        for m in modes {
            match m {
                ast::TransactionMode::IsolationLevel(l) => {
                    self.set_tx_isolation(Isolation::from_ast(l)?)?
                }
                ast::TransactionMode::AccessMode(ast::TransactionAccessMode::ReadWrite) => {}
                ast::TransactionMode::AccessMode(_) => {
                    return Err(Error::Unsupported("READ ONLY transactions".into()))
                }
            }
        }
        Ok(())
    }

    fn set_tx_isolation(&mut self, iso: Isolation) -> Result<()> {
        let Some(tx) = self.tx.as_mut() else {
            // PostgreSQL only warns here; the setting has no effect outside a block.
            return Ok(());
        };
        if tx.kv.is_some() {
            return Err(Error::TransactionState(
                "SET TRANSACTION ISOLATION LEVEL must be called before any query".into(),
            ));
        }
        tx.iso = iso;
        Ok(())
    }

    fn rollback_to(&mut self, name: &str) -> Result<()> {
        let tx = self.open_block("ROLLBACK TO SAVEPOINT")?;
        let i = tx
            .savepoints
            .iter()
            .rposition(|s| s.name == name)
            .ok_or_else(|| Error::NoSuchSavepoint(name.to_string()))?;
        let depth = tx.savepoints[i].depth;
        if let Some(kv) = tx.kv.as_mut() {
            if !kv.is_active() {
                return Err(Error::TransactionAborted);
            }
            if depth == 0 {
                // The savepoint predates the first statement: undo everything by starting the
                // kv transaction afresh on next use.
                let _ = kv.rollback();
                tx.kv = None;
                tx.kv_depth = 0;
            } else {
                while tx.kv_depth >= depth {
                    kv.rollback_to_savepoint()?;
                    tx.kv_depth -= 1;
                }
                kv.set_savepoint()?;
                tx.kv_depth += 1;
            }
        }
        tx.catalog = tx.savepoints[i].catalog.clone();
        tx.savepoints.truncate(i + 1);
        tx.failed = false;
        Ok(())
    }

    /// Ends the open transaction: commit (publishing its catalog) or roll back.
    fn end_tx(&mut self, commit: bool) -> Result<()> {
        let Some(mut tx) = self.tx.take() else {
            return Ok(());
        };
        let Some(mut kv) = tx.kv.take() else {
            return Ok(());
        };
        if commit {
            kv.commit()?;
            if let Some(c) = tx.catalog.take() {
                self.shared.publish(c);
            }
            Ok(())
        } else {
            let _ = kv.rollback();
            Ok(())
        }
    }

    fn data_statement(&mut self, stmt: &ast::Statement, params: &[Value]) -> Result<Outcome> {
        if let Some(tx) = &self.tx {
            if tx.failed {
                return Err(Error::TransactionAborted);
            }
            let r = self.in_tx(stmt, params);
            if r.is_err() {
                if let Some(tx) = self.tx.as_mut() {
                    tx.failed = true;
                }
            }
            return r;
        }
        let mut attempts = 0;
        loop {
            self.tx = Some(self.new_tx(false));
            let r = self.in_tx(stmt, params);
            let r = match r {
                Ok(o) => self.end_tx(true).map(|_| o),
                Err(e) => {
                    let _ = self.end_tx(false);
                    Err(e)
                }
            };
            self.tx = None;
            match r {
                Err(e)
                    if e.is_retryable()
                        && !matches!(e, Error::LockNotAvailable)
                        && attempts < 40 =>
                {
                    attempts += 1;
                    // Randomized backoff so contending sessions stop colliding in lockstep.
                    let nanos = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.subsec_nanos());
                    let cap = 1u64 << attempts.min(5);
                    std::thread::sleep(std::time::Duration::from_micros(
                        200 + u64::from(nanos) % (cap * 500),
                    ));
                }
                other => return other,
            }
        }
    }

    fn in_tx(&mut self, stmt: &ast::Statement, params: &[Value]) -> Result<Outcome> {
        let shared = Arc::clone(&self.shared);
        let Some(tx) = self.tx.as_mut() else {
            return Err(Error::TransactionState("no transaction".into()));
        };
        if tx.kv.is_none() {
            let opts = TransactionOptions::new().lock_timeout(shared.opts.lock_timeout);
            tx.kv = Some(match tx.iso {
                Isolation::ReadCommitted => shared.kv.transaction_pessimistic_with(opts),
                Isolation::RepeatableRead => shared
                    .kv
                    .transaction_with(opts.isolation(IsolationLevel::Snapshot)),
                Isolation::Serializable => shared
                    .kv
                    .transaction_with(opts.isolation(IsolationLevel::Serializable)),
            });
        }
        let catalog = tx.catalog.clone().unwrap_or_else(|| shared.catalog());
        let Some(kv) = tx.kv.as_mut() else {
            return Err(Error::TransactionState("no transaction".into()));
        };
        if !kv.is_active() {
            return Err(Error::TransactionAborted);
        }
        let mut ctx = StmtCtx {
            shared: &shared,
            kv,
            catalog: &catalog,
            params,
            now: now_micros(),
        };
        use ast::Statement as S;
        match stmt {
            S::Query(q) => Ok(Outcome::Rows(run_query(&mut ctx, q)?)),
            S::Insert(_) | S::Update(_) | S::Delete(_) => crate::dml::execute(&mut ctx, stmt),
            S::Explain {
                statement, analyze, ..
            } => {
                if *analyze {
                    return Err(Error::Unsupported("EXPLAIN ANALYZE".into()));
                }
                let text = crate::dml::explain(&catalog, statement)?;
                let rows = text
                    .lines()
                    .map(|l| vec![Value::Text(l.to_string())])
                    .collect();
                Ok(Outcome::Rows(Rows {
                    columns: vec![Column {
                        name: "QUERY PLAN".into(),
                        ty: crate::DataType::Text,
                    }],
                    rows,
                }))
            }
            S::CreateTable(_)
            | S::CreateIndex(_)
            | S::Drop { .. }
            | S::AlterTable(_)
            | S::CreateView(_)
            | S::CreateSequence { .. } => {
                let new = crate::ddl::execute(&mut ctx, stmt)?;
                if let Some(tx) = self.tx.as_mut() {
                    tx.catalog = Some(Arc::new(new));
                }
                Ok(Outcome::Command {
                    tag: tag_for(stmt).to_string(),
                    rows: 0,
                })
            }
            other => Err(Error::Unsupported(format!(
                "statement {}",
                first_words(&other.to_string())
            ))),
        }
    }
}

fn first_words(s: &str) -> String {
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn find_scan(p: &Plan) -> Option<&Plan> {
    match p {
        Plan::Scan { locked: true, .. } => Some(p),
        Plan::Filter { input, .. }
        | Plan::Project { input, .. }
        | Plan::Sort { input, .. }
        | Plan::Limit { input, .. } => find_scan(input),
        _ => None,
    }
}

/// Plans and runs a query, taking row locks first for FOR UPDATE / FOR SHARE.
pub(crate) fn run_query(ctx: &mut StmtCtx<'_>, q: &ast::Query) -> Result<Rows> {
    let mut b = Binder::new(ctx.catalog);
    let qp: QueryPlan = b.plan_query(q)?;
    check_params(&b, ctx.params)?;
    let columns: Vec<Column> = qp
        .cols
        .iter()
        .map(|c| Column {
            name: c.name.clone(),
            ty: c.ty,
        })
        .collect();
    let locked = match &qp.lock {
        None => None,
        Some(spec) => {
            let Some(Plan::Scan {
                table,
                access,
                filter,
                ..
            }) = find_scan(&qp.plan)
            else {
                return Err(Error::Unsupported("FOR UPDATE on this query".into()));
            };
            // Phase 1: candidate rows, read without locks.
            let (candidates, stop) = {
                let cx = ctx.cx();
                let env = cx.env();
                let mut cur = Cursor::new(table, access, &env)?;
                let mut out: Vec<(Vec<u8>, Row)> = Vec::new();
                while let Some((k, row)) = cur.next(&cx)? {
                    if filter.as_ref().map_or(Ok(true), |f| f.test(&row, &env))? {
                        out.push((k, row));
                    }
                }
                let stop = match &spec.stop_after {
                    Some((l, o)) => {
                        let n = |e: &Option<crate::expr::Expr>| -> Result<usize> {
                            Ok(match e.as_ref().map(|e| e.eval(&[], &env)).transpose()? {
                                Some(Value::Int(i)) if i >= 0 => i as usize,
                                _ => 0,
                            })
                        };
                        Some(n(l)?.saturating_add(n(o)?))
                    }
                    None => None,
                };
                (out, stop)
            };
            // Phase 2: lock each, re-read the latest version and re-check the filter.
            let mut rows = Vec::new();
            let pessimistic = ctx.kv.is_pessimistic();
            for (k, _) in candidates {
                if stop.is_some_and(|n| rows.len() >= n) {
                    break;
                }
                let latest = if pessimistic && (spec.skip_locked || spec.nowait) {
                    let got = ctx.kv.scan_for_update_skip_locked(
                        &ctx.shared.data,
                        k.clone()..=k.clone(),
                        1,
                    )?;
                    match got.into_iter().next() {
                        Some((_, v)) => Some(v),
                        None if spec.nowait && ctx.kv.get(&ctx.shared.data, &k)?.is_some() => {
                            return Err(Error::LockNotAvailable)
                        }
                        None => None,
                    }
                } else if spec.exclusive {
                    ctx.kv.get_for_update(&ctx.shared.data, &k)?
                } else {
                    ctx.kv.get_for_share(&ctx.shared.data, &k)?
                };
                let Some(v) = latest else { continue };
                let row = store::decode_row(table, &v)?;
                let cx = ctx.cx();
                if filter
                    .as_ref()
                    .map_or(Ok(true), |f| f.test(&row, &cx.env()))?
                {
                    rows.push(row);
                }
            }
            Some(rows)
        }
    };
    let cx = ctx.cx();
    if let Some(rows) = locked {
        *cx.locked_rows.borrow_mut() = Some(rows);
    }
    let rows = exec::collect(&qp.plan, &cx.env())?;
    Ok(Rows { columns, rows })
}
