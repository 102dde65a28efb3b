//! Byte formats of table data: order-preserving keys and the compact row format.
//!
//! All SQL data lives in the kv keyspace `sql_data`; the catalog (see [`crate::catalog`]) in
//! `sql_catalog`.
//!
//! ## Keys (memcomparable: byte order = SQL order of the key columns)
//! ```text
//! row key   := table_id: u32 BE ‖ 0x00000000 ‖ key_value(pk column)...
//! index key := table_id: u32 BE ‖ index_id: u32 BE (≥ 1) ‖ key_value(indexed column)...
//!              ‖ key_value(pk column)...        (omitted for a unique index entry whose
//!                                                 indexed values are all non-NULL)
//! index value := key_value(pk column)...          (the row key's suffix after the 8-byte prefix)
//! key_value := 0x00                                NULL (sorts first)
//!            | 0x01 ‖ body
//! body (by column type):
//!   BOOLEAN                  1 byte: 0x00 false, 0x01 true
//!   SMALLINT/INT/BIGINT      8 bytes: (v as u64 ^ 1<<63) BE
//!   REAL/DOUBLE              8 bytes: IEEE bits b; b ^ 1<<63 when sign clear, !b when set
//!                            (-0 stored as +0, every NaN as the canonical NaN, above +Inf)
//!   NUMERIC                  0x02 zero | 0x03 ‖ E ‖ D ‖ 0x00 positive
//!                            | 0x01 ‖ !(E ‖ D ‖ 0x00) negative, where the magnitude is
//!                            0.d1d2…dn × 10^e (d1 ≠ 0, dn ≠ 0), E = (e as u16 ^ 0x8000) BE,
//!                            D = the digits as bytes d+1
//!   TEXT/VARCHAR/CHAR/BYTEA  bytes with 0x00 → 0x00 0xFF, then terminator 0x00 0x01
//!   DATE                     4 bytes: (days as u32 ^ 1<<31) BE
//!   TIMESTAMP                8 bytes: like BIGINT
//! ```
//! Tables without a primary key get a hidden `BIGINT` row id as their key.
//!
//! ## Rows (the value of a row key)
//! ```text
//! row := 0x01 (format version) ‖ ncols: varint ‖ null bitmap: ceil(ncols/8) bytes
//!        (bit i of byte i/8 set = column i is NULL) ‖ field(column i) for each non-NULL i
//! field (by column type):
//!   BOOLEAN                  1 byte
//!   SMALLINT/INT/BIGINT      zigzag varint
//!   REAL/DOUBLE              8 bytes, f64 bits LE
//!   NUMERIC                  scale: u8 ‖ mantissa: zigzag varint (i128)
//!   TEXT/VARCHAR/CHAR        len: varint ‖ UTF-8 bytes
//!   BYTEA                    len: varint ‖ bytes
//!   DATE, TIMESTAMP          zigzag varint
//! ```
//! Columns are stored by their physical position in the table (dropped columns keep their
//! slot, written as NULL). A row with fewer columns than the table predates an
//! `ALTER TABLE ADD COLUMN`: the missing ones read as that column's recorded fill value.
//! Varints are LEB128 (7 bits per byte, low first). The version byte is never renumbered.

use rust_decimal::Decimal;

use crate::error::{Error, Result};
use crate::types::{DataType, Value};

/// Row format version byte.
const ROW_V1: u8 = 0x01;

/// The 8-byte key prefix of a table's rows (`index_id` 0) or of one of its indexes.
pub fn prefix(table_id: u32, index_id: u32) -> [u8; 8] {
    let mut p = [0u8; 8];
    p[..4].copy_from_slice(&table_id.to_be_bytes());
    p[4..].copy_from_slice(&index_id.to_be_bytes());
    p
}

/// The smallest key greater than every key starting with `p` (None if `p` is all 0xFF).
pub fn prefix_end(p: &[u8]) -> Option<Vec<u8>> {
    let mut v = p.to_vec();
    while let Some(last) = v.pop() {
        if last < 0xFF {
            v.push(last + 1);
            return Some(v);
        }
    }
    None
}

/// Appends the memcomparable form of `v` (already of column type `ty`).
pub fn encode_key(out: &mut Vec<u8>, v: &Value, ty: DataType) -> Result<()> {
    let body = match v {
        Value::Null => {
            out.push(0x00);
            return Ok(());
        }
        other => other,
    };
    out.push(0x01);
    match (body, ty) {
        (Value::Bool(b), _) => out.push(u8::from(*b)),
        (Value::Int(i), DataType::Real | DataType::Double) => encode_f64(out, *i as f64),
        (Value::Int(i), DataType::Decimal { .. }) => encode_decimal(out, Decimal::from(*i)),
        (Value::Int(i), _) | (Value::Timestamp(i), _) => {
            out.extend_from_slice(&((*i as u64) ^ (1 << 63)).to_be_bytes())
        }
        (Value::Float(f), _) => encode_f64(out, *f),
        (Value::Decimal(d), _) => encode_decimal(out, *d),
        (Value::Text(s), _) => encode_bytes(out, s.as_bytes()),
        (Value::Bytes(b), _) => encode_bytes(out, b),
        (Value::Date(d), _) => out.extend_from_slice(&((*d as u32) ^ (1 << 31)).to_be_bytes()),
        (Value::Null, _) => {}
    }
    Ok(())
}

fn encode_f64(out: &mut Vec<u8>, f: f64) {
    let f = if f == 0.0 {
        0.0
    } else if f.is_nan() {
        f64::NAN
    } else {
        f
    };
    let b = f.to_bits();
    let k = if b >> 63 == 0 { b ^ (1 << 63) } else { !b };
    out.extend_from_slice(&k.to_be_bytes());
}

fn encode_decimal(out: &mut Vec<u8>, d: Decimal) {
    if d.is_zero() {
        out.push(0x02);
        return;
    }
    let digits = d.mantissa().unsigned_abs().to_string();
    let scale = d.scale() as i64;
    let e = digits.len() as i64 - scale;
    let trimmed = digits.trim_end_matches('0');
    let mut body = Vec::with_capacity(trimmed.len() + 3);
    body.extend_from_slice(&((e as i16 as u16) ^ 0x8000).to_be_bytes());
    body.extend(trimmed.bytes().map(|c| c - b'0' + 1));
    body.push(0x00);
    if d.is_sign_negative() {
        out.push(0x01);
        out.extend(body.iter().map(|b| !b));
    } else {
        out.push(0x03);
        out.extend_from_slice(&body);
    }
}

fn encode_bytes(out: &mut Vec<u8>, b: &[u8]) {
    for &x in b {
        out.push(x);
        if x == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

/// The memcomparable encoding of several values.
pub fn encode_key_values(values: &[&Value], types: &[DataType]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(16 * values.len());
    for (v, t) in values.iter().zip(types) {
        encode_key(&mut out, v, *t)?;
    }
    Ok(out)
}

fn put_varint(out: &mut Vec<u8>, mut v: u128) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i128) -> u128 {
    ((v << 1) ^ (v >> 127)) as u128
}

fn unzigzag(v: u128) -> i128 {
    ((v >> 1) as i128) ^ -((v & 1) as i128)
}

/// Encodes a row; `values[i]` is the value of physical column `i` of type `types[i]`.
pub fn encode_row(values: &[Value], types: &[DataType]) -> Vec<u8> {
    let n = values.len();
    let mut out = Vec::with_capacity(8 + n * 8);
    out.push(ROW_V1);
    put_varint(&mut out, n as u128);
    let bitmap_at = out.len();
    out.resize(bitmap_at + n.div_ceil(8), 0);
    for (i, (v, t)) in values.iter().zip(types).enumerate() {
        match v {
            Value::Null => out[bitmap_at + i / 8] |= 1 << (i % 8),
            Value::Bool(b) => out.push(u8::from(*b)),
            Value::Int(x) => match t {
                DataType::Real | DataType::Double => {
                    out.extend_from_slice(&(*x as f64).to_bits().to_le_bytes())
                }
                _ => put_varint(&mut out, zigzag(i128::from(*x))),
            },
            Value::Timestamp(x) => put_varint(&mut out, zigzag(i128::from(*x))),
            Value::Date(x) => put_varint(&mut out, zigzag(i128::from(*x))),
            Value::Float(f) => out.extend_from_slice(&f.to_bits().to_le_bytes()),
            Value::Decimal(d) => {
                out.push(d.scale() as u8);
                put_varint(&mut out, zigzag(d.mantissa()));
            }
            Value::Text(s) => {
                put_varint(&mut out, s.len() as u128);
                out.extend_from_slice(s.as_bytes());
            }
            Value::Bytes(b) => {
                put_varint(&mut out, b.len() as u128);
                out.extend_from_slice(b);
            }
        }
    }
    out
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn corrupt(&self, what: &str) -> Error {
        Error::Corrupt(format!("row: {what} at byte {}", self.pos))
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or_else(|| self.corrupt("truncated"))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn varint(&mut self) -> Result<u128> {
        let mut v = 0u128;
        for shift in (0..).step_by(7).take(19) {
            let byte = self.take(1)?[0];
            v |= u128::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.corrupt("varint too long"))
    }
    fn signed(&mut self) -> Result<i128> {
        Ok(unzigzag(self.varint()?))
    }
    fn len(&mut self) -> Result<usize> {
        let n = self.varint()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.b.len())
            .ok_or_else(|| self.corrupt("length too large"))
    }
}

/// Decodes a row written by [`encode_row`] for columns of `types`. Columns the row does not
/// hold (added later) come from `fill(i)`.
pub fn decode_row(
    bytes: &[u8],
    types: &[DataType],
    fill: impl Fn(usize) -> Value,
) -> Result<Vec<Value>> {
    let mut r = Reader { b: bytes, pos: 0 };
    if r.take(1)?[0] != ROW_V1 {
        return Err(r.corrupt("unknown row format version"));
    }
    let n = r.len()?;
    if n > types.len() {
        return Err(r.corrupt("more columns than the table has"));
    }
    let bitmap = r.take(n.div_ceil(8))?;
    let mut out = Vec::with_capacity(types.len());
    for (i, t) in types.iter().enumerate().take(n) {
        if bitmap[i / 8] & (1 << (i % 8)) != 0 {
            out.push(Value::Null);
            continue;
        }
        let v = match t {
            DataType::Bool => Value::Bool(r.take(1)?[0] != 0),
            DataType::SmallInt | DataType::Int | DataType::BigInt => {
                let x = r.signed()?;
                Value::Int(i64::try_from(x).map_err(|_| r.corrupt("integer out of range"))?)
            }
            DataType::Real | DataType::Double => {
                let b = r.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::Float(f64::from_bits(u64::from_le_bytes(a)))
            }
            DataType::Decimal { .. } => {
                let scale = u32::from(r.take(1)?[0]);
                let m = r.signed()?;
                Value::Decimal(
                    Decimal::try_from_i128_with_scale(m, scale)
                        .map_err(|_| r.corrupt("bad decimal"))?,
                )
            }
            DataType::Varchar(_) | DataType::Char(_) | DataType::Text | DataType::Unknown => {
                let len = r.len()?;
                let s = std::str::from_utf8(r.take(len)?).map_err(|_| r.corrupt("bad UTF-8"))?;
                Value::Text(s.to_string())
            }
            DataType::Bytea => {
                let len = r.len()?;
                Value::Bytes(r.take(len)?.to_vec())
            }
            DataType::Date => {
                let x = r.signed()?;
                Value::Date(i32::try_from(x).map_err(|_| r.corrupt("date out of range"))?)
            }
            DataType::Timestamp => {
                let x = r.signed()?;
                Value::Timestamp(i64::try_from(x).map_err(|_| r.corrupt("timestamp out of range"))?)
            }
        };
        out.push(v);
    }
    if r.pos != bytes.len() {
        return Err(r.corrupt("trailing bytes"));
    }
    for i in n..types.len() {
        out.push(fill(i));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(v: Value, t: DataType) -> Vec<u8> {
        let mut out = Vec::new();
        encode_key(&mut out, &v, t).unwrap();
        out
    }

    fn assert_ordered(vals: Vec<Value>, t: DataType) {
        let keys: Vec<_> = vals.iter().map(|v| key(v.clone(), t)).collect();
        for w in keys.windows(2).zip(vals.windows(2)) {
            assert!(w.0[0] < w.0[1], "{:?} !< {:?}", w.1[0], w.1[1]);
        }
    }

    #[test]
    fn integer_keys_order() {
        let v = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX].map(Value::Int);
        let mut all = vec![Value::Null];
        all.extend(v);
        assert_ordered(all, DataType::BigInt);
    }

    #[test]
    fn float_keys_order() {
        let v = [
            f64::NEG_INFINITY,
            -1e10,
            -1.5,
            -0.0,
            1e-300,
            2.5,
            f64::INFINITY,
            f64::NAN,
        ];
        assert_ordered(v.map(Value::Float).to_vec(), DataType::Double);
        assert_eq!(
            key(Value::Float(-0.0), DataType::Double),
            key(Value::Float(0.0), DataType::Double)
        );
    }

    #[test]
    fn decimal_keys_order() {
        let v: Vec<Value> = [
            "-1000", "-12.5", "-12.25", "-0.001", "0", "0.001", "0.0012", "1", "1.5", "10",
            "99.99", "1000",
        ]
        .iter()
        .map(|s| Value::Decimal(s.parse().unwrap()))
        .collect();
        assert_ordered(
            v,
            DataType::Decimal {
                precision: 0,
                scale: 0,
            },
        );
        let a = key(
            Value::Decimal("1.50".parse().unwrap()),
            DataType::Decimal {
                precision: 0,
                scale: 0,
            },
        );
        let b = key(
            Value::Decimal("1.5".parse().unwrap()),
            DataType::Decimal {
                precision: 0,
                scale: 0,
            },
        );
        assert_eq!(a, b, "scale does not change the key");
    }

    #[test]
    fn text_keys_order_and_embedded_zero() {
        let v = ["", "\0", "\0a", "a", "a\0", "ab", "b"]
            .map(Value::from)
            .to_vec();
        assert_ordered(v, DataType::Text);
        // A composite key: ("a", 2) < ("ab", 1) because "a" < "ab" even with a suffix.
        let mut k1 = key("a".into(), DataType::Text);
        k1.extend(key(Value::Int(2), DataType::Int));
        let mut k2 = key("ab".into(), DataType::Text);
        k2.extend(key(Value::Int(1), DataType::Int));
        assert!(k1 < k2);
    }

    #[test]
    fn date_keys_order() {
        assert_ordered(
            [-800, -1, 0, 19_000].map(Value::Date).to_vec(),
            DataType::Date,
        );
    }

    #[test]
    fn row_round_trip() {
        let types = [
            DataType::Int,
            DataType::Text,
            DataType::Double,
            DataType::Bool,
            DataType::Decimal {
                precision: 10,
                scale: 2,
            },
            DataType::Bytea,
            DataType::Date,
            DataType::Timestamp,
            DataType::BigInt,
        ];
        let row = vec![
            Value::Int(-7),
            Value::from("héllo"),
            Value::Float(2.5),
            Value::Bool(true),
            Value::Decimal("-12.34".parse().unwrap()),
            Value::Bytes(vec![0, 1, 2]),
            Value::Date(-3),
            Value::Null,
            Value::Int(i64::MIN),
        ];
        let bytes = encode_row(&row, &types);
        let back = decode_row(&bytes, &types, |_| Value::Null).unwrap();
        assert_eq!(format!("{back:?}"), format!("{row:?}"));
    }

    #[test]
    fn row_fill_for_added_columns() {
        let bytes = encode_row(&[Value::Int(1)], &[DataType::Int]);
        let back = decode_row(&bytes, &[DataType::Int, DataType::Text], |_| {
            Value::from("x")
        })
        .unwrap();
        assert_eq!(back, vec![Value::Int(1), Value::from("x")]);
    }

    #[test]
    fn corrupt_rows_are_errors() {
        let types = [DataType::Text, DataType::Int];
        let good = encode_row(&[Value::from("abc"), Value::Int(300)], &types);
        for cut in 0..good.len() {
            assert!(
                decode_row(&good[..cut], &types, |_| Value::Null).is_err(),
                "cut {cut}"
            );
        }
        let mut bad = good.clone();
        bad[0] = 9;
        assert!(decode_row(&bad, &types, |_| Value::Null).is_err());
        let mut extra = good.clone();
        extra.push(0);
        assert!(decode_row(&extra, &types, |_| Value::Null).is_err());
        let mut utf = good;
        utf[4] = 0xFF;
        assert!(decode_row(&utf, &types, |_| Value::Null).is_err());
        assert!(decode_row(
            &[
                1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F
            ],
            &types,
            |_| Value::Null
        )
        .is_err());
    }

    #[test]
    fn prefix_end_works() {
        assert_eq!(prefix_end(&[1, 2, 0xFF]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[0xFF]), None);
    }
}
