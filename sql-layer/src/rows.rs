//! Query results: [`Rows`] with column descriptions and typed access through [`Row::get`].

use crate::error::{Error, Result};
use crate::types::{DataType, FromValue, Value};

/// A result column.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Column type.
    pub ty: DataType,
}

/// A query result.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    pub(crate) columns: Vec<Column>,
    pub(crate) rows: Vec<Vec<Value>>,
}

/// One row of a [`Rows`].
#[derive(Clone, Copy, Debug)]
pub struct Row<'r> {
    columns: &'r [Column],
    values: &'r [Value],
}

/// What names a column: its position or its name.
pub trait ColumnIndex {
    /// The position in `columns`.
    fn index(&self, columns: &[Column]) -> Result<usize>;
}

impl ColumnIndex for usize {
    fn index(&self, columns: &[Column]) -> Result<usize> {
        if *self < columns.len() {
            Ok(*self)
        } else {
            Err(Error::UndefinedColumn(format!("#{self}")))
        }
    }
}

impl ColumnIndex for &str {
    fn index(&self, columns: &[Column]) -> Result<usize> {
        columns
            .iter()
            .position(|c| c.name == *self)
            .ok_or_else(|| Error::UndefinedColumn(self.to_string()))
    }
}

impl Rows {
    /// The result's columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    /// True if there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
    /// Row `i`.
    pub fn get(&self, i: usize) -> Option<Row<'_>> {
        self.rows.get(i).map(|v| Row {
            columns: &self.columns,
            values: v,
        })
    }
    /// The rows in order.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|v| Row {
            columns: &self.columns,
            values: v,
        })
    }
    /// The raw values, row by row.
    pub fn values(&self) -> &[Vec<Value>] {
        &self.rows
    }
    /// Consumes the result into its raw values.
    pub fn into_values(self) -> Vec<Vec<Value>> {
        self.rows
    }
}

impl<'r> Row<'r> {
    /// Column `idx` (a position or a name) converted to `T`. NULL converts only to `Option`.
    pub fn get<T: FromValue>(&self, idx: impl ColumnIndex) -> Result<T> {
        let i = idx.index(self.columns)?;
        T::from_value(&self.values[i])
    }
    /// The raw values.
    pub fn values(&self) -> &'r [Value] {
        self.values
    }
}

/// The result of one statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// A statement that returns rows (SELECT, EXPLAIN, DML with RETURNING).
    Rows(Rows),
    /// Any other statement: its command tag (`INSERT`, `CREATE TABLE`, ...) and row count.
    Command {
        /// Command tag.
        tag: String,
        /// Rows affected (0 for DDL and transaction control).
        rows: u64,
    },
}
