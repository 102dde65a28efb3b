//! Scalar functions: name and argument-type resolution ([`Func::lookup`]) and evaluation.

use rust_decimal::prelude::FromPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::datetime;
use crate::error::{Error, Result};
use crate::exec::Env;
use crate::expr::Expr;
use crate::types::{cast, check_int, CastMode, DataType, Value};

/// A scalar function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Abs,
    Ceil,
    Floor,
    Round,
    Trunc,
    Sign,
    Sqrt,
    Power,
    Exp,
    Ln,
    Log10,
    Mod,
    Pi,
    Random,
    Greatest,
    Least,
    Coalesce,
    NullIf,
    Lower,
    Upper,
    Length,
    OctetLength,
    Substr,
    Trim,
    LTrim,
    RTrim,
    Replace,
    StrPos,
    Concat,
    ConcatWs,
    Left,
    Right,
    Repeat,
    Reverse,
    LPad,
    RPad,
    InitCap,
    SplitPart,
    StartsWith,
    Chr,
    Ascii,
    Now,
    CurrentDate,
    DatePart,
    DateTrunc,
    NextVal,
}

fn numeric_result(t: DataType) -> Result<DataType> {
    match t {
        DataType::Unknown => Ok(DataType::Double),
        t if t.is_numeric() => Ok(t),
        t => Err(Error::UndefinedFunction(format!("for argument type {t}"))),
    }
}

fn common_all(name: &str, types: &[DataType]) -> Result<DataType> {
    let mut t = DataType::Unknown;
    for &a in types {
        t = DataType::common(t, a).ok_or_else(|| {
            Error::TypeMismatch(format!("{name} types {t} and {a} cannot be matched"))
        })?;
    }
    Ok(if t == DataType::Unknown {
        DataType::Text
    } else {
        t
    })
}

impl Func {
    /// Resolves `name(args)`; returns the function and its result type.
    pub fn lookup(name: &str, args: &[DataType]) -> Result<(Func, DataType)> {
        use DataType as T;
        use Func::*;
        let n = args.len();
        let arity = |ok: bool| -> Result<()> {
            if ok {
                Ok(())
            } else {
                Err(Error::UndefinedFunction(format!(
                    "{name} with {n} argument(s)"
                )))
            }
        };
        let first = args.first().copied().unwrap_or(T::Unknown);
        let (f, ty) = match name {
            "abs" => (Abs, numeric_result(first)?),
            "ceil" | "ceiling" => (Ceil, numeric_result(first)?),
            "floor" => (Floor, numeric_result(first)?),
            "round" => (Round, numeric_result(first)?),
            "trunc" | "truncate" => (Trunc, numeric_result(first)?),
            "sign" => (Sign, numeric_result(first)?),
            "sqrt" => (Sqrt, T::Double),
            "power" | "pow" => (Power, T::Double),
            "exp" => (Exp, T::Double),
            "ln" => (Ln, T::Double),
            "log" | "log10" => (Log10, T::Double),
            "mod" => (Mod, common_all(name, args)?),
            "pi" => (Pi, T::Double),
            "random" => (Random, T::Double),
            "greatest" => (Greatest, common_all(name, args)?),
            "least" => (Least, common_all(name, args)?),
            "coalesce" | "ifnull" | "nvl" => (Coalesce, common_all(name, args)?),
            "nullif" => (NullIf, common_all(name, args)?),
            "lower" => (Lower, T::Text),
            "upper" => (Upper, T::Text),
            "length" | "char_length" | "character_length" => (Length, T::Int),
            "octet_length" => (OctetLength, T::Int),
            "substr" | "substring" => (Substr, T::Text),
            "trim" | "btrim" => (Trim, T::Text),
            "ltrim" => (LTrim, T::Text),
            "rtrim" => (RTrim, T::Text),
            "replace" => (Replace, T::Text),
            "strpos" | "instr" | "position" => (StrPos, T::Int),
            "concat" => (Concat, T::Text),
            "concat_ws" => (ConcatWs, T::Text),
            "left" => (Left, T::Text),
            "right" => (Right, T::Text),
            "repeat" => (Repeat, T::Text),
            "reverse" => (Reverse, T::Text),
            "lpad" => (LPad, T::Text),
            "rpad" => (RPad, T::Text),
            "initcap" => (InitCap, T::Text),
            "split_part" => (SplitPart, T::Text),
            "starts_with" => (StartsWith, T::Bool),
            "chr" => (Chr, T::Text),
            "ascii" => (Ascii, T::Int),
            "now" | "current_timestamp" | "localtimestamp" => (Now, T::Timestamp),
            "current_date" => (CurrentDate, T::Date),
            "date_part" | "extract" => (DatePart, T::Double),
            "date_trunc" => (DateTrunc, T::Timestamp),
            "nextval" => (NextVal, T::BigInt),
            _ => return Err(Error::UndefinedFunction(format!("{name}()"))),
        };
        let (min, max) = match f {
            Pi | Random | Now | CurrentDate => (0, 0),
            Abs | Ceil | Floor | Sign | Sqrt | Exp | Ln | Lower | Upper | Length | OctetLength
            | Reverse | InitCap | Chr | Ascii | NextVal => (1, 1),
            Round | Trunc | Trim | LTrim | RTrim => (1, 2),
            Log10 => (1, 2),
            Power | Mod | NullIf | StrPos | Left | Right | Repeat | StartsWith | DatePart
            | DateTrunc => (2, 2),
            Substr | LPad | RPad => (2, 3),
            Replace | SplitPart => (3, 3),
            Greatest | Least | Coalesce | Concat => (1, usize::MAX),
            ConcatWs => (2, usize::MAX),
        };
        arity(n >= min && n <= max)?;
        let ty = match (f, n) {
            (Log10, 2) => T::Double,
            (Round | Trunc, 2) if first.is_integer() => T::Decimal {
                precision: 0,
                scale: 0,
            },
            _ => ty,
        };
        Ok((f, ty))
    }

    /// True for functions whose result changes from call to call.
    pub fn is_volatile(self) -> bool {
        matches!(self, Func::Random | Func::NextVal)
    }

    /// Evaluates the call.
    pub fn eval(self, args: &[Expr], row: &[Value], env: &Env<'_, '_>) -> Result<Value> {
        // Lazy ones first: they must not evaluate arguments they do not need.
        if self == Func::Coalesce {
            for a in args {
                let v = a.eval(row, env)?;
                if !v.is_null() {
                    return Ok(v);
                }
            }
            return Ok(Value::Null);
        }
        let vals = args
            .iter()
            .map(|a| a.eval(row, env))
            .collect::<Result<Vec<_>>>()?;
        self.apply(vals, env)
    }

    fn apply(self, mut v: Vec<Value>, env: &Env<'_, '_>) -> Result<Value> {
        use Func::*;
        // NULL in, NULL out — except for the functions that treat NULL specially.
        if !matches!(
            self,
            Greatest | Least | NullIf | Concat | ConcatWs | Now | CurrentDate | Pi | Random
        ) && v.iter().any(Value::is_null)
        {
            return Ok(Value::Null);
        }
        let text = |v: &Value| v.clone().into_text();
        let int = |v: &Value| -> Result<i64> {
            match cast(v.clone(), DataType::BigInt, CastMode::Explicit)? {
                Value::Int(i) => Ok(i),
                _ => Err(Error::TypeMismatch("integer expected".into())),
            }
        };
        let float = |v: &Value| -> Result<f64> {
            v.as_f64()
                .ok_or_else(|| Error::TypeMismatch(format!("{} is not a number", v.type_name())))
        };
        Ok(match self {
            Abs => match &v[0] {
                Value::Int(i) => Value::Int(
                    i.checked_abs()
                        .ok_or_else(|| Error::OutOfRange("integer".into()))?,
                ),
                Value::Float(f) => Value::Float(f.abs()),
                Value::Decimal(d) => Value::Decimal(d.abs()),
                Value::Text(s) => Value::Float(parse_num(s)?.abs()),
                other => return Err(not_number(other)),
            },
            Ceil | Floor | Round | Trunc => {
                let places = if v.len() > 1 { int(&v[1])? } else { 0 };
                round_like(self, &v[0], places)?
            }
            Sign => match &v[0] {
                Value::Int(i) => Value::Int(i.signum()),
                Value::Float(f) => Value::Float(if *f == 0.0 { 0.0 } else { f.signum() }),
                Value::Decimal(d) => Value::Decimal(if d.is_zero() {
                    Decimal::ZERO
                } else if d.is_sign_negative() {
                    Decimal::NEGATIVE_ONE
                } else {
                    Decimal::ONE
                }),
                other => return Err(not_number(other)),
            },
            Sqrt => {
                let x = float(&v[0])?;
                if x < 0.0 {
                    return Err(Error::InvalidParameter(
                        "cannot take square root of a negative number".into(),
                    ));
                }
                Value::Float(x.sqrt())
            }
            Power => finite(float(&v[0])?.powf(float(&v[1])?))?,
            Exp => finite(float(&v[0])?.exp())?,
            Ln | Log10 => {
                let (base, x) = if v.len() == 2 {
                    (Some(float(&v[0])?), float(&v[1])?)
                } else {
                    (None, float(&v[0])?)
                };
                if x <= 0.0 {
                    return Err(Error::InvalidParameter(
                        "cannot take logarithm of zero or a negative number".into(),
                    ));
                }
                Value::Float(match (self, base) {
                    (Ln, _) => x.ln(),
                    (_, Some(b)) => x.ln() / b.ln(),
                    _ => x.log10(),
                })
            }
            Mod => crate::expr::binary(
                crate::expr::BinOp::Mod,
                v[0].clone(),
                v[1].clone(),
                kind_of(&v[0], &v[1]),
            )?,
            Pi => Value::Float(std::f64::consts::PI),
            Random => Value::Float(env.cx.random()),
            Greatest | Least => {
                let mut best: Option<Value> = None;
                for x in v.into_iter().filter(|x| !x.is_null()) {
                    best = Some(match best {
                        None => x,
                        Some(b) => {
                            let o = x.sql_cmp(&b).ok_or_else(|| {
                                Error::TypeMismatch("incomparable arguments".into())
                            })?;
                            if (self == Greatest && o.is_gt()) || (self == Least && o.is_lt()) {
                                x
                            } else {
                                b
                            }
                        }
                    });
                }
                best.unwrap_or(Value::Null)
            }
            NullIf => {
                if !v[0].is_null() && v[0].sql_cmp(&v[1]) == Some(std::cmp::Ordering::Equal) {
                    Value::Null
                } else {
                    v.swap_remove(0)
                }
            }
            Coalesce => Value::Null,
            Lower => Value::Text(text(&v[0]).to_lowercase()),
            Upper => Value::Text(text(&v[0]).to_uppercase()),
            Length => Value::Int(match &v[0] {
                Value::Bytes(b) => b.len() as i64,
                x => text(x).chars().count() as i64,
            }),
            OctetLength => Value::Int(match &v[0] {
                Value::Bytes(b) => b.len() as i64,
                x => text(x).len() as i64,
            }),
            Substr => {
                let s: Vec<char> = text(&v[0]).chars().collect();
                let from = int(&v[1])?;
                let (start, end) = match v.get(2) {
                    Some(len) => {
                        let len = int(len)?;
                        if len < 0 {
                            return Err(Error::InvalidParameter(
                                "negative substring length not allowed".into(),
                            ));
                        }
                        (from, from.saturating_add(len))
                    }
                    None => (from, i64::MAX),
                };
                let lo = (start.max(1) - 1).min(s.len() as i64) as usize;
                let hi = (end.max(1) - 1).min(s.len() as i64) as usize;
                Value::Text(s[lo..hi.max(lo)].iter().collect())
            }
            Trim | LTrim | RTrim => {
                let s = text(&v[0]);
                let set: Vec<char> = if v.len() > 1 {
                    text(&v[1]).chars().collect()
                } else {
                    vec![' ']
                };
                let f = |c: char| set.contains(&c);
                Value::Text(match self {
                    Trim => s.trim_matches(f).to_string(),
                    LTrim => s.trim_start_matches(f).to_string(),
                    _ => s.trim_end_matches(f).to_string(),
                })
            }
            Replace => {
                let (s, from, to) = (text(&v[0]), text(&v[1]), text(&v[2]));
                Value::Text(if from.is_empty() {
                    s
                } else {
                    s.replace(&from, &to)
                })
            }
            StrPos => {
                let (s, sub) = (text(&v[0]), text(&v[1]));
                Value::Int(match s.find(&sub) {
                    Some(b) => s[..b].chars().count() as i64 + 1,
                    None => 0,
                })
            }
            Concat => Value::Text(
                v.into_iter()
                    .filter(|x| !x.is_null())
                    .map(Value::into_text)
                    .collect(),
            ),
            ConcatWs => {
                if v[0].is_null() {
                    return Ok(Value::Null);
                }
                let sep = text(&v[0]);
                let parts: Vec<String> = v
                    .into_iter()
                    .skip(1)
                    .filter(|x| !x.is_null())
                    .map(Value::into_text)
                    .collect();
                Value::Text(parts.join(&sep))
            }
            Left | Right => {
                let s: Vec<char> = text(&v[0]).chars().collect();
                let n = int(&v[1])?;
                let len = s.len() as i64;
                let take = if n >= 0 { n.min(len) } else { (len + n).max(0) } as usize;
                Value::Text(if self == Left {
                    s[..take].iter().collect()
                } else {
                    s[s.len() - take..].iter().collect()
                })
            }
            Repeat => {
                let n = int(&v[1])?.max(0) as usize;
                let s = text(&v[0]);
                if s.len().saturating_mul(n) > 1 << 28 {
                    return Err(Error::OutOfRange("requested length too large".into()));
                }
                Value::Text(s.repeat(n))
            }
            Reverse => Value::Text(text(&v[0]).chars().rev().collect()),
            LPad | RPad => {
                let s: Vec<char> = text(&v[0]).chars().collect();
                let n = int(&v[1])?.clamp(0, 1 << 28) as usize;
                let fill: Vec<char> = if v.len() > 2 {
                    text(&v[2]).chars().collect()
                } else {
                    vec![' ']
                };
                if s.len() >= n || fill.is_empty() {
                    Value::Text(s[..n.min(s.len())].iter().collect())
                } else {
                    let pad: String = fill.iter().cycle().take(n - s.len()).collect();
                    let body: String = s.iter().collect();
                    Value::Text(if self == LPad {
                        pad + &body
                    } else {
                        body + &pad
                    })
                }
            }
            InitCap => {
                let mut out = String::new();
                let mut prev_alnum = false;
                for c in text(&v[0]).chars() {
                    if prev_alnum {
                        out.extend(c.to_lowercase())
                    } else {
                        out.extend(c.to_uppercase())
                    }
                    prev_alnum = c.is_alphanumeric();
                }
                Value::Text(out)
            }
            SplitPart => {
                let (s, d, n) = (text(&v[0]), text(&v[1]), int(&v[2])?);
                if n == 0 {
                    return Err(Error::InvalidParameter(
                        "field position must not be zero".into(),
                    ));
                }
                let parts: Vec<&str> = if d.is_empty() {
                    vec![s.as_str()]
                } else {
                    s.split(d.as_str()).collect()
                };
                let idx = if n > 0 { n - 1 } else { parts.len() as i64 + n };
                Value::Text(
                    usize::try_from(idx)
                        .ok()
                        .and_then(|i| parts.get(i))
                        .map_or(String::new(), |p| p.to_string()),
                )
            }
            StartsWith => Value::Bool(text(&v[0]).starts_with(&text(&v[1]))),
            Chr => {
                let n = int(&v[0])?;
                let c = u32::try_from(n)
                    .ok()
                    .filter(|&n| n != 0)
                    .and_then(char::from_u32);
                Value::Text(
                    c.ok_or_else(|| {
                        Error::InvalidParameter(format!("character number {n} is not valid"))
                    })?
                    .to_string(),
                )
            }
            Ascii => Value::Int(
                text(&v[0])
                    .chars()
                    .next()
                    .map_or(0, |c| i64::from(u32::from(c))),
            ),
            Now => Value::Timestamp(env.cx.now),
            CurrentDate => Value::Date(env.cx.now.div_euclid(datetime::MICROS_PER_DAY) as i32),
            DatePart => {
                let field = text(&v[0]).to_lowercase();
                let ts = match cast(v[1].clone(), DataType::Timestamp, CastMode::Explicit)? {
                    Value::Timestamp(t) => t,
                    _ => return Ok(Value::Null),
                };
                Value::Float(datetime::extract(&field, ts).ok_or_else(|| {
                    Error::InvalidParameter(format!("unit \"{field}\" not recognized"))
                })?)
            }
            DateTrunc => {
                let field = text(&v[0]).to_lowercase();
                let ts = match cast(v[1].clone(), DataType::Timestamp, CastMode::Explicit)? {
                    Value::Timestamp(t) => t,
                    _ => return Ok(Value::Null),
                };
                Value::Timestamp(date_trunc(&field, ts)?)
            }
            NextVal => Value::Int(env.cx.nextval(&text(&v[0]))?),
        })
    }
}

fn kind_of(a: &Value, b: &Value) -> DataType {
    match (a, b) {
        (Value::Int(_), Value::Int(_)) => DataType::BigInt,
        (Value::Float(_), _) | (_, Value::Float(_)) => DataType::Double,
        _ => DataType::Decimal {
            precision: 0,
            scale: 0,
        },
    }
}

fn not_number(v: &Value) -> Error {
    Error::TypeMismatch(format!("{} is not a number", v.type_name()))
}

fn parse_num(s: &str) -> Result<f64> {
    s.trim().parse().map_err(|_| Error::InvalidText {
        ty: "double precision".into(),
        text: s.into(),
    })
}

fn finite(f: f64) -> Result<Value> {
    if f.is_finite() {
        Ok(Value::Float(f))
    } else {
        Err(Error::OutOfRange("value out of range: overflow".into()))
    }
}

fn round_like(f: Func, v: &Value, places: i64) -> Result<Value> {
    let places = places.clamp(-28, 28);
    Ok(match v {
        Value::Int(i) if places >= 0 && f != Func::Round && f != Func::Trunc => Value::Int(*i),
        Value::Int(i) if places == 0 => Value::Int(*i),
        Value::Int(i) => round_like(f, &Value::Decimal(Decimal::from(*i)), places)?,
        Value::Decimal(d) => {
            let strategy = match f {
                Func::Ceil => RoundingStrategy::ToPositiveInfinity,
                Func::Floor => RoundingStrategy::ToNegativeInfinity,
                Func::Round => RoundingStrategy::MidpointAwayFromZero,
                _ => RoundingStrategy::ToZero,
            };
            if places >= 0 {
                Value::Decimal(d.round_dp_with_strategy(places as u32, strategy))
            } else {
                let scale = Decimal::from(10i64.pow((-places) as u32));
                let q = (d / scale).round_dp_with_strategy(0, strategy) * scale;
                Value::Decimal(q.round_dp(0))
            }
        }
        Value::Float(x) => {
            let m = 10f64.powi(places as i32);
            let g = |y: f64| match f {
                Func::Ceil => y.ceil(),
                Func::Floor => y.floor(),
                Func::Round => y.round(),
                _ => y.trunc(),
            };
            Value::Float(if places == 0 { g(*x) } else { g(x * m) / m })
        }
        other => return Err(not_number(other)),
    })
}

fn date_trunc(field: &str, ts: i64) -> Result<i64> {
    let day = ts.div_euclid(datetime::MICROS_PER_DAY);
    let (y, m, _) = datetime::civil_from_days(day);
    let unit = |u: i64| ts.div_euclid(u) * u;
    Ok(match field {
        "year" => datetime::days_from_civil(y, 1, 1) * datetime::MICROS_PER_DAY,
        "quarter" => {
            datetime::days_from_civil(y, (m - 1) / 3 * 3 + 1, 1) * datetime::MICROS_PER_DAY
        }
        "month" => datetime::days_from_civil(y, m, 1) * datetime::MICROS_PER_DAY,
        "week" => (day - (day + 3).rem_euclid(7)) * datetime::MICROS_PER_DAY,
        "day" => unit(datetime::MICROS_PER_DAY),
        "hour" => unit(3_600_000_000),
        "minute" => unit(60_000_000),
        "second" => unit(1_000_000),
        _ => {
            return Err(Error::InvalidParameter(format!(
                "unit \"{field}\" not recognized"
            )))
        }
    })
}

/// Converts a float aggregate input to decimal for exact sums.
pub fn decimal_of(v: &Value) -> Option<Decimal> {
    match v {
        Value::Int(i) => Some(Decimal::from(*i)),
        Value::Decimal(d) => Some(*d),
        Value::Float(f) => Decimal::from_f64(*f),
        _ => None,
    }
}

/// `AVG` of a decimal sum over `n` rows.
pub fn decimal_avg(sum: Decimal, n: i64) -> Result<Value> {
    if n == 0 {
        return Ok(Value::Null);
    }
    sum.checked_div(Decimal::from(n))
        .map(Value::Decimal)
        .ok_or_else(|| Error::OutOfRange("numeric value".into()))
}

/// Range-checks an integer sum against BIGINT.
pub fn int_sum(a: i64, b: i64) -> Result<i64> {
    check_int(
        a.checked_add(b)
            .ok_or_else(|| Error::OutOfRange("bigint".into()))?,
        DataType::BigInt,
    )
}
