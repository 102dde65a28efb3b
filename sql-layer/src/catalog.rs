//! The catalog: tables, columns, constraints, indexes, views and sequences, stored in the
//! database itself (kv keyspace `sql_catalog`) and written in the same transaction as the
//! data, so DDL is transactional and survives restarts.
//!
//! ## Keys of `sql_catalog`
//! ```text
//! "G"              → generation: u64 BE ‖ next_object_id: u32 BE   (rewritten by every DDL;
//!                    concurrent DDL therefore conflicts or waits on this one key)
//! "T" ‖ id: u32 BE → table definition
//! "V" ‖ name       → view definition
//! "S" ‖ id: u32 BE → sequence definition
//! "Q" ‖ id: u32 BE → sequence high-water mark: i64 BE (written outside transactions:
//!                    sequences never roll back, as in PostgreSQL)
//! "R" ‖ id: u32 BE → hidden row-id high-water mark of table `id`: i64 BE (same)
//! ```
//! ## Definition grammar (all integers LEB128 varints unless noted, strings = len ‖ UTF-8)
//! ```text
//! table    := 0x01 ‖ id ‖ name ‖ ncols ‖ column* ‖ npk ‖ col_idx* ‖ pk_name
//!             ‖ nidx ‖ index* ‖ nchk ‖ (name ‖ sql)* ‖ nfk ‖ fk* ‖ next_index_id
//! column   := name ‖ type ‖ nullable: u8 ‖ has_default: u8 [‖ default_sql] ‖ fill_row
//!             (fill_row: a one-column row in the codec row format, the value rows written
//!             before this column existed read as)
//! type     := tag: u8 [‖ args]   0 BOOLEAN, 1 SMALLINT, 2 INT, 3 BIGINT,
//!             4 NUMERIC ‖ precision: u8 ‖ scale: u8, 5 REAL, 6 DOUBLE,
//!             7 VARCHAR ‖ limit (0 = none), 8 CHAR ‖ n, 9 TEXT, 10 DATE, 11 TIMESTAMP,
//!             12 BYTEA                                       (tags are never renumbered)
//! index    := id ‖ name ‖ unique: u8 ‖ ncols ‖ col_idx*
//! fk       := name ‖ ncols ‖ col_idx* ‖ ref_table_id ‖ ncols ‖ col_idx* ‖ on_delete: u8
//!             ‖ on_update: u8            (0 NO ACTION, 1 RESTRICT, 2 CASCADE, 3 SET NULL,
//!                                          4 SET DEFAULT)
//! view     := 0x01 ‖ name ‖ sql ‖ ncols ‖ name*
//! sequence := 0x01 ‖ id ‖ name ‖ start: zigzag ‖ increment: zigzag
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::codec;
use crate::error::{Error, Result};
use crate::types::{DataType, Value};

/// One column of a table.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnDef {
    /// Name (normalized: unquoted identifiers are lower-cased).
    pub name: String,
    /// Declared type.
    pub ty: DataType,
    /// False for NOT NULL (and primary key) columns.
    pub nullable: bool,
    /// DEFAULT expression as SQL text.
    pub default: Option<String>,
    /// What rows written before the column was added read as.
    pub fill: Value,
}

/// A secondary index.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexDef {
    /// Key-space id within the table (≥ 1; 0 is the rows themselves).
    pub id: u32,
    /// Name, unique in the schema.
    pub name: String,
    /// Indexed column positions.
    pub columns: Vec<usize>,
    /// Enforces uniqueness (NULLs never collide).
    pub unique: bool,
}

/// What a foreign key does when the referenced row goes away or changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FkAction {
    /// Refuse (checked at the statement's end; same as RESTRICT here).
    NoAction,
    /// Refuse.
    Restrict,
    /// Delete/update the referencing rows too.
    Cascade,
    /// Set the referencing columns to NULL.
    SetNull,
    /// Set the referencing columns to their defaults.
    SetDefault,
}

/// A FOREIGN KEY constraint of the table that holds it (the referencing table).
#[derive(Clone, Debug, PartialEq)]
pub struct ForeignKey {
    /// Constraint name.
    pub name: String,
    /// Referencing columns of this table.
    pub columns: Vec<usize>,
    /// Referenced table id.
    pub ref_table: u32,
    /// Referenced columns (its primary key or a unique index).
    pub ref_columns: Vec<usize>,
    /// ON DELETE action.
    pub on_delete: FkAction,
    /// ON UPDATE action.
    pub on_update: FkAction,
}

/// A CHECK constraint.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckDef {
    /// Constraint name.
    pub name: String,
    /// Boolean expression over the row, as SQL text.
    pub sql: String,
}

/// A table.
#[derive(Clone, Debug, PartialEq)]
pub struct TableDef {
    /// Object id; the key prefix of its rows and indexes.
    pub id: u32,
    /// Name.
    pub name: String,
    /// Columns in order.
    pub columns: Vec<ColumnDef>,
    /// Primary key column positions; empty = hidden row id.
    pub pk: Vec<usize>,
    /// Name of the primary key constraint (for error messages).
    pub pk_name: String,
    /// Secondary indexes (UNIQUE constraints included).
    pub indexes: Vec<IndexDef>,
    /// CHECK constraints.
    pub checks: Vec<CheckDef>,
    /// FOREIGN KEY constraints.
    pub fks: Vec<ForeignKey>,
    /// Next index id to hand out.
    pub next_index_id: u32,
}

impl TableDef {
    /// Position of column `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
    /// Column types in order.
    pub fn types(&self) -> Vec<DataType> {
        self.columns.iter().map(|c| c.ty).collect()
    }
    /// Types of the key columns (the hidden row id is a BIGINT).
    pub fn pk_types(&self) -> Vec<DataType> {
        if self.pk.is_empty() {
            vec![DataType::BigInt]
        } else {
            self.pk.iter().map(|&i| self.columns[i].ty).collect()
        }
    }
    /// The index with this name.
    pub fn index(&self, name: &str) -> Option<&IndexDef> {
        self.indexes.iter().find(|i| i.name == name)
    }
}

/// A view: a named query, expanded where it is used.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewDef {
    /// Name.
    pub name: String,
    /// The defining SELECT as SQL text.
    pub sql: String,
    /// Column names given in `CREATE VIEW v(a, b)`, if any.
    pub columns: Vec<String>,
}

/// A sequence (SERIAL columns own one each).
#[derive(Clone, Debug, PartialEq)]
pub struct SequenceDef {
    /// Object id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// First value.
    pub start: i64,
    /// Step.
    pub increment: i64,
}

/// The whole schema as of one generation. Immutable once published; DDL builds a changed
/// copy inside its transaction.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// Bumped by every DDL.
    pub generation: u64,
    /// Next object id.
    pub next_id: u32,
    /// Tables by name.
    pub tables: BTreeMap<String, Arc<TableDef>>,
    /// Views by name.
    pub views: BTreeMap<String, Arc<ViewDef>>,
    /// Sequences by name.
    pub sequences: BTreeMap<String, Arc<SequenceDef>>,
}

impl Catalog {
    /// The table with id `id`.
    pub fn table_by_id(&self, id: u32) -> Option<&Arc<TableDef>> {
        self.tables.values().find(|t| t.id == id)
    }
    /// The table `name` or [`Error::UndefinedTable`].
    pub fn table(&self, name: &str) -> Result<&Arc<TableDef>> {
        self.tables
            .get(name)
            .ok_or_else(|| Error::UndefinedTable(name.to_string()))
    }
    /// The table holding index `name`.
    pub fn index_owner(&self, name: &str) -> Option<&Arc<TableDef>> {
        self.tables.values().find(|t| t.index(name).is_some())
    }
    /// True if a table, view, index or sequence is called `name` (they share a namespace).
    pub fn name_taken(&self, name: &str) -> bool {
        self.tables.contains_key(name)
            || self.views.contains_key(name)
            || self.sequences.contains_key(name)
            || self.index_owner(name).is_some()
            || self.tables.values().any(|t| t.pk_name == name)
    }
    /// Tables with a foreign key referencing table `id`.
    pub fn referencing(&self, id: u32) -> Vec<Arc<TableDef>> {
        self.tables
            .values()
            .filter(|t| t.fks.iter().any(|f| f.ref_table == id))
            .cloned()
            .collect()
    }
}

/// Catalog keys.
pub mod keys {
    /// The generation / id-allocator key.
    pub const GENERATION: &[u8] = b"G";
    /// Key of table `id`'s definition.
    pub fn table(id: u32) -> Vec<u8> {
        tagged(b'T', id)
    }
    /// Key of view `name`.
    pub fn view(name: &str) -> Vec<u8> {
        let mut k = vec![b'V'];
        k.extend_from_slice(name.as_bytes());
        k
    }
    /// Key of sequence `id`'s definition.
    pub fn sequence(id: u32) -> Vec<u8> {
        tagged(b'S', id)
    }
    /// Key of sequence `id`'s high-water mark.
    pub fn sequence_hwm(id: u32) -> Vec<u8> {
        tagged(b'Q', id)
    }
    /// Key of table `id`'s row-id high-water mark.
    pub fn rowid_hwm(id: u32) -> Vec<u8> {
        tagged(b'R', id)
    }
    fn tagged(tag: u8, id: u32) -> Vec<u8> {
        let mut k = vec![tag];
        k.extend_from_slice(&id.to_be_bytes());
        k
    }
}

// ---------------------------------------------------------------------------------------
// Serialization

struct W(Vec<u8>);

impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn var(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn int(&mut self, v: i64) {
        self.var(((v << 1) ^ (v >> 63)) as u64);
    }
    fn str(&mut self, s: &str) {
        self.var(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn idxs(&mut self, v: &[usize]) {
        self.var(v.len() as u64);
        v.iter().for_each(|&i| self.var(i as u64));
    }
    fn ty(&mut self, t: DataType) {
        match t {
            DataType::Bool => self.u8(0),
            DataType::SmallInt => self.u8(1),
            DataType::Int => self.u8(2),
            DataType::BigInt => self.u8(3),
            DataType::Decimal { precision, scale } => {
                self.u8(4);
                self.u8(precision);
                self.u8(scale);
            }
            DataType::Real => self.u8(5),
            DataType::Double => self.u8(6),
            DataType::Varchar(n) => {
                self.u8(7);
                self.var(u64::from(n.unwrap_or(0)));
            }
            DataType::Char(n) => {
                self.u8(8);
                self.var(u64::from(n));
            }
            DataType::Text | DataType::Unknown => self.u8(9),
            DataType::Date => self.u8(10),
            DataType::Timestamp => self.u8(11),
            DataType::Bytea => self.u8(12),
        }
    }
}

struct R<'a> {
    b: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> R<'a> {
    fn err(&self, why: &str) -> Error {
        Error::Corrupt(format!("catalog {}: {why} at byte {}", self.what, self.pos))
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or_else(|| self.err("truncated"))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn var(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("varint too long"))
    }
    fn u32(&mut self) -> Result<u32> {
        let v = self.var()?;
        u32::try_from(v).map_err(|_| self.err("value too large"))
    }
    fn count(&mut self) -> Result<usize> {
        let n = self.var()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.b.len())
            .ok_or_else(|| self.err("count too large"))
    }
    fn int(&mut self) -> Result<i64> {
        let v = self.var()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }
    fn str(&mut self) -> Result<String> {
        let n = self.count()?;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| self.err("bad UTF-8"))
    }
    fn idxs(&mut self, ncols: usize) -> Result<Vec<usize>> {
        let n = self.count()?;
        (0..n)
            .map(|_| {
                let i = self.count()?;
                if i >= ncols {
                    return Err(self.err("column position out of range"));
                }
                Ok(i)
            })
            .collect()
    }
    fn ty(&mut self) -> Result<DataType> {
        Ok(match self.u8()? {
            0 => DataType::Bool,
            1 => DataType::SmallInt,
            2 => DataType::Int,
            3 => DataType::BigInt,
            4 => DataType::Decimal {
                precision: self.u8()?,
                scale: self.u8()?,
            },
            5 => DataType::Real,
            6 => DataType::Double,
            7 => DataType::Varchar(Some(self.u32()?).filter(|&n| n > 0)),
            8 => DataType::Char(self.u32()?),
            9 => DataType::Text,
            10 => DataType::Date,
            11 => DataType::Timestamp,
            12 => DataType::Bytea,
            _ => return Err(self.err("unknown type tag")),
        })
    }
    fn done(&self) -> Result<()> {
        if self.pos == self.b.len() {
            Ok(())
        } else {
            Err(self.err("trailing bytes"))
        }
    }
}

fn action_tag(a: FkAction) -> u8 {
    match a {
        FkAction::NoAction => 0,
        FkAction::Restrict => 1,
        FkAction::Cascade => 2,
        FkAction::SetNull => 3,
        FkAction::SetDefault => 4,
    }
}

/// Serializes a table definition.
pub fn encode_table(t: &TableDef) -> Vec<u8> {
    let mut w = W(Vec::with_capacity(128));
    w.u8(1);
    w.var(u64::from(t.id));
    w.str(&t.name);
    w.var(t.columns.len() as u64);
    for c in &t.columns {
        w.str(&c.name);
        w.ty(c.ty);
        w.u8(u8::from(c.nullable));
        match &c.default {
            Some(d) => {
                w.u8(1);
                w.str(d);
            }
            None => w.u8(0),
        }
        let fill = codec::encode_row(std::slice::from_ref(&c.fill), &[c.ty]);
        w.var(fill.len() as u64);
        w.0.extend_from_slice(&fill);
    }
    w.idxs(&t.pk);
    w.str(&t.pk_name);
    w.var(t.indexes.len() as u64);
    for i in &t.indexes {
        w.var(u64::from(i.id));
        w.str(&i.name);
        w.u8(u8::from(i.unique));
        w.idxs(&i.columns);
    }
    w.var(t.checks.len() as u64);
    for c in &t.checks {
        w.str(&c.name);
        w.str(&c.sql);
    }
    w.var(t.fks.len() as u64);
    for f in &t.fks {
        w.str(&f.name);
        w.idxs(&f.columns);
        w.var(u64::from(f.ref_table));
        w.idxs(&f.ref_columns);
        w.u8(action_tag(f.on_delete));
        w.u8(action_tag(f.on_update));
    }
    w.var(u64::from(t.next_index_id));
    w.0
}

/// Parses a table definition.
pub fn decode_table(b: &[u8]) -> Result<TableDef> {
    let mut r = R {
        b,
        pos: 0,
        what: "table",
    };
    if r.u8()? != 1 {
        return Err(r.err("unknown version"));
    }
    let id = r.u32()?;
    let name = r.str()?;
    let ncols = r.count()?;
    let mut columns = Vec::with_capacity(ncols);
    for _ in 0..ncols {
        let name = r.str()?;
        let ty = r.ty()?;
        let nullable = r.u8()? != 0;
        let default = if r.u8()? != 0 { Some(r.str()?) } else { None };
        let n = r.count()?;
        let fill_bytes = r.take(n)?;
        let fill = codec::decode_row(fill_bytes, &[ty], |_| Value::Null)?
            .pop()
            .unwrap_or(Value::Null);
        columns.push(ColumnDef {
            name,
            ty,
            nullable,
            default,
            fill,
        });
    }
    let pk = r.idxs(ncols)?;
    let pk_name = r.str()?;
    let nidx = r.count()?;
    let mut indexes = Vec::with_capacity(nidx);
    for _ in 0..nidx {
        let id = r.u32()?;
        let name = r.str()?;
        let unique = r.u8()? != 0;
        let columns = r.idxs(ncols)?;
        indexes.push(IndexDef {
            id,
            name,
            columns,
            unique,
        });
    }
    let nchk = r.count()?;
    let mut checks = Vec::with_capacity(nchk);
    for _ in 0..nchk {
        checks.push(CheckDef {
            name: r.str()?,
            sql: r.str()?,
        });
    }
    let nfk = r.count()?;
    let mut fks = Vec::with_capacity(nfk);
    for _ in 0..nfk {
        let name = r.str()?;
        let columns = r.idxs(ncols)?;
        let ref_table = r.u32()?;
        let ref_columns = r.idxs(usize::MAX)?;
        let action = |r: &mut R| -> Result<FkAction> {
            Ok(match r.u8()? {
                0 => FkAction::NoAction,
                1 => FkAction::Restrict,
                2 => FkAction::Cascade,
                3 => FkAction::SetNull,
                4 => FkAction::SetDefault,
                _ => return Err(r.err("unknown foreign key action")),
            })
        };
        let on_delete = action(&mut r)?;
        let on_update = action(&mut r)?;
        fks.push(ForeignKey {
            name,
            columns,
            ref_table,
            ref_columns,
            on_delete,
            on_update,
        });
    }
    let next_index_id = r.u32()?;
    r.done()?;
    Ok(TableDef {
        id,
        name,
        columns,
        pk,
        pk_name,
        indexes,
        checks,
        fks,
        next_index_id,
    })
}

/// Serializes a view definition.
pub fn encode_view(v: &ViewDef) -> Vec<u8> {
    let mut w = W(Vec::new());
    w.u8(1);
    w.str(&v.name);
    w.str(&v.sql);
    w.var(v.columns.len() as u64);
    v.columns.iter().for_each(|c| w.str(c));
    w.0
}

/// Parses a view definition.
pub fn decode_view(b: &[u8]) -> Result<ViewDef> {
    let mut r = R {
        b,
        pos: 0,
        what: "view",
    };
    if r.u8()? != 1 {
        return Err(r.err("unknown version"));
    }
    let name = r.str()?;
    let sql = r.str()?;
    let n = r.count()?;
    let columns = (0..n).map(|_| r.str()).collect::<Result<_>>()?;
    r.done()?;
    Ok(ViewDef { name, sql, columns })
}

/// Serializes a sequence definition.
pub fn encode_sequence(s: &SequenceDef) -> Vec<u8> {
    let mut w = W(Vec::new());
    w.u8(1);
    w.var(u64::from(s.id));
    w.str(&s.name);
    w.int(s.start);
    w.int(s.increment);
    w.0
}

/// Parses a sequence definition.
pub fn decode_sequence(b: &[u8]) -> Result<SequenceDef> {
    let mut r = R {
        b,
        pos: 0,
        what: "sequence",
    };
    if r.u8()? != 1 {
        return Err(r.err("unknown version"));
    }
    let s = SequenceDef {
        id: r.u32()?,
        name: r.str()?,
        start: r.int()?,
        increment: r.int()?,
    };
    r.done()?;
    Ok(s)
}

/// Encodes the generation key's value.
pub fn encode_generation(generation: u64, next_id: u32) -> Vec<u8> {
    let mut v = generation.to_be_bytes().to_vec();
    v.extend_from_slice(&next_id.to_be_bytes());
    v
}

/// Decodes the generation key's value.
pub fn decode_generation(b: &[u8]) -> Result<(u64, u32)> {
    if b.len() != 12 {
        return Err(Error::Corrupt(format!(
            "catalog generation: {} bytes, expected 12",
            b.len()
        )));
    }
    let mut g = [0u8; 8];
    g.copy_from_slice(&b[..8]);
    let mut n = [0u8; 4];
    n.copy_from_slice(&b[8..]);
    Ok((u64::from_be_bytes(g), u32::from_be_bytes(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TableDef {
        TableDef {
            id: 7,
            name: "orders".into(),
            columns: vec![
                ColumnDef {
                    name: "id".into(),
                    ty: DataType::BigInt,
                    nullable: false,
                    default: Some("nextval('orders_id_seq')".into()),
                    fill: Value::Null,
                },
                ColumnDef {
                    name: "amount".into(),
                    ty: DataType::Decimal {
                        precision: 10,
                        scale: 2,
                    },
                    nullable: true,
                    default: None,
                    fill: Value::Null,
                },
                ColumnDef {
                    name: "note".into(),
                    ty: DataType::Varchar(Some(20)),
                    nullable: true,
                    default: None,
                    fill: Value::from("n/a"),
                },
            ],
            pk: vec![0],
            pk_name: "orders_pkey".into(),
            indexes: vec![IndexDef {
                id: 1,
                name: "orders_note".into(),
                columns: vec![2, 1],
                unique: true,
            }],
            checks: vec![CheckDef {
                name: "orders_amount_check".into(),
                sql: "amount > 0".into(),
            }],
            fks: vec![ForeignKey {
                name: "fk".into(),
                columns: vec![1],
                ref_table: 3,
                ref_columns: vec![0],
                on_delete: FkAction::Cascade,
                on_update: FkAction::NoAction,
            }],
            next_index_id: 2,
        }
    }

    #[test]
    fn table_round_trip() {
        let t = sample();
        assert_eq!(decode_table(&encode_table(&t)).unwrap(), t);
    }

    #[test]
    fn truncated_or_padded_definitions_are_corrupt() {
        let b = encode_table(&sample());
        for cut in 0..b.len() {
            assert!(decode_table(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = b.clone();
        extra.push(0);
        assert!(matches!(decode_table(&extra), Err(Error::Corrupt(_))));
    }

    #[test]
    fn view_sequence_generation_round_trip() {
        let v = ViewDef {
            name: "v".into(),
            sql: "SELECT 1".into(),
            columns: vec!["x".into()],
        };
        assert_eq!(decode_view(&encode_view(&v)).unwrap(), v);
        let s = SequenceDef {
            id: 3,
            name: "s".into(),
            start: -5,
            increment: 2,
        };
        assert_eq!(decode_sequence(&encode_sequence(&s)).unwrap(), s);
        assert_eq!(decode_generation(&encode_generation(9, 4)).unwrap(), (9, 4));
        assert!(decode_generation(&[1, 2]).is_err());
    }
}
