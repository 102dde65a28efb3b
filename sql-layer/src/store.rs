//! Row and index entries of one table in the `sql_data` keyspace (formats in
//! [`crate::codec`]): building keys, decoding rows, and key ranges for scans.

use crate::catalog::{IndexDef, TableDef};
use crate::codec;
use crate::error::Result;
use crate::types::{DataType, Value};

/// A row as the executor passes it around.
pub type Row = Vec<Value>;

/// The 8-byte prefix of `table`'s rows.
pub fn row_prefix(table: &TableDef) -> [u8; 8] {
    codec::prefix(table.id, 0)
}

/// The key suffix (after the prefix) of a row with these values; `rowid` for tables without a
/// primary key.
pub fn pk_suffix(table: &TableDef, row: &[Value], rowid: Option<i64>) -> Result<Vec<u8>> {
    if table.pk.is_empty() {
        let mut out = Vec::with_capacity(9);
        codec::encode_key(&mut out, &Value::Int(rowid.unwrap_or(0)), DataType::BigInt)?;
        return Ok(out);
    }
    let mut out = Vec::with_capacity(16);
    for &i in &table.pk {
        codec::encode_key(&mut out, &row[i], table.columns[i].ty)?;
    }
    Ok(out)
}

/// The full row key from a suffix.
pub fn row_key(table: &TableDef, suffix: &[u8]) -> Vec<u8> {
    let mut k = row_prefix(table).to_vec();
    k.extend_from_slice(suffix);
    k
}

/// Decodes a stored row of `table`.
pub fn decode_row(table: &TableDef, bytes: &[u8]) -> Result<Row> {
    let types = table.types();
    codec::decode_row(bytes, &types, |i| table.columns[i].fill.clone())
}

/// Encodes a row of `table`.
pub fn encode_row(table: &TableDef, row: &[Value]) -> Vec<u8> {
    codec::encode_row(row, &table.types())
}

/// The index entry (key, value) of `row` (whose row-key suffix is `pk`) in `idx`. A unique
/// index entry whose values are all non-NULL is keyed by the values alone, so a second row
/// with the same values collides on the key.
pub fn index_entry(
    table: &TableDef,
    idx: &IndexDef,
    row: &[Value],
    pk: &[u8],
) -> Result<(Vec<u8>, bool)> {
    let mut k = codec::prefix(table.id, idx.id).to_vec();
    let mut any_null = false;
    for &c in &idx.columns {
        any_null |= row[c].is_null();
        codec::encode_key(&mut k, &row[c], table.columns[c].ty)?;
    }
    let unique_key = idx.unique && !any_null;
    if !unique_key {
        k.extend_from_slice(pk);
    }
    Ok((k, unique_key))
}

/// The types of an index's key columns.
pub fn key_types(table: &TableDef, index: Option<&IndexDef>) -> Vec<DataType> {
    match index {
        None => table.pk_types(),
        Some(i) => i.columns.iter().map(|&c| table.columns[c].ty).collect(),
    }
}
