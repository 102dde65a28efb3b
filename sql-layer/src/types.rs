//! SQL types ([`DataType`]) and values ([`Value`]): casts, comparison, hashing and the text
//! form values print as.
//!
//! Every integer type is held as `i64` and range-checked against its declared width when it
//! is stored or produced by arithmetic; `REAL` is held as `f64` rounded through `f32`;
//! `DECIMAL(p, s)` is exact ([`rust_decimal::Decimal`], at most 28 significant digits).
//! `NULL` is [`Value::Null`] whatever the type.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::datetime;
use crate::error::{Error, Result};

/// Largest DECIMAL precision (significant digits) supported.
pub const MAX_DECIMAL_PRECISION: u8 = 28;

/// A column or expression type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    /// BOOLEAN.
    Bool,
    /// SMALLINT (16 bits).
    SmallInt,
    /// INT / INTEGER (32 bits).
    Int,
    /// BIGINT (64 bits).
    BigInt,
    /// DECIMAL(precision, scale) / NUMERIC; precision 0 means unconstrained.
    Decimal {
        /// Total significant digits (0 = unconstrained).
        precision: u8,
        /// Digits after the point.
        scale: u8,
    },
    /// REAL (32-bit float).
    Real,
    /// DOUBLE PRECISION / FLOAT.
    Double,
    /// VARCHAR(n); `None` = no limit.
    Varchar(Option<u32>),
    /// CHAR(n): blank-padded to n characters.
    Char(u32),
    /// TEXT.
    Text,
    /// DATE.
    Date,
    /// TIMESTAMP (without time zone), microsecond precision.
    Timestamp,
    /// BYTEA.
    Bytea,
    /// The type of an untyped NULL (or of a string literal before context gives it one).
    Unknown,
}

impl DataType {
    /// True for the integer, decimal and floating types.
    pub fn is_numeric(self) -> bool {
        self.is_integer() || self.is_float() || matches!(self, DataType::Decimal { .. })
    }
    /// True for SMALLINT, INT, BIGINT.
    pub fn is_integer(self) -> bool {
        matches!(self, DataType::SmallInt | DataType::Int | DataType::BigInt)
    }
    /// True for REAL and DOUBLE.
    pub fn is_float(self) -> bool {
        matches!(self, DataType::Real | DataType::Double)
    }
    /// True for the character types.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            DataType::Varchar(_) | DataType::Char(_) | DataType::Text
        )
    }

    fn numeric_rank(self) -> u8 {
        match self {
            DataType::SmallInt => 1,
            DataType::Int => 2,
            DataType::BigInt => 3,
            DataType::Decimal { .. } => 4,
            DataType::Real => 5,
            DataType::Double => 6,
            _ => 0,
        }
    }

    /// The type two operands are brought to for arithmetic or comparison, if any.
    pub fn common(a: DataType, b: DataType) -> Option<DataType> {
        use DataType::*;
        if a == b {
            return Some(a);
        }
        match (a, b) {
            (Unknown, t) | (t, Unknown) => Some(t),
            _ if a.is_numeric() && b.is_numeric() => {
                let (ra, rb) = (a.numeric_rank(), b.numeric_rank());
                Some(match (a, b) {
                    (Decimal { .. }, Decimal { .. }) => Decimal {
                        precision: 0,
                        scale: 0,
                    },
                    (Decimal { .. }, t) | (t, Decimal { .. }) if !t.is_float() => Decimal {
                        precision: 0,
                        scale: 0,
                    },
                    _ if ra >= rb => a,
                    _ => b,
                })
            }
            _ if a.is_text() && b.is_text() => Some(Text),
            (Date, Timestamp) | (Timestamp, Date) => Some(Timestamp),
            _ => None,
        }
    }

    /// The SQL spelling of the type.
    pub fn sql_name(self) -> String {
        match self {
            DataType::Bool => "BOOLEAN".into(),
            DataType::SmallInt => "SMALLINT".into(),
            DataType::Int => "INTEGER".into(),
            DataType::BigInt => "BIGINT".into(),
            DataType::Decimal { precision: 0, .. } => "NUMERIC".into(),
            DataType::Decimal { precision, scale } => format!("NUMERIC({precision},{scale})"),
            DataType::Real => "REAL".into(),
            DataType::Double => "DOUBLE PRECISION".into(),
            DataType::Varchar(None) => "VARCHAR".into(),
            DataType::Varchar(Some(n)) => format!("VARCHAR({n})"),
            DataType::Char(n) => format!("CHAR({n})"),
            DataType::Text => "TEXT".into(),
            DataType::Date => "DATE".into(),
            DataType::Timestamp => "TIMESTAMP".into(),
            DataType::Bytea => "BYTEA".into(),
            DataType::Unknown => "UNKNOWN".into(),
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sql_name())
    }
}

/// A SQL value.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// NULL.
    #[default]
    Null,
    /// BOOLEAN.
    Bool(bool),
    /// Any integer type.
    Int(i64),
    /// REAL or DOUBLE.
    Float(f64),
    /// DECIMAL / NUMERIC.
    Decimal(Decimal),
    /// The character types.
    Text(String),
    /// BYTEA.
    Bytes(Vec<u8>),
    /// DATE: days since 1970-01-01.
    Date(i32),
    /// TIMESTAMP: microseconds since 1970-01-01 00:00:00.
    Timestamp(i64),
}

/// How strictly [`cast`] treats a too-long string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CastMode {
    /// `CAST(x AS VARCHAR(3))`: truncates.
    Explicit,
    /// Storing into a column: too long is an error (22001).
    Assignment,
}

fn out_of_range(ty: DataType) -> Error {
    Error::OutOfRange(format!("{} value", ty.sql_name().to_lowercase()))
}

/// Checks that `v` fits integer type `ty`.
pub fn check_int(v: i64, ty: DataType) -> Result<i64> {
    let ok = match ty {
        DataType::SmallInt => i16::try_from(v).is_ok(),
        DataType::Int => i32::try_from(v).is_ok(),
        _ => true,
    };
    if ok {
        Ok(v)
    } else {
        Err(Error::OutOfRange(match ty {
            DataType::SmallInt => "smallint".into(),
            DataType::Int => "integer".into(),
            _ => "bigint".into(),
        }))
    }
}

/// Rounds and range-checks a decimal for DECIMAL(precision, scale).
pub fn fit_decimal(d: Decimal, precision: u8, scale: u8) -> Result<Decimal> {
    if precision == 0 {
        return Ok(d);
    }
    let r = d.round_dp_with_strategy(u32::from(scale), RoundingStrategy::MidpointAwayFromZero);
    let int_digits = r.trunc().abs().to_string().trim_start_matches('0').len() as u32;
    if int_digits + u32::from(scale) > u32::from(precision) {
        return Err(Error::OutOfRange(format!(
            "numeric field overflow: precision {precision}, scale {scale}"
        )));
    }
    let mut r = r;
    r.rescale(u32::from(scale));
    Ok(r)
}

fn parse_decimal(s: &str) -> Option<Decimal> {
    let t = s.trim();
    if t.contains(['e', 'E']) {
        return Decimal::from_scientific(t).ok();
    }
    t.parse::<Decimal>().ok()
}

fn parse_float(s: &str) -> Option<f64> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "infinity" | "inf" | "+infinity" => Some(f64::INFINITY),
        "-infinity" | "-inf" => Some(f64::NEG_INFINITY),
        _ if t.is_empty()
            || t.contains(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E') =>
        {
            None
        }
        _ => t.parse().ok(),
    }
}

fn float_to_int(f: f64, ty: DataType) -> Result<i64> {
    if !f.is_finite() {
        return Err(out_of_range(ty));
    }
    let r = f.round_ties_even();
    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&r) {
        return Err(out_of_range(ty));
    }
    check_int(r as i64, ty)
}

fn round_real(f: f64) -> Result<f64> {
    let r = f as f32;
    if r.is_infinite() && f.is_finite() {
        return Err(Error::OutOfRange("real value".into()));
    }
    Ok(f64::from(r))
}

/// Converts `v` to type `to`. NULL stays NULL; `Unknown` accepts anything unchanged.
pub fn cast(v: Value, to: DataType, mode: CastMode) -> Result<Value> {
    use DataType as T;
    if matches!(v, Value::Null) || to == T::Unknown {
        return Ok(v);
    }
    let invalid = |v: &Value| Error::InvalidText {
        ty: to.sql_name().to_lowercase(),
        text: v.to_string(),
    };
    let mismatch = |v: &Value| {
        Error::TypeMismatch(format!(
            "cannot cast {} to {}",
            v.type_name(),
            to.sql_name().to_lowercase()
        ))
    };
    Ok(match to {
        T::Bool => match v {
            Value::Bool(_) => v,
            Value::Int(i) => Value::Bool(i != 0),
            Value::Text(ref s) => match s.trim().to_ascii_lowercase().as_str() {
                "t" | "true" | "y" | "yes" | "on" | "1" => Value::Bool(true),
                "f" | "false" | "n" | "no" | "off" | "0" => Value::Bool(false),
                _ => return Err(invalid(&v)),
            },
            _ => return Err(mismatch(&v)),
        },
        T::SmallInt | T::Int | T::BigInt => match v {
            Value::Int(i) => Value::Int(check_int(i, to)?),
            Value::Float(f) => Value::Int(float_to_int(f, to)?),
            Value::Decimal(d) => {
                let r = d.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
                Value::Int(check_int(r.to_i64().ok_or_else(|| out_of_range(to))?, to)?)
            }
            Value::Bool(b) => Value::Int(i64::from(b)),
            Value::Text(ref s) => {
                let t = s.trim();
                match t.parse::<i64>() {
                    Ok(i) => Value::Int(check_int(i, to)?),
                    Err(_)
                        if !t.is_empty()
                            && t.trim_start_matches(['-', '+'])
                                .bytes()
                                .all(|b| b.is_ascii_digit()) =>
                    {
                        return Err(out_of_range(to))
                    }
                    Err(_) => return Err(invalid(&v)),
                }
            }
            _ => return Err(mismatch(&v)),
        },
        T::Decimal { precision, scale } => {
            let d = match v {
                Value::Int(i) => Decimal::from(i),
                Value::Float(f) => {
                    if !f.is_finite() {
                        return Err(Error::OutOfRange("numeric value".into()));
                    }
                    Decimal::from_f64(f).ok_or_else(|| Error::OutOfRange("numeric value".into()))?
                }
                Value::Decimal(d) => d,
                Value::Text(ref s) => parse_decimal(s).ok_or_else(|| invalid(&v))?,
                _ => return Err(mismatch(&v)),
            };
            Value::Decimal(fit_decimal(d, precision, scale)?)
        }
        T::Real | T::Double => {
            let f = match v {
                Value::Int(i) => i as f64,
                Value::Float(f) => f,
                Value::Decimal(d) => d.to_f64().unwrap_or(f64::NAN),
                Value::Text(ref s) => parse_float(s).ok_or_else(|| invalid(&v))?,
                _ => return Err(mismatch(&v)),
            };
            Value::Float(if to == T::Real { round_real(f)? } else { f })
        }
        T::Varchar(limit) => {
            let s = v.into_text();
            match limit {
                Some(n) if s.chars().count() > n as usize => {
                    let cut: String = s.chars().take(n as usize).collect();
                    if mode == CastMode::Assignment
                        && !s[cut.len()..].trim_end_matches(' ').is_empty()
                    {
                        return Err(Error::StringTooLong(format!("character varying({n})")));
                    }
                    Value::Text(cut)
                }
                _ => Value::Text(s),
            }
        }
        T::Char(n) => {
            let s = v.into_text();
            let len = s.chars().count();
            let n = n as usize;
            if len > n {
                let cut: String = s.chars().take(n).collect();
                if mode == CastMode::Assignment && !s[cut.len()..].trim_end_matches(' ').is_empty()
                {
                    return Err(Error::StringTooLong(format!("character({n})")));
                }
                Value::Text(cut)
            } else {
                let mut s = s;
                s.extend(std::iter::repeat_n(' ', n - len));
                Value::Text(s)
            }
        }
        T::Text => Value::Text(v.into_text()),
        T::Date => match v {
            Value::Date(_) => v,
            Value::Timestamp(ts) => Value::Date(ts.div_euclid(datetime::MICROS_PER_DAY) as i32),
            Value::Text(ref s) => Value::Date(datetime::parse_date(s)?),
            _ => return Err(mismatch(&v)),
        },
        T::Timestamp => match v {
            Value::Timestamp(_) => v,
            Value::Date(d) => Value::Timestamp(i64::from(d) * datetime::MICROS_PER_DAY),
            Value::Text(ref s) => Value::Timestamp(datetime::parse_timestamp(s)?),
            _ => return Err(mismatch(&v)),
        },
        T::Bytea => match v {
            Value::Bytes(_) => v,
            Value::Text(s) => Value::Bytes(parse_bytea(&s)?),
            _ => return Err(mismatch(&v)),
        },
        T::Unknown => v,
    })
}

fn parse_bytea(s: &str) -> Result<Vec<u8>> {
    let Some(hex) = s.strip_prefix("\\x") else {
        return Ok(s.as_bytes().to_vec());
    };
    let bad = || Error::InvalidText {
        ty: "bytea".into(),
        text: s.to_string(),
    };
    if hex.len() % 2 != 0 {
        return Err(bad());
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).ok_or_else(bad)?, 16).map_err(|_| bad()))
        .collect()
}

impl Value {
    /// True for NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A short name of the value's kind, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "double precision",
            Value::Decimal(_) => "numeric",
            Value::Text(_) => "text",
            Value::Bytes(_) => "bytea",
            Value::Date(_) => "date",
            Value::Timestamp(_) => "timestamp",
        }
    }

    /// The text form of the value (NULL gives the empty string).
    pub fn into_text(self) -> String {
        match self {
            Value::Text(s) => s,
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }

    /// The value as `f64`, for numeric values.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Decimal(d) => d.to_f64(),
            _ => None,
        }
    }

    /// Three-valued truth: `Some(b)` for booleans, `None` for NULL.
    pub fn truth(&self) -> Result<Option<bool>> {
        match self {
            Value::Null => Ok(None),
            Value::Bool(b) => Ok(Some(*b)),
            Value::Int(i) => Ok(Some(*i != 0)),
            other => Err(Error::TypeMismatch(format!(
                "argument must be boolean, not {}",
                other.type_name()
            ))),
        }
    }

    /// SQL comparison: `None` when either side is NULL or the kinds are incomparable.
    pub fn sql_cmp(&self, other: &Value) -> Option<Ordering> {
        use Value::*;
        match (self, other) {
            (Null, _) | (_, Null) => None,
            (Int(a), Int(b)) => Some(a.cmp(b)),
            (Float(a), Float(b)) => Some(cmp_f64(*a, *b)),
            (Decimal(a), Decimal(b)) => Some(a.cmp(b)),
            (Int(a), Decimal(b)) => Some(rust_decimal::Decimal::from(*a).cmp(b)),
            (Decimal(a), Int(b)) => Some(a.cmp(&rust_decimal::Decimal::from(*b))),
            (Int(_) | Decimal(_), Float(_)) | (Float(_), Int(_) | Decimal(_)) => {
                Some(cmp_f64(self.as_f64()?, other.as_f64()?))
            }
            (Text(a), Text(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (Bool(a), Bool(b)) => Some(a.cmp(b)),
            (Bytes(a), Bytes(b)) => Some(a.cmp(b)),
            (Date(a), Date(b)) => Some(a.cmp(b)),
            (Timestamp(a), Timestamp(b)) => Some(a.cmp(b)),
            (Date(a), Timestamp(b)) => Some((i64::from(*a) * datetime::MICROS_PER_DAY).cmp(b)),
            (Timestamp(a), Date(b)) => Some(a.cmp(&(i64::from(*b) * datetime::MICROS_PER_DAY))),
            _ => None,
        }
    }

    /// A total order for sorting and grouping: NULL first, then by kind, then by value.
    pub fn total_cmp(&self, other: &Value) -> Ordering {
        if let Some(o) = self.sql_cmp(other) {
            return o;
        }
        self.kind_rank().cmp(&other.kind_rank())
    }

    fn kind_rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) | Value::Float(_) | Value::Decimal(_) => 2,
            Value::Text(_) => 3,
            Value::Bytes(_) => 4,
            Value::Date(_) | Value::Timestamp(_) => 5,
        }
    }
}

/// Orders floats with NaN above everything (as PostgreSQL does) and -0 == 0.
fn cmp_f64(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Grouping equality: NULL equals NULL, numbers compare by value across kinds.
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            _ => self.sql_cmp(other) == Some(Ordering::Equal),
        }
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Value::Null => 0u8.hash(state),
            Value::Bool(b) => b.hash(state),
            // Numbers hash by their f64 image so 1, 1.0 and 1.00 land together; values that
            // differ only beyond f64 precision collide, which equality then separates.
            Value::Int(_) | Value::Float(_) | Value::Decimal(_) => {
                let f = self.as_f64().unwrap_or(0.0);
                let f = if f == 0.0 { 0.0 } else { f };
                if f.is_nan() {
                    u64::MAX.hash(state)
                } else {
                    f.to_bits().hash(state)
                }
            }
            Value::Text(s) => s.hash(state),
            Value::Bytes(b) => b.hash(state),
            Value::Date(d) => (i64::from(*d) * datetime::MICROS_PER_DAY).hash(state),
            Value::Timestamp(t) => t.hash(state),
        }
    }
}

/// Formats a float the way PostgreSQL prints `double precision`.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        let abs = f.abs();
        if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
            let s = format!("{f:e}");
            // Rust prints `1e20`; PostgreSQL prints `1e+20`.
            match s.split_once('e') {
                Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
                _ => s,
            }
        } else {
            format!("{f}")
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Bool(b) => f.write_str(if *b { "t" } else { "f" }),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&format_float(*x)),
            Value::Decimal(d) => write!(f, "{d}"),
            Value::Text(s) => f.write_str(s),
            Value::Bytes(b) => {
                f.write_str("\\x")?;
                b.iter().try_for_each(|x| write!(f, "{x:02x}"))
            }
            Value::Date(d) => f.write_str(&datetime::format_date(*d)),
            Value::Timestamp(t) => f.write_str(&datetime::format_timestamp(*t)),
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value { Value::Int(i64::from(v)) }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Value {
        Value::Float(f64::from(v))
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Bytes(v)
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Bytes(v.to_vec())
    }
}
impl From<Decimal> for Value {
    fn from(v: Decimal) -> Value {
        Value::Decimal(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// Conversion out of a [`Value`], for typed row access ([`crate::Row::get`]).
pub trait FromValue: Sized {
    /// Converts, or says why not.
    fn from_value(v: &Value) -> Result<Self>;
}

fn wrong(v: &Value, want: &str) -> Error {
    Error::TypeMismatch(format!("cannot read {} as {want}", v.type_name()))
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Int(i) => Ok(*i),
            _ => Err(wrong(v, "i64")),
        }
    }
}
impl FromValue for i32 {
    fn from_value(v: &Value) -> Result<Self> {
        let i = i64::from_value(v)?;
        i32::try_from(i).map_err(|_| Error::OutOfRange("i32".into()))
    }
}
impl FromValue for f64 {
    fn from_value(v: &Value) -> Result<Self> {
        v.as_f64().ok_or_else(|| wrong(v, "f64"))
    }
}
impl FromValue for bool {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Bool(b) => Ok(*b),
            _ => Err(wrong(v, "bool")),
        }
    }
}
impl FromValue for String {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Null => Err(wrong(v, "String")),
            Value::Text(s) => Ok(s.clone()),
            other => Ok(other.to_string()),
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Bytes(b) => Ok(b.clone()),
            _ => Err(wrong(v, "Vec<u8>")),
        }
    }
}
impl FromValue for Decimal {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Decimal(d) => Ok(*d),
            Value::Int(i) => Ok(Decimal::from(*i)),
            _ => Err(wrong(v, "Decimal")),
        }
    }
}
impl FromValue for Value {
    fn from_value(v: &Value) -> Result<Self> {
        Ok(v.clone())
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(v: Value, t: DataType) -> Result<Value> {
        cast(v, t, CastMode::Assignment)
    }

    #[test]
    fn integer_ranges() {
        assert!(c(Value::Int(40_000), DataType::SmallInt).is_err());
        assert_eq!(
            c(Value::Int(-32_768), DataType::SmallInt).unwrap(),
            Value::Int(-32_768)
        );
        assert_eq!(
            c(Value::Int(1 << 40), DataType::Int)
                .unwrap_err()
                .sqlstate(),
            "22003"
        );
        assert_eq!(c("  42 ".into(), DataType::Int).unwrap(), Value::Int(42));
        assert_eq!(
            c("4x".into(), DataType::Int).unwrap_err().sqlstate(),
            "22P02"
        );
        assert_eq!(
            c("99999999999".into(), DataType::Int)
                .unwrap_err()
                .sqlstate(),
            "22003"
        );
        assert_eq!(c(Value::Float(2.5), DataType::Int).unwrap(), Value::Int(2));
        assert_eq!(
            c(Value::Float(f64::NAN), DataType::Int)
                .unwrap_err()
                .sqlstate(),
            "22003"
        );
    }

    #[test]
    fn decimals_round_and_overflow() {
        let t = DataType::Decimal {
            precision: 5,
            scale: 2,
        };
        assert_eq!(c("1.005".into(), t).unwrap().to_string(), "1.01");
        assert_eq!(c(Value::Int(3), t).unwrap().to_string(), "3.00");
        assert_eq!(c("1000".into(), t).unwrap_err().sqlstate(), "22003");
        assert_eq!(c("-999.994".into(), t).unwrap().to_string(), "-999.99");
    }

    #[test]
    fn strings_truncate_or_fail() {
        assert_eq!(
            c("abcd".into(), DataType::Varchar(Some(3)))
                .unwrap_err()
                .sqlstate(),
            "22001"
        );
        assert_eq!(
            c("abc  ".into(), DataType::Varchar(Some(3))).unwrap(),
            Value::from("abc")
        );
        assert_eq!(
            cast(
                "abcd".into(),
                DataType::Varchar(Some(3)),
                CastMode::Explicit
            )
            .unwrap(),
            Value::from("abc")
        );
        assert_eq!(
            c("ab".into(), DataType::Char(4)).unwrap(),
            Value::from("ab  ")
        );
    }

    #[test]
    fn comparison_and_grouping() {
        assert_eq!(Value::Int(1), Value::Float(1.0));
        assert_eq!(Value::Int(1), Value::Decimal(Decimal::new(100, 2)));
        assert!(Value::Null.sql_cmp(&Value::Null).is_none());
        assert_eq!(Value::Null, Value::Null);
        assert_eq!(
            Value::Float(f64::NAN).total_cmp(&Value::Float(1e300)),
            Ordering::Greater
        );
        use std::collections::hash_map::DefaultHasher;
        let h = |v: &Value| {
            let mut s = DefaultHasher::new();
            v.hash(&mut s);
            s.finish()
        };
        assert_eq!(h(&Value::Int(3)), h(&Value::Decimal(Decimal::new(300, 2))));
        assert_eq!(h(&Value::Float(0.0)), h(&Value::Float(-0.0)));
    }

    #[test]
    fn display_forms() {
        assert_eq!(Value::Float(1e20).to_string(), "1e+20");
        assert_eq!(Value::Float(0.5).to_string(), "0.5");
        assert_eq!(Value::Float(3.0).to_string(), "3");
        assert_eq!(Value::Bytes(vec![0xde, 0xad]).to_string(), "\\xdead");
        assert_eq!(
            c("\\x0aff".into(), DataType::Bytea).unwrap(),
            Value::Bytes(vec![10, 255])
        );
        assert!(c("\\x0".into(), DataType::Bytea).is_err());
        assert_eq!(c("yes".into(), DataType::Bool).unwrap(), Value::Bool(true));
    }
}
