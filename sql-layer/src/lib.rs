//! # sql-layer: SQL on the Strata engine
//!
//! A relational front end over [`kv_api`]: PostgreSQL-flavoured SQL parsed by `sqlparser`, a
//! catalog stored in the database, typed rows in an order-preserving key encoding, secondary
//! and unique indexes, constraints (NOT NULL, DEFAULT, CHECK, UNIQUE, PRIMARY KEY, FOREIGN
//! KEY), a planner that uses indexes for equality and range predicates, pull-based operators,
//! and transactions with three isolation levels mapped onto kv-api transactions.
//!
//! ```
//! use sql_layer::{params, Database};
//! # let dir = tempfile::tempdir()?;
//! let db = Database::open(dir.path())?;
//! let mut conn = db.connect();
//! conn.execute("CREATE TABLE users (id SERIAL PRIMARY KEY, name TEXT NOT NULL, age INT)", &[])?;
//! // $1-style parameters are the defence against SQL injection: values never become SQL text.
//! conn.execute("INSERT INTO users (name, age) VALUES ($1, $2)", &params!["ada", 36])?;
//! let rows = conn.query("SELECT id, name FROM users WHERE age > $1", &params![30])?;
//! let first = rows.get(0).unwrap();
//! assert_eq!(first.get::<i64>("id")?, 1);
//! assert_eq!(first.get::<String>(1)?, "ada");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Transactions and isolation
//! Statements outside `BEGIN ... COMMIT` run in their own transaction (autocommit); every
//! statement is atomic. After an error inside a transaction block, only `ROLLBACK` (or
//! `ROLLBACK TO SAVEPOINT`) is accepted (SQLSTATE 25P02), as in PostgreSQL.
//!
//! | level | kv-api transaction | reads | conflicts |
//! | --- | --- | --- | --- |
//! | `READ COMMITTED` (default) | pessimistic | latest committed data; rows to be written are locked, re-read and re-checked | writers wait for row locks (lock timeout → 55P03, deadlock → 40P01) |
//! | `REPEATABLE READ` | optimistic, snapshot isolation | one snapshot from the first statement | commit fails with 40001 if a row it wrote changed since the snapshot |
//! | `SERIALIZABLE` | optimistic, serializable | one snapshot | commit fails with 40001 if a row or key range it read or wrote changed |
//!
//! Hermitage results (the tests in `tests/hermitage.rs`, from `hermitage/postgres.md`):
//!
//! | level | G0 | G1a | G1b | G1c | OTV | PMP | P4 | G-single | G2-item | G2 |
//! | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
//! | READ COMMITTED | ✓ | ✓ | ✓ | ✓ | ✓ | — | — | — | — | — |
//! | REPEATABLE READ | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ | — | — |
//! | SERIALIZABLE | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
//!
//! (✓ prevented, — possible.) Unlike PostgreSQL, the optimistic levels never block: where
//! PostgreSQL makes the second writer wait and then fail, Strata lets it continue and fails
//! its COMMIT with 40001.
//!
//! ## Modules
//! [`codec`] documents the key and row byte formats, [`catalog`] the catalog's.

pub mod access;
mod bind;
pub mod catalog;
pub mod codec;
mod database;
pub mod datetime;
mod ddl;
mod dml;
mod error;
mod exec;
mod expr;
mod func;
mod parse;
mod plan;
mod rows;
mod session;
mod store;
pub mod types;

pub use database::{Database, OpenOptions};
pub use error::{Error, Result};
pub use kv_api;
pub use rows::{Column, ColumnIndex, Outcome, Row, Rows};
pub use session::{Connection, Isolation};
pub use types::{DataType, FromValue, Value};

/// Builds a `&[Value]`-compatible array of parameters from Rust values.
///
/// ```
/// let p = sql_layer::params![1, "two", 3.5, None::<i64>];
/// assert_eq!(p.len(), 4);
/// ```
#[macro_export]
macro_rules! params {
    () => { [$crate::Value::Null; 0] };
    ($($v:expr),+ $(,)?) => { [$($crate::Value::from($v)),+] };
}
